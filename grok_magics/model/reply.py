"""A reply as it accumulates from events: the state every view reads and history keeps."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from grok_magics.errors import GrokError
from grok_magics.model.events import (
    Activity,
    Citation,
    Ended,
    Event,
    Failed,
    Finished,
    Interrupted,
    Note,
    ReasoningDelta,
    Retrying,
    RoundLimitReached,
    SearchProgress,
    Started,
    TextDelta,
    ToolCall,
    ToolResult,
    TurnEvent,
    Usage,
)
from grok_magics.model.parts import Parts
from grok_magics.model.request import Request, Round


@dataclass
class Reply:
    """Deltas are collected in lists and joined on read: ``text += delta`` would copy the whole answer per delta."""

    _text: list[str] = field(default_factory=list, repr=False)
    _reasoning: list[str] = field(default_factory=list, repr=False)
    usage: Usage | None = None
    finish: Finished | None = None
    response_id: str = ""
    started: float = field(default_factory=time.monotonic)
    first_token: float | None = None
    ended: float | None = None
    interrupted: bool = False
    error: GrokError | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)  # asked for in the current round
    tool_results: list[ToolResult] = field(default_factory=list)  # their answers so far, in order
    rounds: list[Round] = field(default_factory=list)  # finished tool rounds, oldest first
    citations: list[Citation] = field(default_factory=list)
    searches: list[SearchProgress] = field(default_factory=list)  # the latest state of each search
    activity: str = ""  # what is happening now (a tool running, a search), for the live status line
    round_limit: int | None = None  # set when the tool loop stopped at its limit
    tool_limits: list[str] = field(default_factory=list)  # one line per per-round tool limit reached
    _usage_before: Usage | None = None  # usage of finished rounds
    round_usages: list[Usage] = field(default_factory=list)  # one per request, as billed
    reasoning_started: float | None = None
    reasoning_ended: float | None = None
    text_length: int = 0
    retrying: Retrying | None = None  # the last refused attempt, until the provider starts answering
    notes: list[str] = field(default_factory=list)  # what happened along the way, for the status line

    @property
    def text(self) -> str:
        return _joined(self._text)

    @text.setter
    def text(self, value: str) -> None:
        self._text[:] = [value] if value else []
        self.text_length = len(value)

    @property
    def reasoning(self) -> str:
        return _joined(self._reasoning)

    @reasoning.setter
    def reasoning(self, value: str) -> None:
        self._reasoning[:] = [value] if value else []

    def thought_seconds(self) -> float | None:
        """How long the model reasoned before it started writing, counted from the request as chat apps do
        (None: it sent no reasoning)."""
        if self.reasoning_started is None:
            return None
        end = self.first_token or self.reasoning_ended or self.ended or time.monotonic()
        return max(0.0, end - self.started)

    def add(self, event: Event | TurnEvent | Round) -> None:
        """The one way a reply changes: what the stream said, and what the ask did about it (a finished tool
        ``Round`` starts the next response)."""
        if isinstance(event, Round):
            self._next_round(event)
            return
        if isinstance(event, (Failed, Interrupted, Activity, RoundLimitReached, Note, Ended)):
            self._add_turn(event)
            return
        if isinstance(event, TextDelta):
            if self.first_token is None:
                self.first_token = time.monotonic()
            self._text.append(event.text)
            self.text_length += len(event.text)
        elif isinstance(event, ReasoningDelta):
            if self.reasoning_started is None:
                self.reasoning_started = time.monotonic()
            self.reasoning_ended = time.monotonic()
            self._reasoning.append(event.text)
        elif isinstance(event, Usage):
            self.usage = event if self._usage_before is None else self._usage_before + event
            self.round_usages.append(event)
        elif isinstance(event, ToolCall):
            self.tool_calls.append(event)
        elif isinstance(event, ToolResult):
            self.tool_results.append(event)
            self.activity = ""
        elif isinstance(event, Citation):
            if all(c.url != event.url for c in self.citations):
                self.citations.append(event)
        elif isinstance(event, SearchProgress):
            self._track_search(event)
        elif isinstance(event, Finished):
            self.finish = event
            if event.text is not None and event.text != self.text:
                self.text = event.text  # the provider's final word beats what the deltas carried
        elif isinstance(event, Started):
            self.response_id = event.response_id
            self.retrying = None
        elif isinstance(event, Retrying):
            self.retrying = event

    def _add_turn(self, event: TurnEvent) -> None:
        if isinstance(event, Failed):
            self.error = event.error
        elif isinstance(event, Interrupted):
            self.interrupted = True
        elif isinstance(event, Activity):
            self.activity = event.text
        elif isinstance(event, RoundLimitReached):
            self.round_limit = event.rounds
        elif isinstance(event, Note):
            (self.tool_limits if event.tool_limit else self.notes).append(event.text)
        elif isinstance(event, Ended):
            self.ended = event.at

    def _track_search(self, event: SearchProgress) -> None:
        known = [i for i, s in enumerate(self.searches) if event.item_id and s.item_id == event.item_id]
        if known:
            last = self.searches[known[0]]
            self.searches[known[0]] = SearchProgress(last.kind, event.status, event.query or last.query, last.item_id)
        else:
            self.searches.append(event)
        running = [s for s in self.searches if s.status != "completed"]
        where = "X" if running and running[-1].kind == "x" else "the web"
        self.activity = f"searching {where}…" if running else ""

    def _next_round(self, finished: Round) -> None:
        """The tools have answered: keep the round and start reading the model's next response."""
        self.rounds.append(finished)
        self._usage_before = self.usage
        self.text = ""
        self.reasoning = ""
        self.finish = None
        self.tool_calls = []
        self.tool_results = []
        self.activity = ""

    @property
    def complete(self) -> bool:
        return self.finish is not None and self.finish.complete and self.error is None and not self.interrupted

    @property
    def items(self) -> tuple[dict[str, Any], ...]:
        return self.finish.items if self.finish is not None and self.complete else ()

    @property
    def ttft(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.started

    def tool_round(self, request: Request, parts: Parts = ()) -> Round:
        """This response's tool round as the next request replays it: the provider's reasoning items kept
        only where that provider takes them back (encrypted, over the Responses API)."""
        provider = request.endpoint.provider
        keep = request.endpoint.api == "responses" and provider.encrypted_reasoning
        return Round(
            text=self.text,
            calls=tuple(self.tool_calls),
            results=tuple(self.tool_results),
            items=self.items if keep else (),
            items_provider=provider.name if keep else "",
            parts=parts,
        )

    def output_tokens(self) -> tuple[int, bool]:
        """Visible output tokens, and whether the number is the provider's (True) or our estimate."""
        if self.usage is not None:
            return self.usage.output, True
        return (self.text_length // 4 + 1 if self.text_length else 0), False  # as parts.estimate_tokens, no join

    def tokens_per_second(self) -> float | None:
        if self.first_token is None:
            return None
        end = self.ended if self.ended is not None else time.monotonic()
        elapsed = end - self.first_token
        tokens, _ = self.output_tokens()
        return tokens / elapsed if elapsed > 0.05 and tokens > 1 else None


def _joined(parts: list[str]) -> str:
    """Join once and keep the result as the single part, so repeated reads stay cheap."""
    if len(parts) > 1:
        parts[:] = ["".join(parts)]
    return parts[0] if parts else ""
