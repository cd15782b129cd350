"""``%grok map`` / ``grok_magics.map``: one prompt per row of a DataFrame, results as new columns.

Plan (columns the template reads, prompts, cache keys) → cost estimate and confirmation → the rows
not in the cache, live (``runner``) or through the provider's Batch API (``batch``) → a new frame
with the result column(s) and an error column, and one summary line.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from collections import ChainMap
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from ..errors import GrokError
from ..events import Usage
from ..parts import estimate_tokens
from ..usage import estimate_cost
from . import frames
from .requests import MAP_SYSTEM, Answer, RowSpec
from .runner import Engine, Outcome, Progress, budget_allows, run_in_thread

__all__ = ["map_frame", "budget_allows", "MAP_SYSTEM"]

_NAME = re.compile(r"(?<!\{)\{([A-Za-z_]\w*)\}(?!\})")
ESTIMATE_ROWS = 5  # rows rendered to estimate input tokens
OUTPUT_GUESS = 300  # output tokens assumed per row when no --max-tokens bounds it


@dataclass(frozen=True)
class Plan:
    columns: list[str]
    prompts: list[str]
    keys: list[str]


def map_frame(
    df: Any,
    template: str,
    *,
    concurrency: int = 8,
    out_col: str = "grok",
    schema: Any = None,
    model: str | None = None,
    provider: str | None = None,
    api: str | None = None,
    effort: str | None = None,
    system: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    max_cost: float = 1.0,
    rps: float | None = None,
    cache: bool = True,
    batch: bool = False,
    batch_id: str | None = None,
    confirm: bool | Callable[[str], bool] | None = None,
    progress: bool = True,
    namespace: Mapping[str, Any] | None = None,
    poll_every: float = 10.0,
) -> Any:
    """Run ``template`` once per row of ``df`` (pandas or polars); return a new frame with the results.

    ``{column}`` in the template is that row's value (``namespace`` fills other names). Text goes to
    ``out_col``; with ``schema`` each field gets its own column. Failures land in ``<out_col>_error``.
    """
    from ..ask import endpoint_for
    from ..options import Options
    from ..providers import ConfigError

    if not frames.is_frame(df):
        raise GrokError(f"map needs a pandas or polars DataFrame, got {type(df).__name__}")
    if concurrency < 1:
        raise GrokError("map: concurrency must be at least 1")
    defaults = _defaults()
    try:
        endpoint = endpoint_for(Options(model=model, provider=provider, api=api), defaults)
    except ConfigError as exc:
        raise GrokError(str(exc)) from None
    compiled = _schema(schema)
    spec = RowSpec(endpoint=endpoint, system=MAP_SYSTEM if system is None else system,
                   effort=effort or defaults.effort, temperature=temperature if temperature is not None else
                   defaults.temperature, max_tokens=max_tokens or defaults.max_tokens, schema=compiled,
                   cache_key="")
    plan = _plan(df, template, spec, namespace or {})
    spec = replace(spec, cache_key=_prompt_cache_key(spec, template))
    outcomes: list[Outcome | None] = [None] * len(plan.prompts)
    progress_state = Progress(total=len(plan.prompts))
    _fill_from_cache(plan, spec, outcomes, progress_state, cache)
    todo = [i for i, o in enumerate(outcomes) if o is None]
    validate = _validator(compiled)
    note = ""
    try:
        if batch_id or batch:
            note = _run_batch(spec, plan, todo, outcomes, progress_state, validate, defaults.transport, batch_id,
                              max_cost, confirm, progress, poll_every, cache, out_col)
        elif todo:
            _confirm_cost(spec, plan, todo, max_cost, confirm)
            engine = Engine(spec, plan.prompts, plan.keys, validate, concurrency, rps, max_cost, defaults.transport,
                            cache, outcomes, progress_state)
            with _Bar(progress_state, progress) as bar:
                run_in_thread(engine, todo, bar.tick)
    except ConfigError as exc:
        raise GrokError(str(exc)) from None
    result = frames.with_columns(df, _columns(df, outcomes, compiled, out_col, _why_not_run(progress_state, note)))
    print(_summary(progress_state, outcomes, out_col, max_cost, note))
    return result


# --------------------------------------------------------------------------- planning


def _defaults() -> Any:
    """The %config settings when the extension is loaded in this kernel, else the built-in defaults."""
    from ..ask import Defaults

    try:
        from IPython import get_ipython

        magics = getattr(get_ipython(), "_grok_magics", None)
    except ImportError:
        magics = None
    return magics.defaults() if magics is not None else Defaults()


def _schema(schema: Any) -> Any:
    if schema is None:
        return None
    from ..schemas import SchemaError, compile_schema

    try:
        return compile_schema(schema)
    except SchemaError as exc:
        raise GrokError(f"--schema: {exc}") from None


def _plan(df: Any, template: str, spec: RowSpec, namespace: Mapping[str, Any]) -> Plan:
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


def _prompt_cache_key(spec: RowSpec, template: str) -> str:
    """One provider-side prompt cache per job: every row starts with the same system prompt."""
    digest = hashlib.sha256(json.dumps([_job_params(spec), template], default=str).encode()).hexdigest()
    return "grok-map-" + digest[:24]


def _validator(schema: Any) -> Callable[[Answer], Outcome]:
    from ..schemas import SchemaError

    def validate(answer: Answer) -> Outcome:
        if answer.cut_short:
            return Outcome(text=None, error=f"the answer was cut short ({answer.cut_short}); raise --max-tokens",
                           usage=answer.usage)
        if schema is None:
            return Outcome(text=answer.text, value=answer.text, usage=answer.usage)
        try:
            return Outcome(text=answer.text, value=schema.validate(answer.text), usage=answer.usage)
        except SchemaError as exc:
            return Outcome(error=str(exc), usage=answer.usage)

    return validate


def _fill_from_cache(plan: Plan, spec: RowSpec, outcomes: list[Outcome | None], progress: Progress,
                     use_cache: bool) -> None:
    if not use_cache:
        return
    from .cache import Cache

    store = Cache()
    try:
        found = store.get_many(plan.keys)
    finally:
        store.close()
    validate = _validator(spec.schema)
    for i, key in enumerate(plan.keys):
        if key in found:
            text, usage = found[key]
            outcome = validate(Answer(text, usage))
            if outcome.error is None:
                outcome.cached = True
                outcomes[i] = outcome
                progress.cached += 1
                progress.add(outcome)


# --------------------------------------------------------------------------- cost


def estimate(spec: RowSpec, plan: Plan, todo: list[int]) -> float:
    """List-price estimate from the first rows' prompt sizes and an assumed answer length."""
    if not todo:
        return 0.0
    sample = [plan.prompts[i] for i in todo[:ESTIMATE_ROWS]]
    tokens_in = sum(estimate_tokens(spec.system) + estimate_tokens(p) for p in sample) / len(sample)
    tokens_out = spec.max_tokens or OUTPUT_GUESS
    return len(todo) * estimate_cost(Usage(input=int(tokens_in), output=tokens_out))


def _confirm_cost(spec: RowSpec, plan: Plan, todo: list[int], max_cost: float,
                  confirm: bool | Callable[[str], bool] | None) -> None:
    guess = estimate(spec, plan, todo)
    if guess <= max_cost or confirm is True:
        return
    question = (f"map: about ${guess:.2f} for {len(todo):,} rows, above --max-cost ${max_cost:.2f}; "
                f"run until ${max_cost:.2f} is spent? [y/N] ")
    answer = _ask(question) if confirm is None else (confirm(question) if callable(confirm) else False)
    if not answer:
        raise GrokError(f"map: estimated ${guess:.2f} is above --max-cost ${max_cost:.2f}; nothing was sent. "
                        f"Pass --max-cost {guess * 1.2:.2f} (or confirm) to run it")


def _ask(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except Exception:  # no stdin (nbclient, papermill, a pipe): not a yes
        return False


# --------------------------------------------------------------------------- batch


def _run_batch(spec: RowSpec, plan: Plan, todo: list[int], outcomes: list[Outcome | None], progress: Progress,
               validate: Callable[[Answer], Outcome], transport: Any, batch_id: str | None, max_cost: float,
               confirm: Any, show: bool, poll_every: float, use_cache: bool, out_col: str) -> str:
    from ..client import Clients
    from . import batch as xai_batch

    xai_batch.check_supported(spec)
    clients = Clients()
    try:
        client = clients.get(spec.endpoint, transport)
        if batch_id is None:
            if not todo:
                return ""
            _confirm_cost(spec, plan, todo, max_cost, confirm)
            batch_id = xai_batch.submit(client, spec, transport, plan.prompts, plan.keys, todo,
                                        name=f"grok-magics map: {len(todo)} rows into {out_col}")
            print(f"map: batch {batch_id} submitted ({len(todo):,} rows). If this kernel stops, collect it "
                  f"from any kernel with --batch-id {batch_id} (or batch_id='{batch_id}').")
        try:
            with _Bar(progress, show, unit="req") as bar:
                while True:
                    state = xai_batch.status(client, spec, transport, batch_id)
                    bar.batch(state)
                    if xai_batch.finished(state):
                        break
                    time.sleep(poll_every)
        except KeyboardInterrupt:  # stop waiting; the batch itself runs on at the provider
            progress.interrupted = True
            return f"batch {batch_id} still running; collect it later with --batch-id {batch_id}"
        _collect(client, spec, transport, batch_id, plan, outcomes, progress, validate, use_cache)
    finally:
        clients.close()
    return ""


def _collect(client: Any, spec: RowSpec, transport: Any, batch_id: str, plan: Plan,
             outcomes: list[Outcome | None], progress: Progress, validate: Callable[[Answer], Outcome],
             use_cache: bool) -> None:
    from . import batch as xai_batch
    from .cache import Cache

    store = Cache() if use_cache else None
    try:
        for rid, answer, error in xai_batch.results(client, spec, transport, batch_id):
            row = xai_batch.row_of(rid, plan.keys)
            if row is None or (outcomes[row] is not None and outcomes[row].cached):  # type: ignore[union-attr]
                continue
            outcome = validate(answer) if answer is not None else Outcome(error=error)
            outcomes[row] = outcome
            progress.add(outcome)
            if store is not None and outcome.error is None and outcome.text is not None:
                store.put(plan.keys[row], outcome.text, outcome.usage)
    finally:
        if store is not None:
            store.close()


# --------------------------------------------------------------------------- results


def _why_not_run(progress: Progress, note: str) -> str:
    if note:
        return f"not run: {note}"
    if progress.interrupted:
        return "not run: interrupted"
    if progress.stopped_by_cost:
        return "not run: --max-cost reached"
    return "not run"


def _columns(df: Any, outcomes: list[Outcome | None], schema: Any, out_col: str,
             not_run: str) -> dict[str, list[Any]]:
    existing = set(frames.columns_of(df))
    errors = [o.error if o is not None else not_run for o in outcomes]
    if schema is None or not schema.fields:
        values = [o.value if o is not None and o.error is None else None for o in outcomes]
        return {out_col: values, f"{out_col}_error": errors}
    columns: dict[str, list[Any]] = {}
    rows = [schema.as_row(o.value) if o is not None and o.error is None else {} for o in outcomes]
    for name in schema.fields:
        column = name if name not in existing and name != f"{out_col}_error" else f"{out_col}_{name}"
        columns[column] = [r.get(name) for r in rows]
    columns[f"{out_col}_error"] = errors
    return columns


def _summary(progress: Progress, outcomes: list[Outcome | None], out_col: str, max_cost: float, note: str) -> str:
    not_run = sum(1 for o in outcomes if o is None)
    parts = [f"{progress.done:,} done" + (f" ({progress.cached:,} from cache)" if progress.cached else "")]
    if progress.failed:
        parts.append(f"{progress.failed:,} failed (see column {out_col}_error)")
    if not_run:
        why = note or ("interrupted" if progress.interrupted else
                       f"--max-cost ${max_cost:.2f} reached" if progress.stopped_by_cost else "")
        parts.append(f"{not_run:,} not run" + (f" ({why})" if why else ""))
    if progress.rate_limited:
        parts.append(f"{progress.rate_limited:,} rate-limited and retried")
    seconds = time.monotonic() - progress.started
    return (f"grok map: {len(outcomes):,} rows — " + ", ".join(parts)
            + f"; {progress.tokens:,} tokens, ${progress.cost:.4f}, {seconds:.1f} s")


class _Bar:
    """tqdm.auto: a widget in Jupyter, text in a terminal; refreshed by the watching thread only."""

    def __init__(self, progress: Progress, show: bool, unit: str = "row") -> None:
        self.progress = progress
        self.show = show
        self.unit = unit
        self.bar: Any = None
        self.seen = 0

    def __enter__(self) -> "_Bar":
        if self.show:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.progress.total, initial=self.progress.cached, unit=self.unit,
                            desc="grok map", file=sys.stdout, dynamic_ncols=True)
            self.seen = self.progress.cached
        return self

    def tick(self) -> None:
        if self.bar is None:
            return
        finished = self.progress.done + self.progress.failed
        if finished > self.seen:
            self.bar.set_postfix_str(self.progress.postfix(), refresh=False)
            self.bar.update(finished - self.seen)
            self.seen = finished

    def batch(self, state: dict[str, int]) -> None:
        if self.bar is None:
            return
        finished = self.progress.cached + state.get("num_success", 0) + state.get("num_error", 0)
        if finished > self.seen:
            self.bar.update(finished - self.seen)
            self.seen = finished
        self.bar.set_postfix_str(f"batch: {state.get('num_pending', 0):,} pending, "
                                 f"{state.get('num_error', 0):,} failed", refresh=True)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.tick()
            self.bar.set_postfix_str(self.progress.postfix(), refresh=False)
            self.bar.close()
