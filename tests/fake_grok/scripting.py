"""What a test scripts (``Reply``) and what it inspects afterwards (``Recorded``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class Reply:
    """What the next request gets; every field has a harmless default so tests name only the point."""

    text: str = "Hello from the fake Grok server."
    reasoning: str = ""
    chunk: int = 8
    pace: float | None = None
    first_delay: float = 0.0
    usage: dict[str, int] | None = None
    status: int = 200
    error_message: str | None = None
    retry_after: float | None = None
    malformed_after: int | None = None
    disconnect_after: int | None = None
    stall_after: int | None = None
    stall_seconds: float = 30.0
    gate_after: int | None = None  # after N text deltas, hold until `gate` is set (then carry on)
    gate: threading.Event | None = None
    gate_seconds: float = 30.0  # a gate still shut by then cuts the reply and is recorded: see FakeGrok.gate_timeouts
    stream_error: str | None = None
    # tool turns: [{"name": "f", "arguments": {...} or "json text", "id": optional}] → the reply asks for them
    tool_calls: list[dict[str, Any]] | None = None
    # xAI server-side searches run before the answer: [{"type": "web_search" | "x_search", "query": "..."}]
    searches: list[dict[str, Any]] | None = None
    # url_citation annotations on the answer: [{"url": "...", "title": "..."}]
    citations: list[dict[str, Any]] | None = None
    incomplete: str | None = None
    finish_reason: str = "stop"
    # faults seen on real OpenAI-compatible servers
    completed_status: str | None = None  # response.completed whose response.status says otherwise
    final_text: str | None = None  # what the final output states, when the deltas carried something else
    drop_before_done: bool = False  # the connection drops after the last event (finish, usage), before [DONE]
    redirect_to: str | None = None  # answer 307 to this origin (same path)
    raw_body: str | None = None  # the error body verbatim (HTML page, SSE-framed JSON...), with `status`
    raw_content_type: str = "text/html; charset=utf-8"
    keepalive_after: int | None = None  # after N deltas, only SSE comments, every keepalive_every s
    keepalive_every: float = 0.05
    no_headers: bool = False  # read the request, then never answer (until stall_seconds or the client leaves)
    bad_bytes_after: int | None = None  # after N deltas, a data line that is not UTF-8
    usage_extra: dict[str, Any] | None = None  # merged into usage, e.g. {"cost": 0.0012} as LiteLLM reports
    omit_usage: bool = False  # a server that never reports usage
    raw_events: list[str] | None = None  # stream exactly these `data:` payloads (then [DONE]), for fuzzing


@dataclass
class Recorded:
    """One request as the server saw it, updated in place while its reply is being written."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    api: str | None
    status: int = 0
    disconnected: bool = False
    completed: bool = False
    started_at: float = 0.0
    ended_at: float | None = None
    gate_timed_out: bool = False
    query: str = ""
    first_delta_at: float | None = None  # when the first text delta was written (benchmarks: chunk → frontend)
