"""The stream as a sequence of typed events, the same for every wire API and provider.

Wire modules produce these; views and the reply accumulator consume them. Nothing downstream
sees an SDK object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union, get_args

from grok_magics.errors import GrokError


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
    cost_usd: float | None = None  # exact cost when the provider reports it (xAI's includes server-side tools)
    server_tools: int = 0  # server-side tool calls billed (xAI web/X search)

    def __add__(self, other: "Usage") -> "Usage":
        both_unknown = self.cost_usd is None and other.cost_usd is None
        cost = None if both_unknown else (self.cost_usd or 0) + (other.cost_usd or 0)
        return Usage(
            self.input + other.input,
            self.cached + other.cached,
            self.output + other.output,
            self.reasoning + other.reasoning,
            cost,
            self.server_tools + other.server_tools,
        )


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
class ToolCall:
    """The model asks for a local function; ``arguments`` is the JSON text it wrote, unparsed."""

    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolResult:
    """What a local tool answered (or why it did not run); sent back to the model as text."""

    call_id: str
    name: str
    output: str
    error: bool = False
    limited: bool = False  # not run: a per-round limit answered it (views sum such calls up in one line)


@dataclass(frozen=True)
class SearchProgress:
    """A server-side search (xAI ``web_search`` / ``x_search``) changed state; ``query`` once known."""

    kind: str  # "web" | "x"
    status: str  # "in_progress" | "searching" | "completed"
    query: str = ""
    item_id: str = ""  # one search's events share it


@dataclass(frozen=True)
class Citation:
    """A source the answer cites (a ``url_citation`` annotation)."""

    url: str
    title: str = ""


@dataclass(frozen=True)
class Retrying:
    """The provider refused an attempt (429, 5xx) before the answer began; the SDK may try again."""

    status: int
    wait: float | None = None  # seconds, from Retry-After when the provider sent it


Event = Union[
    Started, TextDelta, ReasoningDelta, Usage, Finished, ToolCall, ToolResult, SearchProgress, Citation, Retrying
]
WIRE_EVENTS: dict[str, type] = {cls.__name__: cls for cls in get_args(Event)}  # what a stream (or cassette) holds


# -- what the ask itself adds to a reply: every change to a Reply is an event (``Reply.add``) ------------------


@dataclass(frozen=True)
class Failed:
    """The ask ends in this one line (the gate, the provider, the stream, or an answer that does not fit)."""

    error: GrokError


@dataclass(frozen=True)
class Interrupted:
    """Ctrl-C or ■ stopped the ask; what arrived stays."""


@dataclass(frozen=True)
class Activity:
    """What is happening now (a tool running), for the live status line; "" when it is done."""

    text: str


@dataclass(frozen=True)
class RoundLimitReached:
    """The tool loop stopped after this many rounds; the calls of the last response did not run."""

    rounds: int


@dataclass(frozen=True)
class Note:
    """A line for under the answer: a per-round tool limit reached (``tool_limit``), or one for the status line."""

    text: str
    tool_limit: bool = False


@dataclass(frozen=True)
class Ended:
    """The ask is over (monotonic time), whatever ended it."""

    at: float


TurnEvent = Union[Failed, Interrupted, Activity, RoundLimitReached, Note, Ended]
