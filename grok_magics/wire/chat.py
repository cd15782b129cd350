"""Chat Completions: the API every provider speaks, without reasoning round-trips.

Gateways trim chunks (no id, no choices, usage alone), so everything is read defensively and the
answer is accumulated here rather than by the SDK's strict stream helper.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from ..errors import StreamCut
from ..events import Event, Finished, ReasoningDelta, Started, TextDelta
from ..parts import ImagePart, Parts, TextPart, text_of
from ..request import Request
from ..usage import chat_usage

_INCOMPLETE = {"length", "content_filter"}


def user_content(parts: Parts) -> str | list[dict[str, Any]]:
    """Plain text stays a string; context blocks are text parts; an image is its caption + image_url."""
    if all(isinstance(p, TextPart) for p in parts):
        return text_of(parts)
    content: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, ImagePart):
            content.append({"type": "text", "text": part.caption})
            content.append({"type": "image_url", "image_url": {"url": part.wire_url}})
        else:
            content.append({"type": "text", "text": part.text})
    return content


def messages(request: Request) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": request.system})
    for turn in request.history:
        out.append({"role": "user", "content": user_content(turn.user)})
        out.append({"role": "assistant", "content": turn.answer})
    out.append({"role": "user", "content": user_content(request.user)})
    return out


def build(request: Request) -> dict[str, Any]:
    provider = request.endpoint.provider
    kwargs: dict[str, Any] = {
        "model": request.endpoint.model,
        "messages": messages(request),
        "stream": True,
        "stream_options": {"include_usage": True},
        "reasoning_effort": request.effort,
    }
    if request.temperature is not None:
        kwargs["temperature"] = request.temperature
    if request.max_tokens is not None:
        kwargs["max_completion_tokens"] = request.max_tokens
    if provider.chat_cache_header and request.cache_key:
        kwargs["extra_headers"] = {provider.chat_cache_header: request.cache_key}
    return kwargs


def _reasoning_text(delta: Any) -> str:
    extra = getattr(delta, "model_extra", None) or {}
    value = extra.get("reasoning_content") or extra.get("reasoning") or ""
    return value if isinstance(value, str) else ""


def events(stream: Iterable[Any]) -> Iterator[Event]:
    finish: str | None = None
    usage = None
    started = False
    for chunk in stream:
        if not started:
            started = True
            yield Started(getattr(chunk, "id", None) or "")
        if getattr(chunk, "usage", None) is not None:
            usage = chunk.usage  # some providers repeat a cumulative usage on every chunk: keep the last
        for choice in getattr(chunk, "choices", None) or ():
            delta = getattr(choice, "delta", None)
            if delta is not None:
                thought = _reasoning_text(delta)
                if thought:
                    yield ReasoningDelta(thought)
                if getattr(delta, "content", None):
                    yield TextDelta(delta.content)
            if getattr(choice, "finish_reason", None):
                finish = choice.finish_reason
    if usage is not None:
        yield chat_usage(usage)
    if finish is None:
        raise StreamCut()
    yield Finished(reason=finish, complete=finish not in _INCOMPLETE)


def open_stream(client: Any, kwargs: dict[str, Any]) -> Any:
    return client.chat.completions.create(**kwargs)
