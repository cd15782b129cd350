"""The live engine: every pending row through one shared async client, within the throttle and budget.

The event loop runs in a worker thread, so it works the same in a terminal and inside a kernel
(whose own loop is busy running the cell). The calling thread only watches: it refreshes the
progress bar and catches Ctrl-C / the stop button, which cancels the requests in flight; rows that
finished are already in the result list and in the cache.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Callable

from grok_magics.engine.policy import Gate, estimated_usage
from grok_magics.errors import OverCap, Refused, from_exception
from grok_magics.mapping.cache import Cache
from grok_magics.mapping.cost import budget_allows
from grok_magics.mapping.outcomes import Outcome, Progress
from grok_magics.mapping.rate import RequestWindow
from grok_magics.mapping.row_requests import (
    Answer,
    RowSpec,
    kwargs_for,
    request_for,
    send,
)
from grok_magics.providers.client import Transport, refused_for_good
from grok_magics.providers.table import api_key_for

RATE_LIMIT_RETRIES = 8  # a row rate-limited this many times in a row is reported, not retried again (--retries)
TRANSIENT_RETRIES = 2  # 5xx, dropped connections, timeouts
DEFAULT_RETRY_AFTER = 1.0
LEDGER_CHAT = "%grok map"  # where map rows are booked in the classroom ledger


@dataclass
class Engine:
    spec: RowSpec
    prompts: list[str]
    keys: list[str]
    validate: Callable[[Answer], Outcome]
    concurrency: int
    rps: float | None
    max_cost: float
    transport: Transport
    use_cache: bool
    outcomes: list[Outcome | None]
    progress: Progress
    gate: Gate
    retries: int = RATE_LIMIT_RETRIES
    ledger_chat: str = LEDGER_CHAT  # where the job's calls are booked ("%grok reduce", ...)
    api_key: str | None = None  # given on Spark/Dask workers, which do not have the kernel's environment
    cache_dir: Any = None  # the cache's folder on such workers (the kernel's, not the worker's environment's)

    async def run(self, todo: list[int], stop: threading.Event) -> None:
        client = _async_client(self.spec, self.transport, self.api_key)
        throttle = RequestWindow(self.concurrency, self.rps)
        cache = Cache(self.cache_dir) if self.use_cache else None
        queue = deque(todo)
        try:

            async def worker() -> None:
                while queue and not stop.is_set():
                    if not budget_allows(self.progress.cost, self.max_cost):
                        self.progress.stopped_by_cost = True
                        return
                    i = queue.popleft()
                    try:
                        outcome = await self._row(client, throttle, i)
                    except OverCap as exc:  # a classroom cap: this row and every later one stay unsent
                        self.progress.stopped_by = str(exc)
                        stop.set()
                        return
                    self.outcomes[i] = outcome
                    if cache is not None and outcome.error is None and outcome.text is not None:
                        cache.put(self.keys[i], outcome.text, outcome.usage)
                    self.progress.add(outcome)

            await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(todo)) or 1)))
        finally:
            if cache is not None:
                cache.close()
            await client.close()

    async def _row(self, client: Any, throttle: RequestWindow, i: int) -> Outcome:
        request = request_for(self.spec, self.prompts[i])
        too_big = over_window(request, self.spec.window)
        if too_big:  # the provider would refuse it after the wait: this row fails alone, nothing sent
            return Outcome(error=too_big)
        try:
            self.gate.admit(request)
        except OverCap:
            raise
        except Refused as exc:  # this row carries a key: it fails, the job goes on
            return Outcome(error=str(exc))
        answer = await self._send(client, throttle, request)
        if isinstance(answer, Outcome):
            return answer
        self.gate.book(self.ledger_chat, request, answer.usage, answer.text)
        if answer.usage is None:  # --max-cost must hold behind servers that report no usage
            answer = replace(answer, usage=estimated_usage(request, answer.text))
        return self.validate(answer)

    async def _send(self, client: Any, throttle: RequestWindow, request: Any) -> Answer | Outcome:
        """The row's answer, retried through 429s (within the throttle) and transient failures."""
        import openai

        kwargs = kwargs_for(self.spec, request.user[0].text)
        limited = transient = 0
        while True:
            await throttle.acquire()
            try:
                answer = await send(client, self.spec.endpoint.api, kwargs)
            except openai.RateLimitError as exc:
                if refused_for_good(exc.status_code, exc.response.text):  # a spent class budget: no waiting
                    await throttle.release()
                    return self._failure(exc)
                wait = _retry_after(exc)
                await throttle.release(limited=True, retry_after=wait)
                limited += 1
                if limited > self.retries:
                    return self._failure(
                        exc,
                        f"rate limited {limited} time{'s' if limited > 1 else ''} in a row; lower --concurrency or "
                        f"--rps, or raise --retries (now {self.retries})",
                    )
                self.progress.rate_limited += 1  # the summary counts the 429s that were retried
                await asyncio.sleep(wait)
                continue
            except (openai.APIConnectionError, openai.InternalServerError) as exc:
                await throttle.release()
                transient += 1
                if transient > TRANSIENT_RETRIES:
                    return self._failure(
                        exc, f"tried {transient} times; re-run the map later: rows that finished are cached"
                    )
                await asyncio.sleep(0.5 * 2 ** (transient - 1))
                continue
            except Exception as exc:  # 4xx and anything else: this row fails, the job goes on
                await throttle.release()
                return self._failure(exc)
            await throttle.release(ok=True)
            return answer

    def _failure(self, exc: BaseException, advice: str = "") -> Outcome:
        """The row's one line; after retries, map's own advice replaces the ask's (which names ask settings)."""
        return Outcome(error=from_exception(exc, self.spec.endpoint, self.transport, advice=advice, retries=0).message)


def over_window(request: Any, window: int) -> str:
    """Why a row cannot go (it alone, with its output cap, is over the context window), or ""."""
    tokens = estimated_usage(request, "").input + (request.max_tokens or 0)
    if not window or tokens <= window:
        return ""
    return (
        f"this row is ~{tokens:,} tokens, over the {window:,}-token context window of "
        f"{request.endpoint.provider.title}; not sent. Shorten the row's text or the template "
        "(or raise %config GrokMagics.context_window)"
    )


def _retry_after(exc: Any) -> float:
    try:
        value = float(exc.response.headers.get("retry-after", ""))
    except (AttributeError, TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
    return min(max(value, 0.0), 60.0)


def _async_client(spec: RowSpec, transport: Transport, key: str | None = None) -> Any:
    """One client (one connection pool) for the whole job; retries are ours, so 429s reach the throttle."""
    import openai

    endpoint = spec.endpoint
    key = key or api_key_for(endpoint.provider)
    headers: dict[str, Any] = {"OpenAI-Organization": openai.Omit(), "OpenAI-Project": openai.Omit()}
    if endpoint.provider.auth_header != "authorization":
        headers[endpoint.provider.auth_header] = key
    return openai.AsyncOpenAI(
        api_key=key,
        base_url=endpoint.base_url,
        default_headers=headers,
        max_retries=0,
        timeout=openai.Timeout(transport.timeout, connect=transport.connect_timeout),
    )


def run_in_thread(engine: Engine, todo: list[int], on_tick: Callable[[], None]) -> None:
    """Run the engine to the end, calling ``on_tick`` about ten times a second; Ctrl-C stops it cleanly."""
    stop = threading.Event()
    state: dict[str, Any] = {}

    def main() -> None:
        loop = asyncio.new_event_loop()
        state["loop"] = loop
        task = loop.create_task(engine.run(todo, stop))
        state["task"] = task
        try:
            loop.run_until_complete(task)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # surfaced in the calling thread
            state["error"] = exc
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="grok-map", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.1)
            on_tick()
    except KeyboardInterrupt:
        engine.progress.interrupted = True
        stop.set()
        loop, task = state.get("loop"), state.get("task")
        if loop is not None and task is not None:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the loop already finished
                pass
        thread.join()
    on_tick()
    if "error" in state:
        raise state["error"]
