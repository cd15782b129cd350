"""Markdown helpers. Answers are shown as Markdown that each frontend renders; what came from outside
passes ``sanitise`` first."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.MULTILINE)
_ROW = re.compile(r"^ {0,3}\|")  # a table row as models write them: a leading pipe
_DELIMITER = re.compile(r"^ {0,3}\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_DELIMITER_SO_FAR = re.compile(r"^ {0,3}\|[|:\- \t]*$")
_CELL_BAR = re.compile(r"(?<!\\)\|")


@lru_cache(maxsize=2)
def block_parser(html: bool) -> Any:
    """The one Markdown parser (markdown-it, CommonMark with tables), built once per ``html`` and imported on
    first use: ``%load_ext`` never pays for it. It reads blocks only (inline parsing is off: much faster on
    long answers, and no caller looks inside a block).

    ``html`` is the one difference between callers: the stream splitter and ``%grok --code`` read the raw
    answer with HTML blocks (where CommonMark ends them), the gate in reads text in which no HTML block
    survives, so a fence after one is a fence.
    """
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": html}).enable("table")
    parser.disable("inline")
    return parser


def close_fences(text: str) -> str:
    """Close a code block the stream left open, so what follows is not swallowed into it."""
    opener = None
    for match in _FENCE.finditer(text):
        fence = match.group(1)
        if opener is None:
            opener = fence
        elif fence[0] == opener[0] and len(fence) >= len(opener):
            opener = None
    return text if opener is None else f"{text.rstrip()}\n{opener}"


def pretty(text: str, round_floats: bool = False) -> str:
    """JSON indented for reading; text that is not JSON (a cut-short answer) or nests too deep to
    read back stays as it came: the answer is shown whatever it holds. ``round_floats``: shortened for
    the eye (tool results: the model still gets every digit)."""
    import json

    try:
        value = json.loads(text)
        return json.dumps(rounded(value) if round_floats else value, indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return text


def round_for_display(x: float) -> float:
    """1271.5294117647059 → 1271.53, 0.000123456 → 0.0001235: two decimals, or four significant digits below 1."""
    if x != x or x in (float("inf"), float("-inf")) or x == 0:
        return x
    return round(x, 2) if abs(x) >= 1 else float(f"{x:.4g}")


def rounded(value: object) -> object:
    if isinstance(value, float):
        return round_for_display(value)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def is_row(line: str) -> bool:
    return _ROW.match(line) is not None


def is_delimiter(line: str, header: str) -> bool:
    """A whole delimiter row (``|---|:--:|``) for this header row: the two make a table."""
    return _DELIMITER.match(line) is not None and cell_count(line) == cell_count(header)


def may_become_delimiter(line: str) -> bool:
    """The start of a delimiter row that is still arriving (``|--``)."""
    return _DELIMITER_SO_FAR.match(line) is not None


def cell_count(row: str) -> int:
    inner = row.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return len(_CELL_BAR.split(inner))


def close_table(text: str) -> str:
    """A table cut off before its delimiter row arrived (an interrupt, an output limit) gets one, so what is kept
    reads as a table with its header, never as a line of raw pipes."""
    lines = text.rstrip("\n").rsplit("\n", 3)  # the last three lines decide (and the rest, unread)
    last = lines[-1]
    if len(lines) >= 2 and is_row(lines[-2]) and may_become_delimiter(last) and not is_delimiter(last, lines[-2]):
        header, kept = lines[-2], lines[:-1]
    elif is_row(last) and not (len(lines) >= 2 and is_row(lines[-2])):
        header, kept = last, lines
    else:
        return text
    if len(kept) >= 2 and is_row(kept[-2]):  # the "header" is a row of a table above: nothing to close
        return text
    return "\n".join(kept) + "\n|" + " --- |" * cell_count(header)
