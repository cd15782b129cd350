"""``%grok map`` / ``grok_magics.map``: one prompt per row of a DataFrame, results as new columns.

Plan (``plan``: columns the template reads, prompts, cache keys) → cost estimate and confirmation
(``cost``) → the rows not in the cache, live (``runner``) or through the provider's Batch API
(``batch_job``, ``batch``) → a new frame with the result column(s) and an error column, and one
summary line (``results``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable, Mapping

from grok_magics.errors import GrokError
from grok_magics.mapping import table_io as frames
from grok_magics.mapping.batch_job import run_batch
from grok_magics.mapping.cost import budget_allows, confirm_cost
from grok_magics.mapping.outcomes import Outcome, Progress
from grok_magics.mapping.plan import (
    compile_for_map,
    fill_from_cache,
    make_plan,
    prompt_cache_key,
    settings,
    validator,
)
from grok_magics.mapping.progress import Bar
from grok_magics.mapping.results import columns, summary, why_not_run
from grok_magics.mapping.row_requests import MAP_SYSTEM, RowSpec, request_for
from grok_magics.mapping.runner import RATE_LIMIT_RETRIES, Engine, run_in_thread

__all__ = ["map_frame", "budget_allows", "MAP_SYSTEM"]


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
    retries: int = RATE_LIMIT_RETRIES,
    allow_key: bool = False,
    batch_deadline: float | None = None,
) -> Any:
    """Run ``template`` once per row of ``df`` (pandas or polars); return a new frame with the results.

    ``{column}`` in the template is that row's value (``namespace`` fills other names). Text goes to
    ``out_col``; with ``schema`` each field gets its own column. Failures land in ``<out_col>_error``.
    Every row passes the same gate as an ask (locks, classroom caps, the key scan) and is booked in
    the kernel's ledger and ``%grok usage``.
    ``batch_deadline``: seconds to wait for a batch (None: ``GrokMagics.batch_deadline``); then the job
    returns with those rows not run, and the batch can be collected later by its id.
    """
    from grok_magics.engine.ask import active_keys, effort_for, endpoint_for
    from grok_magics.engine.policy import refuse_keys, settle
    from grok_magics.errors import ConfigError
    from grok_magics.magics.options import Options
    from grok_magics.privacy.key_shapes import KeyMasker
    from grok_magics.providers.table import api_key_for
    from grok_magics.teaching.caps import check_locks

    if not frames.is_frame(df):
        raise GrokError(f"map needs a pandas or polars DataFrame, got {type(df).__name__}")
    if concurrency < 1:
        raise GrokError("map: concurrency must be at least 1")
    if batch_deadline is not None and not (math.isfinite(batch_deadline) and batch_deadline > 0):
        raise GrokError(f"map: batch_deadline must be a positive number of seconds, not {batch_deadline}")
    defaults, session = settings()
    try:
        check_locks(defaults.caps, {"model": model, "provider": provider, "api": api, "effort": effort,
                                    "system": system})
        endpoint = endpoint_for(Options(model=model, provider=provider, api=api), defaults)
        temperature = temperature if temperature is not None else defaults.temperature
        max_tokens = settle(defaults.caps, endpoint, max_tokens, defaults.max_tokens, temperature)
        api_key_for(endpoint.provider)  # a missing key stops the job before any estimate or request
    except ConfigError as exc:
        raise GrokError(str(exc)) from None
    compiled = compile_for_map(schema)
    spec = RowSpec(endpoint=endpoint, system=MAP_SYSTEM if system is None else system,
                   effort=effort_for(effort or defaults.effort, endpoint.provider), temperature=temperature,
                   max_tokens=max_tokens, schema=compiled, cache_key="")
    if not allow_key:  # the template and system prompt go with every row: refuse the job, not each row
        try:
            refuse_keys(request_for(spec, template))
        except ConfigError as exc:
            raise GrokError(f"map: {exc}") from None
    plan = make_plan(df, template, spec, namespace or {}, defaults.redact_columns,
                     KeyMasker(active_keys(endpoint.provider), enabled=not allow_key))
    if plan.masked:
        print(f"grok map: {plan.masked:,} key-shaped value{'s' if plan.masked > 1 else ''} in the rows masked "
              "before sending.")
    spec = replace(spec, cache_key=prompt_cache_key(spec, template))
    outcomes: list[Outcome | None] = [None] * len(plan.prompts)
    progress_state = Progress(total=len(plan.prompts), model=endpoint.model, prices=defaults.prices)
    fill_from_cache(plan, spec, outcomes, progress_state, cache)
    todo = [i for i, o in enumerate(outcomes) if o is None]
    validate = validator(compiled)
    gate = session.gate(defaults, allow_key)
    note = ""
    try:
        if batch_id or batch:
            note = run_batch(spec, plan, todo, outcomes, progress_state, validate, defaults.transport, batch_id,
                             max_cost, confirm, progress, poll_every, cache, out_col, gate,
                             defaults.batch_deadline if batch_deadline is None else batch_deadline)
        elif todo:
            confirm_cost(spec, plan, todo, max_cost, confirm, defaults.prices)
            engine = Engine(spec, plan.prompts, plan.keys, validate, concurrency, rps, max_cost, defaults.transport,
                            cache, outcomes, progress_state, gate, retries)
            with Bar(progress_state, progress) as bar:
                run_in_thread(engine, todo, bar.tick)
    except ConfigError as exc:
        raise GrokError(str(exc)) from None
    result = frames.with_columns(df, columns(df, outcomes, compiled, out_col, why_not_run(progress_state, note)))
    print(summary(progress_state, outcomes, out_col, max_cost, note))
    return result
