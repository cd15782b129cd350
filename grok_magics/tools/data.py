"""``--tools data``: read-only questions about DataFrames, answered in the kernel on every row.

Grok sees the frames' names, columns and dtypes, and calls these tools; only their aggregates leave
the kernel. Every argument is checked (frame and column names against the frame, operators and
functions from fixed sets) and every operation is a plain pandas call: no ``eval``, ``exec`` or
``query`` of text the model wrote. Excluded and redacted columns do not exist as far as the tools
are concerned: they are never listed, filtered on, grouped by or returned. Results are size-capped.
Polars frames are converted to pandas (visible columns only) the first time a tool reads them.
"""

# no `from __future__ import annotations`: pydantic reads the tools' (closure-local) annotations at runtime
import json
from typing import Any, Callable, Iterable, Literal, Mapping, Optional

from grok_magics.context.kinds import is_frame
from grok_magics.errors import DataError
from grok_magics.tools.functions import Tool, from_function, result_text

MAX_RESULT_CHARS = 8_000
MAX_ROWS = 20
MAX_GROUPS = 50
OPERATORS = ("==", "!=", ">", ">=", "<", "<=", "in", "not in", "between", "contains", "is null", "not null")
FUNCTIONS = ("count", "sum", "mean", "median", "min", "max", "std", "nunique")


def hidden(column: Any, patterns: Iterable[str]) -> bool:
    """Whether a column is excluded/redacted: the same globs as the context blocks (``--exclude``)."""
    from grok_magics.context.tables import column_matches

    return column_matches(str(column), tuple(patterns))


def frames_for(namespace: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The DataFrames among ``names`` in the user's namespace (pandas or polars); other names are ignored."""
    return {name: namespace[name] for name in names if name in namespace and is_frame(namespace[name])}


class DataToolset:
    """The frames one ask may read, minus hidden columns, and the tools over them."""

    def __init__(
        self, frames: Mapping[str, Any], hide: Iterable[str] = (), mask: Callable[[str], str] | None = None
    ) -> None:
        self.hide = tuple(hide)
        self.sources = dict(frames)
        self.mask_keys = mask  # key-shaped text in results (keys.KeyMasker); None: sent as it is
        self._pandas: dict[str, Any] = {}

    # -- access ----------------------------------------------------------------------------------
    def columns(self, name: str) -> list[str]:
        return [str(c) for c in self.sources[name].columns if not hidden(c, self.hide)]

    def frame(self, name: str) -> Any:
        """The frame as pandas, never copied; every tool reads only columns that ``column`` let through."""
        if name not in self.sources:
            raise DataError(f"no frame {name!r}; frames: {', '.join(self.sources)}")
        if name not in self._pandas:
            source = self.sources[name]
            if type(source).__module__.startswith("polars"):
                self._pandas[name] = source.select(self.columns(name)).to_pandas()
            else:
                self._pandas[name] = source
        return self._pandas[name]

    def rows(self, frame: str, filters: list[Any], columns: Iterable[str]) -> Any:
        """The checked columns of the rows matching all filters (only those columns are copied)."""
        chosen = list(dict.fromkeys(columns))
        for c in chosen:
            self.column(frame, c)
        return self.frame(frame).loc[self.mask(frame, filters), chosen]

    def visible_index(self, df: Any) -> Any:
        """``df`` without its hidden index levels: a level named like an excluded or redacted column is one.

        Only results carry an index out (``top_rows``'s rows), so only results (≤ 20 rows) are changed."""
        names = list(df.index.names)
        gone = [k for k, n in enumerate(names) if n is not None and hidden(n, self.hide)]
        if not gone:
            return df
        if len(gone) == len(names):
            return df.reset_index(drop=True)
        return df.droplevel(gone)

    def column(self, frame: str, column: str) -> Any:
        df = self.frame(frame)
        if column not in self.columns(frame):
            raise DataError(f"frame {frame!r} has no column {column!r}; columns: {', '.join(self.columns(frame))}")
        return df[column]

    def mask(self, frame: str, filters: list[Any]) -> Any:
        self.frame(frame)  # an unknown frame name fails here, before any filter
        keep = None
        for f in filters:
            part = _condition(self.column(frame, f.column), f.op, f.value)
            keep = part if keep is None else keep & part
        return keep if keep is not None else slice(None)

    # -- the catalogue the model reads -----------------------------------------------------------
    def catalogue(self) -> str:
        lines = []
        for name, source in self.sources.items():
            dtypes = dict(zip([str(c) for c in source.columns], [str(t) for t in source.dtypes]))
            cols = ", ".join(f"{c} ({dtypes[c]})" for c in self.columns(name))
            lines.append(f"{name}: {len(source):,} rows; columns {cols}")
        text = "\n".join(lines)
        return self.mask_keys(text) if self.mask_keys is not None else text

    def tools(self) -> list[Tool]:
        return [from_function(fn) for fn in _tool_functions(self)]


def _convert(series: Any, value: Any) -> Any:
    """Compare like with like: dates as timestamps, numbers as numbers; anything else as given."""
    import pandas as pd

    if value is None:
        return None
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        try:
            return pd.Timestamp(value).tz_localize(series.dt.tz) if series.dt.tz else pd.Timestamp(value)
        except (ValueError, TypeError) as exc:
            raise DataError(f"{value!r} is not a date/time ({exc})") from None
    if pd.api.types.is_numeric_dtype(series.dtype) and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise DataError(f"column {series.name!r} is numeric; {value!r} is not a number") from None
    return value


def _condition(series: Any, op: str, value: Any) -> Any:
    if op == "is null":
        return series.isna()
    if op == "not null":
        return series.notna()
    if op in ("in", "not in", "between"):
        if not isinstance(value, list):
            raise DataError(f"operator {op!r} needs a list value")
        values = [_convert(series, v) for v in value]
        if op == "between":
            if len(values) != 2:
                raise DataError("operator 'between' needs [low, high]")
            return series.between(values[0], values[1])
        inside = series.isin(values)
        return inside if op == "in" else ~inside
    if op == "contains":
        return series.astype("string").str.contains(str(value), regex=False, na=False)
    target = _convert(series, value)
    comparisons = {"==": series.eq, "!=": series.ne, ">": series.gt, ">=": series.ge, "<": series.lt, "<=": series.le}
    try:
        return comparisons[op](target)
    except TypeError as exc:
        raise DataError(f"cannot compare column {series.name!r} with {value!r} ({exc})") from None


def _records(data: Any) -> Any:
    """pandas objects as JSON-ready Python (numpy scalars, timestamps and NaN handled by pandas itself)."""
    return json.loads(data.to_json(orient="split" if hasattr(data, "columns") else "index", date_format="iso"))


def _scalar(value: Any) -> Any:
    import pandas as pd

    if value is None or (not isinstance(value, (list, dict, str)) and pd.isna(value)):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def _tool_functions(data: DataToolset) -> list[Any]:
    """The tools, as functions whose signatures pydantic turns into the schemas Grok sees."""
    from pydantic import BaseModel, Field

    names = tuple(data.sources)
    # Literal types made at run time (the notebook's frames, the operators): pydantic reads them into the schema;
    # a type checker cannot, as their values are not known before the tools are built
    Frame = Literal[names]  # type: ignore[valid-type]
    Op = Literal[OPERATORS]  # type: ignore[valid-type]
    Func = Literal[FUNCTIONS]  # type: ignore[valid-type]

    class Filter(BaseModel):
        """One condition; all filters must hold (AND)."""

        column: str
        op: Op
        value: Any = Field(None, description="a scalar; a list for 'in'/'not in'; [low, high] for 'between'")

    Filters = list[Filter]  # the defaults below are never mutated: pydantic passes every argument explicitly

    def capped(value: Any) -> str:
        return result_text(value, MAX_RESULT_CHARS, data.mask_keys)

    def list_frames() -> str:
        """Frames, row counts, columns and dtypes."""
        return data.catalogue()

    list_frames.__doc__ = "Frames, row counts, columns and dtypes. Now:\n" + data.catalogue()

    def count_rows(frame: Frame, filters: Filters = []) -> str:
        """Number of rows matching all filters (every row of the frame is counted)."""
        keep = data.mask(frame, filters)
        rows = len(data.frame(frame)) if isinstance(keep, slice) else int(keep.sum())
        return capped({"rows": rows})

    def aggregate(
        frame: Frame,
        function: Func,
        column: Optional[str] = None,
        filters: Filters = [],
        group_by: list[str] = [],
        top: int = MAX_GROUPS,
    ) -> str:
        """An aggregate of a column over the rows matching the filters, optionally per group.

        Args:
            function: count counts rows (column optional); the others need a column.
            group_by: columns to group by; the largest groups (by the aggregate) are returned.
            top: how many groups to return at most (≤ 50).
        """
        if column is None and function != "count":
            raise DataError(f"{function} needs a column")
        df = data.rows(frame, filters, [*group_by, *([column] if column else [])])
        if not group_by:
            result = len(df) if column is None else getattr(df[column], function)()
            return capped({"function": function, "column": column, "value": _scalar(result)})
        grouped = df.groupby(group_by, dropna=False, observed=True)
        series = grouped.size() if column is None else getattr(grouped[column], function)()
        limit = max(1, min(top, MAX_GROUPS))
        shown = series.sort_values(ascending=False).head(limit)
        rows = [
            {**dict(zip(group_by, k if isinstance(k, tuple) else (k,))), function: v}
            for k, v in zip(shown.index.tolist(), shown.tolist())
        ]
        return capped(
            {"groups": len(series), "shown": len(rows), "rows": [{k: _scalar(v) for k, v in r.items()} for r in rows]}
        )

    def value_counts(
        frame: Frame,
        column: str,
        filters: Filters = [],
        top: int = MAX_ROWS,
    ) -> str:
        """How often each value of a column occurs (most frequent first), over rows matching the filters."""
        counts = data.rows(frame, filters, [column])[column].value_counts(dropna=False)
        shown = counts.head(max(1, min(top, MAX_GROUPS)))
        return capped(
            {
                "distinct": int(counts.shape[0]),
                "counts": [[_scalar(k), int(v)] for k, v in zip(shown.index.tolist(), shown.tolist())],
            }
        )

    def describe(
        frame: Frame,
        columns: list[str] = [],
        filters: Filters = [],
    ) -> str:
        """Summary statistics (count, mean, std, min, quartiles, max; or count/unique/top for text)."""
        df = data.rows(frame, filters, columns or data.columns(frame))
        return capped(_records(df.describe(include="all")))

    def quantiles(
        frame: Frame,
        column: str,
        q: list[float] = [0.25, 0.5, 0.75],
        filters: Filters = [],
    ) -> str:
        """Quantiles (0..1) of a numeric or date column over rows matching the filters."""
        if any(not 0 <= x <= 1 for x in q):
            raise DataError("quantiles must be between 0 and 1")
        series = data.rows(frame, filters, [column])[column]
        return capped({str(k): _scalar(v) for k, v in series.quantile(q[:MAX_ROWS]).items()})

    def correlation(
        frame: Frame,
        columns: list[str] = [],
        method: Literal["pearson", "spearman", "kendall"] = "pearson",
    ) -> str:
        """Correlation matrix of numeric columns (all visible numeric columns when none are named)."""
        import pandas as pd

        df = data.frame(frame)
        chosen = columns or [c for c in data.columns(frame) if pd.api.types.is_numeric_dtype(df[c].dtype)]
        picked = data.rows(frame, [], chosen[:MAX_ROWS])
        return capped(_records(picked.corr(method=method, numeric_only=True).round(4)))

    def top_rows(
        frame: Frame,
        by: str,
        n: int = 10,
        ascending: bool = False,
        columns: list[str] = [],
        filters: Filters = [],
    ) -> str:
        """The n rows with the largest (or smallest) values of a column, at most 20, visible columns only."""
        chosen = columns or data.columns(frame)
        df = data.rows(frame, filters, [*chosen, by])
        count = max(1, min(n, MAX_ROWS))
        picked = df.nsmallest(count, by) if ascending else df.nlargest(count, by)
        return capped(_records(data.visible_index(picked[chosen])))

    return [list_frames, count_rows, aggregate, value_counts, describe, quantiles, correlation, top_rows]
