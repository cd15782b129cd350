"""Reading a value out of JSON the server sent, without trusting its shape."""

from __future__ import annotations

from typing import Any


def dig(value: Any, *keys: str) -> Any:
    """``value[k1][k2]…``, or None as soon as a step is not a JSON object or lacks the key."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value
