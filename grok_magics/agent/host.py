"""Where a step is approved and where it lands: in the answer (a prompt) or on the page (a real cell).

Without the page the step is shown in the answer and approved through the frontend's input box. With
the page the notebook is the record: each step becomes a code cell inserted below the agent cell
(tagged ``grok-agent-step``), approved with its Run / Skip / Stop buttons, and given the outputs the
step made here, so Run All later reproduces the analysis without Grok.

Why the loop is a coroutine: the page's answer is a comm message, a shell message, and ipykernel routes
the reply to a kernel request back to the shell that sent it, so it is handled only while the agent
cell *awaits* (an async cell; ``magics/agent_cell.py`` turns the cell into one when a page is
connected). Inline nothing suspends, and ``drive`` runs the same coroutine to its end synchronously.
"""

from __future__ import annotations

import base64
from typing import Any, Coroutine, Protocol, TypeVar

from grok_magics.agent.approval import RUN, SKIP, STOP, Asker, Verdict, decide, needs_yes
from grok_magics.agent.execution import TABLE_MARK, StepOutcome
from grok_magics.privacy.redaction import redact

STEP_TAG = "grok-agent-step"  # the tag of a step cell (the page groups, collapses or removes them by it)
ANSWER_SECONDS = 3600.0  # how long the page's Run / Skip / Stop may wait for a click
PAGE_SECONDS = 10.0  # how long the page may take to insert a cell or set its outputs

T = TypeVar("T")


def drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never suspends (the inline host), without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("the inline agent loop waited for something: only the page host may")


class Host(Protocol):
    on_page: bool

    async def decide(self, mode: str, number: int, code: str, purpose: str, risks: list[str]) -> Verdict: ...

    async def ran(self, number: int, outcome: StepOutcome) -> str: ...


class InlineHost:
    """The answer shows the step; the input box asks (nobody answers under nbclient: the loop stops)."""

    on_page = False

    def __init__(self, ask: Asker) -> None:
        self.ask = ask

    async def decide(self, mode: str, number: int, code: str, purpose: str, risks: list[str]) -> Verdict:
        return decide(mode, risks, self.ask)

    async def ran(self, number: int, outcome: StepOutcome) -> str:
        return ""


class PageHost:
    """Each step a cell below the agent cell; the page's buttons answer; the step's outputs go into its cell."""

    on_page = True

    def __init__(self, bridge: Any, agent_cell: str) -> None:
        self.bridge = bridge
        self.agent_cell = agent_cell
        self.restored = False  # the page put back the answer this cell had (its steps are kept)

    async def decide(self, mode: str, number: int, code: str, purpose: str, risks: list[str]) -> Verdict:
        from grok_magics.errors import PageUnavailable

        asks = needs_yes(mode, risks)
        params = {"agent_cell": self.agent_cell, "step": number, "code": code, "purpose": purpose}
        params.update({"risks": list(risks), "ask": asks, "mode": mode})
        try:
            answer = await self.bridge.request("agent_step", params, ANSWER_SECONDS if asks else PAGE_SECONDS)
        except PageUnavailable as exc:
            return Verdict(STOP, f"the page did not answer: {exc}")
        if not asks:
            return decide(mode, risks)
        said = (answer or {}).get("decision") if isinstance(answer, dict) else None
        return Verdict(said if said in (RUN, SKIP, STOP) else SKIP, "you, on the page")

    async def ran(self, number: int, outcome: StepOutcome) -> str:
        """The step's outputs into its cell; a line to show when the page could not take them."""
        from grok_magics.errors import PageUnavailable

        params = {"agent_cell": self.agent_cell, "step": number, "outputs": cell_outputs(outcome, number)}
        try:
            await self.bridge.request("agent_outputs", params, PAGE_SECONDS)
        except PageUnavailable as exc:
            return f"Step {number}'s outputs are not in its cell: {exc}"
        return ""

    async def steps_below(self, clear: bool = False) -> int:
        """How many step cells of this agent cell are below it (``clear``: remove them first, for --rerun).
        When they stay, the page puts back the outputs the cell had before this run (``restored``)."""
        from grok_magics.errors import PageUnavailable

        params = {"agent_cell": self.agent_cell, "clear": clear}
        try:
            answer = await self.bridge.request("agent_steps", params, PAGE_SECONDS)
        except PageUnavailable:
            return 0
        count = answer.get("count") if isinstance(answer, dict) else 0
        self.restored = isinstance(answer, dict) and answer.get("restored") is True
        return count if isinstance(count, int) and not clear else 0


def cell_outputs(outcome: StepOutcome, number: int) -> list[dict[str, Any]]:
    """What the step made, as the outputs of a code cell (nbformat 4): what the kernel would have sent."""
    outputs: list[dict[str, Any]] = []
    for name, text in (("stdout", outcome.stdout), ("stderr", outcome.stderr)):
        if text:
            outputs.append({"output_type": "stream", "name": name, "text": redact(text)})
    for data, metadata in outcome.displays:
        kept = {k: v for k, v in metadata.items() if k != TABLE_MARK}
        outputs.append({"output_type": "display_data", "data": _clean(data), "metadata": kept})
    if outcome.shown is not None:
        data, metadata = outcome.shown
        outputs.append(
            {"output_type": "execute_result", "data": _clean(data), "metadata": metadata, "execution_count": None}
        )
    for png in outcome.figures:
        data = {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": f"<figure of step {number}>"}
        outputs.append({"output_type": "display_data", "data": data, "metadata": {}})
    if outcome.error:
        lines = outcome.error.splitlines()
        last = lines[-1] if lines else "Error"
        ename, _, evalue = last.partition(": ")
        outputs.append({"output_type": "error", "ename": ename, "evalue": evalue, "traceback": lines})
    return outputs


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    return {k: redact(v) if isinstance(v, str) else v for k, v in data.items()}
