"""A class gateway's refusals (the LiteLLM proxy holding the real key), as the one line a student can act on.

Students' kernels hold only a gateway key; the gateway decides budgets, models and blocked keys, and its
answers are first-class here: its error *types* and words are matched (LiteLLM's documented error bodies,
``{"error": {"message", "type", "param", "code"}}``), whatever the status code (LiteLLM's budget status
changed from 400 to 429 to 422 over releases). A key or model the gateway does not know at all keeps the
general advice (check the model id, ``%grok key --new``): that is also what one person's own proxy says.
Imports nothing of ours: ``errors`` calls it.
"""

from __future__ import annotations

import json
import re

_RULES: tuple[tuple[str, str], ...] = (  # (pattern over "type: message", line); most specific first
    (
        r"budget_exceeded|budget has been exceeded|crossed budget|exceeded budget",
        "your class budget is used up — ask your teacher; nothing was answered",
    ),
    (
        r"model_access_denied|not allowed to access model|is not available for this api key",
        "the model {model} is not allowed for your key — ask your teacher which model to use",
    ),
    (r"\bai_off\b|\bai is off\b", "AI is off for your class at the gateway — ask your teacher"),
    (r"\bkey is blocked\b", "your key is blocked at the class gateway — ask your teacher"),
)


def _said(body: str) -> str:
    """``type: message`` from a LiteLLM-shaped body (or the body itself when it is not one)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return body[:2000]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return f"{error.get('type') or ''}: {error.get('message') or ''}"
    return body[:2000]


def gateway_refusal(body: str, model: str) -> str | None:
    """The student's line for a gateway refusal in ``body``, or None when the body is no such refusal."""
    said = _said(body.strip())
    for pattern, line in _RULES:
        if re.search(pattern, said, re.IGNORECASE):
            return line.format(model=model)
    return None
