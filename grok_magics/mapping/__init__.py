"""``%grok map`` / ``grok_magics.map``: one prompt per row of a DataFrame, results as new columns.

Plan (``plan``: columns the template reads, prompts, cache keys) → cost estimate and confirmation
(``cost``) → the rows not in the cache, live (``runner``) or through the provider's Batch API
(``batch_job``, ``batch``) → a new frame with the result column(s) and an error column, and one
summary line (``results``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from grok_magics.errors import GrokError
from grok_magics.mapping import table_io as frames
from grok_magics.mapping.batch_job import run_batch
from grok_magics.mapping.cost import budget_allows, confirm_cost
from grok_magics.mapping.job import Job, Kernel, open_job
from grok_magics.mapping.outcomes import Outcome, Progress
from grok_magics.mapping.plan import fill_from_cache, index_names, make_plan, say_unread, validator
from grok_magics.mapping.progress import Bar
from grok_magics.mapping.row_requests import MAP_SYSTEM
from grok_magics.mapping.runner import RATE_LIMIT_RETRIES, Engine, run_in_thread
from grok_magics.model.overrides import Overrides
from grok_magics.providers.table import ConfigError

__all__ = ["run_map", "MapRun", "budget_allows", "MAP_SYSTEM"]


@dataclass
class MapRun:
    """One map-shaped job after it ran: every row's outcome, the counters, why rows were left unrun."""

    job: Job
    outcomes: list[Outcome | None]
    progress: Progress
    note: str
    schema: Any


def run_map(
    df: Any,
    template: str,
    overrides: Overrides,
    kernel: Kernel,
    *,
    concurrency: int = 8,
    out_col: str = "grok",
    schema: Any = None,
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
    verb: str = "map",
    default_system: str = MAP_SYSTEM,
) -> MapRun:
    """The map job itself (plan, cache, estimate, live or batch); ``map_frame`` and ``filter`` shape its result."""
    if not frames.is_frame(df):
        raise GrokError(f"{verb} needs a pandas or polars DataFrame, got {type(df).__name__}")
    if concurrency < 1:
        raise GrokError(f"{verb}: concurrency must be at least 1")
    if batch_deadline is not None and not (math.isfinite(batch_deadline) and batch_deadline > 0):
        raise GrokError(f"{verb}: batch_deadline must be a positive number of seconds, not {batch_deadline}")
    job = open_job(
        verb,
        overrides,
        kernel,
        schema=schema,
        allow_key=allow_key,
        default_system=default_system,
    )
    defaults, spec, compiled = job.defaults, job.spec, job.spec.schema
    job.refuse_keys_in(template)  # the template and system prompt go with every row: refuse the job, not each row
    plan = make_plan(df, template, spec, namespace or {}, defaults.redact_columns, job.masker)
    say_unread(verb, template, frames.columns_of(df), namespace or {}, index_names(df))
    if plan.masked:
        print(
            f"grok {verb}: {plan.masked:,} key-shaped value{'s' if plan.masked > 1 else ''} in the rows masked "
            "before sending."
        )
    spec = job.keyed(template)
    outcomes: list[Outcome | None] = [None] * len(plan.prompts)
    progress_state = Progress(total=len(plan.prompts), model=spec.endpoint.model, prices=defaults.prices)
    fill_from_cache(plan, spec, outcomes, progress_state, cache)
    todo = [i for i, o in enumerate(outcomes) if o is None]
    validate = validator(compiled)
    gate = job.gate
    note = ""
    try:
        if batch_id or batch:
            note = run_batch(
                spec,
                plan,
                todo,
                outcomes,
                progress_state,
                validate,
                defaults.transport,
                batch_id,
                max_cost,
                confirm,
                progress,
                poll_every,
                cache,
                out_col,
                gate,
                defaults.batch_deadline if batch_deadline is None else batch_deadline,
            )
        elif todo:
            from grok_magics.tokens import counter_for

            counter = counter_for(job.session, spec.endpoint, defaults.transport, gate, defaults.exact_tokens)
            confirm_cost(spec, plan, todo, max_cost, confirm, defaults.prices, verb=verb, counter=counter)
            engine = Engine(
                spec,
                plan.prompts,
                plan.keys,
                validate,
                concurrency,
                rps,
                max_cost,
                defaults.transport,
                cache,
                outcomes,
                progress_state,
                gate,
                retries,
            )
            with Bar(progress_state, progress, desc=f"grok {verb}") as bar:
                run_in_thread(engine, todo, bar.tick)
    except ConfigError as exc:
        raise GrokError(str(exc)) from None
    return MapRun(job, outcomes, progress_state, note, compiled)
