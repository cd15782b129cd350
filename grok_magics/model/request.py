"""One ask, fully decided: where it goes, what it carries, how the model should think.

Built by the magics from the cell, options and conversation; read by the wire modules, which turn
it into JSON for their API. Immutable, so a retry or a replay sends exactly the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grok_magics.model.events import ToolCall, ToolResult
from grok_magics.model.parts import Parts
from grok_magics.providers.table import Endpoint


@dataclass(frozen=True)
class ToolSpec:
    """A local function as the model sees it: name, what it is for, a JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class OutputFormat:
    """Structured output: any JSON object (``schema`` None), or JSON following a strict JSON schema."""

    name: str = ""
    schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class Round:
    """One model response that ended in tool calls, and what the tools answered, in call order."""

    text: str
    calls: tuple[ToolCall, ...]
    results: tuple[ToolResult, ...]
    items: tuple[dict[str, Any], ...] = ()  # Responses output items (reasoning, function_call), verbatim
    items_provider: str = ""
    parts: Parts = ()  # what the tools showed besides text (an agent step's images), sent after the results


@dataclass(frozen=True)
class Turn:
    """One finished exchange, as the next request must replay it."""

    user: Parts
    answer: str
    key: tuple[str, int] | None = None  # (cell id, n-th ask in that cell run): a re-run replaces it
    items: tuple[dict[str, Any], ...] = ()  # Responses output items, resent verbatim to the same provider
    items_provider: str = ""
    tokens: int = 0
    interrupted: bool = False
    rounds: tuple[Round, ...] = ()  # tool rounds before the answer; a re-run replaces them with the turn


@dataclass(frozen=True)
class Request:
    endpoint: Endpoint
    user: Parts
    system: str = ""
    history: tuple[Turn, ...] = ()
    effort: str = "low"
    temperature: float | None = None
    max_tokens: int | None = None
    cache_key: str = ""
    notes: tuple[str, ...] = ()  # for the status line (e.g. "did you mean"); never sent
    tools: tuple[ToolSpec, ...] = ()
    search: tuple[str, ...] = ()  # xAI server-side tools: "web_search", "x_search"
    rounds: tuple[Round, ...] = ()  # this turn's tool rounds so far, sent after the user message
    output: OutputFormat | None = None  # --json / --schema
