"""Frames that live in another engine (Spark, Dask) or are lazy (polars LazyFrame): the operators run there.

Nothing here imports pyspark, dask or polars: a frame is recognised by its class's module, and the
engine's own module is imported only when such a frame is passed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grok_magics.mapping.job import Kernel
    from grok_magics.mapping.job_options import JobOptions
    from grok_magics.model.overrides import Overrides


def kind_of(value: Any) -> str | None:
    """ "spark", "dask", "polars-lazy", or None for anything else (pandas and polars frames run in the kernel)."""
    module = type(value).__module__
    root = module.split(".")[0]
    name = type(value).__name__
    if root == "pyspark" and name == "DataFrame":
        return "spark"
    if root in ("dask", "dask_expr") and name == "DataFrame":
        return "dask"
    if root == "polars" and name == "LazyFrame":
        return "polars-lazy"
    return None


def map_distributed(
    df: Any, template: str, overrides: Overrides, kernel: Kernel, options: JobOptions, verb: str
) -> Any:
    kind = kind_of(df) or ""
    if kind == "polars-lazy":
        from grok_magics.engines.lazy import map_lazy

        return map_lazy(df, template, overrides, kernel, options, verb)
    from grok_magics.engines.partitions import map_partitioned

    return map_partitioned(df, kind, template, overrides, kernel, options, verb)


def reduce_distributed(
    df: Any,
    kind: str,
    instruction: str,
    columns: Any,
    by: Any,
    job: Any,
    settings: Any,
    pace: Any,
    max_cost: float,
    sample: Any,
    seed: int,
    confirm: Any,
) -> Any:
    """(trees to combine on the driver, (calls, tokens, dollars) spent inside the engine).

    Spark and Dask run the first level in their tasks; a polars LazyFrame is read in slices into the trees."""
    if kind == "polars-lazy":
        from grok_magics.engines.lazy import reduce_trees

        return reduce_trees(df, instruction, columns, by, job, sample, seed), None
    from grok_magics.engines.partitions import reduce_partitioned

    return reduce_partitioned(df, kind, instruction, columns, by, job, settings, pace, max_cost, sample, seed, confirm)
