"""``{name}`` references in a prompt, without touching any other brace.

Prompts are full of braces (JSON, dicts, f-strings, LaTeX), so only ``{identifier}`` bound in the
user's namespace is a reference, ``{{identifier}}`` is its escape, and code spans and fenced code
blocks are always literal. Nothing goes through ``str.format``.
"""

from __future__ import annotations

import numbers
import re
from typing import Any, Mapping

from ..parts import Parts, TextPart

_CODE = re.compile(
    r"(?ms)^ {0,3}(?P<fence>`{3,}|~{3,})[^\n]*\n.*?(?:^ {0,3}(?P=fence)[`~]*[ \t]*$|\Z)"  # fenced block
    r"|(?P<ticks>`+)(?!`).+?(?<!`)(?P=ticks)(?!`)"  # inline code span
)
_REFERENCE = re.compile(r"\{\{(?P<escaped>[A-Za-z_]\w*)\}\}|\{(?P<name>[A-Za-z_]\w*)\}")


def _as_text(value: Any) -> str | None:
    """Text for values that read naturally inline; other types get their own parts in context/."""
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Number):
        return str(value)
    return None


def _substitute(segment: str, namespace: Mapping[str, Any]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "{" + match.group("escaped") + "}"
        name = match.group("name")
        if name in namespace:
            text = _as_text(namespace[name])
            if text is not None:
                return text
        return match.group(0)

    return _REFERENCE.sub(replace, segment)


def expand_text(text: str, namespace: Mapping[str, Any]) -> str:
    out: list[str] = []
    cursor = 0
    for code in _CODE.finditer(text):
        out.append(_substitute(text[cursor : code.start()], namespace))
        out.append(code.group(0))
        cursor = code.end()
    out.append(_substitute(text[cursor:], namespace))
    return "".join(out)


def expand(text: str, namespace: Mapping[str, Any]) -> Parts:
    return (TextPart(expand_text(text, namespace)),)
