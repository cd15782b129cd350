"""Responses: the API xAI recommends, which can carry the model's encrypted reasoning between turns.

We run stateless (``store=false``) and resend earlier output items verbatim, so the conversation
lives in this kernel, not on the provider's servers. Events are dispatched on ``event.type``
because the SDK coerces unknown event types into unrelated classes.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from ..errors import StreamCut, StreamError
from ..events import Event, Finished, ReasoningDelta, Started, TextDelta
from ..parts import ImagePart, Parts
from ..request import Request, Turn
from ..usage import responses_usage

_REASONING_DELTAS = {"response.reasoning_summary_text.delta", "response.reasoning_text.delta"}


def input_content(parts: Parts) -> list[dict[str, Any]]:
    """Text and context blocks are input_text; an image is its caption + input_image."""
    content: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, ImagePart):
            content.append({"type": "input_text", "text": part.caption})
            content.append({"type": "input_image", "image_url": part.wire_url})
        else:
            content.append({"type": "input_text", "text": part.text})
    return content


def _replay(turn: Turn, provider: str) -> list[dict[str, Any]]:
    """Earlier output items go back only to the provider that made them; others get plain text."""
    if turn.items and turn.items_provider == provider:
        return [dict(item) for item in turn.items]
    return [{"role": "assistant", "content": turn.answer}]


def input_items(request: Request) -> list[dict[str, Any]]:
    provider = request.endpoint.provider.name
    items: list[dict[str, Any]] = []
    if request.system:
        items.append({"role": "system", "content": request.system})
    for turn in request.history:
        items.append({"role": "user", "content": input_content(turn.user)})
        items.extend(_replay(turn, provider))
    items.append({"role": "user", "content": input_content(request.user)})
    return items


def build(request: Request) -> dict[str, Any]:
    provider = request.endpoint.provider
    kwargs: dict[str, Any] = {
        "model": request.endpoint.model,
        "input": input_items(request),
        "stream": True,
        "store": False,
        "reasoning": {"effort": request.effort},
    }
    if provider.encrypted_reasoning:
        kwargs["include"] = ["reasoning.encrypted_content"]
    if request.cache_key:
        kwargs["prompt_cache_key"] = request.cache_key
    if request.temperature is not None:
        kwargs["temperature"] = request.temperature
    if request.max_tokens is not None:
        kwargs["max_output_tokens"] = request.max_tokens
    return kwargs


def _as_dict(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    to_dict = getattr(item, "to_dict", None)
    if to_dict is not None:
        return to_dict(mode="json")
    return item.model_dump(mode="json", exclude_unset=True)


def _failure(event: Any) -> str:
    response = getattr(event, "response", None)
    error = getattr(response, "error", None) if response is not None else None
    source = error if error is not None else event
    code = getattr(source, "code", None) or ""
    message = getattr(source, "message", None) or "the response failed"
    return f"{code}: {message}" if code else str(message)


def _finish(response: Any, collected: list[dict[str, Any]], complete: bool) -> Iterator[Event]:
    if getattr(response, "usage", None) is not None:
        yield responses_usage(response.usage)
    output = getattr(response, "output", None)
    items = tuple(_as_dict(i) for i in output) if output else tuple(collected)
    if complete:
        yield Finished(reason="stop", complete=True, items=items)
    else:
        details = getattr(response, "incomplete_details", None)
        reason = getattr(details, "reason", None) or "incomplete"
        yield Finished(reason=reason, complete=False, items=items)


def events(stream: Iterable[Any]) -> Iterator[Event]:
    collected: list[dict[str, Any]] = []
    iterator = iter(stream)
    for event in iterator:
        kind = getattr(event, "type", None)
        if kind == "response.output_text.delta":
            yield TextDelta(getattr(event, "delta", "") or "")
        elif kind in _REASONING_DELTAS:
            yield ReasoningDelta(getattr(event, "delta", "") or "")
        elif kind == "response.created":
            yield Started(getattr(getattr(event, "response", None), "id", "") or "")
        elif kind == "response.output_item.done":
            collected.append(_as_dict(event.item))
        elif kind in ("response.completed", "response.incomplete"):
            yield from _finish(event.response, collected, complete=kind == "response.completed")
            _drain(iterator)
            return
        elif kind in ("error", "response.failed"):
            raise StreamError(_failure(event))
    raise StreamCut()


def _drain(iterator: Iterator[Any]) -> None:
    """Read to the end (xAI sends [DONE] after completion) so the connection can be reused."""
    try:
        for _ in iterator:
            pass
    except Exception:  # the answer is complete; a late transport hiccup changes nothing
        pass


def open_stream(client: Any, kwargs: dict[str, Any]) -> Any:
    return client.responses.create(**kwargs)
