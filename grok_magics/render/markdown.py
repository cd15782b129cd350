"""Markdown helpers. Answers are shown as Markdown that each frontend renders; what came from outside
passes ``sanitise`` first."""

from __future__ import annotations

import re

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.MULTILINE)


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
