"""A reply as it accumulates from events: the state every view reads and history keeps."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .errors import GrokError
from .events import (
    Citation, Event, Finished, ReasoningDelta, SearchProgress, Started, TextDelta, ToolCall, ToolResult, Usage,
)
from .parts import estimate_tokens
from .request import Round


@dataclass
class Reply:
    text: str = ""
    reasoning: str = ""
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
    _usage_before: Usage | None = None  # usage of finished rounds
    round_usages: list[Usage] = field(default_factory=list)  # one per request, as billed

    def add(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            if self.first_token is None:
                self.first_token = time.monotonic()
            self.text += event.text
        elif isinstance(event, ReasoningDelta):
            self.reasoning += event.text
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
        elif isinstance(event, Started):
            self.response_id = event.response_id

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

    def next_round(self, finished: Round) -> None:
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

    def output_tokens(self) -> tuple[int, bool]:
        """Visible output tokens, and whether the number is the provider's (True) or our estimate."""
        if self.usage is not None:
            return self.usage.output, True
        return (estimate_tokens(self.text) if self.text else 0), False

    def tokens_per_second(self) -> float | None:
        if self.first_token is None:
            return None
        end = self.ended if self.ended is not None else time.monotonic()
        elapsed = end - self.first_token
        tokens, _ = self.output_tokens()
        return tokens / elapsed if elapsed > 0.05 and tokens > 1 else None
