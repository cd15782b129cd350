"""Responses: the API xAI recommends, which can carry the model's encrypted reasoning between turns.

We run stateless (``store=false``) and resend earlier output items verbatim, so the conversation
lives in this kernel, not on the provider's servers. Events are dispatched on ``event.type``
because the SDK coerces unknown event types into unrelated classes.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from ..errors import StreamCut, StreamError
from ..events import Event, Finished, ReasoningDelta, Started, TextDelta
from ..parts import Parts, TextPart
from ..request import Request, Turn
from ..usage import responses_usage
from . import readable

_REASONING_DELTAS = {"response.reasoning_summary_text.delta", "response.reasoning_text.delta"}


def input_content(parts: Parts) -> list[dict[str, Any]]:
    return [{"type": "input_text", "text": p.text} for p in parts if isinstance(p, TextPart)]


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
    }
    if request.effort:  # empty: the user left effort to the server
        kwargs["reasoning"] = {"effort": request.effort}
    if provider.encrypted_reasoning:
        kwargs["include"] = ["reasoning.encrypted_content"]
    if request.cache_key and provider.prompt_cache:
        kwargs["prompt_cache_key"] = request.cache_key
    if request.temperature is not None:
        kwargs["temperature"] = request.temperature
    if request.max_tokens is not None:
        kwargs["max_output_tokens"] = request.max_tokens
    return kwargs


def _as_dict(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    if item is None or isinstance(item, (str, int, float, list)):
        return {}
    to_dict = getattr(item, "to_dict", None)
    if to_dict is not None:
        return to_dict(mode="json", warnings=False)  # odd provider fields are kept, not complained about
    return item.model_dump(mode="json", exclude_unset=True)


def _failure(event: Any) -> str:
    response = getattr(event, "response", None)
    error = getattr(response, "error", None) if response is not None else None
    source = error if error is not None else event
    code = getattr(source, "code", None) or ""
    message = getattr(source, "message", None) or "the response failed"
    return f"{code}: {message}" if code else str(message)


_LENGTH_REASONS = {"max_output_tokens", "max_prompt_tokens", "max_tokens", "length"}


def final_text(items: tuple[dict[str, Any], ...]) -> str | None:
    """The answer as the final response states it: every output_text of every message item."""
    texts = [
        part.get("text") if isinstance(part.get("text"), str) else ""
        for item in items
        if item.get("type") == "message"
        for part in (item.get("content") if isinstance(item.get("content"), list) else ())
        if isinstance(part, dict) and part.get("type") == "output_text"
    ]
    return "".join(texts) if texts else None


def _ending(response: Any, completed_event: bool) -> tuple[str, str]:
    """(kind, reason): complete only for response.completed whose status agrees (or is absent)."""
    status = getattr(response, "status", None)
    if completed_event and status in (None, "completed"):
        return "complete", "stop"
    details = getattr(response, "incomplete_details", None)
    reason = getattr(details, "reason", None) or str(status or "incomplete")
    if reason in _LENGTH_REASONS:
        return "length", reason
    return ("filter" if reason == "content_filter" else "cut-off"), reason


def _finish(response: Any, collected: list[dict[str, Any]], completed_event: bool, streamed: str) -> Iterator[Event]:
    if getattr(response, "usage", None) is not None:
        yield responses_usage(response.usage)
    output = getattr(response, "output", None)
    items = tuple(_as_dict(i) for i in output) if isinstance(output, list) and output else tuple(collected)
    text = final_text(items)
    if text is not None and text != streamed and text.startswith(streamed):
        yield TextDelta(text[len(streamed):])  # deltas went missing; the views show the rest too
        streamed = text
    kind, reason = _ending(response, completed_event)
    reconciled = text if text is not None and text != streamed and kind == "complete" else None
    yield Finished(reason=reason, complete=kind == "complete", items=items, kind=kind, text=reconciled)


@readable
def events(stream: Iterable[Any]) -> Iterator[Event]:
    collected: list[dict[str, Any]] = []
    streamed = ""
    iterator = iter(stream)
    for event in iterator:
        kind = getattr(event, "type", None)
        if kind == "response.output_text.delta":
            delta = getattr(event, "delta", "")
            delta = delta if isinstance(delta, str) else ""  # a server's odd value is not text
            streamed += delta
            yield TextDelta(delta)
        elif kind in _REASONING_DELTAS:
            thought = getattr(event, "delta", "")
            yield ReasoningDelta(thought if isinstance(thought, str) else "")
        elif kind == "response.created":
            yield Started(getattr(getattr(event, "response", None), "id", "") or "")
        elif kind == "response.output_item.done":
            collected.append(_as_dict(event.item))
        elif kind in ("response.completed", "response.incomplete"):
            yield from _finish(event.response, collected, kind == "response.completed", streamed)
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
