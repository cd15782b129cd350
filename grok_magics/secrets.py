"""A last line of defence: any text we show passes through ``redact`` first.

Keys are handed to the HTTP client and never formatted into messages on purpose; this catches
the accidental case (a provider echoing a key back in an error body, say).
"""

from __future__ import annotations

_seen: set[str] = set()
_MASK = "***"


def remember(secret: str) -> None:
    if len(secret) >= 8:
        _seen.add(secret)


def redact(text: str) -> str:
    for secret in _seen:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text
