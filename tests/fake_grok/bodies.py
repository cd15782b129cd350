"""Reading request bodies and writing answer bodies: usage, cost, errors, tool and image checks."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any, NamedTuple

from .profiles import Profile
from .scripting import Reply


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
    400: "Invalid request",
    401: "Incorrect API key provided",
    402: "Your team has run out of credits",
    403: "Forbidden",
    404: "Not found",
    408: "Request timed out",
    413: "Request too large",
    422: "Unprocessable entity",
    429: "Rate limit exceeded",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}
# xAI answers {"code": <gRPC-style status text>, "error": <message>}; texts beyond 400 are inferred.
_XAI_CODES = {
    400: "Client specified an invalid argument",
    401: "Unauthenticated",
    402: "Payment required",
    403: "Permission denied",
    404: "Some requested entity was not found",
    429: "Some resource has been exhausted",
    500: "Internal error",
    503: "The service is currently unavailable",
}
_OPENAI_KINDS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    402: ("insufficient_quota", "insufficient_quota"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", "internal_error"),
    503: ("server_error", "service_unavailable"),
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
    return [text[i : i + size] for i in range(0, len(text), size)]


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
        return "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") in ("text", "input_text")
        )
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
    counts = {
        "input": _estimate_input_tokens(body),
        "cached": 0,
        "output": len(reply.text) // 4 + 1,
        "reasoning": len(reply.reasoning) // 4,
    }
    counts.update(reply.usage or {})
    return counts


def _cost_ticks(n: dict[str, int]) -> int:
    price = _TICKS_PER_TOKEN
    ticks = (
        (n["input"] - n["cached"]) * price["input"]
        + n["cached"] * price["cached"]
        + (n["output"] + n["reasoning"]) * price["output"]
    )
    return ticks * 2 if n["input"] >= 200_000 else ticks  # long-context tier doubles every rate


def _chat_usage(n: dict[str, int], profile: Profile) -> dict[str, Any]:
    """xAI counts reasoning outside completion_tokens but inside total_tokens; Azure/OpenAI inside both."""
    completion = n["output"] + (n["reasoning"] if profile.output_includes_reasoning else 0)
    usage: dict[str, Any] = {
        "prompt_tokens": n["input"],
        "completion_tokens": completion,
        "total_tokens": n["input"] + n["output"] + n["reasoning"],
        "prompt_tokens_details": {
            "cached_tokens": n["cached"],
            "text_tokens": n["input"],
            "audio_tokens": 0,
            "image_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": n["reasoning"],
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    if profile.cost_ticks:
        usage.update(num_sources_used=0, cost_in_usd_ticks=_cost_ticks(n))
    return usage


def _responses_usage(n: dict[str, int], profile: Profile) -> dict[str, Any]:
    output = n["output"] + (n["reasoning"] if profile.output_includes_reasoning else 0)
    usage: dict[str, Any] = {
        "input_tokens": n["input"],
        "input_tokens_details": {"cached_tokens": n["cached"]},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": n["reasoning"]},
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
