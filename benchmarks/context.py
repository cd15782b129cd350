"""Context-block build time and size for huge and wide tables, pandas and polars.

Goal (issue 6): a block for a 10,000,000 × 50 frame builds in under 1 s on a 2-core machine, and
both that frame and a 2,000-column one fit the default per-reference budget (2,000 tokens ≈ 8,000
characters). Run: ``python benchmarks/context.py`` (``--quick`` uses 1M rows). Prints a table;
exits 0 even when a goal is missed, because these are goals to watch, not tests.

Frames use compact dtypes (float32, int32, category, datetime) so 10M × 50 fits in ~2 GB.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable

import numpy as np

from grok_magics.context.tables import Privacy, build_block

BUDGET = 2_000


def columns(rows: int, width: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {}
    for i in range(width):
        kind = i % 10
        if kind == 7:
            out[f"id_{i}"] = np.arange(rows, dtype=np.int32)
        elif kind == 8:
            out[f"when_{i}"] = np.datetime64("2024-01-01") + rng.integers(0, 365, rows).astype("timedelta64[D]")
        elif kind == 9:
            out[f"group_{i}"] = rng.integers(0, 12, rows, dtype=np.int8)
        else:
            out[f"x_{i}"] = rng.random(rows, dtype=np.float32)
    return out


def pandas_frame(data: dict[str, Any]) -> Any:
    import pandas as pd

    frame = pd.DataFrame(data, copy=False)
    for name in [n for n in frame.columns if n.startswith("group_")]:
        frame[name] = pd.Categorical.from_codes(frame[name].to_numpy(), [f"region {k}" for k in range(12)])
    return frame


def polars_frame(data: dict[str, Any]) -> Any:
    import polars as pl

    frame = pl.DataFrame(data)
    groups = [n for n in frame.columns if n.startswith("group_")]
    return frame.with_columns([pl.format("region {}", pl.col(n)).cast(pl.Categorical) for n in groups])


def measure(value: Any, repeat: int) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        block = build_block("frame", value, BUDGET, Privacy())
        times.append(time.perf_counter() - start)
        size = len(block.text)
    return statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1M rows instead of 10M, one repetition")
    args = parser.parse_args()
    rows = 1_000_000 if args.quick else 10_000_000
    repeat = 1 if args.quick else 3
    cases: list[tuple[str, Callable[[], Any]]] = []
    for library, make in (("pandas", pandas_frame), ("polars", polars_frame)):
        cases.append((f"{library} {rows:,} × 50", lambda make=make: make(columns(rows, 50))))
        cases.append((f"{library} 10,000 × 2,000", lambda make=make: make(columns(10_000, 2_000))))
    print(f"{'table':<28} {'build':>9} {'block':>14} {'≈ tokens':>9}  goal")
    for name, build in cases:
        frame = build()
        seconds, size = measure(frame, repeat)
        ok = "ok" if seconds < 1.0 and size <= BUDGET * 4 else "MISSED"
        print(f"{name:<28} {seconds * 1000:>7.0f} ms {size:>8,} chars {size // 4:>9,}  <1 s, ≤{BUDGET:,} tokens {ok}")
        del frame


if __name__ == "__main__":
    main()
