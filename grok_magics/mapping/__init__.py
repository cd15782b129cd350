"""``%grok map`` / ``grok_magics.map``: one prompt per row of a DataFrame, results as new columns.

Plan (``plan``: columns the template reads, prompts, cache keys) → cost estimate and confirmation
(``cost``) → the rows not in the cache, live (``runner``) or through the provider's Batch API
(``batch_job``, ``batch``) → a new frame with the result column(s) and an error column, and one
summary line (``results``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grok_magics.errors import GrokError
from grok_magics.mapping import table_io as frames
from grok_magics.mapping.batch_job import run_batch
from grok_magics.mapping.cost import budget_allows, confirm_cost
from grok_magics.mapping.job import Job, Kernel, open_job
from grok_magics.mapping.job_options import JobOptions
from grok_magics.mapping.outcomes import Outcome, Progress
from grok_magics.mapping.plan import fill_from_cache, index_names, make_plan, say_unread, validator
from grok_magics.mapping.progress import Bar
from grok_magics.mapping.row_requests import MAP_SYSTEM
from grok_magics.mapping.runner import Engine, run_in_thread
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
    df: Any, template: str, overrides: Overrides, kernel: Kernel, options: JobOptions, verb: str = "map"
) -> MapRun:
    """The map job itself (plan, cache, estimate, live or batch); ``map_frame`` and ``filter`` shape its result."""
    if not frames.is_frame(df):
        raise GrokError(f"{verb} needs a pandas or polars DataFrame, got {type(df).__name__}")
    deadline = options.batch_deadline  # options were checked where they were made (JobOptions.of)
    job = open_job(
        verb, overrides, kernel, schema=options.schema, allow_key=options.allow_key, default_system=MAP_SYSTEM
    )
    namespace, max_cost, confirm, cache = options.namespace or {}, options.max_cost, options.confirm, options.cache
    defaults, spec, compiled = job.defaults, job.spec, job.spec.schema
    job.refuse_keys_in(template)  # the template and system prompt go with every row: refuse the job, not each row
    plan = make_plan(df, template, spec, namespace, defaults.redact_columns, job.masker)
    say_unread(verb, template, frames.columns_of(df), namespace, index_names(df))
    job.say_masked()
    spec = job.keyed(template)
    outcomes: list[Outcome | None] = [None] * len(plan.prompts)
    progress_state = Progress(total=len(plan.prompts), model=spec.endpoint.model, prices=defaults.prices)
    fill_from_cache(plan, spec, outcomes, progress_state, cache)
    todo = [i for i, o in enumerate(outcomes) if o is None]
    validate = validator(compiled)
    gate = job.gate
    note = ""
    try:
        if options.batch_id or options.batch:
            note = run_batch(
                spec,
                plan,
                todo,
                outcomes,
                progress_state,
                validate,
                defaults.transport,
                options.batch_id,
                max_cost,
                confirm,
                options.progress,
                options.poll_every,
                cache,
                options.out_col,
                gate,
                defaults.batch_deadline if deadline is None else deadline,
                verb,
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
                options.concurrency,
                options.rps,
                max_cost,
                defaults.transport,
                cache,
                outcomes,
                progress_state,
                gate,
                options.retries,
            )
            with Bar(progress_state, options.progress, desc=f"grok {verb}") as bar:
                run_in_thread(engine, todo, bar.tick)
    except ConfigError as exc:
        raise GrokError(str(exc)) from None
    return MapRun(job, outcomes, progress_state, note, compiled)
