"""Local Python functions Grok may call: their JSON schema, and running one call safely.

The schema comes from the signature, type hints (pydantic models allowed) and docstring, through
pydantic, so what the model is told and how its arguments are checked are the same thing. A tool
that raises answers the model with the error; it never fails the cell. Tools that change state are
marked (``@grok_magics.tool(side_effects=True)``) and run only after the user says yes.
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from grok_magics.errors import ToolError
from grok_magics.model.events import ToolCall, ToolResult
from grok_magics.model.request import ToolSpec

MAX_RESULT_CHARS = 20_000
_MARK = "__grok_tool__"
_ARG_LINE = re.compile(r"^\s*\*{0,2}(?P<name>\w+)\s*(?:\([^)]*\))?\s*:\s*(?P<text>.+)$")


@dataclass(frozen=True)
class Tool:
    spec: ToolSpec
    call: Callable[[dict[str, Any]], Any]  # validated, keyword arguments → result
    side_effects: bool = False

    @property
    def name(self) -> str:
        return self.spec.name


def tool(fn: Callable[..., Any] | None = None, *, side_effects: bool = False, name: str | None = None) -> Any:
    """Mark a function as a tool: ``@tool`` or ``@tool(side_effects=True)`` (asks before each run)."""

    def mark(f: Callable[..., Any]) -> Callable[..., Any]:
        setattr(f, _MARK, {"side_effects": side_effects, "name": name or f.__name__})
        return f

    return mark(fn) if fn is not None else mark


def _docs(fn: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """The summary (text before an ``Args:``-like section) and one line per documented argument."""
    doc = inspect.getdoc(fn) or ""
    summary: list[str] = []
    params: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        if line.strip().rstrip(":").lower() in ("args", "arguments", "parameters", "params"):
            in_args = True
            continue
        if in_args:
            match = _ARG_LINE.match(line)
            if match:
                params[match.group("name")] = match.group("text").strip()
            elif line.strip() and not line.startswith((" ", "\t")):
                in_args = False
        if not in_args:
            summary.append(line)
    return "\n".join(summary).strip(), params


def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    """Hints as objects, also under ``from __future__ import annotations`` (names from globals and closure)."""
    try:
        closure = inspect.getclosurevars(fn).nonlocals if inspect.isfunction(fn) else {}
        return inspect.signature(fn, eval_str=True, locals=closure)
    except Exception:  # a hint that does not evaluate: pydantic gets the text and may still resolve it
        return inspect.signature(fn)


def from_function(fn: Callable[..., Any]) -> Tool:
    """A tool from a plain function; pydantic (imported here, not at load) builds schema and validator."""
    from pydantic import ConfigDict, Field, create_model

    marks = getattr(fn, _MARK, {})
    name = str(marks.get("name") or getattr(fn, "__name__", ""))
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,63}", name):
        raise ToolError(f"{name!r} cannot be a tool name: use letters, digits, _ or - (at most 64)")
    summary, described = _docs(fn)
    fields: dict[str, Any] = {}
    signature = _signature(fn)
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.kind is param.POSITIONAL_ONLY:
            raise ToolError(f"tool {name}: positional-only argument {param.name} cannot be passed by name")
        annotation = Any if param.annotation is param.empty else param.annotation
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, Field(default, description=described.get(param.name)))
    model = create_model(f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)

    def call(arguments: dict[str, Any]) -> Any:
        checked = model.model_validate(arguments)
        return fn(**{key: getattr(checked, key) for key in fields})

    spec = ToolSpec(name=name, description=str(summary or name), parameters=schema)
    return Tool(spec=spec, call=call, side_effects=bool(marks.get("side_effects")))


def resolve(names: list[str], namespace: Mapping[str, Any]) -> list[Tool]:
    """Functions named on the magic line, looked up in the user's namespace when the ask runs."""
    found: list[Tool] = []
    for name in names:
        value = namespace.get(name)
        if value is None or not callable(value):
            raise ToolError(f"--tools {name}: no function called {name} in the notebook; define it first")
        found.append(from_function(value))
    return found


def result_text(value: Any, limit: int = MAX_RESULT_CHARS, mask: Callable[[str], str] | None = None) -> str:
    """A tool's return value as the text the model reads: strings as they are, the rest as JSON, capped.

    ``mask`` (key-shaped text, ``keys.KeyMasker``) runs before the cap, so no part of a key survives a cut."""
    if isinstance(value, str):
        text = value
    else:
        to_dict = getattr(value, "model_dump", None)
        if to_dict is not None:
            value = to_dict(mode="json")
        text = json.dumps(value, default=str, ensure_ascii=False)
    if mask is not None:
        text = mask(text)
    if len(text) > limit:
        text = text[:limit] + f"… [cut at {limit:,} characters]"
    return text


@dataclass
class RoundLimits:
    """What one round of tool calls may cost: calls run, and bytes of results sent back.

    A model can ask for thousands of calls in one response; each still gets an answer (the APIs pair
    every call with a result), but past the limits that answer is a short error the model can act on.
    """

    max_calls: int
    max_bytes: int
    used: int = 0  # bytes of results kept so far
    dropped: int = 0  # results that ran but did not fit

    def runs(self, index: int) -> bool:
        return index < self.max_calls

    def refused(self, call: ToolCall, asked: int) -> ToolResult:
        message = (
            f"not run: this response asked for {asked:,} tool calls and at most {self.max_calls:,} run per "
            "round; ask again for the ones still needed, a few at a time"
        )
        return ToolResult(call.call_id, call.name, json.dumps({"error": message}), error=True, limited=True)

    def kept(self, result: ToolResult) -> ToolResult:
        """The result, or an error in its place when it would take the round past ``max_bytes``."""
        size = len(result.output.encode("utf-8", "replace"))
        if self.used + size <= self.max_bytes:
            self.used += size
            return result
        self.dropped += 1
        message = (
            f"result not sent: its {size:,} bytes would take this round's tool results past "
            f"{self.max_bytes:,} bytes; ask for less (fewer rows or columns), or fewer calls at once"
        )
        return ToolResult(result.call_id, result.name, json.dumps({"error": message}), error=True)

    def notes(self, asked: int) -> list[str]:
        """One line per limit that was reached, for the view."""
        out = []
        if asked > self.max_calls:
            out.append(
                f"⚠ Grok asked for {asked:,} tool calls in one response: {self.max_calls:,} ran, the other "
                f"{asked - self.max_calls:,} were answered with an error (limit: %config "
                "GrokMagics.max_tool_calls)."
            )
        if self.dropped:
            out.append(
                f"⚠ {self.dropped:,} tool result(s) were not sent back: this round's results reached the "
                f"{self.max_bytes:,}-byte limit (%config GrokMagics.max_tool_result_bytes)."
            )
        return out


def ask_user(prompt: str) -> bool | None:
    """Yes/no from the person at the keyboard; None when this frontend has no stdin (nbclient, papermill)."""
    try:
        answer = input(prompt)
    except (EOFError, OSError, NotImplementedError):  # ipykernel: StdinNotImplementedError; pytest: OSError
        return None
    return answer.strip().lower() in ("y", "yes")


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_call(
    call: ToolCall,
    tools: Mapping[str, Tool],
    confirm: Callable[[str], bool | None] = ask_user,
    mask: Callable[[str], str] | None = None,
) -> ToolResult:
    """One call → one result; every failure is a result the model can read, never an exception.

    KeyboardInterrupt is the exception: the user wants the whole ask to stop. ``mask`` masks key-shaped
    text in what the tool answered (results and error messages alike), before it is sent or shown.
    """

    def failed(message: str) -> ToolResult:
        return ToolResult(
            call.call_id, call.name, json.dumps({"error": mask(message) if mask else message}), error=True
        )

    chosen = tools.get(call.name)
    if chosen is None:
        return failed(f"no tool called {call.name}; available: {', '.join(tools) or 'none'}")
    try:
        arguments = json.loads(call.arguments) if call.arguments.strip() else {}
    except ValueError as exc:
        return failed(f"arguments are not valid JSON ({exc})")
    except RecursionError:
        return failed("arguments nest too deeply to read; send flat JSON")
    if not isinstance(arguments, dict):
        return failed("arguments must be a JSON object")
    if chosen.side_effects:
        said = confirm(f"Grok wants to run {call.name}({_short(call.arguments)}). Allow? [y/N] ")
        if said is None:
            return failed("not run: it changes state and this frontend cannot ask the user to confirm")
        if not said:
            return failed("not run: the user declined")
    try:
        value = chosen.call(arguments)
    except Exception as exc:
        return failed(f"{type(exc).__name__}: {_short(str(exc), 2000)}")
    return ToolResult(call.call_id, call.name, result_text(value, mask=mask))
