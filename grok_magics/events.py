"""The stream as a sequence of typed events, the same for every wire API and provider.

Wire modules produce these; views and the reply accumulator consume them. Nothing downstream
sees an SDK object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union


@dataclass(frozen=True)
class Started:
    response_id: str = ""


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class Usage:
    """Tokens of one reply, normalised: ``output`` is visible text only, ``reasoning`` is separate."""

    input: int = 0
    cached: int = 0
    output: int = 0
    reasoning: int = 0
    cost_usd: float | None = None  # exact cost when the provider reports it

    def __add__(self, other: "Usage") -> "Usage":
        both_unknown = self.cost_usd is None and other.cost_usd is None
        cost = None if both_unknown else (self.cost_usd or 0) + (other.cost_usd or 0)
        return Usage(
            self.input + other.input,
            self.cached + other.cached,
            self.output + other.output,
            self.reasoning + other.reasoning,
            cost,
        )


FINISH_KINDS = ("complete", "length", "filter", "provider-error", "cut-off", "other")


@dataclass(frozen=True)
class Finished:
    """How the provider ended the reply. Only a known-good ending is ``complete``; ``kind`` says what
    happened otherwise (length, filter, provider-error, cut-off, other) and ``reason`` is the provider's word.

    ``text`` is the final answer as the provider's closing event states it (Responses), or None; the
    reply reconciles its streamed text with it.
    """

    reason: str = "stop"
    complete: bool = True
    items: tuple[dict[str, Any], ...] = field(default=())  # Responses output items, verbatim
    kind: str = "complete"
    text: str | None = None


@dataclass(frozen=True)
class Waiting:
    """Nothing streams yet because the provider asked us to wait (HTTP 429/503 + Retry-After)."""

    seconds: float
    status: int


Event = Union[Started, TextDelta, ReasoningDelta, Usage, Finished, Waiting]
