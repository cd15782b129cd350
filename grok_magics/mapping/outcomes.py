"""What a job knows about its rows: one outcome per row, and running counters for the progress bar."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from grok_magics.model.events import Usage
from grok_magics.model.usage import PriceTable, cost_of, money


@dataclass
class Outcome:
    text: str | None = None
    value: Any = None
    error: str | None = None
    usage: Usage | None = None
    cached: bool = False


@dataclass
class Progress:
    """Counters the engine writes and the watching thread reads."""

    total: int = 0
    done: int = 0
    failed: int = 0
    cached: int = 0
    tokens: int = 0
    cost: float = 0.0
    rate_limited: int = 0
    stopped_by_cost: bool = False
    stopped_by: str = ""  # the gate's one line when a classroom cap stopped the job
    interrupted: bool = False
    unpriced: int = 0  # answers whose cost nobody knows (a model without a price)
    model: str = "grok-4.3"
    prices: PriceTable = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def add(self, outcome: Outcome) -> None:
        if outcome.error is not None:
            self.failed += 1
        else:
            self.done += 1
        if outcome.usage is not None and not outcome.cached:
            u = outcome.usage
            self.tokens += u.input + u.output + u.reasoning
            spent, _ = cost_of(u, self.model, self.prices)
            if spent is None:
                self.unpriced += 1
            else:
                self.cost += spent

    def money(self) -> str:
        """What the job spent so far, or that nobody knows its price."""
        if self.unpriced and not self.cost:
            return "price unknown"
        return money(self.cost) + (f" + {self.unpriced:,} unpriced" if self.unpriced else "")

    def postfix(self) -> str:
        return f"{self.done:,} done, {self.failed:,} failed, {self.tokens:,} tok, {self.money()}"
