"""``%grok filter`` / ``grok_magics.filter``: the rows for which a yes/no question holds.

A map whose answer is constrained to a boolean by structured output (``{"keep": bool}``, plus a
``reason`` string when asked for) and read with the schemas' strict JSON reader; the same engine,
cache, cost estimate and cap, batch path and progress bar. Rows whose answer failed are left out
of the result and counted in the summary line; ``keep_all=True`` shows every row with its verdict.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from grok_magics.operators.filtering import _system, filter_schema, run_filter

if TYPE_CHECKING:
    from grok_magics.mapping.job import Kernel
    from grok_magics.mapping.job_options import JobOptions
    from grok_magics.model.overrides import Overrides


def filter_frame(df: Any, question: str, overrides: Overrides, kernel: Kernel, options: JobOptions) -> Any:
    """The rows of ``df`` for which ``question`` (with ``{column}`` names) holds; see the module docstring."""
    from grok_magics import engines

    overrides = replace(overrides, system=_system(overrides.system, options.reason))
    if engines.kind_of(df) is not None:
        verdict = replace(options, schema=filter_schema(options.reason))
        return engines.map_distributed(df, question, overrides, kernel, verdict, "filter")
    if options.sample is not None:
        from grok_magics.operators.sample import calibrate_map

        return calibrate_map(df, question, overrides, kernel, options, "filter")
    return run_filter(df, question, overrides, kernel, options)[0]
