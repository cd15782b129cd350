"""Ctrl-C and deadlines for one ask, so its ending (close, final view, history) always runs.

The first SIGINT stops the stream; any later one, until the ask has ended, is only noted. Without
this, a second click on ■ a millisecond after the first lands inside the clean-up and leaves the
live view spinning with no answer in history. Deadlines reuse the same path: a timer sends SIGINT
to the main thread, which wakes it from a blocked socket read (SSE keep-alive comments reset the
SDK's read timeout forever, and a server that never sends headers is otherwise retried for ages).
Signals reach only the main thread, so elsewhere (a worker thread) the guard does nothing.
"""

from __future__ import annotations

import signal
import threading
import time
from contextvars import ContextVar
from types import FrameType
from typing import Any, Awaitable, Callable, TypeVar

T = TypeVar("T")
_WAITING: ContextVar[bool] = ContextVar("grok_interruptible", default=False)  # inside interruptible


class DeadlineExceeded(KeyboardInterrupt):
    """A deadline ran out. A KeyboardInterrupt, so the SDK's ``except Exception`` retry loop lets it through."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class AskGuard:
    # A second SIGINT this soon after the first was raised lands while that one is still on its way to
    # the ask's except clause: hold it. Later ones raise again, so an interrupt that some library
    # swallowed never leaves the ask uninterruptible.
    IN_FLIGHT = 0.25

    def __init__(self, headers_within: float | None, total_within: float | None) -> None:
        self.headers_within = headers_within
        self.total_within = total_within
        self.ending = False
        self.pending = False  # a SIGINT arrived while the ask was ending
        self.noticed = False  # the ask has caught an interrupt: no need to deliver a held one again
        self.expired: str = ""
        self._raised_at: float | None = None
        self._timers: list[threading.Timer] = []
        self._header_timer: threading.Timer | None = None
        self._old: Any = None
        self._active = False
        self._lock = threading.Lock()

    def __enter__(self) -> AskGuard:
        if threading.current_thread() is not threading.main_thread():
            return self
        try:
            self._old = signal.signal(signal.SIGINT, self._on_sigint)
        except ValueError:  # not the main interpreter's main thread after all
            return self
        self._active = True
        if self.headers_within is not None:
            self._header_timer = self._start(self.headers_within, "headers")
        if self.total_within is not None:
            self._start(self.total_within, "total")
        return self

    def _start(self, seconds: float, what: str) -> threading.Timer:
        timer = threading.Timer(max(seconds, 0.0), self._expire, args=(what,))
        timer.daemon = True
        timer.start()
        self._timers.append(timer)
        return timer

    def opened(self) -> None:
        """The response headers arrived: the header deadline no longer applies."""
        if self._header_timer is not None:
            self._header_timer.cancel()

    def wait_for_headers_again(self, seconds: float) -> None:
        """A retry is coming (after a server-directed wait): give it a fresh header deadline."""
        if self._active and self.headers_within is not None and not self.ending:
            self.opened()
            self._header_timer = self._start(seconds + self.headers_within, "headers")

    def caught(self) -> None:
        """The ask has the interrupt in hand (it is stopping)."""
        self.noticed = True

    def end(self) -> None:
        """From here on the ask is finishing; interrupts wait until it has."""
        self.ending = True

    def resume(self) -> bool:
        """Another request of the same ask follows (the tutor asks again): Ctrl-C stops it again. False when an
        interrupt arrived while the ask was ending: then nothing more should be sent."""
        if self.pending:
            return False
        self.ending = False
        return True

    def _expire(self, what: str) -> None:
        with self._lock:
            if self.ending or self.expired:
                return
            if what == "retry" and self.noticed:
                return
            if what != "retry":
                self.expired = what
        ident = threading.main_thread().ident
        if ident is not None:  # None only before the main thread started, which it has
            signal.pthread_kill(ident, signal.SIGINT)

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if self.ending:
            self.pending = True
            return
        if self._raised_at is not None and now - self._raised_at < self.IN_FLIGHT:
            # Held: the first one is on its way. Should some library have swallowed it, the ask would go on
            # as if nobody had asked; so unless the ask is ending by then, this one is delivered after all.
            self.pending = True
            self._start(self.IN_FLIGHT, "retry")
            return
        self._raised_at = now
        if self.expired:
            raise DeadlineExceeded(self.expired)
        raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        self.ending = True
        for timer in self._timers:
            timer.cancel()
        if not self._active:
            return
        handler: Callable[..., Any] | int = self._old if self._old is not None else signal.default_int_handler
        if self._raised_at is None:
            signal.signal(signal.SIGINT, handler)
            return
        # The ask was interrupted: the other half of a double click may still be on its way. Raised now, it
        # would land in the kernel's own reply to this cell (and can leave the cell waiting forever), so for
        # a moment it is absorbed; ``settle`` puts the usual handler back when the next cell starts.
        global _settle
        ended, ended_cpu = time.monotonic(), time.thread_time()

        def late(signum: int, frame: FrameType | None) -> None:
            # A moment is a second of wall time, or, on a starved machine where this thread waited longer than
            # that to run this handler, as long as the thread has done little since (signals run here only).
            if time.monotonic() - ended < LATE_GRACE or time.thread_time() - ended_cpu < LATE_CPU:
                return
            signal.signal(signal.SIGINT, handler)
            if callable(handler):
                handler(signum, frame)

        signal.signal(signal.SIGINT, late)
        _settle = lambda: signal.signal(signal.SIGINT, handler)  # noqa: E731


LATE_GRACE = 1.0  # seconds after an interrupted ask during which a further Ctrl-C is the same click
LATE_CPU = 0.25  # ... or seconds of this thread's CPU time: what finishing the cell takes, with room to spare
_settle: Callable[[], Any] | None = None


def settle() -> None:
    """Before the next cell runs: the usual Ctrl-C handler again (main thread only)."""
    global _settle
    restore, _settle = _settle, None
    if restore is not None and threading.current_thread() is threading.main_thread():
        restore()


async def interruptible(awaitable: Awaitable[T]) -> T:
    """Await with Ctrl-C raising KeyboardInterrupt *here*, in the awaiting coroutine (an agent's wait for a
    click, a cell's ``await page.…``).

    The default SIGINT handler raises where the main thread is, which during an await is the event loop
    itself: the exception escapes the loop and the kernel dies. So while awaiting, Ctrl-C (the frontend's
    Interrupt, a step's time limit) cancels the wait instead, and the cancellation becomes the usual
    KeyboardInterrupt, which the agent turns into "interrupted" and a cell shows as any other.

    Inside another such wait, the outer one answers Ctrl-C: raised in an inner wait, the KeyboardInterrupt
    would surface inside the outer one's task, and asyncio lets that escape the event loop."""
    import asyncio

    if threading.current_thread() is not threading.main_thread() or _WAITING.get():
        return await awaitable
    task = asyncio.ensure_future(_waiting(awaitable))
    loop = asyncio.get_running_loop()
    pressed: list[bool] = []

    def on_sigint(signum: int, frame: Any) -> None:
        pressed.append(True)
        loop.call_soon_threadsafe(task.cancel)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        return await task
    except asyncio.CancelledError:
        if pressed:
            raise KeyboardInterrupt from None
        raise
    finally:
        signal.signal(signal.SIGINT, previous)


async def _waiting(awaitable: Awaitable[T]) -> T:
    _WAITING.set(True)  # in this task's own copy of the context: the caller's stays as it was
    return await awaitable
