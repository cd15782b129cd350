"""The values settings may take: importable at load time without the machinery behind them."""

from __future__ import annotations

from typing import Literal

Api = Literal["responses", "chat"]
APIS: tuple[Api, ...] = ("responses", "chat")
EFFORTS = ("none", "low", "medium", "high", "default")  # default: send none, the server decides
DISPLAY_MODES = ("auto", "live", "widget", "markdown", "text")  # "widget": the old name of "live"
DEFAULT_SYSTEM = (
    "You are Grok, answering inside a Jupyter notebook for a data analyst or a teacher. "
    "Reply in Markdown; put code in fenced blocks with a language tag; be concise."
)
