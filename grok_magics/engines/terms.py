"""What every partition task of one row job shares, whatever it does with its rows (map, filter, a reduce's
first level): the request spec, its share of the window and the RPS, retries, the job's budget and rows, the
cache, the transport, prices and ``--allow-key``. Plain data, pickled to the workers; it carries no key."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Terms:
    spec: Any  # mapping.row_requests.RowSpec (a map's without its compiled schema: see rows.RowTask)
    concurrency: int  # requests in flight per task (the job's budget divided by the tasks that run at once)
    rps: float | None  # per task, likewise
    retries: int
    max_cost: float  # the whole job's; a partition may spend its rows' share
    total_rows: int
    cache: bool
    cache_dir: str
    transport: Any
    prices: Any
    allow_key: bool

    def masker(self, key: str | None) -> Any:
        """Key-shaped cell values are masked (the worker's key above all) unless ``--allow-key``."""
        from grok_magics.privacy.key_shapes import KeyMasker

        return KeyMasker([key] if key else [], enabled=not self.allow_key)

    def progress(self, prompts: int) -> Any:
        from grok_magics.mapping.outcomes import Progress

        return Progress(total=prompts, model=self.spec.endpoint.model, prices=self.prices)

    def answer(
        self,
        spec: Any,
        plan: Any,
        validate: Callable[[Any], Any],
        outcomes: list[Any],
        progress: Any,
        rows: int,
        verb: str,
        key: str | None,
    ) -> None:
        """Ask what the cache did not answer, through map's engine, within this partition's share of the budget
        (its ``rows`` of the job's). Classroom caps were checked on the driver: the worker's gate books nothing."""
        from grok_magics.engine.policy import Gate
        from grok_magics.mapping.plan import fill_from_cache
        from grok_magics.mapping.runner import Engine
        from grok_magics.teaching.caps import Caps, Ledger

        fill_from_cache(plan, spec, outcomes, progress, self.cache, self.cache_dir)
        todo = [i for i, o in enumerate(outcomes) if o is None]
        if not todo:
            return
        engine = Engine(
            spec,
            plan.prompts,
            plan.keys,
            validate,
            self.concurrency,
            self.rps,
            self.max_cost * rows / max(self.total_rows, 1),
            self.transport,
            self.cache,
            outcomes,
            progress,
            Gate(Caps(), Ledger(), {}, self.prices, self.allow_key),
            self.retries,
            ledger_chat=f"%grok {verb}",
            api_key=key,
            cache_dir=self.cache_dir,
        )
        _run(engine, todo)


def _run(engine: Any, todo: list[int]) -> None:
    """The engine's loop in a thread of its own: a worker (or a kernel) may already run an event loop here."""
    failure: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(engine.run(todo, threading.Event()))
        except BaseException as exc:  # surfaced in the task
            failure.append(exc)

    thread = threading.Thread(target=main, name="grok-rows", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
