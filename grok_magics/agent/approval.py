"""Whether a step runs: the approval mode, the classroom's word on ``auto``, and the user's answer.

Safe by default: ``confirm`` asks before every step, ``risky`` only before steps the scan flags, ``auto``
never asks. A frontend with no stdin (nbclient, papermill) cannot answer, so a step that needs a yes is
not run there, and the loop stops saying how to allow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

MODES = ("confirm", "risky", "auto")
RUN, SKIP, STOP = "run", "skip", "stop"
PROMPT = "Run this step? [y] run · [s] skip · [q] stop: "

Asker = Callable[[str], "str | None"]  # the prompt → the user's answer, None when nobody can answer


@dataclass(frozen=True)
class Verdict:
    """What happens to one step, and who decided (shown in the answer and kept in the saved metadata)."""

    decision: str  # run | skip | stop
    by: str  # "you", "auto", "risky: nothing flagged", "no stdin"

    @property
    def line(self) -> str:
        said = {RUN: "approved", SKIP: "skipped", STOP: "stopped"}[self.decision]
        return f"{said} ({self.by})"


def effective_mode(mode: str, policy: str | None) -> tuple[str, str]:
    """The mode that applies, and a note when it is not the one chosen.

    Hook for the classroom policy: ``policy`` is the notebook's policy name (None: no classroom policy).
    ``auto`` runs code nobody read, so any policy other than ``full`` turns it into ``confirm``."""
    if mode not in MODES:
        return "confirm", f"unknown agent_approval {mode!r}: confirm is used"
    if mode == "auto" and policy is not None and policy != "full":
        return "confirm", f"agent_approval auto is not allowed under the classroom policy {policy!r}: confirm is used"
    return mode, ""


def needs_yes(mode: str, risks: list[str]) -> bool:
    return mode == "confirm" or (mode == "risky" and bool(risks))


def ask_stdin(prompt: str) -> str | None:
    """The person at the keyboard (the frontend's input box in a kernel); None without stdin."""
    try:
        return input(prompt)
    except (EOFError, OSError, NotImplementedError):  # ipykernel: StdinNotImplementedError; pytest: OSError
        return None


def answer_of(text: str) -> str:
    word = text.strip().lower()
    if word in ("y", "yes", "r", "run"):
        return RUN
    if word in ("q", "quit", "stop", "t"):
        return STOP
    return SKIP  # anything else ("s", "n", Enter alone): the safe choice


def decide(mode: str, risks: list[str], ask: Asker = ask_stdin) -> Verdict:
    if not needs_yes(mode, risks):
        return Verdict(RUN, "auto" if mode == "auto" else "risky mode: nothing flagged")
    said = ask(PROMPT)
    if said is None:
        return Verdict(STOP, "no stdin to ask you: set %config GrokMagics.agent_approval")
    return Verdict(answer_of(said), "you")
