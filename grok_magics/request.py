"""One ask, fully decided: where it goes, what it carries, how the model should think.

Built by the magics from the cell, options and conversation; read by the wire modules, which turn
it into JSON for their API. Immutable, so a retry or a replay sends exactly the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .parts import Parts
from .providers import Endpoint


@dataclass(frozen=True)
class Turn:
    """One finished exchange, as the next request must replay it."""

    user: Parts
    answer: str
    key: tuple[str, int] | None = None  # (cell id, n-th ask in that cell run): a re-run replaces it
    items: tuple[dict[str, Any], ...] = ()  # Responses output items, resent verbatim to the same provider
    items_provider: str = ""
    tokens: int = 0
    interrupted: bool = False


@dataclass(frozen=True)
class Request:
    endpoint: Endpoint
    user: Parts
    system: str = ""
    history: tuple[Turn, ...] = ()
    effort: str = "low"
    temperature: float | None = None
    max_tokens: int | None = None
    cache_key: str = ""
    notes: tuple[str, ...] = ()  # for the status line (e.g. "did you mean"); never sent
