"""Responses: the API xAI recommends, which can carry the model's encrypted reasoning between turns.

We run stateless (``store=false``) and resend earlier output items verbatim, so the conversation
lives in this kernel, not on the provider's servers. Events are dispatched on ``event.type``
because the SDK coerces unknown event types into unrelated classes.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from ..errors import StreamCut, StreamError
from ..events import Citation, Event, Finished, ReasoningDelta, SearchProgress, Started, TextDelta, ToolCall
from ..parts import ImagePart, Parts
from ..request import OutputFormat, Request, Round, Turn
from ..usage import responses_usage
from . import readable

_REASONING_DELTAS = {"response.reasoning_summary_text.delta", "response.reasoning_text.delta"}
_SEARCH_ITEMS = ("web_search_call", "x_search_call")
_SEARCH_EVENTS = ("response.web_search_call.", "response.x_search_call.")


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


def round_items(done: Round, provider: str) -> list[dict[str, Any]]:
    """A tool round: the model's output items (verbatim to their own provider, else rebuilt), then outputs."""
    if done.items and done.items_provider == provider:
        out = [dict(item) for item in done.items]
    else:
        out = [{"role": "assistant", "content": done.text}] if done.text else []
        out.extend({"type": "function_call", "call_id": c.call_id, "name": c.name, "arguments": c.arguments}
                   for c in done.calls)
    out.extend({"type": "function_call_output", "call_id": r.call_id, "output": r.output} for r in done.results)
    return out


def input_items(request: Request) -> list[dict[str, Any]]:
    provider = request.endpoint.provider.name
    items: list[dict[str, Any]] = []
    if request.system:
        items.append({"role": "system", "content": request.system})
    for turn in request.history:
        items.append({"role": "user", "content": input_content(turn.user)})
        for done in turn.rounds:
            items.extend(round_items(done, provider))
        items.extend(_replay(turn, provider))
    items.append({"role": "user", "content": input_content(request.user)})
    for done in request.rounds:
        items.extend(round_items(done, provider))
    return items


def tools(request: Request) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"type": kind} for kind in request.search]
    out.extend({"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters}
               for t in request.tools)
    return out


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
    if request.tools or request.search:
        kwargs["tools"] = tools(request)
    if request.output is not None:
        kwargs["text"] = {"format": text_format(request.output)}
    return kwargs


def text_format(output: OutputFormat) -> dict[str, Any]:
    if output.schema is None:
        return {"type": "json_object"}
    return {"type": "json_schema", "name": output.name, "schema": output.schema, "strict": True}


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


def _citations(items: tuple[dict[str, Any], ...]) -> Iterator[Citation]:
    for item in items:
        for part in item.get("content") or () if item.get("type") == "message" else ():
            for note in part.get("annotations") or () if isinstance(part, dict) else ():
                if isinstance(note, dict) and note.get("type") == "url_citation" and note.get("url"):
                    yield Citation(str(note["url"]), str(note.get("title") or ""))


def _search(event: Any, kind: str) -> Iterator[Event]:
    """``response.web_search_call.searching`` and friends; unknown types reach us as other classes."""
    family, _, status = kind[len("response."):].partition(".")
    yield SearchProgress("x" if family.startswith("x_") else "web", status, item_id=str(getattr(event, "item_id", "")))


def _search_query(item: dict[str, Any]) -> Iterator[Event]:
    action = item.get("action") if isinstance(item.get("action"), dict) else {}
    query = action.get("query") or item.get("query") or ""
    kind = "x" if item.get("type", "").startswith("x_") else "web"
    yield SearchProgress(kind, "completed", str(query), item_id=str(item.get("id") or ""))


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
    yield from _citations(items)
    kind, reason = _ending(response, completed_event)
    reconciled = text if text is not None and text != streamed and kind == "complete" else None
    yield Finished(reason=reason, complete=kind == "complete", items=items, kind=kind, text=reconciled)


@readable
def events(stream: Iterable[Any]) -> Iterator[Event]:
    collected: list[dict[str, Any]] = []
    streamed: list[str] = []
    iterator = iter(stream)
    for event in iterator:
        kind = getattr(event, "type", None)
        if kind == "response.output_text.delta":
            delta = getattr(event, "delta", "")
            delta = delta if isinstance(delta, str) else ""  # a server's odd value is not text
            streamed.append(delta)
            yield TextDelta(delta)
        elif kind in _REASONING_DELTAS:
            thought = getattr(event, "delta", "")
            yield ReasoningDelta(thought if isinstance(thought, str) else "")
        elif kind == "response.created":
            yield Started(getattr(getattr(event, "response", None), "id", "") or "")
        elif kind == "response.output_item.done":
            item = _as_dict(event.item)
            collected.append(item)
            if item.get("type") == "function_call":
                yield ToolCall(str(item.get("call_id") or item.get("id") or ""), str(item.get("name") or ""),
                               str(item.get("arguments") or ""))
            elif item.get("type") in _SEARCH_ITEMS:
                yield from _search_query(item)
        elif kind and kind.startswith(_SEARCH_EVENTS):
            yield from _search(event, kind)
        elif kind in ("response.completed", "response.incomplete"):
            yield from _finish(event.response, collected, kind == "response.completed", "".join(streamed))
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
