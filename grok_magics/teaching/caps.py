"""Classroom caps and locks, and the ledger they are checked against.

A teacher ships settings (IPython config file or environment) that bound what a kernel may spend
and pin what it talks to. Caps are checked before anything is sent, so a refused call costs
nothing; replayed answers cost nothing and count against no cap.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Mapping

from grok_magics.errors import ConfigError
from grok_magics.model.events import Usage
from grok_magics.model.usage import NO_PRICES, PriceTable, cost_of, money, price_of
from grok_magics.teaching.notebook_policy import FULL, Policy

HOUR = 3600.0


@dataclass(frozen=True)
class Caps:
    max_cost_usd: float | None = None  # per kernel session
    max_output_tokens: int | None = None  # per call
    max_calls_per_hour: int | None = None
    locked: tuple[str, ...] = ()
    policy: Policy = FULL  # the notebook's AI policy (teaching/notebook_policy.py), checked by the gate

    def any(self) -> bool:
        return bool(self.locked) or any(
            v is not None for v in (self.max_cost_usd, self.max_output_tokens, self.max_calls_per_hour)
        )


@dataclass
class ChatLedger:
    calls: int = 0
    replayed: int = 0
    recorded: float = 0.0  # what the replayed answers cost when they were recorded (they cost nothing now)
    usage: Usage = Usage()
    cost: float = 0.0
    estimated: int = 0  # answers that came without usage: counted at characters / 4
    unpriced: int = 0  # answers whose cost nobody knows


@dataclass
class Ledger:
    """What this kernel has spent, per chat; the clock is injectable so tests need no waiting."""

    chats: dict[str, ChatLedger] = field(default_factory=dict)
    sent_at: deque[float] = field(default_factory=deque)
    cost: float = 0.0
    cost_reported: set[str] = field(default_factory=set)  # models whose servers said what an answer cost

    def note_sent(self, now: float | None = None) -> None:
        """Counted when the request leaves, so a failed or interrupted call still counts as a call."""
        self.sent_at.append(time.monotonic() if now is None else now)

    def add(
        self,
        chat: str,
        usage: Usage | None,
        replayed: bool,
        model: str = "grok-4.3",
        table: PriceTable = NO_PRICES,
        estimate: Usage | None = None,
    ) -> None:
        """One request's outcome. Without reported usage, ``estimate`` (characters / 4) stands in for it, so a
        cap still holds behind servers that never report usage."""
        entry = self.chats.setdefault(chat, ChatLedger())
        if replayed:
            entry.replayed += 1
            entry.recorded += (cost_of(usage, model, table)[0] or 0.0) if usage is not None else 0.0
            return
        entry.calls += 1
        if usage is None and estimate is not None:
            usage = estimate
            entry.estimated += 1
        if usage is None:
            return
        entry.usage = entry.usage + usage
        if usage.cost_usd is not None:
            self.cost_reported.add(model)
        spent, _ = cost_of(usage, model, table)
        if spent is None:
            entry.unpriced += 1
            return
        entry.cost += spent
        self.cost += spent

    def calls_in_last_hour(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        while self.sent_at and self.sent_at[0] <= now - HOUR:
            self.sent_at.popleft()
        return len(self.sent_at)


def effective_max_tokens(caps: Caps, asked: int | None) -> int | None:
    """The cap is also the default: a call without --max-tokens is bounded by it."""
    if caps.max_output_tokens is None:
        return asked
    if asked is not None and asked > caps.max_output_tokens:
        raise ConfigError(
            f"--max-tokens {asked:,} is over this classroom's cap of {caps.max_output_tokens:,} output tokens "
            f"per call: ask for {caps.max_output_tokens:,} or fewer"
        )
    return asked if asked is not None else caps.max_output_tokens


def check_before_sending(
    caps: Caps, ledger: Ledger, now: float | None = None, model: str = "grok-4.3", table: PriceTable = NO_PRICES
) -> None:
    """Raise ConfigError (one line: which cap, how much is used, what to do) when a call may not go out.

    A budget cannot be kept on a model whose price nobody knows, unless its server reports each answer's cost."""
    if caps.max_cost_usd is not None and ledger.cost >= caps.max_cost_usd:
        raise ConfigError(
            f"this kernel's budget of {money(caps.max_cost_usd)} is spent ({money(ledger.cost)} so far): "
            "nothing was sent; ask your teacher, or restart the kernel for a new session"
        )
    if caps.max_cost_usd is not None and price_of(model, table) is None and model not in ledger.cost_reported:
        raise ConfigError(
            f"this kernel's budget of {money(caps.max_cost_usd)} cannot be kept: no price is known for {model}, "
            f"so nothing was sent; set one, e.g. %config GrokMagics.prices = {{{model!r}: {{'input': 1.25, "
            "'output': 2.5}} (USD per million tokens)"
        )
    if caps.max_calls_per_hour is not None:
        used = ledger.calls_in_last_hour(now)
        if used >= caps.max_calls_per_hour:
            current = time.monotonic() if now is None else now
            wait = max(1, int((ledger.sent_at[0] + HOUR - current) // 60) + 1)
            raise ConfigError(
                f"{used} of {caps.max_calls_per_hour} calls this hour used: nothing was sent; "
                f"try again in about {wait} min"
            )


def check_locks(caps: Caps, wanted: Mapping[str, object]) -> None:
    """Magic-line options may not change a locked setting; ``wanted`` holds the options actually given."""
    for name in caps.locked:
        if wanted.get(name) is not None:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(
                f"{flag} is locked in this classroom ({name} is pinned by the teacher's settings): "
                f"remove {flag} from the magic line ({name}= from Python; %grok config shows what is locked)"
            )


def budget_lines(caps: Caps, ledger: Ledger) -> list[str]:
    """The remaining budget, for ``%grok usage``."""
    lines = []
    if caps.max_cost_usd is not None:
        left = max(caps.max_cost_usd - ledger.cost, 0.0)
        lines.append(f"budget: {money(left)} of {money(caps.max_cost_usd)} left this session")
    if caps.max_calls_per_hour is not None:
        lines.append(f"calls this hour: {ledger.calls_in_last_hour()} of {caps.max_calls_per_hour}")
    if caps.max_output_tokens is not None:
        lines.append(f"output cap: {caps.max_output_tokens:,} tokens per call")
    return lines


def ledger_lines(ledger: Ledger) -> list[str]:
    lines = []
    for name, entry in ledger.chats.items():
        replayed = f", {entry.replayed} replayed at $0 (recorded at {money(entry.recorded)})" if entry.replayed else ""
        if not entry.calls:
            lines.append(f"chat {name}: nothing sent{replayed}")
            continue
        u = entry.usage
        notes = []
        if entry.estimated:
            notes.append(f"{entry.estimated} without usage, counted at characters / 4")
        if entry.unpriced:
            notes.append(f"{entry.unpriced} at an unknown price")
        cost = "price unknown" if entry.unpriced and entry.unpriced == entry.calls else money(entry.cost)
        lines.append(
            f"chat {name}: {entry.calls} call(s){replayed}, {u.input:,} in, {u.output:,} out, "
            f"{u.reasoning:,} reasoning, {cost}" + (f" ({'; '.join(notes)})" if notes else "")
        )
    return lines
