"""Responses: the API xAI recommends, which can carry the model's encrypted reasoning between turns.

We run stateless (``store=false``) and resend earlier output items verbatim, so the conversation
lives in this kernel, not on the provider's servers. Events are JSON objects dispatched on their
``type``; an unknown type is skipped.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from grok_magics.errors import StreamCut, StreamError
from grok_magics.model.events import (
    Citation,
    Event,
    Finished,
    ReasoningDelta,
    SearchProgress,
    Started,
    TextDelta,
    ToolCall,
)
from grok_magics.model.json_path import dig
from grok_magics.model.parts import GAP, ImagePart, Parts, needs_gap
from grok_magics.model.request import OutputFormat, Request, Round, Turn
from grok_magics.model.usage import responses_usage
from grok_magics.wire.posting import post_stream, readable

PATH = "/responses"
_REASONING_DELTAS = {"response.reasoning_summary_text.delta", "response.reasoning_text.delta"}
_SEARCH_ITEMS = ("web_search_call", "x_search_call")
_SEARCH_EVENTS = ("response.web_search_call.", "response.x_search_call.")


def input_content(parts: Parts) -> list[dict[str, Any]]:
    """Text and context blocks are input_text; an image is its caption + input_image."""
    content: list[dict[str, Any]] = []
    last = ""
    for part in parts:
        text = part.caption if isinstance(part, ImagePart) else part.text
        if needs_gap(last, text):
            content.append({"type": "input_text", "text": GAP})
        content.append({"type": "input_text", "text": text})
        last = text
        if isinstance(part, ImagePart):
            content.append({"type": "input_image", "image_url": part.wire_url})
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
        out.extend(
            {"type": "function_call", "call_id": c.call_id, "name": c.name, "arguments": c.arguments}
            for c in done.calls
        )
    out.extend({"type": "function_call_output", "call_id": r.call_id, "output": r.output} for r in done.results)
    if done.parts:  # tool outputs are text: what the tools showed (images) follows as a user message
        out.append({"role": "user", "content": input_content(done.parts)})
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
    out.extend(
        {"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters}
        for t in request.tools
    )
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


def objects(value: Any) -> tuple[dict[str, Any], ...]:
    """The JSON objects of a list; a provider's odd entries (a string, a number) are skipped."""
    return tuple(v for v in value if isinstance(v, dict)) if isinstance(value, list) else ()


def _failure(event: dict[str, Any]) -> str:
    error = dig(event, "response", "error")
    source = error if isinstance(error, dict) else event
    code = source.get("code") or ""
    message = source.get("message") or "the response failed"
    return f"{code}: {message}" if code else str(message)


def _citations(items: tuple[dict[str, Any], ...]) -> Iterator[Citation]:
    for item in items:
        for part in objects(item.get("content")) if item.get("type") == "message" else ():
            for note in objects(part.get("annotations")):
                if note.get("type") == "url_citation" and note.get("url"):
                    yield Citation(str(note["url"]), str(note.get("title") or ""))


def _search(event: dict[str, Any], kind: str) -> Iterator[Event]:
    """``response.web_search_call.searching`` and friends."""
    family, _, status = kind[len("response.") :].partition(".")
    yield SearchProgress("x" if family.startswith("x_") else "web", status, item_id=str(event.get("item_id") or ""))


def _search_query(item: dict[str, Any]) -> Iterator[Event]:
    query = dig(item, "action", "query") or item.get("query") or ""
    kind = "x" if str(item.get("type", "")).startswith("x_") else "web"
    yield SearchProgress(kind, "completed", str(query), item_id=str(item.get("id") or ""))


_LENGTH_REASONS = {"max_output_tokens", "max_prompt_tokens", "max_tokens", "length"}


def final_text(items: tuple[dict[str, Any], ...]) -> str | None:
    """The answer as the final response states it: every output_text of every message item."""
    texts = [
        text if isinstance(text := part.get("text"), str) else ""
        for item in items
        if item.get("type") == "message"
        for part in objects(item.get("content"))
        if part.get("type") == "output_text"
    ]
    return "".join(texts) if texts else None


def ending(response: Any, completed_event: bool) -> tuple[str, str]:
    """(kind, reason): complete only for response.completed whose status agrees (or is absent)."""
    status = dig(response, "status")
    if completed_event and status in (None, "completed"):
        return "complete", "stop"
    reason = dig(response, "incomplete_details", "reason") or str(status or "incomplete")
    if reason in _LENGTH_REASONS:
        return "length", str(reason)
    return ("filter" if reason == "content_filter" else "cut-off"), str(reason)


def _finish(response: Any, collected: list[dict[str, Any]], completed_event: bool, streamed: str) -> Iterator[Event]:
    if dig(response, "usage") is not None:
        yield responses_usage(response["usage"])
    items = objects(dig(response, "output")) or tuple(collected)
    text = final_text(items)
    if text is not None and text != streamed and text.startswith(streamed):
        yield TextDelta(text[len(streamed) :])  # deltas went missing; the views show the rest too
        streamed = text
    yield from _citations(items)
    kind, reason = ending(response, completed_event)
    reconciled = text if text is not None and text != streamed and kind == "complete" else None
    yield Finished(reason=reason, complete=kind == "complete", items=items, kind=kind, text=reconciled)


@readable
def events(stream: Iterable[Any]) -> Iterator[Event]:
    collected: list[dict[str, Any]] = []
    streamed: list[str] = []
    iterator = iter(stream)
    for event in iterator:
        kind = dig(event, "type")
        if kind == "response.output_text.delta":
            delta = event.get("delta")
            delta = delta if isinstance(delta, str) else ""  # a server's odd value is not text
            streamed.append(delta)
            yield TextDelta(delta)
        elif kind in _REASONING_DELTAS:
            thought = event.get("delta")
            yield ReasoningDelta(thought if isinstance(thought, str) else "")
        elif kind == "response.created":
            yield Started(str(dig(event, "response", "id") or ""))
        elif kind == "response.output_item.done":
            item = event["item"]  # missing: a malformed event; not an object: an item we cannot use
            item = item if isinstance(item, dict) else {}
            collected.append(item)
            if item.get("type") == "function_call":
                yield ToolCall(
                    str(item.get("call_id") or item.get("id") or ""),
                    str(item.get("name") or ""),
                    str(item.get("arguments") or ""),
                )
            elif item.get("type") in _SEARCH_ITEMS:
                yield from _search_query(item)
        elif isinstance(kind, str) and kind.startswith(_SEARCH_EVENTS):
            yield from _search(event, kind)
        elif kind in ("response.completed", "response.incomplete"):
            yield from _finish(event["response"], collected, kind == "response.completed", "".join(streamed))
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
    return post_stream(client, PATH, kwargs)
