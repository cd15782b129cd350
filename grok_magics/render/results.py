"""What a structured ask made, shown under its answer: "`totals` ← DataFrame, 3 rows × 2 columns" and the head.

A reader should not have to print a variable to learn that it exists and what it holds. Cells are outside
text (the model wrote them), so the table is Markdown built from escaped cells and passes the one sanitiser,
like every answer; the frame's own HTML repr (pandas escapes, other libraries may not) is not used.
"""

from __future__ import annotations

import json
from typing import Any

from grok_magics.context.kinds import is_frame
from grok_magics.privacy.redaction import redact
from grok_magics.render import sanitise
from grok_magics.render.sanitise import Markup, code_span, plain

HEAD_ROWS = 5
MAX_COLUMNS = 12
CELL_CHARS = 60


def unwrapped(text: str, key: str) -> str:
    """The JSON answer as the user's schema describes it: a list travels as ``{"items": [...]}`` because
    providers want an object at the root, and that wrapper is ours, not the user's."""
    if not key:
        return text
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return text
    if isinstance(data, dict) and list(data) == [key]:
        return json.dumps(data[key], ensure_ascii=False)
    return text


def _cell(value: Any) -> str:
    text = " ".join(str(value).split())
    text = text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"
    return plain(text).replace("|", "&#124;") or " "


def _shape(frame: Any) -> tuple[int, list[str]]:
    return int(frame.shape[0]), [str(c) for c in frame.columns]


def _head_rows(frame: Any, n: int) -> list[list[Any]]:
    head = frame.head(n)
    if hasattr(head, "to_dicts"):  # polars
        return [list(row.values()) for row in head.to_dicts()]
    return [list(row) for row in head.itertuples(index=False, name=None)]


def _kind(value: Any) -> str:
    module = type(value).__module__.split(".")[0]
    if module == "polars":
        return "polars DataFrame"
    if module == "pandas":
        return "DataFrame"
    if hasattr(value, "model_dump"):
        return f"{type(value).__name__} (pydantic model)"
    if isinstance(value, dict):
        return f"dict with {len(value):,} key{'s' if len(value) != 1 else ''}"
    if isinstance(value, list):
        return f"list of {len(value):,} item{'s' if len(value) != 1 else ''}"
    return type(value).__name__


def result_line(name: str | None, value: Any) -> str:
    """One line: where the value went and what it is (plain text, for terminals and ``text/plain``)."""
    what = _kind(value)
    if is_frame(value):
        rows, columns = _shape(value)
        what += f", {rows:,} row{'s' if rows != 1 else ''} × {len(columns):,} column{'s' if len(columns) != 1 else ''}"
    return f"{name} ← {what}" if name else f"{what} (add -o NAME to keep it)"


def _table(frame: Any) -> str:
    rows, columns = _shape(frame)
    shown = columns[:MAX_COLUMNS]
    lines = ["| " + " | ".join(_cell(c) for c in shown) + " |", "|" + " --- |" * len(shown)]
    for row in _head_rows(frame, HEAD_ROWS):
        lines.append("| " + " | ".join(_cell(v) for v in row[: len(shown)]) + " |")
    more = []
    if rows > HEAD_ROWS:
        more.append(f"first {HEAD_ROWS} of {rows:,} rows")
    if len(columns) > len(shown):
        more.append(f"first {len(shown)} of {len(columns):,} columns")
    return "\n".join(lines) + (f"\n\n<sub>{plain('; '.join(more))}</sub>" if more else "")


def _text_table(frame: Any) -> str:
    """A frame's head as aligned plain text, for terminals: cells on one line, control characters out (the
    model wrote them: no terminal escapes)."""
    rows, columns = _shape(frame)
    shown = columns[:MAX_COLUMNS]

    def cell(value: Any) -> str:
        text = "".join(ch for ch in " ".join(str(value).split()) if ch.isprintable())
        return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"

    table = [[cell(c) for c in shown]] + [[cell(v) for v in row[: len(shown)]] for row in _head_rows(frame, HEAD_ROWS)]
    widths = [max(len(r[i]) for r in table) for i in range(len(shown))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in table]
    if rows > HEAD_ROWS or len(columns) > len(shown):
        lines.append(f"(first {min(rows, HEAD_ROWS)} of {rows:,} rows, {len(shown)} of {len(columns):,} columns)")
    return "\n".join(lines)


def result_bundle(name: str | None, value: Any) -> dict[str, str]:
    """``text/markdown`` (the line, and a frame's head as a table) and ``text/plain`` (the same, as text:
    what a terminal shows)."""
    line = result_line(name, value)
    if name:
        head = f"{code_span(name)} ← {plain(line.split(' ← ', 1)[1])}"
    else:
        head = plain(line)
    blocks: list[Any] = [Markup(head)]
    text = line
    if is_frame(value) and _shape(value)[1]:
        blocks.append(Markup(_table(value)))
        text += "\n" + _text_table(value)
    return {"text/markdown": sanitise.page(*blocks), "text/plain": redact(text)}


def show_result(name: str | None, value: Any) -> None:
    from IPython.display import display

    display(result_bundle(name, value), raw=True)
