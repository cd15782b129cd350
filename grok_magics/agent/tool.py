"""The one tool an agent cell gives Grok, and reading its calls.

One tool with code and a purpose (not a family of tools) keeps every step a plain Python cell the user
can read, approve and re-run by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from grok_magics.model.events import ToolCall
from grok_magics.model.request import ToolSpec

NAME = "run_python"

RUN_PYTHON = ToolSpec(
    name=NAME,
    description=(
        "Run one step of Python in the user's Jupyter kernel (IPython; variables persist between steps and "
        "the user's own variables are there). The result is stdout, the value of the last expression, "
        "errors with a trimmed traceback, figures as images and tables as summaries. Keep each step short."
    ),
    parameters={
        "type": "object",
        "properties": {
            "code": {"type": "string", "description": "the Python code of this step"},
            "purpose": {"type": "string", "description": "one short sentence: what this step is for"},
        },
        "required": ["code", "purpose"],
        "additionalProperties": False,
    },
)

GUIDE = (
    "\n\nYou are working as an agent in the user's Jupyter notebook. To look at data or compute anything, call "
    f"{NAME} with one short step of Python; you will see what it printed, its result, its error or its "
    "figure. The user may skip a step or stop you. Fix a failing step in the next one. When you have what "
    "you need, answer in prose (no tool call) and refer to the steps by their number (Step 1, Step 2...)."
)


@dataclass(frozen=True)
class Proposal:
    """A step as Grok proposed it: code and purpose, or why the call cannot be read."""

    code: str = ""
    purpose: str = ""
    problem: str = ""


def read(call: ToolCall) -> Proposal:
    if call.name != NAME:
        return Proposal(problem=f"no tool called {call.name}; the only tool is {NAME}(code, purpose)")
    try:
        arguments = json.loads(call.arguments) if call.arguments.strip() else {}
    except (ValueError, RecursionError) as exc:
        return Proposal(problem=f"arguments are not valid JSON ({exc})")
    if not isinstance(arguments, dict):
        return Proposal(problem="arguments must be a JSON object with code and purpose")
    code, purpose = arguments.get("code"), arguments.get("purpose", "")
    if not isinstance(code, str) or not code.strip():
        return Proposal(problem="code is missing or empty: send the Python to run as a string")
    return Proposal(code=code.strip("\n"), purpose=str(purpose or "").strip())
