"""A fake Grok server on 127.0.0.1 for the test suite.

Why it exists: the extension talks to Grok 4.3 through the real ``openai`` SDK,
which (3.x) uses ``httpx2``; respx / pytest-httpx cannot intercept that, and a
mock would hide exactly the bugs that matter (SSE framing, truncated streams,
retries, provider quirks). So tests point the SDK at a real local HTTP server
that speaks Chat Completions and Responses with Server-Sent Events the way xAI,
Bedrock, AIgateway, Azure and OpenAI do (per the team's protocol notes on both wire APIs),
lets a test script each reply, inject faults on the wire, and inspect every
request afterwards.

Standard library only, so it can also run inside a notebook kernel under test.
"""

from __future__ import annotations

import base64
import collections
import functools
import http.server
import json
import os
import random
import select
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator, NamedTuple
from urllib.parse import urlsplit, urlunsplit

__all__ = ["FakeGrok", "Reply", "Recorded", "Profile", "PROFILES", "image_urls", "fake_tokens"]


# --------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class Profile:
    """One provider's wire differences, as data, so the server code has no provider branches."""

    name: str
    prefix: str
    models: tuple[str, ...] | None  # None: any model id is accepted
    apis: frozenset[str] = frozenset({"chat", "responses"})
    auth: str = "bearer"  # "bearer" -> Authorization: Bearer KEY; "api-key" -> api-key: KEY
    error_style: str = "openai"  # "xai" | "openai" | "aigateway"
    chat_id_suffix: str = ""
    chunk_envelope: bool = True  # chat chunks carry id/object/created/model
    reasoning_content: bool = False  # chat streams reasoning as delta.reasoning_content
    thinking_chunks: bool = False  # chat emits empty delta:{} chunks while thinking
    output_includes_reasoning: bool = True  # completion_tokens / output_tokens count reasoning
    cost_ticks: bool = False  # usage carries xAI's cost_in_usd_ticks
    responses_done: bool = False  # Responses stream ends with data: [DONE]
    max_tokens_limit: int | None = None
    images: bool = True  # accepts image parts (AIgateway's card: "Vision — no")
    tools: bool = True  # accepts function tools (AIgateway: "Tool calling — no")
    server_search: bool = False  # accepts xAI's web_search / x_search tools on Responses
    batches: bool = False  # xAI's own Batch API (/batches...), not OpenAI's files+batches
    tokenizer: bool = False  # xAI's POST /tokenize-text


PROFILES: dict[str, Profile] = {
    "xai": Profile(
        name="xai", prefix="/v1", models=("grok-4.3", "grok-4.3-latest"), error_style="xai",
        chat_id_suffix="_us-east-1", thinking_chunks=True, output_includes_reasoning=False,
        cost_ticks=True, responses_done=True, server_search=True, batches=True, tokenizer=True,
    ),
    "bedrock": Profile(name="bedrock", prefix="/openai/v1", models=("xai.grok-4.3",)),
    "aigateway": Profile(
        name="aigateway", prefix="/v1", models=("xai/grok-4.3",), apis=frozenset({"chat"}),
        error_style="aigateway", chunk_envelope=False, reasoning_content=True, max_tokens_limit=4096,
        images=False,
        tools=False,
    ),
    "azure": Profile(name="azure", prefix="/openai/v1", models=("grok-4.3",), auth="api-key"),
    "openai": Profile(name="openai", prefix="/v1", models=None),
}


# --------------------------------------------------------------------------- public records


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


# --------------------------------------------------------------------------- small helpers


class _ClientGone(Exception):
    """The client closed its end before we finished writing."""


class _GateTimeout(Exception):
    """A scripted gate was never opened; the reply was cut."""


class _Abort(Exception):
    """The server is stopping; drop the connection without ceremony."""


class _Frame(NamedTuple):
    kind: str  # "event" (unpaced) | "delta" (text, paced, counted) | "think" (paced) | "text_end" | "final"
    data: bytes = b""


_DEFAULT_MESSAGES = {
    400: "Invalid request", 401: "Incorrect API key provided", 402: "Your team has run out of credits",
    403: "Forbidden", 404: "Not found", 408: "Request timed out", 413: "Request too large",
    422: "Unprocessable entity", 429: "Rate limit exceeded", 500: "Internal server error",
    502: "Bad gateway", 503: "Service unavailable", 504: "Gateway timeout",
}
# xAI answers {"code": <gRPC-style status text>, "error": <message>}; texts beyond 400 are inferred.
_XAI_CODES = {
    400: "Client specified an invalid argument", 401: "Unauthenticated", 402: "Payment required",
    403: "Permission denied", 404: "Some requested entity was not found", 429: "Some resource has been exhausted",
    500: "Internal error", 503: "The service is currently unavailable",
}
_OPENAI_KINDS = {
    400: ("invalid_request_error", None), 401: ("invalid_request_error", "invalid_api_key"),
    402: ("insufficient_quota", "insufficient_quota"), 403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"), 429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", "internal_error"), 503: ("server_error", "service_unavailable"),
}
_TICKS_PER_TOKEN = {"input": 12_500, "cached": 2_000, "output": 25_000}  # grok-4.3 list price, 1 USD = 1e10 ticks


def fake_tokens(text: str) -> list[str]:
    """The fake tokenizer: a word or a punctuation mark is a token (so "a, b, c" is 5, not 7 characters / 4)."""
    import re

    return re.findall(r"\w+|[^\w\s]", text)


def _hex(n: int = 24) -> str:
    return uuid.uuid4().hex[:n]


def _pieces(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i:i + size] for i in range(0, len(text), size)]


def _sse_data(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _sse_event(obj: dict[str, Any]) -> bytes:
    """Responses events carry an ``event:`` line too, as OpenAI sends them."""
    return f"event: {obj['type']}\n".encode() + _sse_data(obj)


_DONE = b"data: [DONE]\n\n"


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content
                       if isinstance(p, dict) and p.get("type") in ("text", "input_text"))
    return ""


def _items(body: Any) -> list[Any]:
    """Conversation items of either API (chat ``messages`` or responses ``input``)."""
    if not isinstance(body, dict):
        return []
    items = body.get("messages", body.get("input"))
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    return items if isinstance(items, list) else []


def image_urls(body: Any) -> list[str]:
    """Every image a request carries, in order: chat ``image_url`` parts and responses ``input_image``."""
    urls: list[str] = []
    for item in _items(body):
        content = item.get("content") if isinstance(item, dict) else None
        for part in content if isinstance(content, list) else []:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "image_url":
                url = part.get("image_url")
                urls.append(str(url.get("url", "")) if isinstance(url, dict) else str(url))
            elif part.get("type") == "input_image":
                urls.append(str(part.get("image_url", "")))
    return urls


_IMAGE_TYPES = ("image/png", "image/jpeg")
_IMAGE_LIMIT = 20 * 1024 * 1024


def _image_problem(url: str) -> str | None:
    """What xAI would reject: a data URL that is not base64 PNG/JPEG within 20 MiB, or a non-http URL."""
    if url.startswith(("http://", "https://")):
        return None
    if not url.startswith("data:"):
        return f"Unsupported image URL: {url[:40]!r}"
    header, _, payload = url.partition(",")
    mime = header[5:].split(";")[0]
    if mime not in _IMAGE_TYPES or not header.endswith(";base64"):
        return f"Unsupported image type {mime!r}: use image/png or image/jpeg, base64-encoded"
    try:
        data = base64.b64decode(payload, validate=True)
    except ValueError:
        return "Invalid base64 image data"
    if len(data) > _IMAGE_LIMIT:
        return f"Image too large: {len(data)} bytes (max {_IMAGE_LIMIT})"
    signature = b"\x89PNG\r\n\x1a\n" if mime == "image/png" else b"\xff\xd8\xff"
    if not data.startswith(signature):
        return f"Image data is not a valid {mime}"
    return None


def _last_user_text(body: Any) -> str | None:
    for item in reversed(_items(body)):
        if isinstance(item, dict) and item.get("role") == "user":
            return _content_text(item.get("content"))
    return None


def _asked_schema(body: Any) -> dict[str, Any] | None:
    """The JSON schema a request asks the answer to follow (either API), if any."""
    if not isinstance(body, dict):
        return None
    chat = body.get("response_format")
    if isinstance(chat, dict) and chat.get("type") == "json_schema":
        schema = (chat.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, dict) else None
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        return fmt["schema"]
    return None


def _example(schema: Any, defs: dict[str, Any]) -> Any:
    """A value that fits ``schema``, plainly fake: strings say "fake", enums take their first choice."""
    if not isinstance(schema, dict):
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _example(defs.get(ref.rsplit("/", 1)[-1]), defs)
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        real = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
        return _example(real[0] if real else options[0], defs)
    kind = schema.get("type")
    kind = next((k for k in kind if k != "null"), "null") if isinstance(kind, list) else kind
    if kind == "object" or "properties" in schema:
        return {name: _example(sub, defs) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [_example(schema.get("items"), defs)]
    return {"string": "fake", "integer": 1, "number": 0.5, "boolean": True}.get(str(kind))


def _estimate_input_tokens(body: Any) -> int:
    text = "".join(_content_text(i.get("content")) for i in _items(body) if isinstance(i, dict))
    if isinstance(body, dict) and isinstance(body.get("instructions"), str):
        text += body["instructions"]
    return max(1, len(text) // 4)


def _token_counts(reply: Reply, body: Any) -> dict[str, int]:
    counts = {"input": _estimate_input_tokens(body), "cached": 0,
              "output": len(reply.text) // 4 + 1, "reasoning": len(reply.reasoning) // 4}
    counts.update(reply.usage or {})
    return counts


def _cost_ticks(n: dict[str, int]) -> int:
    price = _TICKS_PER_TOKEN
    ticks = ((n["input"] - n["cached"]) * price["input"] + n["cached"] * price["cached"]
             + (n["output"] + n["reasoning"]) * price["output"])
    return ticks * 2 if n["input"] >= 200_000 else ticks  # long-context tier doubles every rate


def _chat_usage(n: dict[str, int], profile: Profile) -> dict[str, Any]:
    """xAI counts reasoning outside completion_tokens but inside total_tokens; Azure/OpenAI inside both."""
    completion = n["output"] + (n["reasoning"] if profile.output_includes_reasoning else 0)
    usage: dict[str, Any] = {
        "prompt_tokens": n["input"], "completion_tokens": completion,
        "total_tokens": n["input"] + n["output"] + n["reasoning"],
        "prompt_tokens_details": {"cached_tokens": n["cached"], "text_tokens": n["input"],
                                  "audio_tokens": 0, "image_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": n["reasoning"], "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }
    if profile.cost_ticks:
        usage.update(num_sources_used=0, cost_in_usd_ticks=_cost_ticks(n))
    return usage


def _responses_usage(n: dict[str, int], profile: Profile) -> dict[str, Any]:
    output = n["output"] + (n["reasoning"] if profile.output_includes_reasoning else 0)
    usage: dict[str, Any] = {
        "input_tokens": n["input"], "input_tokens_details": {"cached_tokens": n["cached"]},
        "output_tokens": output, "output_tokens_details": {"reasoning_tokens": n["reasoning"]},
        "total_tokens": n["input"] + n["output"] + n["reasoning"],
    }
    if profile.cost_ticks:
        usage.update(num_sources_used=0, num_server_side_tools_used=0, cost_in_usd_ticks=_cost_ticks(n))
    return usage


def _error_body(profile: Profile, status: int, message: str) -> dict[str, Any]:
    if profile.error_style == "xai":
        return {"code": _XAI_CODES.get(status, "Unknown error"), "error": message}
    kind, code = _OPENAI_KINDS.get(status, ("api_error", None))
    if profile.error_style == "aigateway":
        return {"error": {"message": message, "type": kind, "code": status, "param": None}}
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _tool_definition_problem(tool: Any, route: str | None, profile: Profile) -> str | None:
    if not isinstance(tool, dict):
        return "tools must be a list of objects"
    kind = tool.get("type")
    if kind in ("web_search", "x_search"):
        ok = route == "responses" and profile.server_search
        return None if ok else f"Unsupported tool type: {kind}"
    if not profile.tools:
        return "Tool calling is not supported for this model"
    if kind != "function":
        return f"Unsupported tool type: {kind}"
    spec = tool.get("function") if route == "chat" else tool
    if not isinstance(spec, dict) or not spec.get("name") or not isinstance(spec.get("parameters"), dict):
        return "a function tool needs a name and a parameters object"
    return None


def _chat_rounds_problem(messages: list[Any]) -> str | None:
    """Every assistant tool call is answered by a tool message right after it, and no tool message is stray."""
    pending: list[str] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                return f"tool message for unknown tool_call_id {call_id!r}"
            pending.remove(call_id)
            continue
        if pending:
            return f"tool_calls {pending} were not answered by tool messages"
        if role == "assistant":
            pending = [c.get("id") for c in message.get("tool_calls") or () if isinstance(c, dict)]
    return f"tool_calls {pending} were not answered by tool messages" if pending else None


def _responses_rounds_problem(items: list[Any]) -> str | None:
    """Every function_call_output answers an earlier function_call, and every function_call is answered."""
    called: set[str] = set()
    answered: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call":
            called.add(str(item.get("call_id")))
        elif item.get("type") == "function_call_output":
            if str(item.get("call_id")) not in called:
                return f"No tool call found for function call output with call_id {item.get('call_id')}"
            answered.add(str(item.get("call_id")))
    missing = called - answered
    return f"No tool output found for function call {sorted(missing)[0]}" if missing else None


def _call_args(call: dict[str, Any]) -> str:
    args = call.get("arguments", {})
    return args if isinstance(args, str) else json.dumps(args)


def _call_ids(reply: Reply) -> list[str]:
    return [str(c.get("id") or f"call_{i}_{_hex(8)}") for i, c in enumerate(reply.tool_calls or ())]


_SEARCH_TICKS = 50_000_000  # $5 per 1,000 calls: an assumed price for the fake's cost, not a quoted one


# --------------------------------------------------------------------------- the wire


class _Wire:
    """Writes one response on a handler's socket, framing chunks and noticing clients that leave."""

    def __init__(self, handler: _Handler, chunked: bool, stopping: threading.Event) -> None:
        self.handler = handler
        self.sock: socket.socket = handler.connection
        self.chunked = chunked
        self.stopping = stopping

    def start(self, status: int, headers: dict[str, str]) -> None:
        try:
            self.handler.send_response(status)
            for name, value in headers.items():
                self.handler.send_header(name, value)
            self.handler.end_headers()
        except OSError as exc:
            raise self._failure() from exc

    def stream_headers(self) -> dict[str, str]:
        base = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        if self.chunked:
            return {**base, "Transfer-Encoding": "chunked", "Connection": "keep-alive"}
        return {**base, "Connection": "close"}  # close-delimited body: no length, no chunking

    def send(self, data: bytes, last: bool = False) -> None:
        """Send one SSE event (one HTTP chunk); ``last`` also ends the body."""
        if self.chunked:
            data = b"%x\r\n%s\r\n" % (len(data), data) if data else b""
            data += b"0\r\n\r\n" if last else b""
        self.write(data)

    def end(self, close: bool = False) -> None:
        """Finish the body cleanly; in close mode the server's close is the end."""
        if self.chunked:
            self.write(b"0\r\n\r\n")
        if close:
            self.handler.close_connection = True

    def cut(self) -> None:
        """Abrupt close: FIN without a terminating chunk, so chunked clients see a truncated body."""
        self.handler.close_connection = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def wait(self, seconds: float) -> None:
        """Sleep, but wake up to notice a client that closed its socket meanwhile."""
        deadline = time.monotonic() + max(0.0, seconds)
        while True:
            if self.stopping.is_set():
                raise _Abort()
            remaining = deadline - time.monotonic()
            if self._client_left(max(0.0, min(remaining, 0.05))):
                raise self._failure()
            if remaining <= 0:
                return

    def _client_left(self, timeout: float) -> bool:
        try:
            readable, _, _ = select.select([self.sock], [], [], timeout)
            if not readable:
                return False
            if self.sock.recv(1, socket.MSG_PEEK) == b"":
                return True
        except (ConnectionError, OSError):
            return True
        time.sleep(timeout)  # the client sent bytes mid-stream; nothing to learn, just keep time
        return False

    def write(self, data: bytes) -> None:
        if not data:
            return
        try:
            self.handler.wfile.write(data)
        except OSError as exc:
            raise self._failure() from exc

    def _failure(self) -> Exception:
        return _Abort() if self.stopping.is_set() else _ClientGone()


# --------------------------------------------------------------------------- one exchange


class _Exchange:
    """Validates one request like the profile's provider would, then writes the scripted reply."""

    def __init__(self, fake: FakeGrok, handler: _Handler, rec: Recorded, route: str | None) -> None:
        self.fake = fake
        self.profile = fake.profile
        self.rec = rec
        self.route = route
        self.body: dict[str, Any] = rec.body if isinstance(rec.body, dict) else {}
        self.wire = _Wire(handler, fake.chunked, fake._stopping)
        self.created = int(time.time())
        self.model = str(self.body.get("model", ""))
        self.resp_id = f"resp_{_hex(32)}"
        self.chat_id = (str(uuid.uuid4()) + fake.profile.chat_id_suffix if fake.profile.chat_id_suffix
                        else f"chatcmpl-{_hex()}")
        self.fingerprint = f"fp_{_hex(10)}"

    # ---- validation

    def run(self) -> None:
        problem = self._problem()
        if problem:
            self._send_error(*problem)
            return
        if self.route == "batch":
            _BatchDesk(self).answer()
            return
        if self.route == "tokenize":
            self._send_json(200, {"token_ids": [
                {"token_id": i, "string_token": piece, "token_bytes": list(piece.encode())}
                for i, piece in enumerate(fake_tokens(self.body["text"]))]})
            return
        if self.route != "models" and self.fake._take_rate_limit():
            self._send_error(429, None, self.fake.rate_limit_retry_after)
            return
        if self.route != "models":
            self.wire.wait(self.fake.latency)
        if self.route == "models":
            self._send_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": self.created, "owned_by": "xai"}
                for m in self.fake.models or ("grok-4.3",)]})
            return
        self._answer(self.fake._next_reply(self.rec.body))

    def _problem(self) -> tuple[int, str] | None:
        if self.route is None:
            return 404, f"Not found: {self.rec.method} {self.rec.path}"
        if not self._authorized():
            return 401, _DEFAULT_MESSAGES[401]
        if self.route in ("models", "batch"):
            return None
        if self.route == "tokenize":
            text = self.body.get("text") if isinstance(self.rec.body, dict) else None
            return (400, "text must be a string") if not isinstance(text, str) else None
        if not isinstance(self.rec.body, dict):
            return 400, "Request body must be a JSON object"
        if not self.model:
            return 400, "model is required"
        if self.fake.models is not None and self.model not in self.fake.models:
            return 404, f"The model {self.model} does not exist or your team does not have access to it"
        return self._limit_problem() or self._images_problem() or self._tools_problem()

    def _images_problem(self) -> tuple[int, str] | None:
        urls = image_urls(self.body)
        if urls and not self.profile.images:
            return 400, f"Model {self.model} does not support image input"
        for url in urls:
            problem = _image_problem(url)
            if problem:
                return 400, problem
        return None

    def _tools_problem(self) -> tuple[int, str] | None:
        """Tool definitions and tool rounds checked the way the real APIs check them (pairs must match)."""
        tools = self.body.get("tools")
        if tools is not None:
            for tool in tools if isinstance(tools, list) else [None]:
                problem = _tool_definition_problem(tool, self.route, self.profile)
                if problem:
                    return 400, problem
        check = _chat_rounds_problem if self.route == "chat" else _responses_rounds_problem
        problem = check(_items(self.body))
        return (400, problem) if problem else None

    def _limit_problem(self) -> tuple[int, str] | None:
        limit = self.profile.max_tokens_limit
        for name in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
            value = self.body.get(name)
            if limit is not None and isinstance(value, int) and value > limit:
                return 400, f"{name} must be at most {limit}, got {value}"
        return None

    def _authorized(self) -> bool:
        key = self.fake.key
        if key is None:
            return True
        if self.profile.auth == "api-key":
            return self.rec.headers.get("api-key") == key
        return self.rec.headers.get("authorization") == f"Bearer {key}"

    # ---- plain JSON answers

    def _send_error(self, status: int, message: str | None, retry_after: float | None = None) -> None:
        body = _error_body(self.profile, status, message or _DEFAULT_MESSAGES.get(status, "Error"))
        extra = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        self._send_json(status, body, extra)

    def _send_json(self, status: int, obj: Any, extra: dict[str, str] | None = None) -> None:
        self._finish(lambda: self._send_bytes(status, json.dumps(obj).encode(), extra))

    def _send_bytes(self, status: int, data: bytes, extra: dict[str, str] | None = None) -> None:
        headers = {"Content-Type": "application/json", "Content-Length": str(len(data)),
                   "x-request-id": _hex(), **(extra or {})}
        if not self.fake.chunked:
            headers["Connection"] = "close"
        self.rec.status = status
        self.wire.start(status, headers)
        self.wire.write(data)

    # ---- scripted answers

    def _answer(self, reply: Reply) -> None:
        if reply.redirect_to is not None:
            self._send_bytes(307, b"", {"Location": reply.redirect_to.rstrip("/") + self.rec.path})
            return
        if reply.no_headers:
            self.wire.wait(reply.stall_seconds)
            self._stamp_end()
            self.wire.cut()
            return
        if reply.raw_body is not None:
            self.wire.wait(reply.first_delay)
            self._finish(lambda: self._send_bytes(reply.status, reply.raw_body.encode(),  # type: ignore[union-attr]
                                                  {"Content-Type": reply.raw_content_type}))
            return
        if reply.status != 200:
            self.wire.wait(reply.first_delay)
            self._send_error(reply.status, reply.error_message, reply.retry_after)
        elif self.body.get("stream"):
            self._stream(reply)
        else:
            self._whole(reply)

    def _whole(self, reply: Reply) -> None:
        """Non-streaming: one JSON object; the stream faults map onto the whole body."""
        self.wire.wait(reply.first_delay)
        if reply.malformed_after is not None:
            self._stamp_end()
            self._send_bytes(200, b"{not json")
        elif reply.disconnect_after is not None:
            self._stamp_end()
            self.wire.cut()
        elif reply.stall_after is not None:
            self.wire.wait(reply.stall_seconds)
            self._stamp_end()
            self.wire.cut()
        elif reply.stream_error is not None:
            self._send_error(500, reply.stream_error)
        else:
            builder = self._chat_whole if self.route == "chat" else self._responses_whole
            self._send_json(200, builder(reply))

    def _stream(self, reply: Reply) -> None:
        self.rec.status = 200
        self.wire.start(200, {**self.wire.stream_headers(), "x-request-id": _hex()})
        if reply.raw_events is not None:
            for payload in reply.raw_events:
                self.wire.send(b"data: " + payload.encode("utf-8", "surrogatepass") + b"\n\n")
            self._finish(functools.partial(self.wire.send, _DONE, last=True))
            return
        frames = self._chat_frames(reply) if self.route == "chat" else self._responses_frames(reply)
        self._drive(frames, reply)

    def _drive(self, frames: Iterator[_Frame], reply: Reply) -> None:
        """Write frames with pacing, and stop at the first due fault."""
        pace = self.fake.pace if reply.pace is None else reply.pace
        self.wire.wait(reply.first_delay)
        sent = 0
        gated = reply.gate_after is None or reply.gate is None
        for frame in frames:
            if not gated and frame.kind in ("delta", "text_end") and sent >= reply.gate_after:  # type: ignore[operator]
                self._hold(reply.gate, reply.gate_seconds)  # type: ignore[arg-type]
                gated = True
            if frame.kind in ("delta", "text_end") and self._fault(reply, frame.kind, sent):
                return
            if frame.kind in ("delta", "think"):
                self.wire.wait(pace)
            if frame.kind == "delta" and self.rec.first_delta_at is None:
                self.rec.first_delta_at = time.monotonic()
            if frame.kind == "final" and reply.drop_before_done:
                self.wire.send(frame.data[: -len(_DONE)] if frame.data.endswith(_DONE) else frame.data)
                self._stamp_end()
                self.wire.cut()
                return
            if frame.kind == "final":
                self._finish(functools.partial(self.wire.send, frame.data, last=True))
                return
            if frame.kind != "text_end":
                self.wire.send(frame.data)
            if frame.kind == "delta":
                sent += 1

    def _hold(self, gate: threading.Event, seconds: float) -> None:
        """Let a test look at the client mid-answer, deterministically, before the rest is sent.

        A gate nobody opened means the test's condition never held: the reply is cut (so the client
        fails) and the request is marked, so the test fails loudly instead of passing late for another reason.
        """
        deadline = time.monotonic() + seconds
        while not gate.is_set():
            if time.monotonic() >= deadline:
                self.rec.gate_timed_out = True
                self._stamp_end()
                self.wire.cut()
                raise _GateTimeout()
            self.wire.wait(0.02)

    def _fault(self, reply: Reply, kind: str, sent: int) -> bool:
        def due(after: int | None) -> bool:
            return after is not None and (kind == "text_end" or sent >= after)

        if due(reply.malformed_after):
            self.wire.send(b"data: {not json\n\n")
            self._stamp_end()
            self.wire.end(close=True)
        elif due(reply.disconnect_after):
            self._stamp_end()
            self.wire.cut()
        elif due(reply.stall_after):
            self.wire.wait(reply.stall_seconds)
            self._stamp_end()
            self.wire.cut()
        elif due(reply.keepalive_after):
            deadline = time.monotonic() + reply.stall_seconds
            while time.monotonic() < deadline:  # bytes keep coming, so a read timeout never fires
                self.wire.send(b": keep-alive\n\n")
                self.wire.wait(reply.keepalive_every)
            self._stamp_end()
            self.wire.cut()
        elif due(reply.bad_bytes_after):
            self.wire.send(b'data: {"type":"response.output_text.delta","delta":"\xff\xfe\xfa"}\n\n')
            self._stamp_end()
            self.wire.end(close=True)
        else:
            return False
        return True

    def _stamp_end(self) -> None:
        """Stamp before the last bytes leave, so a client that has seen the end also sees the stamp."""
        self.rec.ended_at = time.monotonic()

    def _finish(self, last_write: Callable[[], None]) -> None:
        """Mark completed (and ended) before the last write, for the same reason as _stamp_end."""
        self.rec.completed = True
        self._stamp_end()
        self.fake._uncount(self.rec)  # before the last bytes: a client that has them may already send again
        try:
            last_write()
        except (_ClientGone, _Abort):
            self.rec.completed = False
            raise

    # ---- chat completions

    def _chat_envelope(self) -> dict[str, Any]:
        return {"id": self.chat_id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "system_fingerprint": self.fingerprint}

    def _chat_chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        head = self._chat_envelope() if self.profile.chunk_envelope else {}
        return _sse_data({**head, "choices": [choice]})

    def _chat_frames(self, reply: Reply) -> Iterator[_Frame]:
        yield _Frame("event", self._chat_chunk({"role": "assistant", "content": ""}))
        yield from self._chat_thinking(reply)
        for piece in _pieces(reply.text, reply.chunk):
            yield _Frame("delta", self._chat_chunk({"content": piece}))
        yield _Frame("text_end")
        if reply.stream_error is not None:
            error = {"message": reply.stream_error, "type": "server_error", "code": "internal_error"}
            yield _Frame("final", _sse_data({"error": error}) + _DONE)
            return
        yield from self._chat_tool_frames(reply)
        yield _Frame("event", self._chat_chunk({}, "length" if reply.incomplete else self._chat_finish(reply)))
        options = self.body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage") and not reply.omit_usage:
            yield _Frame("event", self._chat_usage_chunk(reply))
        yield _Frame("final", _DONE)

    @staticmethod
    def _chat_finish(reply: Reply) -> str:
        return "tool_calls" if reply.tool_calls and reply.finish_reason == "stop" else reply.finish_reason

    def _chat_tool_frames(self, reply: Reply) -> Iterator[_Frame]:
        """Each call as the SDK sees it streamed: id and name first, then the arguments in pieces."""
        for index, (call, call_id) in enumerate(zip(reply.tool_calls or (), _call_ids(reply))):
            head = {"index": index, "id": call_id, "type": "function",
                    "function": {"name": call["name"], "arguments": ""}}
            yield _Frame("event", self._chat_chunk({"tool_calls": [head]}))
            for piece in _pieces(_call_args(call), reply.chunk):
                yield _Frame("event", self._chat_chunk({"tool_calls": [{"index": index,
                                                                       "function": {"arguments": piece}}]}))

    def _chat_thinking(self, reply: Reply) -> Iterator[_Frame]:
        pieces = _pieces(reply.reasoning, reply.chunk)
        if self.profile.reasoning_content:
            for piece in pieces:
                yield _Frame("think", self._chat_chunk({"reasoning_content": piece}))
        elif self.profile.thinking_chunks:
            for _ in pieces[:3]:
                yield _Frame("think", self._chat_chunk({}))

    def _chat_usage_chunk(self, reply: Reply) -> bytes:
        usage = {**_chat_usage(_token_counts(reply, self.body), self.profile), **(reply.usage_extra or {})}
        if not self.profile.chunk_envelope:
            return _sse_data({"usage": usage})
        return _sse_data({**self._chat_envelope(), "choices": [], "usage": usage})

    def _chat_whole(self, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
        if self.profile.reasoning_content and reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        finish = "length" if reply.incomplete else self._chat_finish(reply)
        if reply.tool_calls:
            message["tool_calls"] = [{"id": i, "type": "function", "function": {"name": c["name"],
                                      "arguments": _call_args(c)}} for c, i in zip(reply.tool_calls, _call_ids(reply))]
        return {**self._chat_envelope(), "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": None if reply.omit_usage else _chat_usage(_token_counts(reply, self.body), self.profile)}

    # ---- responses

    def _response(self, status: str, output: list[Any], usage: dict[str, Any] | None = None,
                  **extra: Any) -> dict[str, Any]:
        b = self.body if isinstance(self.body, dict) else {}
        reasoning: dict[str, Any] = b["reasoning"] if isinstance(b.get("reasoning"), dict) else {}
        return {
            "id": self.resp_id, "object": "response", "created_at": self.created, "status": status,
            "model": self.model, "output": output, "usage": usage, "error": None,
            "incomplete_details": None, "instructions": b.get("instructions"),
            "max_output_tokens": b.get("max_output_tokens"), "previous_response_id": b.get("previous_response_id"),
            "parallel_tool_calls": b.get("parallel_tool_calls", True),
            "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
            "store": b.get("store", True), "temperature": b.get("temperature"), "top_p": b.get("top_p"),
            "text": b.get("text") or {"format": {"type": "text"}}, "tool_choice": b.get("tool_choice", "auto"),
            "tools": b.get("tools", []), **extra,
        }

    def _reasoning_item(self, reply: Reply, item_id: str) -> dict[str, Any]:
        item: dict[str, Any] = {"id": item_id, "type": "reasoning",
                                "summary": [{"type": "summary_text", "text": reply.reasoning}]}
        include = self.body.get("include")
        if isinstance(include, list) and "reasoning.encrypted_content" in include:
            item["encrypted_content"] = base64.b64encode(os.urandom(24) + reply.reasoning.encode()).decode()
        return item

    @staticmethod
    def _message_item(item_id: str, text: str, status: str) -> dict[str, Any]:
        return {"id": item_id, "type": "message", "role": "assistant", "status": status,
                "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}

    def _responses_frames(self, reply: Reply) -> Iterator[_Frame]:
        seq = iter(range(1_000_000))

        def ev(kind: str, **fields: Any) -> bytes:
            return _sse_event({"type": kind, **fields, "sequence_number": next(seq)})

        yield _Frame("event", ev("response.created", response=self._response("in_progress", [])))
        yield _Frame("event", ev("response.in_progress", response=self._response("in_progress", [])))
        output: list[Any] = []
        if reply.reasoning:
            yield from self._reasoning_frames(reply, ev, output)
        yield from self._search_frames(reply, ev, output)
        index, msg_id = len(output), f"msg_{_hex(32)}"
        ids = {"item_id": msg_id, "output_index": index}
        if self._with_message(reply):
            yield _Frame("event", ev("response.output_item.added", output_index=index,
                                     item={**self._message_item(msg_id, "", "in_progress"), "content": []}))
            yield _Frame("event", ev("response.content_part.added", **ids, content_index=0,
                                     part={"type": "output_text", "text": "", "annotations": []}))
        for piece in _pieces(reply.text, reply.chunk):
            yield _Frame("delta", ev("response.output_text.delta", **ids, content_index=0, delta=piece, logprobs=[]))
        yield _Frame("text_end")
        for n, note in enumerate(self._annotations(reply)):
            yield _Frame("event", ev("response.output_text.annotation.added", **ids, content_index=0,
                                     annotation_index=n, annotation=note))
        yield from self._responses_ending(reply, ev, output, ids)

    @staticmethod
    def _with_message(reply: Reply) -> bool:
        """A response that only calls tools has no message item, as on the real APIs."""
        return bool(reply.text) or not reply.tool_calls

    @staticmethod
    def _annotations(reply: Reply) -> list[dict[str, Any]]:
        cut = max(len(reply.text) - 1, 0)
        return [{"type": "url_citation", "url": c["url"], "title": c.get("title", ""), "start_index": cut,
                 "end_index": len(reply.text)} for c in reply.citations or ()]

    def _search_frames(self, reply: Reply, ev: Any, output: list[Any]) -> Iterator[_Frame]:
        """xAI's server-side searches: item added, in_progress → searching → completed, item done."""
        for search in reply.searches or ():
            kind = search.get("type", "web_search")
            item_id, index = f"ws_{_hex(24)}", len(output)
            ids = {"item_id": item_id, "output_index": index}
            yield _Frame("event", ev("response.output_item.added", output_index=index,
                                     item={"id": item_id, "type": f"{kind}_call", "status": "in_progress"}))
            for status in ("in_progress", "searching", "completed"):
                yield _Frame("think", ev(f"response.{kind}_call.{status}", **ids))
            item = {"id": item_id, "type": f"{kind}_call", "status": "completed",
                    "action": {"type": "search", "query": search.get("query", "")}}
            output.append(item)
            yield _Frame("event", ev("response.output_item.done", output_index=index, item=item))

    def _function_call_frames(self, reply: Reply, ev: Any, output: list[Any]) -> Iterator[_Frame]:
        for call, call_id in zip(reply.tool_calls or (), _call_ids(reply)):
            item_id, index, args = f"fc_{_hex(24)}", len(output), _call_args(call)
            item = {"id": item_id, "type": "function_call", "call_id": call_id, "name": call["name"],
                    "arguments": "", "status": "in_progress"}
            yield _Frame("event", ev("response.output_item.added", output_index=index, item=item))
            for piece in _pieces(args, reply.chunk):
                yield _Frame("event", ev("response.function_call_arguments.delta", item_id=item_id,
                                         output_index=index, delta=piece))
            yield _Frame("event", ev("response.function_call_arguments.done", item_id=item_id,
                                     output_index=index, arguments=args))
            item = {**item, "arguments": args, "status": "completed"}
            output.append(item)
            yield _Frame("event", ev("response.output_item.done", output_index=index, item=item))

    def _reasoning_frames(self, reply: Reply, ev: Any, output: list[Any]) -> Iterator[_Frame]:
        item_id = f"rs_{_hex(32)}"
        ids = {"item_id": item_id, "output_index": 0, "summary_index": 0}
        yield _Frame("event", ev("response.output_item.added", output_index=0,
                                 item={"id": item_id, "type": "reasoning", "summary": []}))
        yield _Frame("event", ev("response.reasoning_summary_part.added", **ids,
                                 part={"type": "summary_text", "text": ""}))
        for piece in _pieces(reply.reasoning, reply.chunk):
            yield _Frame("think", ev("response.reasoning_summary_text.delta", **ids, delta=piece))
        yield _Frame("event", ev("response.reasoning_summary_text.done", **ids, text=reply.reasoning))
        yield _Frame("event", ev("response.reasoning_summary_part.done", **ids,
                                 part={"type": "summary_text", "text": reply.reasoning}))
        item = self._reasoning_item(reply, item_id)
        output.append(item)
        yield _Frame("event", ev("response.output_item.done", output_index=0, item=item))

    def _responses_ending(self, reply: Reply, ev: Any, output: list[Any], ids: dict[str, Any]) -> Iterator[_Frame]:
        done = _DONE if self.profile.responses_done else b""
        msg_id, index = ids["item_id"], ids["output_index"]
        if reply.stream_error is not None:
            yield _Frame("event", ev("error", code="server_error", message=reply.stream_error, param=None))
            failed = self._response("failed", [*output, self._message_item(msg_id, reply.text, "incomplete")],
                                    error={"code": "server_error", "message": reply.stream_error})
            yield _Frame("final", ev("response.failed", response=failed) + done)
            return
        status = "incomplete" if reply.incomplete else "completed"
        text = reply.text if reply.final_text is None else reply.final_text
        if self._with_message(reply):
            message = self._message_item(msg_id, text, status)
            part = message["content"][0]
            part["annotations"] = self._annotations(reply)
            yield _Frame("event", ev("response.output_text.done", **ids, content_index=0, text=text, logprobs=[]))
            yield _Frame("event", ev("response.content_part.done", **ids, content_index=0, part=part))
            yield _Frame("event", ev("response.output_item.done", output_index=index, item=message))
            output = [*output, message]
        yield from self._function_call_frames(reply, ev, output)
        final = self._responses_final(reply, output)
        yield _Frame("final", ev(f"response.{status}", response=final) + done)

    def _responses_final(self, reply: Reply, output: list[Any]) -> dict[str, Any]:
        usage: dict[str, Any] | None = {**_responses_usage(_token_counts(reply, self.body), self.profile),
                                         **(reply.usage_extra or {})}
        if reply.searches and self.profile.cost_ticks and usage is not None:
            kinds = [s.get("type", "web_search") for s in reply.searches]
            usage.update(num_server_side_tools_used=len(kinds),
                         server_side_tool_usage_details={f"{k}_calls": kinds.count(k) for k in sorted(set(kinds))},
                         cost_in_usd_ticks=usage["cost_in_usd_ticks"] + _SEARCH_TICKS * len(kinds))
        if reply.omit_usage:
            usage = None
        if reply.incomplete:
            return self._response("incomplete", output, usage, incomplete_details={"reason": reply.incomplete})
        return self._response(reply.completed_status or "completed", output, usage)

    def _responses_whole(self, reply: Reply) -> dict[str, Any]:
        output: list[Any] = [self._reasoning_item(reply, f"rs_{_hex(32)}")] if reply.reasoning else []
        status = "incomplete" if reply.incomplete else "completed"
        if self._with_message(reply):
            output.append(self._message_item(f"msg_{_hex(32)}", reply.text, status))
            output[-1]["content"][0]["annotations"] = self._annotations(reply)
        output.extend({"id": f"fc_{_hex(24)}", "type": "function_call", "call_id": i, "name": c["name"],
                       "arguments": _call_args(c), "status": "completed"}
                      for c, i in zip(reply.tool_calls or (), _call_ids(reply)))
        return self._responses_final(reply, output)


# --------------------------------------------------------------------------- xAI Batch API


class _BatchDesk:
    """xAI's own Batch API, shaped as its public clients use it (not OpenAI's files + batches).

    ``POST /batches {name}`` → a batch with ``batch_id`` and ``state`` counts; ``POST /batches/{id}/requests
    {batch_requests: [{batch_request_id, batch_request: {chat_get_completion: {...}}}]}``; ``GET /batches/{id}``
    (pending for ``batch_polls`` reads after the last add); ``GET /batches/{id}/results?limit=&pagination_token=``
    → ``{results: [{batch_request_id, batch_result: {response: {chat_get_completion: ...}} | {error: ...}}],
    pagination_token}``; ``POST /batches/{id}:cancel``. Each request gets the next scripted reply, or the echo.

    ``FakeGrok(batch_dialect=...)`` answers in another implementation's shape instead: ``"llmock"`` as the
    independent implementation on PyPI (llmock 0.2.2) does — ``state: {status: "PENDING"|"COMPLETED",
    total_requests, completed_requests, failed_requests}`` and results keyed by ``custom_id``/``request_id``
    with no ``batch_request_id`` — and ``"opaque"`` with a state no client can read (``{phase, percent}``).
    """

    def __init__(self, exchange: _Exchange) -> None:
        self.x = exchange
        self.fake = exchange.fake
        tail = exchange.rec.path[len(self.fake.profile.prefix + "/batches"):].lstrip("/")
        self.batch_id, _, self.action = tail.partition("/")
        if self.batch_id.endswith(":cancel"):
            self.batch_id, self.action = self.batch_id[: -len(":cancel")], "cancel"
        self.method = exchange.rec.method

    def answer(self) -> None:
        if not self.batch_id:
            if self.method == "POST":
                return self._create()
            return self.x._send_json(200, {"batches": [self._view(b) for b in self.fake.batches.values()]})
        batch = self.fake.batches.get(self.batch_id)
        if batch is None:
            return self.x._send_error(404, f"batch {self.batch_id} not found")
        if self.action == "requests" and self.method == "POST":
            return self._add(batch)
        if self.action == "results" and self.method == "GET":
            return self._results(batch)
        if self.action == "cancel" and self.method == "POST":
            batch["cancelled"] = True
            return self.x._send_json(200, self._view(batch))
        if not self.action and self.method == "GET":
            batch["polls"] += 1
            return self.x._send_json(200, self._view(batch))
        return self.x._send_error(404, f"Not found: {self.method} {self.x.rec.path}")

    def _create(self) -> None:
        batch_id = f"batch_{uuid.uuid4()}"
        self.fake.batches[batch_id] = {"batch_id": batch_id, "name": self.x.body.get("name", ""),
                                       "create_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                       "results": [], "polls": 0, "polls_at_add": 0, "cancelled": False}
        self.x._send_json(200, self._view(self.fake.batches[batch_id]))

    def _add(self, batch: dict[str, Any]) -> None:
        items = self.x.body.get("batch_requests")
        if not isinstance(items, list):
            return self.x._send_error(400, "batch_requests must be a list")
        for item in items:
            batch["results"].append(self._run(item))
        batch["polls_at_add"] = batch["polls"]
        self.x._send_json(200, {})

    def _run(self, item: Any) -> dict[str, Any]:
        request_id = item.get("batch_request_id", "") if isinstance(item, dict) else ""
        inner = (item.get("batch_request") or {}).get("chat_get_completion") if isinstance(item, dict) else None
        if not isinstance(inner, dict) or not inner.get("model"):
            return {"batch_request_id": request_id, "batch_result": {"error": {"code": 400,
                    "message": "batch_request.chat_get_completion with a model is required"}}}
        reply = self.fake._next_reply(inner)
        if reply.status != 200:
            message = reply.error_message or _DEFAULT_MESSAGES.get(reply.status, "Error")
            return {"batch_request_id": request_id,
                    "batch_result": {"error": {"code": reply.status, "message": message}}}
        x = self.x
        x.body, x.model = inner, str(inner.get("model"))  # the completion is built for the inner request
        completion = x._chat_whole(reply)
        return {"batch_request_id": request_id, "batch_result": {"response": {"chat_get_completion": completion}}}

    def _done(self, batch: dict[str, Any]) -> bool:
        return not batch["cancelled"] and batch["polls"] - batch["polls_at_add"] > self.fake.batch_polls

    def _view(self, batch: dict[str, Any]) -> dict[str, Any]:
        results = batch["results"]
        done = self._done(batch)
        dialect = self.fake.batch_dialect
        if dialect == "llmock":
            failed = sum(1 for r in results if "error" in r["batch_result"]) if done else 0
            word = "CANCELLED" if batch["cancelled"] else "COMPLETED" if done else "PENDING"
            state = {"status": word, "total_requests": len(results),
                     "completed_requests": len(results) - failed if done else 0, "failed_requests": failed}
            return {"id": batch["batch_id"], "object": "batch", "create_time": batch["create_time"],
                    "batch_id": batch["batch_id"], "status": word.lower(), "state": state}
        if dialect == "opaque":
            return {"batch_id": batch["batch_id"], "name": batch["name"],
                    "state": {"phase": "done" if done else "running", "percent": 100 if done else 40}}
        errors = sum(1 for r in results if "error" in r["batch_result"]) if done else 0
        cancelled = len(results) if batch["cancelled"] else 0
        state = {"num_requests": len(results), "num_pending": 0 if done or cancelled else len(results),
                 "num_success": len(results) - errors if done else 0, "num_error": errors,
                 "num_cancelled": cancelled}
        return {"batch_id": batch["batch_id"], "name": batch["name"], "create_time": batch["create_time"],
                "state": state}

    def _results(self, batch: dict[str, Any]) -> None:
        query = dict(p.split("=", 1) for p in self.x.rec.query.split("&") if "=" in p)
        done = batch["results"] if self._done(batch) else []
        limit = int(query.get("limit", "100") or 100)
        start = int(query.get("pagination_token") or 0)
        page = done[start:start + limit]
        token = str(start + limit) if start + limit < len(done) else None
        if self.fake.batch_dialect == "llmock":  # every result at once, named by ids of its own
            items = [{"request_id": uuid.uuid4().hex, "custom_id": str(uuid.uuid4()),
                      "state": "failed" if "error" in r["batch_result"] else "succeeded",
                      "response": (r["batch_result"].get("response") or {}).get("chat_get_completion"),
                      "error": r["batch_result"].get("error")} for r in done]
            return self.x._send_json(200, {"results": items, "data": items})
        self.x._send_json(200, {"results": page, "pagination_token": token})


# --------------------------------------------------------------------------- HTTP plumbing


class _Handler(http.server.BaseHTTPRequestHandler):
    """Thin adapter: all behaviour lives in FakeGrok/_Exchange so it can be read in one place."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # deltas leave at once
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        self.server.fake._track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def _dispatch(self) -> None:
        self.server.fake._handle(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256  # the default backlog of 5 drops connections when a map opens 32 at once
    fake: FakeGrok

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients vanishing is the point of many tests; only report real bugs."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def _read_body(handler: _Handler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        data = b""
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                return data
            data += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


# --------------------------------------------------------------------------- public server


class FakeGrok:
    """A scripted Grok-compatible HTTP server on 127.0.0.1 (random port, daemon threads)."""

    def __init__(self, profile: str | Profile = "xai", key: str | None = "sk-test-key", *,
                 models: tuple[str, ...] | None = None, chunked: bool = True, pace: float = 0.01,
                 host: str = "127.0.0.1", port: int = 0, latency: float = 0.0, rate_limit_fraction: float = 0.0,
                 rate_limit_retry_after: float | None = 0.05, seed: int = 0, batch_polls: int = 1,
                 batch_dialect: str = "xai") -> None:
        """``latency``: seconds every API answer waits before it starts (a provider's time to first byte).
        ``rate_limit_fraction``: that share of API requests, drawn with a seeded RNG, get 429 with
        ``Retry-After: rate_limit_retry_after`` instead. ``batch_polls``: how many status reads a batch
        stays pending after requests were added (then every request is answered). ``batch_dialect``: "xai",
        or the shape of another implementation of the Batch API (see ``_BatchDesk``).
        """
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        self.key = key
        self.models = tuple(models) if models is not None else self.profile.models
        self.chunked = chunked
        self.pace = pace
        self._address = (host, port)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: collections.deque[Reply] = collections.deque()
        self._records: list[Recorded] = []
        self._conns: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.latency = latency
        self.rate_limit_fraction = rate_limit_fraction
        self.rate_limit_retry_after = rate_limit_retry_after
        self._random = random.Random(seed)
        self.batch_polls = batch_polls
        self.batch_dialect = batch_dialect
        # answers chosen from the request (after scripted replies): body -> Reply, or None for the default echo.
        # For jobs whose requests arrive in no fixed order (a map over Spark partitions, a reduce's chunks).
        self.responder: Callable[[Any], Reply | None] | None = None
        self.batches: dict[str, dict[str, Any]] = {}  # batch id -> its record (see _BatchDesk)
        self.in_flight = 0
        self._counted: set[int] = set()
        self.peak_concurrency = 0  # most API requests (chat/responses) being answered at the same moment
        self.rate_limited = 0  # how many injected 429s were sent

    # ---- lifecycle

    def start(self) -> FakeGrok:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _Server(self._address, _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"FakeGrok-{self.profile.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, end stalls and keep-alive connections, free the port."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> FakeGrok:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- addresses

    @property
    def origin(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeGrok is not running; call start() or use it as a context manager")
        host, port = self._httpd.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    @property
    def base_url(self) -> str:
        return self.origin + self.profile.prefix

    def rebase(self, url: str) -> str:
        """Point a real provider URL at this server, keeping its path (and query)."""
        parts = urlsplit(url)
        local = urlsplit(self.origin)
        return urlunsplit((local.scheme, local.netloc, parts.path, parts.query, parts.fragment))

    # ---- scripting and inspection

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._records)

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self._records) >= n, timeout)

    @property
    def gate_timeouts(self) -> list[Recorded]:
        """Requests whose gate was never opened: a test that scripted a gate and saw none of this should fail."""
        return [r for r in self.requests if r.gate_timed_out]

    def wait_for_disconnect(self, timeout: float = 5.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: any(r.disconnected for r in self._records), timeout)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._queue.clear()
            self.peak_concurrency = self.in_flight
            self.rate_limited = 0

    @property
    def api_requests(self) -> list[Recorded]:
        """Chat and Responses requests only (not models or batch management calls)."""
        return [r for r in self.requests if r.api is not None]

    def _take_rate_limit(self) -> bool:
        with self._lock:
            if self.rate_limit_fraction <= 0 or self._random.random() >= self.rate_limit_fraction:
                return False
            self.rate_limited += 1
            return True

    def _count(self, rec: Recorded) -> None:
        with self._lock:
            self._counted.add(id(rec))
            self.in_flight += 1
            self.peak_concurrency = max(self.peak_concurrency, self.in_flight)

    def _uncount(self, rec: Recorded) -> None:
        with self._lock:
            if id(rec) in self._counted:
                self._counted.discard(id(rec))
                self.in_flight -= 1

    # ---- internals used by the handler

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            (self._conns.add if alive else self._conns.discard)(conn)

    def _next_reply(self, body: Any) -> Reply:
        """Scripted replies first; otherwise echo the last user turn so multi-turn tests need no script."""
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        chosen = self.responder(body) if self.responder is not None else None
        if chosen is not None:
            return chosen
        schema = _asked_schema(body)
        if schema is not None:  # structured output asked for: a (fake) instance of the schema
            return replace(Reply(), text=json.dumps(_example(schema, schema.get("$defs", {}))))
        said = _last_user_text(body)
        return Reply() if said is None else replace(Reply(), text=f"You said: {said}")

    def _route(self, method: str, path: str) -> tuple[str | None, str | None]:
        """Return (route, api): route drives handling, api is what the client was aiming at."""
        prefix = self.profile.prefix
        if path == prefix + "/models" and method == "GET":
            return "models", None
        if self.profile.batches and (path == prefix + "/batches" or path.startswith(prefix + "/batches/")):
            return "batch", None
        if self.profile.tokenizer and path == prefix + "/tokenize-text" and method == "POST":
            return "tokenize", None
        for api, suffix in (("chat", "/chat/completions"), ("responses", "/responses")):
            if path == prefix + suffix:
                ok = method == "POST" and api in self.profile.apis
                return (api if ok else None), api
        return None, None

    def _handle(self, handler: _Handler) -> None:
        path = urlsplit(handler.path).path
        raw = _read_body(handler)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        route, api = self._route(handler.command, path)
        rec = Recorded(method=handler.command, path=path, headers={k.lower(): v for k, v in handler.headers.items()},
                       body=body, api=api, started_at=time.monotonic(), query=urlsplit(handler.path).query)
        with self._changed:
            self._records.append(rec)
            self._changed.notify_all()
        if api is not None:
            self._count(rec)
        try:
            _Exchange(self, handler, rec, route).run()
        except _ClientGone:
            handler.close_connection = True
            rec.ended_at = time.monotonic()
            rec.disconnected = True  # after ended_at: wait_for_disconnect() callers read both
        except _Abort:
            _Wire(handler, self.chunked, self._stopping).cut()
        except _GateTimeout:
            handler.close_connection = True
        finally:
            self._uncount(rec)
            if rec.ended_at is None:
                rec.ended_at = time.monotonic()
            with self._changed:
                self._changed.notify_all()
