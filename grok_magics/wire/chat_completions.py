"""Chat Completions: the API every provider speaks, without reasoning round-trips.

Gateways trim chunks (no id, no choices, usage alone), so everything is read defensively and the
answer is accumulated here rather than by the SDK's strict stream helper.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from grok_magics.errors import StreamCut
from grok_magics.model.events import (
    Event,
    Finished,
    ReasoningDelta,
    Started,
    TextDelta,
    ToolCall,
)
from grok_magics.model.json_path import dig
from grok_magics.model.parts import GAP, ImagePart, Parts, TextPart, needs_gap, text_of
from grok_magics.model.request import OutputFormat, Request, Round
from grok_magics.model.usage import chat_usage
from grok_magics.wire.posting import post_stream, readable

PATH = "/chat/completions"
# Only these endings prove the answer is whole; anything else is marked with what happened.
_GOOD = {"stop", "end_turn", "tool_calls", "function_call"}
_KINDS = {
    "length": "length",
    "max_tokens": "length",
    "max_output_tokens": "length",
    "model_length": "length",
    "content_filter": "filter",
    "safety": "filter",
    "recitation": "filter",
    "blocklist": "filter",
    "prohibited_content": "filter",
    "spii": "filter",
    "refusal": "filter",
    "error": "provider-error",
    "malformed_function_call": "provider-error",
}


def finish_kind(reason: str) -> str:
    """Case-insensitive: gateways relay other vendors' spellings (``MAX_TOKENS``, ``SAFETY``)."""
    word = reason.strip().lower()
    return "complete" if word in _GOOD else _KINDS.get(word, "other")


def user_content(parts: Parts) -> str | list[dict[str, Any]]:
    """Plain text stays a string; context blocks are text parts; an image is its caption + image_url."""
    if all(isinstance(p, TextPart) for p in parts):
        return text_of(parts)
    content: list[dict[str, Any]] = []
    last = ""
    for part in parts:
        text = part.caption if isinstance(part, ImagePart) else part.text
        if needs_gap(last, text):
            content.append({"type": "text", "text": GAP})
        content.append({"type": "text", "text": text})
        last = text
        if isinstance(part, ImagePart):
            content.append({"type": "image_url", "image_url": {"url": part.wire_url}})
    return content


def round_messages(done: Round) -> list[dict[str, Any]]:
    """A tool round as chat replays it: the assistant's tool_calls, then one ``tool`` message per call."""
    calls = [
        {"id": c.call_id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in done.calls
    ]
    out: list[dict[str, Any]] = [{"role": "assistant", "content": done.text or None, "tool_calls": calls}]
    out.extend({"role": "tool", "tool_call_id": r.call_id, "content": r.output} for r in done.results)
    if done.parts:  # tool messages are text: what the tools showed (images) follows as a user message
        out.append({"role": "user", "content": user_content(done.parts)})
    return out


def messages(request: Request) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": request.system})
    for turn in request.history:
        out.append({"role": "user", "content": user_content(turn.user)})
        for done in turn.rounds:
            out.extend(round_messages(done))
        out.append({"role": "assistant", "content": turn.answer})
    out.append({"role": "user", "content": user_content(request.user)})
    for done in request.rounds:
        out.extend(round_messages(done))
    return out


def tools(request: Request) -> list[dict[str, Any]]:
    return [
        {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
        for t in request.tools
    ]


def response_format(output: OutputFormat) -> dict[str, Any]:
    if output.schema is None:
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": {"name": output.name, "schema": output.schema, "strict": True}}


def build(request: Request) -> dict[str, Any]:
    provider = request.endpoint.provider
    kwargs: dict[str, Any] = {
        "model": request.endpoint.model,
        "messages": messages(request),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.effort:  # empty: the user left effort to the server
        kwargs["reasoning_effort"] = request.effort
    if request.temperature is not None:
        kwargs["temperature"] = request.temperature
    if request.max_tokens is not None:
        kwargs["max_completion_tokens"] = request.max_tokens
    if request.tools:
        kwargs["tools"] = tools(request)
    if request.output is not None:
        kwargs["response_format"] = response_format(request.output)
    if provider.chat_cache_header and request.cache_key:
        kwargs["extra_headers"] = {provider.chat_cache_header: request.cache_key}
    return kwargs


def _reasoning_text(delta: dict[str, Any]) -> str:
    value = delta.get("reasoning_content") or delta.get("reasoning") or ""
    return value if isinstance(value, str) else ""


def _collect_calls(delta: dict[str, Any], calls: dict[int, dict[str, str]]) -> None:
    """Tool calls stream in pieces keyed by ``index``: id and name first, arguments concatenated."""
    pieces = delta.get("tool_calls")
    for piece in pieces if isinstance(pieces, list) else ():
        index = dig(piece, "index")
        call = calls.setdefault(index if isinstance(index, int) else len(calls), {"id": "", "name": "", "args": ""})
        call["id"] = str(dig(piece, "id") or call["id"])
        call["name"] = str(dig(piece, "function", "name") or call["name"])
        arguments = dig(piece, "function", "arguments")
        call["args"] += arguments if isinstance(arguments, str) else ""


def _chunks(stream: Iterable[Any], whole: Any) -> Iterator[Any]:
    """The stream's chunks; a transport failure after the finish reason and usage arrived is the end.

    ``[DONE]`` adds nothing once both are in, so a connection that drops just before it loses nothing.
    """
    iterator = iter(stream)
    while True:
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        except Exception:
            if whole():
                return
            raise
        yield chunk


@readable
def events(stream: Iterable[Any]) -> Iterator[Event]:
    finish: str | None = None
    usage = None
    started = False
    calls: dict[int, dict[str, str]] = {}
    # the lambda reads finish and usage as they are when _chunks asks, late binding on purpose
    for chunk in _chunks(stream, lambda: finish is not None and usage is not None):  # noqa: B023
        if not started:
            started = True
            yield Started(str(dig(chunk, "id") or ""))
        if dig(chunk, "usage") is not None:
            usage = chunk["usage"]  # some providers repeat a cumulative usage on every chunk: keep the last
        choices = dig(chunk, "choices")
        for choice in choices if isinstance(choices, list) else ():
            delta = dig(choice, "delta")
            if isinstance(delta, dict):
                thought = _reasoning_text(delta)
                if thought:
                    yield ReasoningDelta(thought)
                content = delta.get("content")
                if content and isinstance(content, str):  # a server's odd value is not text
                    yield TextDelta(content)
                _collect_calls(delta, calls)
            if dig(choice, "finish_reason"):
                finish = choice["finish_reason"]
    for index in sorted(calls):
        call = calls[index]
        yield ToolCall(call["id"] or f"call_{index}", call["name"], call["args"])
    if usage is not None:
        yield chat_usage(usage)
    if finish is None:
        raise StreamCut()
    kind = finish_kind(str(finish))
    yield Finished(reason=str(finish), complete=kind == "complete", kind=kind)


def open_stream(client: Any, kwargs: dict[str, Any]) -> Any:
    return post_stream(client, PATH, kwargs)
