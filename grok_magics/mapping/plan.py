"""Before any request: which columns the template reads, each row's prompt and cache key, what the cache
already holds, and how an answer becomes a row's outcome."""

from __future__ import annotations

import hashlib
import json
import re
from collections import ChainMap
from dataclasses import dataclass
from typing import Any, Callable, Mapping, MutableMapping, Sequence, cast

from grok_magics.errors import GrokError
from grok_magics.mapping import table_io as frames
from grok_magics.mapping.outcomes import Outcome, Progress
from grok_magics.mapping.row_requests import Answer, RowSpec

_NAME = re.compile(r"(?<!\{)\{([A-Za-z_]\w*)\}(?!\})")


@dataclass(frozen=True)
class Plan:
    columns: list[str]
    prompts: list[str]
    keys: list[str]


def compile_for_map(schema: Any) -> Any:
    if schema is None:
        return None
    from grok_magics.errors import SchemaError
    from grok_magics.structured.schemas import compile_schema

    try:
        return compile_schema(schema)
    except SchemaError as exc:
        raise GrokError(f"--schema: {exc}") from None


def template_names(template: str) -> list[str]:
    """The template's ``{names}``, once each in order; doubled braces are literal text, not names."""
    return list(dict.fromkeys(_NAME.findall(template)))


def spelled_out(template: str) -> str:
    """The template with each ``{name}`` as the bare name (a reduce's instruction: ``{review}`` is a column)."""
    return _NAME.sub(lambda m: m.group(1), template)


def columns_read(template: str, available: Sequence[str], redact: Sequence[str]) -> list[str]:
    """The columns the template reads. Refused when it reads none, or one ``redact_columns`` hides: masking it
    would send one identical, useless prompt per row."""
    from grok_magics.context.tables import column_matches

    columns = [c for c in template_names(template) if c in available]
    if not columns:
        shown = ", ".join(available[:12]) + (", ..." if len(available) > 12 else "")
        raise GrokError(f"the template names no column: write {{column}} for a row's value (columns: {shown})")
    private = [c for c in columns if column_matches(c, tuple(redact))]
    if private:
        raise GrokError(
            f"the template reads {{{private[0]}}}, a column %config GrokMagics.redact_columns hides; "
            "nothing was sent. Take it out of the template (or its pattern out of redact_columns)"
        )
    return columns


def say_unread(
    verb: str, template: str, available: Sequence[str], namespace: Mapping[str, Any], index: Sequence[str] = ()
) -> None:
    """Tell the reader, once per job whatever runs it, of ``{names}`` that go out as written."""
    note = unread_names(template, available, namespace, index)
    if note:
        print(f"grok {verb}: {note}" + ("" if note.endswith("?") else "."))


def index_names(df: Any) -> list[str]:
    """A pandas or polars frame's named index levels (polars has none): a template cannot read them."""
    return [str(n) for n in getattr(getattr(df, "index", None), "names", None) or () if n is not None]


def unread_names(
    template: str, available: Sequence[str], namespace: Mapping[str, Any], index: Sequence[str] = ()
) -> str:
    """A note on the template's ``{names}`` that are no column and no variable: they go out as written, which a
    reader of the rows' answers should know (a typo, or the frame's index, which a template cannot read)."""
    import difflib

    from grok_magics.context.references import is_missing, resolve

    unknown = [n for n in template_names(template) if n not in available and is_missing(resolve(n, namespace))]
    if not unknown:
        return ""
    name = unknown[0]
    if name in index:
        why = "it is the frame's index (reset_index() makes it a column)"
    else:
        close = difflib.get_close_matches(name, list(available), n=1, cutoff=0.75)
        why = f"did you mean {{{close[0]}}}?" if close else "no column or variable has that name"
    more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
    return f"{{{name}}}{more} is sent as written: {why}"


def make_plan(
    df: Any, template: str, spec: RowSpec, namespace: Mapping[str, Any], redact: Sequence[str] = (), mask: Any = None
) -> Plan:
    """``redact`` (``redact_columns``): a template reading such a column is refused (``columns_read``).
    ``mask`` (``keys.KeyMasker``) masks key-shaped cell values."""
    from grok_magics.context.references import expand_text
    from grok_magics.mapping.cache import row_key

    columns = columns_read(template, frames.columns_of(df), redact)
    params = _job_params(spec)
    prompts, keys = [], []
    for row in frames.rows_of(df, columns):
        values = {c: frames.as_text(row.get(c)) for c in columns}
        if mask is not None:
            values = {c: mask(v) for c, v in values.items()}
        # the row's columns are filled in code spans too (a template about a row's code reads it there)
        prompt = expand_text(template, ChainMap(values, cast(MutableMapping[str, Any], namespace)), in_code=values)
        prompts.append(prompt)
        keys.append(row_key(params, template, {"prompt": prompt}))  # all that goes out: variables changed too
    return Plan(columns, prompts, keys)


def _job_params(spec: RowSpec) -> dict[str, Any]:
    """Everything besides the prompt that changes an answer (never a key or a URL)."""
    endpoint = spec.endpoint
    return {
        "provider": endpoint.provider.name,
        "model": endpoint.model,
        "api": endpoint.api,
        "system": spec.system,
        "effort": spec.effort,
        "temperature": spec.temperature,
        "max_tokens": spec.max_tokens,
        "schema": spec.schema.json_schema if spec.schema else None,
    }


def prompt_cache_key(spec: RowSpec, template: str) -> str:
    """One provider-side prompt cache per job: every row starts with the same system prompt."""
    digest = hashlib.sha256(json.dumps([_job_params(spec), template], default=str).encode()).hexdigest()
    return "grok-map-" + digest[:24]


def validator(schema: Any) -> Callable[[Answer], Outcome]:
    """How an answer becomes a row's outcome; whatever the answer holds, a bad one is that row's error
    (the job goes on: the live engine, the batch collector and the cache all read answers through here)."""
    from grok_magics.errors import SchemaError

    def validate(answer: Answer) -> Outcome:
        if answer.cut_short:
            return Outcome(
                text=None,
                error=f"the answer was cut short ({answer.cut_short}); raise --max-tokens",
                usage=answer.usage,
            )
        if schema is None:
            return Outcome(text=answer.text, value=answer.text, usage=answer.usage)
        try:
            return Outcome(text=answer.text, value=schema.validate(answer.text), usage=answer.usage)
        except SchemaError as exc:  # whatever the answer holds (Schema.validate raises nothing else)
            return Outcome(error=str(exc), usage=answer.usage)

    return validate


def fill_from_cache(
    plan: Plan,
    spec: RowSpec,
    outcomes: list[Outcome | None],
    progress: Progress,
    use_cache: bool,
    directory: Any = None,
) -> None:
    """``directory``: the cache's folder when not this process's own (a Spark or Dask worker's is the kernel's)."""
    if not use_cache:
        return
    from grok_magics.mapping.cache import Cache

    store = Cache(directory)
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
