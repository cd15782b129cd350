"""A map job through the provider's Batch API: submit (or pick up by id), wait with a progress bar, collect."""

from __future__ import annotations

import time
from typing import Any, Callable

from .cost import confirm_cost
from .outcomes import Outcome, Progress
from .plan import Plan
from .progress import Bar
from .requests import Answer, RowSpec, request_for


def admit_rows(gate: Any, spec: RowSpec, plan: Plan, todo: list[int], outcomes: list[Outcome | None],
               progress: Progress) -> list[int]:
    """Each row of a batch passes the gate as a live row would; refused rows fail, a cap stops the rest."""
    from ..policy import OverCap, Refused

    admitted = []
    for i in todo:
        try:
            gate.admit(request_for(spec, plan.prompts[i]))
        except OverCap as exc:
            progress.stopped_by = str(exc)
            break
        except Refused as exc:
            outcomes[i] = Outcome(error=str(exc))
            progress.add(outcomes[i])
            continue
        admitted.append(i)
    return admitted


def run_batch(spec: RowSpec, plan: Plan, todo: list[int], outcomes: list[Outcome | None], progress: Progress,
              validate: Callable[[Answer], Outcome], transport: Any, batch_id: str | None, max_cost: float,
              confirm: Any, show: bool, poll_every: float, use_cache: bool, out_col: str, gate: Any) -> str:
    from ..client import Clients
    from . import batch as xai_batch

    xai_batch.check_supported(spec)
    clients = Clients()
    try:
        client = clients.get(spec.endpoint, transport)
        if batch_id is None:
            if not todo:
                return ""
            confirm_cost(spec, plan, todo, max_cost, confirm, gate.prices)
            todo = admit_rows(gate, spec, plan, todo, outcomes, progress)
            if not todo:
                return ""
            batch_id = xai_batch.submit(client, spec, transport, plan.prompts, plan.keys, todo,
                                        name=f"grok-magics map: {len(todo)} rows into {out_col}")
            print(f"map: batch {batch_id} submitted ({len(todo):,} rows). If this kernel stops, collect it "
                  f"from any kernel with --batch-id {batch_id} (or batch_id='{batch_id}').")
        try:
            with Bar(progress, show, unit="req") as bar:
                while True:
                    state = xai_batch.status(client, spec, transport, batch_id)
                    bar.batch(state)
                    if xai_batch.finished(state):
                        break
                    time.sleep(poll_every)
        except KeyboardInterrupt:  # stop waiting; the batch itself runs on at the provider
            progress.interrupted = True
            return f"batch {batch_id} still running; collect it later with --batch-id {batch_id}"
        _collect(client, spec, transport, batch_id, plan, outcomes, progress, validate, use_cache, gate)
    finally:
        clients.close()
    return ""


def _collect(client: Any, spec: RowSpec, transport: Any, batch_id: str, plan: Plan,
             outcomes: list[Outcome | None], progress: Progress, validate: Callable[[Answer], Outcome],
             use_cache: bool, gate: Any) -> None:
    """Rows picked up by --batch-id were counted as sent by the kernel that submitted them; their cost is
    booked here, in the kernel that collects the answers."""
    from .runner import LEDGER_CHAT

    from . import batch as xai_batch
    from .cache import Cache

    store = Cache() if use_cache else None
    try:
        for rid, answer, error in xai_batch.results(client, spec, transport, batch_id):
            row = xai_batch.row_of(rid, plan.keys)
            if row is None or (outcomes[row] is not None and outcomes[row].cached):  # type: ignore[union-attr]
                continue
            if answer is not None:
                gate.book(LEDGER_CHAT, request_for(spec, plan.prompts[row]), answer.usage, answer.text)
            outcome = validate(answer) if answer is not None else Outcome(error=error)
            outcomes[row] = outcome
            progress.add(outcome)
            if store is not None and outcome.error is None and outcome.text is not None:
                store.put(plan.keys[row], outcome.text, outcome.usage)
    finally:
        if store is not None:
            store.close()
