"""Markdown for the live view and the saved answer.

The live widget shows HTML, and ipywidgets does not sanitise HTML, so raw HTML from the model is
escaped (``html: False``); the saved answer is plain Markdown that each frontend sanitises itself.
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
