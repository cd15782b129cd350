"""Before any request: which columns the template reads, each row's prompt and cache key, what the cache
already holds, and how an answer becomes a row's outcome."""

from __future__ import annotations

import hashlib
import json
import re
from collections import ChainMap
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..errors import GrokError
from . import frames
from .outcomes import Outcome, Progress
from .requests import Answer, RowSpec

_NAME = re.compile(r"(?<!\{)\{([A-Za-z_]\w*)\}(?!\})")


@dataclass(frozen=True)
class Plan:
    columns: list[str]
    prompts: list[str]
    keys: list[str]


def settings() -> Any:
    """The %config settings when the extension is loaded in this kernel, else the built-in defaults."""
    from ..ask import Defaults

    try:
        from IPython import get_ipython

        magics = getattr(get_ipython(), "_grok_magics", None)
    except ImportError:
        magics = None
    return magics.defaults() if magics is not None else Defaults()


def compile_for_map(schema: Any) -> Any:
    if schema is None:
        return None
    from ..schemas import SchemaError, compile_schema

    try:
        return compile_schema(schema)
    except SchemaError as exc:
        raise GrokError(f"--schema: {exc}") from None


def make_plan(df: Any, template: str, spec: RowSpec, namespace: Mapping[str, Any]) -> Plan:
    from ..context.references import expand_text
    from .cache import row_key

    available = frames.columns_of(df)
    named = list(dict.fromkeys(_NAME.findall(template)))
    columns = [c for c in named if c in available]
    if not columns:
        shown = ", ".join(available[:12]) + (", ..." if len(available) > 12 else "")
        raise GrokError(f"the template names no column: write {{column}} for a row's value (columns: {shown})")
    params = _job_params(spec)
    prompts, keys = [], []
    for row in frames.rows_of(df, columns):
        values = {c: frames.as_text(row.get(c)) for c in columns}
        prompts.append(expand_text(template, ChainMap(values, namespace)))
        keys.append(row_key(params, template, values))
    return Plan(columns, prompts, keys)


def _job_params(spec: RowSpec) -> dict[str, Any]:
    """Everything besides the prompt that changes an answer (never a key or a URL)."""
    endpoint = spec.endpoint
    return {"provider": endpoint.provider.name, "model": endpoint.model, "api": endpoint.api,
            "system": spec.system, "effort": spec.effort, "temperature": spec.temperature,
            "max_tokens": spec.max_tokens, "schema": spec.schema.json_schema if spec.schema else None}


def prompt_cache_key(spec: RowSpec, template: str) -> str:
    """One provider-side prompt cache per job: every row starts with the same system prompt."""
    digest = hashlib.sha256(json.dumps([_job_params(spec), template], default=str).encode()).hexdigest()
    return "grok-map-" + digest[:24]


def validator(schema: Any) -> Callable[[Answer], Outcome]:
    """How an answer becomes a row's outcome; whatever the answer holds, a bad one is that row's error
    (the job goes on: the live engine, the batch collector and the cache all read answers through here)."""
    from ..schemas import SchemaError

    def validate(answer: Answer) -> Outcome:
        if answer.cut_short:
            return Outcome(text=None, error=f"the answer was cut short ({answer.cut_short}); raise --max-tokens",
                           usage=answer.usage)
        if schema is None:
            return Outcome(text=answer.text, value=answer.text, usage=answer.usage)
        try:
            return Outcome(text=answer.text, value=schema.validate(answer.text), usage=answer.usage)
        except SchemaError as exc:  # whatever the answer holds (Schema.validate raises nothing else)
            return Outcome(error=str(exc), usage=answer.usage)

    return validate


def fill_from_cache(plan: Plan, spec: RowSpec, outcomes: list[Outcome | None], progress: Progress,
                    use_cache: bool) -> None:
    if not use_cache:
        return
    from .cache import Cache

    store = Cache()
    try:
        found = store.get_many(plan.keys)
    finally:
        store.close()
    validate = validator(spec.schema)
    for i, key in enumerate(plan.keys):
        if key in found:
            text, usage = found[key]
            outcome = validate(Answer(text, usage))
            if outcome.error is None:
                outcome.cached = True
                outcomes[i] = outcome
                progress.cached += 1
                progress.add(outcome)
