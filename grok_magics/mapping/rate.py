"""How many requests may be in flight, and how fast they may start.

A window of concurrent requests halves on a 429, at most once per cool-down (the Retry-After, at
least a second), since one burst of 429s is one signal, not thirty-two. It grows back quickly —
one slot per success — to 90% of where it was before the cut, then slowly, one slot per window of
successes (additive increase, multiplicative decrease, as TCP does). So a provider that really is
at its limit gets a window that settles just below it, and a stray 429 costs little. A
requests-per-second cap spaces request starts evenly and is never exceeded. Used from one event
loop only.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

MIN_COOLDOWN = 1.0


class RequestWindow:
    def __init__(self, ceiling: int, rps: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.ceiling = max(1, ceiling)
        self.window = float(self.ceiling)
        self.in_flight = 0
        self.rps = rps if rps and rps > 0 else None
        self._clock = clock
        self._last_start = float("-inf")
        self._pacing = asyncio.Lock()
        self._cooldown_until = float("-inf")
        self._recover_to = 0.0
        self._changed = asyncio.Condition()

    @property
    def allowed(self) -> int:
        return max(1, int(self.window))

    async def acquire(self) -> None:
        """Wait for a free slot, then for the next start the RPS cap allows."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.allowed)
            self.in_flight += 1
        if self.rps:
            async with self._pacing:  # starts are spaced by real time, so a stalled loop never bunches them
                wait = self._last_start + 1.0 / self.rps - self._clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._last_start = self._clock()

    async def release(self, *, ok: bool = False, limited: bool = False, retry_after: float = 0.0) -> None:
        async with self._changed:
            self.in_flight -= 1
            now = self._clock()
            if limited and now >= self._cooldown_until:
                self._recover_to = 0.9 * self.window
                self.window = max(1.0, self.window / 2)
                self._cooldown_until = now + max(retry_after, MIN_COOLDOWN)
            elif ok:
                step = 1.0 if self.window < self._recover_to else 1.0 / self.window
                self.window = min(float(self.ceiling), self.window + step)
            self._changed.notify_all()
