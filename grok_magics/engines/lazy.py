"""A polars LazyFrame, read in slices (``collect_batches``), never collected whole.

Map and filter run slice by slice through one job: one estimate (rows counted by the query, the
first rows rendered), one progress bar and one running cost across slices, each slice's rows sent
through map's engine. The result is a LazyFrame over the finished slices (a filter keeps only its
rows). A reduce reads the slices into its items.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from grok_magics.errors import GrokError

if TYPE_CHECKING:
    from grok_magics.mapping.job import Kernel
    from grok_magics.mapping.job_options import JobOptions
    from grok_magics.model.overrides import Overrides

SLICE = 10_000  # rows per slice: enough to keep the engine's window full, little memory


def map_lazy(lf: Any, template: str, overrides: Overrides, kernel: Kernel, options: JobOptions, verb: str) -> Any:
    import polars as pl

    from grok_magics.mapping.cost import assumption, confirm_spend, estimate
    from grok_magics.mapping.job import open_job
    from grok_magics.mapping.outcomes import Outcome, Progress
    from grok_magics.mapping.plan import fill_from_cache, make_plan, say_unread, validator
    from grok_magics.mapping.progress import Bar
    from grok_magics.mapping.result_columns import summary, why_not_run
    from grok_magics.mapping.row_requests import MAP_SYSTEM
    from grok_magics.mapping.runner import Engine, run_in_thread
    from grok_magics.providers.table import ConfigError

    if options.batch or options.batch_id:
        raise GrokError(f"{verb} --batch on a LazyFrame: collect it first (lf.collect()), or drop --batch")
    total = int(lf.select(pl.len()).collect().item())
    if options.sample is not None:
        from grok_magics.operators.sample import calibrate_map

        part = lf.head(0).collect() if total == 0 else _sample(lf, options.sample, options.seed, total)
        return calibrate_map(part, template, overrides, kernel, options, verb, total)
    namespace, max_cost, cache, out_col = options.namespace or {}, options.max_cost, options.cache, options.out_col
    job = open_job(
        verb, overrides, kernel, schema=options.schema, allow_key=options.allow_key, default_system=MAP_SYSTEM
    )
    job.refuse_keys_in(template)
    spec = job.keyed(template)
    head = make_plan(lf.head(5).collect(), template, spec, namespace, job.defaults.redact_columns, job.masker)
    say_unread(verb, template, lf.collect_schema().names(), namespace)
    confirm_spend(
        verb,
        f"{total:,} rows to run, read {SLICE:,} at a time (cached rows are not counted here)",
        f"{total:,} rows",
        estimate(spec, head, range(total), job.defaults.prices),
        spec.endpoint.model,
        max_cost,
        options.confirm,
        job.defaults.prices,
        assumption(spec, head, range(total)),
    )
    progress_state = Progress(total=total, model=spec.endpoint.model, prices=job.defaults.prices)
    validate = validator(spec.schema)
    results: list[Any] = []
    every: list[Outcome | None] = []
    try:
        with Bar(progress_state, options.progress, desc=f"grok {verb}") as bar:
            for part in lf.collect_batches(chunk_size=SLICE):
                plan = make_plan(part, template, spec, namespace, job.defaults.redact_columns, job.masker)
                outcomes: list[Outcome | None] = [None] * len(plan.prompts)
                fill_from_cache(plan, spec, outcomes, progress_state, cache)
                todo = [i for i, o in enumerate(outcomes) if o is None]
                stopped = progress_state.interrupted or progress_state.stopped_by or progress_state.stopped_by_cost
                if todo and not stopped:
                    engine = Engine(
                        spec,
                        plan.prompts,
                        plan.keys,
                        validate,
                        options.concurrency,
                        options.rps,
                        max_cost,
                        job.defaults.transport,
                        cache,
                        outcomes,
                        progress_state,
                        job.gate,
                        options.retries,
                        ledger_chat=f"%grok {verb}",
                    )
                    run_in_thread(engine, todo, bar.tick)
                results.append(
                    _shaped(
                        verb,
                        part,
                        outcomes,
                        spec.schema,
                        out_col,
                        options.reason,
                        options.keep_all,
                        why_not_run(progress_state, ""),
                    )
                )
                every.extend(outcomes)
    except ConfigError as exc:
        raise GrokError(str(exc)) from None
    job.say_masked()
    line = summary(progress_state, every, out_col, max_cost, "", verb=verb)
    if verb == "filter":
        from grok_magics.operators.filtering import tally

        line += tally(every, out_col, options.keep_all)
    print(line)
    if not results:
        return lf.head(0)
    return pl.concat(results, how="vertical_relaxed").lazy()


def _shaped(
    verb: str, part: Any, outcomes: list[Any], schema: Any, out_col: str, reason: bool, keep_all: bool, not_run: str
) -> Any:
    from grok_magics.mapping import table_io as frames
    from grok_magics.mapping.result_columns import columns

    if verb != "filter":
        return frames.with_columns(part, columns(part, outcomes, schema, out_col, not_run))
    from grok_magics.operators.filtering import kept_rows, verdict_columns

    cols = verdict_columns(outcomes, out_col, reason, not_run)
    if keep_all:
        return frames.with_columns(part, cols)
    picked = {f"{out_col}_reason": cols[f"{out_col}_reason"]} if reason else {}
    return kept_rows(frames.with_columns(part, picked) if picked else part, [v is True for v in cols[out_col]])


def _sample(lf: Any, n: int, seed: int, total: int) -> Any:
    """N seeded rows, chosen by row number, read slice by slice."""
    import random

    import polars as pl

    chosen = sorted(random.Random(seed).sample(range(total), min(n, total)))
    return lf.with_row_index("__grok_row").filter(pl.col("__grok_row").is_in(chosen)).drop("__grok_row").collect()


def reduce_trees(lf: Any, instruction: str, columns: Any, by: Any, job: Any, sample: Any, seed: int) -> list[Any]:
    """The reduce's items, read slice by slice (only the columns it reads)."""
    import polars as pl

    from grok_magics.operators.reducing import read_columns, trees_of

    read = read_columns(list(lf.collect_schema().names()), instruction, columns, job.defaults.redact_columns)
    wanted = list(dict.fromkeys(read + ([by] if by else [])))
    if sample is not None:
        total = int(lf.select(pl.len()).collect().item())
        return trees_of(_sample(lf.select(wanted), sample, seed, total), instruction, read, by, job, None, seed)
    merged: dict[Any, Any] = {}
    order: list[Any] = []
    for part in lf.select(wanted).collect_batches(chunk_size=SLICE):
        for tree in trees_of(part, instruction, read, by, job, None, seed):
            if tree.key in merged:
                base = merged[tree.key]
                base.items.extend(tree.items)
                base.covered.extend(tree.covered)
                base.rows += tree.rows
            else:
                merged[tree.key] = tree
                order.append(tree.key)
    if not order:
        raise GrokError("reduce: the frame has no rows")
    return [merged[k] for k in order]
