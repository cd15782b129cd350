"""A reply as it accumulates from events: the state every view reads and history keeps."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .errors import GrokError
from .events import Event, Finished, ReasoningDelta, Started, TextDelta, Usage, Waiting
from .parts import estimate_tokens


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
    waiting: Waiting | None = None  # set while the SDK waits out a Retry-After before retrying

    def add(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            if self.first_token is None:
                self.first_token = time.monotonic()
            self.text += event.text
            self.waiting = None
        elif isinstance(event, ReasoningDelta):
            self.reasoning += event.text
            self.waiting = None
        elif isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Finished):
            self.finish = event
            if event.text is not None and event.text != self.text:
                self.text = event.text  # the provider's final word beats what the deltas carried
        elif isinstance(event, Waiting):
            self.waiting = event
        elif isinstance(event, Started):
            self.waiting = None
            self.response_id = event.response_id

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
