"""A map job through the provider's Batch API: submit (or pick up by id), wait with a progress bar, collect.

Waiting is bounded: the batch's deadline (``GrokMagics.batch_deadline``) ends the wait with a note
saying how to collect later, and what it is waiting for is said at least every ``SAY_EVERY`` seconds,
whatever ``poll_every`` is, so a long wait never looks like a hang.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from grok_magics.mapping.cost import confirm_cost
from grok_magics.mapping.outcomes import Outcome, Progress
from grok_magics.mapping.plan import Plan
from grok_magics.mapping.progress import Bar
from grok_magics.mapping.row_requests import Answer, RowSpec, request_for


def admit_rows(
    gate: Any, spec: RowSpec, plan: Plan, todo: list[int], outcomes: list[Outcome | None], progress: Progress
) -> list[int]:
    """Each row of a batch passes the gate as a live row would; refused rows fail, a cap stops the rest."""
    from grok_magics.errors import OverCap, Refused

    admitted = []
    for i in todo:
        try:
            gate.admit(request_for(spec, plan.prompts[i]))
        except OverCap as exc:
            progress.stopped_by = str(exc)
            break
        except Refused as exc:
            refused = outcomes[i] = Outcome(error=str(exc))
            progress.add(refused)
            continue
        admitted.append(i)
    return admitted


SAY_EVERY = 30.0  # seconds between two "waiting for …" messages, at most


def run_batch(
    spec: RowSpec,
    plan: Plan,
    todo: list[int],
    outcomes: list[Outcome | None],
    progress: Progress,
    validate: Callable[[Answer], Outcome],
    transport: Any,
    batch_id: str | None,
    max_cost: float,
    confirm: Any,
    show: bool,
    poll_every: float,
    use_cache: bool,
    out_col: str,
    gate: Any,
    deadline: float = 3600.0,
    verb: str = "map",
) -> str:
    """The rows' outcomes are filled in place; the note says why rows were left unrun ("" for none)."""
    from grok_magics.mapping import batch as xai_batch
    from grok_magics.providers.client import Clients

    xai_batch.check_supported(spec)
    clients = Clients()
    try:
        client = clients.get(spec.endpoint, transport)
        if batch_id is None:
            if not todo:
                return ""
            confirm_cost(spec, plan, todo, max_cost, confirm, gate.prices, verb=verb)
            todo = admit_rows(gate, spec, plan, todo, outcomes, progress)
            if not todo:
                return ""
            batch_id = xai_batch.submit(
                client,
                spec,
                transport,
                plan.prompts,
                plan.keys,
                todo,
                name=f"grok-magics {verb}: {len(todo)} rows into {out_col}",
            )
            print(
                f"{verb}: batch {batch_id} submitted ({len(todo):,} rows). If this kernel stops, collect it "
                f"from any kernel with --batch-id {batch_id} (or batch_id='{batch_id}')."
            )
        later = f"collect it later with --batch-id {batch_id}"
        try:
            with Bar(progress, show, unit="req") as bar:
                if not _wait(client, spec, transport, batch_id, bar, poll_every, deadline):
                    return (
                        f"batch {batch_id} still running after the {_duration(deadline)} wait "
                        f"(GrokMagics.batch_deadline); {later}"
                    )
        except KeyboardInterrupt:  # stop waiting; the batch itself runs on at the provider
            progress.interrupted = True
            return f"batch {batch_id} still running; {later}"
        return _collect(client, spec, transport, batch_id, plan, outcomes, progress, validate, use_cache, gate)
    finally:
        clients.close()


def _wait(
    client: Any, spec: RowSpec, transport: Any, batch_id: str, bar: Bar, poll_every: float, deadline: float
) -> bool:
    """Poll until the batch is done (True) or the deadline passed (False), saying what it waits for."""
    from grok_magics.mapping import batch as xai_batch

    start = time.monotonic()
    end = start + deadline
    said = None
    while True:
        state = xai_batch.status(client, spec, transport, batch_id)
        bar.batch(state)
        if state.done:
            return True
        next_poll = time.monotonic() + poll_every
        while True:
            now = time.monotonic()
            if now >= end:
                return False
            if said is None or now - said >= SAY_EVERY:
                bar.say(
                    f"map: waiting for batch {batch_id}: {state.waiting_for()} · "
                    f"{_duration(now - start)} so far, stops waiting in {_duration(end - now)}"
                )
                said = now
            if now >= next_poll:
                break
            time.sleep(max(0.0, min(next_poll, end, said + SAY_EVERY) - now))


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _collect(
    client: Any,
    spec: RowSpec,
    transport: Any,
    batch_id: str,
    plan: Plan,
    outcomes: list[Outcome | None],
    progress: Progress,
    validate: Callable[[Answer], Outcome],
    use_cache: bool,
    gate: Any,
) -> str:
    """Results into rows; results that name no row are counted, and the note names the fields they hold.

    Rows picked up by --batch-id were counted as sent by the kernel that submitted them; their cost is
    booked here, in the kernel that collects the answers."""
    from grok_magics.mapping import batch as xai_batch
    from grok_magics.mapping.cache import Cache
    from grok_magics.mapping.runner import LEDGER_CHAT

    store = Cache() if use_cache else None
    nameless: list[str] = []
    try:
        for rid, answer, error in xai_batch.results(client, spec, transport, batch_id):
            if rid is None:
                nameless.append(error)
                continue
            row = xai_batch.row_of(rid, plan.keys)
            done = outcomes[row] if row is not None else None
            if row is None or (done is not None and done.cached):
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
    if not nameless:
        return ""
    return (
        f"batch {batch_id} answered {len(nameless):,} results that name no row: they carry no "
        f"batch_request_id (fields seen: {nameless[0]}), so this server does not answer in the xAI Batch "
        "API's shape"
    )
