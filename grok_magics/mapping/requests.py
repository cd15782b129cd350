"""One row's request and answer: built with the same request/wire code as an ask, sent whole (no stream).

Map rows are independent one-shot asks: no history, no encrypted reasoning round-trip; one shared
prompt-cache key per job, since every row starts with the same system prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..client import add_headers, per_request_headers
from ..events import Usage
from ..parts import TextPart
from ..providers import Endpoint
from ..request import Request
from ..schemas import Schema
from ..usage import chat_usage, responses_usage
from ..wire import module_for

MAP_SYSTEM = (
    "You are Grok, processing one row of a table at a time for a data analyst. "
    "Answer with the result only: no preamble, no Markdown unless the task asks for it."
)


@dataclass(frozen=True)
class RowSpec:
    """What every row of a job shares."""

    endpoint: Endpoint
    system: str
    effort: str
    temperature: float | None
    max_tokens: int | None
    schema: Schema | None
    cache_key: str


def kwargs_for(spec: RowSpec, prompt: str, endpoint: Endpoint | None = None) -> dict[str, Any]:
    endpoint = endpoint or spec.endpoint
    request = Request(endpoint=endpoint, user=(TextPart(prompt),), system=spec.system, effort=spec.effort,
                      temperature=spec.temperature, max_tokens=spec.max_tokens, cache_key=spec.cache_key)
    kwargs = module_for(endpoint.api).build(request)
    kwargs.pop("stream_options", None)
    kwargs.pop("include", None)  # no reasoning to carry to a next turn
    kwargs["stream"] = False
    if spec.schema is not None:
        strict = {"name": spec.schema.name, "schema": spec.schema.json_schema, "strict": True}
        if endpoint.api == "chat":
            kwargs["response_format"] = {"type": "json_schema", "json_schema": strict}
        else:
            kwargs["text"] = {"format": {"type": "json_schema", **strict}}
    return add_headers(kwargs, per_request_headers(endpoint))


def chat_endpoint(endpoint: Endpoint) -> Endpoint:
    return endpoint if endpoint.api == "chat" else replace(endpoint, api="chat", api_note="")


@dataclass(frozen=True)
class Answer:
    text: str
    usage: Usage | None
    cut_short: str = ""  # why the provider stopped early, if it did


def read_chat(completion: Any) -> Answer:
    choice = (getattr(completion, "choices", None) or [None])[0]
    message = getattr(choice, "message", None)
    text = getattr(message, "content", None) or ""
    usage = chat_usage(completion.usage) if getattr(completion, "usage", None) is not None else None
    finish = getattr(choice, "finish_reason", None) or ""
    return Answer(text, usage, finish if finish in ("length", "content_filter") else "")


def read_responses(response: Any) -> Answer:
    text = getattr(response, "output_text", "") or ""
    usage = responses_usage(response.usage) if getattr(response, "usage", None) is not None else None
    cut = ""
    if getattr(response, "status", "") == "incomplete":
        details = getattr(response, "incomplete_details", None)
        cut = getattr(details, "reason", None) or "incomplete"
    return Answer(text, usage, cut)


def read(api: str, obj: Any) -> Answer:
    return read_chat(obj) if api == "chat" else read_responses(obj)


async def send(client: Any, api: str, kwargs: dict[str, Any]) -> Answer:
    """POST the JSON-ready body as it is, parsed into the SDK's own types.

    ``create(**kwargs)`` would first walk the whole body through the SDK's request transformation,
    which cost more CPU than the rest of a map row together; our body is already plain JSON.
    """
    from openai.types.chat import ChatCompletion
    from openai.types.responses import Response

    body = dict(kwargs)
    headers = body.pop("extra_headers", None)
    options = {"headers": headers} if headers else {}
    if api == "chat":
        return read_chat(await client.post("/chat/completions", body=body, cast_to=ChatCompletion, options=options))
    return read_responses(await client.post("/responses", body=body, cast_to=Response, options=options))
