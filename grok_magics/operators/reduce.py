"""``%grok reduce`` / ``grok_magics.reduce``: one answer over a whole column (or per group), however many rows.

Rows become short items ("value", or "col: value; col: value"), packed into chunks that fit the
context window (``chunks``: exact counts from the provider's tokenizer where its row has one, else
characters / 4). Level 1 answers the task for each chunk of rows; each later level packs the partial
answers of the one below into chunks again and combines them, until one chunk remains: that last
call is streamed into the notebook through the ask's own view (``ask.run``), with the rows and levels
on its status line. Every level but the last runs through map's engine (window, AIMD on 429, RPS,
retries, cache, cap, progress bar), so a rerun pays only for what changed. ``Reduction.summaries``
keeps every level's partial answers for inspection.

With ``by``, each group gets its own hierarchy; all groups' chunks of a level run in one pass, the
answers come back as a frame (one row per group) and nothing is streamed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from grok_magics.errors import GrokError
from grok_magics.mapping import table_io as frames
from grok_magics.operators.reducing import REDUCE_SYSTEM, Reducer, Settings, _budget, task_text, trees_of

if TYPE_CHECKING:
    from grok_magics.mapping.job import Kernel
    from grok_magics.model.overrides import Overrides


def reduce_frame(
    df: Any,
    instruction: str,
    overrides: Overrides,
    kernel: Kernel,
    *,
    by: str | None = None,
    columns: list[str] | str | None = None,
    chunk_tokens: int | None = None,
    concurrency: int = 8,
    rps: float | None = None,
    max_cost: float = 1.0,
    cache: bool = True,
    confirm: Any = None,
    progress: bool = True,
    retries: int = 8,
    allow_key: bool = False,
    sample: int | None = None,
    seed: int = 0,
    stream: bool = True,
    namespace: Any = None,
) -> Any:
    """See the module docstring. Returns a ``Reduction`` (with ``by``: a frame, one row per group)."""
    from grok_magics import engines
    from grok_magics.mapping.job import Pace, open_job

    if isinstance(columns, str):
        columns = [c.strip() for c in columns.split(",") if c.strip()]
    if concurrency < 1:
        raise GrokError("reduce: concurrency must be at least 1")
    job = open_job(
        "reduce",
        overrides,
        kernel,
        allow_key=allow_key,
        default_system=REDUCE_SYSTEM,
    )
    task = task_text(instruction)
    if not task:
        raise GrokError("reduce: write the task (e.g. the three main complaints in {review})")
    job.refuse_keys_in(task)
    settings = Settings(task, _budget(job, chunk_tokens), job.spec.max_tokens)
    pace = Pace(concurrency, rps, retries, cache, progress)
    kind = engines.kind_of(df)
    spent_inside = None
    if kind is not None:
        from grok_magics.engines import reduce_distributed

        groups, spent_inside = reduce_distributed(
            df, kind, instruction, columns, by, job, settings, pace, max_cost, sample, seed, confirm
        )
        if spent_inside is not None:
            confirm = True  # the whole job's estimate was confirmed before the engine ran its level
    else:
        if not frames.is_frame(df):
            raise GrokError(f"reduce needs a DataFrame (pandas, polars, Spark or Dask), got {type(df).__name__}")
        groups = trees_of(df, instruction, columns, by, job, sample, seed)
    runner = Reducer(job, settings, pace, max_cost, confirm, stream=stream and by is None, by=by)
    if spent_inside is not None:
        runner.calls, runner.tokens, runner.cost = spent_inside
    trees = runner.run(groups)
    print(runner.summary(trees))
    if sample is not None and job.rows:
        print(runner.projection(trees, job.rows))
    if by is None:
        return runner.result(trees[0])
    return runner.frame(df, by, trees)
