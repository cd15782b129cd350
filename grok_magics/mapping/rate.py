"""How many requests may be in flight, and how fast they may start.

A window of concurrent requests grows by one per window of successes and halves on a 429
(additive increase, multiplicative decrease, as TCP does). One burst of 429s from requests that
were all sent before the cut counts once: only a request started after the last cut can cut again.
A requests-per-second cap spaces request starts evenly and is never exceeded. Used from one event
loop only.
"""

from __future__ import annotations

import asyncio
import time


class Throttle:
    def __init__(self, ceiling: int, rps: float | None = None) -> None:
        self.ceiling = max(1, ceiling)
        self.window = float(self.ceiling)
        self.lowest = self.window  # the smallest window reached: shows the job adapted
        self.in_flight = 0
        self.rps = rps if rps and rps > 0 else None
        self._next_start = 0.0
        self._last_cut = float("-inf")
        self._changed = asyncio.Condition()

    @property
    def allowed(self) -> int:
        return max(1, int(self.window))

    async def acquire(self) -> float:
        """Wait for a free slot (and the next start the RPS cap allows); returns the start time."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.allowed)
            self.in_flight += 1
            now = time.monotonic()
            start = max(now, self._next_start) if self.rps else now
            if self.rps:
                self._next_start = start + 1.0 / self.rps
        if start > now:
            await asyncio.sleep(start - now)
        return time.monotonic()

    async def release(self, started: float, *, ok: bool = False, limited: bool = False) -> None:
        async with self._changed:
            self.in_flight -= 1
            if limited and started > self._last_cut:
                self.window = max(1.0, self.window / 2)
                self.lowest = min(self.lowest, self.window)
                self._last_cut = time.monotonic()
            elif ok:
                self.window = min(float(self.ceiling), self.window + 1.0 / self.window)
            self._changed.notify_all()
