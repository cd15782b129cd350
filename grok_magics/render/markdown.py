"""Markdown helpers. Answers are shown as Markdown that each frontend renders (and sanitises) itself;
``to_html`` is for places that need HTML of our own, so raw HTML from the model is escaped (``html: False``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.MULTILINE)


@lru_cache(maxsize=1)
def _parser() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])


_SPAN = re.compile(r"(`+)(?:.+?)\1")
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_AUTOLINK = re.compile(r"<(?:https?://|mailto:)[^\s<>]*>", re.IGNORECASE)


@lru_cache(maxsize=1)
def _block_parser() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True})


def _escape_tags(segment: str) -> str:
    pieces, last = [], 0
    for link in _AUTOLINK.finditer(segment):
        pieces.append(_TAG_START.sub("&lt;", segment[last:link.start()]))
        pieces.append(link.group(0))
        last = link.end()
    pieces.append(_TAG_START.sub("&lt;", segment[last:]))
    return "".join(pieces)


def _escape_line(line: str) -> str:
    out, last = [], 0
    for span in _SPAN.finditer(line):
        out.append(_escape_tags(line[last:span.start()]))
        out.append(span.group(0))
        last = span.end()
    out.append(_escape_tags(line[last:]))
    return "".join(out)


def inert(text: str) -> str:
    """Markdown with raw HTML made harmless: tags outside code become text, so a saved notebook's
    nbconvert HTML never carries a live ``<script>`` from a model or a provider's error page.
    Code blocks and code spans keep their text, since Markdown shows them literally anyway."""
    if "<" not in text:
        return text
    code_lines: set[int] = set()
    for token in _block_parser().parse(text):
        if token.type in ("fence", "code_block") and token.map:
            code_lines.update(range(*token.map))
    lines = text.split("\n")
    return "\n".join(line if n in code_lines else _escape_line(line) for n, line in enumerate(lines))


def to_html(text: str) -> str:
    return _parser().render(close_fences(text))


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


def pretty(text: str) -> str:
    """JSON indented for reading; text that is not JSON (a cut-short answer) or nests too deep to
    read back stays as it came: the answer is shown whatever it holds."""
    import json

    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return text


def fenced(lang: str, text: str) -> str:
    """A code block whose fence no backtick run inside can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"
