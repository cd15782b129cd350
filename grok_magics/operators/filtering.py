"""How filter works inside: the boolean schema, reading verdicts, the kept rows and the verdict columns, and
the run itself through map's engine. ``operators.filter`` decides who runs it."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from grok_magics.mapping import table_io as frames

if TYPE_CHECKING:
    from grok_magics.mapping.job import Kernel
    from grok_magics.mapping.job_options import JobOptions
    from grok_magics.model.overrides import Overrides

FILTER_SYSTEM = (
    "You are Grok, judging one row of a table at a time for a data analyst. Decide whether the user's question "
    "holds for this row, and answer with the JSON the schema asks for: keep is true when it holds, false when it "
    "does not."
)
REASON_NOTE = " Give a one-sentence reason."


def filter_schema(reason: bool) -> dict[str, Any]:
    """A JSON schema, not a pydantic model: nothing to generate, and it pickles to Spark and Dask workers."""
    properties: dict[str, Any] = {"keep": {"type": "boolean"}}
    if reason:
        properties["reason"] = {"type": "string"}
    return {"title": "filter", "type": "object", "properties": properties}


def verdicts(outcomes: list[Any]) -> list[bool | None]:
    """True/False per judged row, None for a row that failed or did not run."""
    out: list[bool | None] = []
    for o in outcomes:
        value = o.value if o is not None and o.error is None else None
        out.append(bool(value["keep"]) if isinstance(value, dict) and "keep" in value else None)
    return out


def verdict_columns(outcomes: list[Any], out_col: str, reason: bool, not_run: str) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {out_col: verdicts(outcomes)}
    if reason:
        cols[f"{out_col}_reason"] = [
            o.value.get("reason") if o is not None and o.error is None and isinstance(o.value, dict) else None
            for o in outcomes
        ]
    cols[f"{out_col}_error"] = [o.error if o is not None else not_run for o in outcomes]
    return cols


def kept_rows(df: Any, mask: list[bool]) -> Any:
    """The rows of ``df`` where ``mask`` holds, in order, keeping pandas' index."""
    if frames._kind(df) == "pandas":
        return df[[bool(m) for m in mask]]
    import polars as pl

    return df.filter(pl.Series([bool(m) for m in mask], dtype=pl.Boolean))


def _system(system: str | None, reason: bool) -> str:
    return system if system is not None else FILTER_SYSTEM + (REASON_NOTE if reason else "")


def run_filter(df: Any, question: str, overrides: Overrides, kernel: Kernel, options: JobOptions) -> tuple[Any, Any]:
    """(result frame, the map run), printing the summary line."""
    from grok_magics.mapping import run_map
    from grok_magics.mapping.result_columns import summary, why_not_run

    reason, keep_all, out_col, max_cost = options.reason, options.keep_all, options.out_col, options.max_cost
    if overrides.system is None:
        overrides = replace(overrides, system=_system(None, reason))
    ran = run_map(df, question, overrides, kernel, replace(options, schema=filter_schema(reason)), "filter")
    cols = verdict_columns(ran.outcomes, out_col, reason, why_not_run(ran.progress, ran.note))
    marked = frames.with_columns(df, cols)
    judged = cols[out_col]
    if keep_all:
        result = marked
    else:
        with_reason = frames.with_columns(df, {f"{out_col}_reason": cols[f"{out_col}_reason"]}) if reason else df
        result = kept_rows(with_reason, [v is True for v in judged])
    line = summary(ran.progress, ran.outcomes, f"{out_col}", max_cost, ran.note, verb="filter")
    print(line + tally(ran.outcomes, out_col, keep_all))
    return result, ran


def tally(outcomes: list[Any], out_col: str, keep_all: bool) -> str:
    """The end of a filter's summary line, whatever engine ran it: what was kept, dropped and left out."""
    judged = verdicts(outcomes)
    failed = sum(1 for o in outcomes if o is not None and o.error is not None)
    line = f"; {judged.count(True):,} kept, {judged.count(False):,} dropped"
    if failed and not keep_all:
        line += f" ({failed:,} failed rows left out: keep_all=True shows them with {out_col}_error)"
    return line
