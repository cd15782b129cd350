"""pandas and polars behind one small interface: read the referenced columns, add result columns.

Neither library is imported unless the frame in hand comes from it.
"""

from __future__ import annotations

import math
from typing import Any

from grok_magics.context.kinds import family, is_frame


def _kind(value: Any) -> str | None:
    return family(value)[0] if is_frame(value) else None


def columns_of(frame: Any) -> list[str]:
    return [str(c) for c in frame.columns]


def rows_of(frame: Any, columns: list[str]) -> list[dict[str, Any]]:
    """The values of ``columns`` in every row, as plain dicts (only what the template reads)."""
    kind = _kind(frame)
    if kind == "pandas":
        if not columns:
            return [{} for _ in range(len(frame))]
        return frame[columns].to_dict("records")
    if kind == "polars":
        if not columns:
            return [{} for _ in range(frame.height)]
        return frame.select(columns).to_dicts()
    raise TypeError(f"expected a pandas or polars DataFrame, got {type(frame).__name__}")


def as_text(value: Any) -> str:
    """How a cell reads inside a prompt: missing values are empty, everything else is str()."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value if isinstance(value, str) else str(value)


def with_columns(frame: Any, columns: dict[str, list[Any]]) -> Any:
    """A new frame: the input's columns plus ``columns`` (the input is left untouched)."""
    kind = _kind(frame)
    if kind == "pandas":
        import pandas as pd

        out = frame.copy()
        for name, values in columns.items():
            out[name] = pd.Series(values, index=frame.index, dtype=_pandas_dtype(values))
        return out
    import polars as pl

    series = []
    for name, values in columns.items():
        try:
            series.append(pl.Series(name, values, strict=False))
        except Exception:  # mixed shapes polars cannot unify: keep the Python objects
            series.append(pl.Series(name, values, dtype=pl.Object))
    return frame.with_columns(series)


def _pandas_dtype(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return None  # numeric: let pandas infer (NaN for gaps)
    return object
