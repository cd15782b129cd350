"""``grok_magics.map`` / ``%grok map``: where a frame lives decides who runs it — Spark, Dask and polars
LazyFrames go to their engines (``engines``), ``sample=N`` calibrates first (``operators.sample``), pandas and
polars frames run in the kernel through ``mapping.run_map``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from grok_magics.mapping import run_map
from grok_magics.mapping import table_io as frames
from grok_magics.mapping.result_columns import columns, summary, why_not_run

if TYPE_CHECKING:
    from grok_magics.mapping.job import Kernel
    from grok_magics.mapping.job_options import JobOptions
    from grok_magics.model.overrides import Overrides


def map_frame(df: Any, template: str, overrides: Overrides, kernel: Kernel, options: JobOptions) -> Any:
    """Run ``template`` once per row of ``df`` (pandas or polars); return a new frame with the results.

    ``{column}`` in the template is that row's value (``namespace`` fills other names). Text goes to
    ``out_col``; with ``schema`` each field gets its own column. Failures land in ``<out_col>_error``.
    Every row passes the same gate as an ask (locks, classroom caps, the key scan) and is booked in
    the kernel's ledger and ``%grok usage``.
    ``batch_deadline``: seconds to wait for a batch (None: ``GrokMagics.batch_deadline``); then the job
    returns with those rows not run, and the batch can be collected later by its id.
    ``sample=N``: run N seeded rows only and print what the whole frame would cost (``operators.sample``).
    Spark and Dask frames are mapped by their own engines (``engines``); a polars LazyFrame is read in slices.
    """
    from grok_magics import engines

    if engines.kind_of(df) is not None:
        return engines.map_distributed(df, template, overrides, kernel, options, "map")
    if options.sample is not None:
        from grok_magics.operators.sample import calibrate_map

        return calibrate_map(df, template, overrides, kernel, options, "map")
    ran = run_map(df, template, overrides, kernel, options)
    out_col = options.out_col
    result = frames.with_columns(
        df, columns(df, ran.outcomes, ran.schema, out_col, why_not_run(ran.progress, ran.note))
    )
    print(summary(ran.progress, ran.outcomes, out_col, options.max_cost, ran.note))
    return result
