"""What a prompt is made of, independent of any wire format.

A user message is a tuple of typed parts so that DataFrames and images can join plain text
later without changing the wire code's contract: each wire module maps parts to its own JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class TextPart:
    text: str


Part = Union[TextPart]
Parts = tuple[Part, ...]


def text_of(parts: Parts) -> str:
    return "".join(p.text for p in parts if isinstance(p, TextPart))


def estimate_tokens(text: str) -> int:
    """Rough count (4 characters a token) for budgeting before the provider tells us the truth."""
    return len(text) // 4 + 1
