"""After the job: result columns (text, or one per schema field), the error column, the summary line."""

from __future__ import annotations

import time
from typing import Any

from grok_magics.mapping import table_io as frames
from grok_magics.mapping.outcomes import Outcome, Progress
from grok_magics.model.usage import money


def why_not_run(progress: Progress, note: str) -> str:
    if note:
        return f"not run: {note}"
    if progress.interrupted:
        return "not run: interrupted"
    if progress.stopped_by:
        return f"not run: {progress.stopped_by}"
    if progress.stopped_by_cost:
        return "not run: --max-cost reached"
    return "not run"


def columns(df: Any, outcomes: list[Outcome | None], schema: Any, out_col: str, not_run: str) -> dict[str, list[Any]]:
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


def summary(
    progress: Progress,
    outcomes: list[Outcome | None],
    out_col: str,
    max_cost: float,
    note: str,
    verb: str = "map",
    unit: str = "rows",
) -> str:
    not_run = sum(1 for o in outcomes if o is None)
    parts = [f"{progress.done:,} done" + (f" ({progress.cached:,} from cache)" if progress.cached else "")]
    if progress.failed:
        parts.append(f"{progress.failed:,} failed (see column {out_col}_error)")
    if not_run:
        why = note or (
            "interrupted"
            if progress.interrupted
            else progress.stopped_by or (f"--max-cost {money(max_cost)} reached" if progress.stopped_by_cost else "")
        )
        parts.append(f"{not_run:,} not run" + (f" ({why})" if why else ""))
    if progress.rate_limited:
        parts.append(f"{progress.rate_limited:,} rate-limited and retried")
    seconds = time.monotonic() - progress.started
    return (
        f"grok {verb}: {len(outcomes):,} {unit} — "
        + ", ".join(parts)
        + f"; {progress.tokens:,} tokens, {progress.money()}, {seconds:.1f} s"
    )
