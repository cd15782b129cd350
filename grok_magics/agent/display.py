"""Showing an agent's steps in the cell, in order: the proposal, the decision, what the step printed.

Without the page each step is shown in the answer itself: its code (from the model, so through the
sanitiser like any answer), the decision, and then the step's real outputs re-published as the kernel
made them (the user's own code ran; they are this kernel's outputs). A step that did not run shows
no output, only why. Every display carries a plain-text form, so a terminal reads the same story.
"""

from __future__ import annotations

import base64
import sys
from typing import Any

from grok_magics.agent.approval import Verdict
from grok_magics.agent.execution import TABLE_MARK, StepOutcome
from grok_magics.privacy.redaction import redact
from grok_magics.render import sanitise
from grok_magics.render.sanitise import Code, Markup, plain

STEP_META = "grok_magics_agent_step"  # output metadata: {"step": n} (the page can group or collapse them)
DIM = "color: var(--jp-ui-font-color2, #888)"


def _show(markdown: str, text: str, step: int | None = None) -> None:
    from IPython.display import display

    metadata = {STEP_META: {"step": step}} if step is not None else {}
    display({"text/markdown": markdown, "text/plain": text}, raw=True, metadata=metadata)


def proposal(number: int, code: str, purpose: str, risks: list[str], on_page: bool = False) -> None:
    """With the page the code is the step's own cell below: the answer names the step only."""
    title = f"Step {number}" + (f" · {purpose}" if purpose else "")
    if on_page:
        line = f"{title} → its cell below" + (f" · ⚠ flagged: {'; '.join(risks)}" if risks else "")
        _show(
            Markup(f"**{plain(title)}** → its cell below" + (f" · ⚠ {plain('; '.join(risks))}" if risks else "")),
            line,
            number,
        )
        return
    blocks: list[Any] = [Markup(f"**{plain(title)}**"), Code("python", code)]
    flagged = f"⚠ flagged: {'; '.join(risks)}" if risks else ""
    if flagged:
        blocks.append(Markup(plain(flagged)))
    text = "\n".join(x for x in (f"── {title}", code, flagged) if x)
    _show(sanitise.page(*blocks), redact(text), number)


def verdict(number: int, said: Verdict) -> None:
    line = f"Step {number}: {said.line}"
    _show(Markup(f'<sub style="{DIM}">{plain(line)}</sub>'), line, number)


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    """Known secrets masked in every text of a bundle (a step that prints the key shows ***)."""
    return {k: redact(v) if isinstance(v, str) else v for k, v in data.items()}


def outcome(number: int, done: StepOutcome, seconds_limit: float | None, inline: bool = True) -> None:
    """The step's outputs as it made them (unless they go into the step's own cell), then how it ended."""
    from IPython.display import display, publish_display_data

    if not inline:
        said = ending(number, done, seconds_limit)
        _show(Markup(f'<sub style="{DIM}">{plain(said)}</sub>'), said, number)
        return

    mark = {STEP_META: {"step": number}}
    if done.stdout:
        sys.stdout.write(redact(done.stdout))
        sys.stdout.flush()
    if done.stderr:
        sys.stderr.write(redact(done.stderr))
        sys.stderr.flush()
    for data, metadata in done.displays:
        kept = {k: v for k, v in metadata.items() if k != TABLE_MARK}
        publish_display_data(_clean(data), {**kept, **mark})
    if done.shown is not None:
        data, metadata = done.shown
        publish_display_data(_clean(data), {**metadata, **mark})
    for png in done.figures:
        data = {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": f"<figure of step {number}>"}
        display(data, raw=True, metadata=mark)
    if done.error:
        _show(sanitise.page(Code("text", done.error)), done.error, number)
    said = ending(number, done, seconds_limit)
    _show(Markup(f'<sub style="{DIM}">{plain(said)}</sub>'), said, number)


def ending(number: int, done: StepOutcome, seconds_limit: float | None) -> str:
    took = f"{done.seconds:.1f} s"
    if done.timed_out:
        limit = f"{seconds_limit:g} s" if seconds_limit else "time"
        return f"Step {number} was stopped after {took}: over its {limit} limit (GrokMagics.agent_step_seconds)"
    if done.interrupted:
        return f"Step {number} was interrupted after {took}; the agent stopped"
    if done.error:
        return f"Step {number} failed after {took}; the error went back to Grok"
    return f"Step {number} ran in {took}"


def note(text: str) -> None:
    _show(Markup(f"*{plain(text)}*"), text)
