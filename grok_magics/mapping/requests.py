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
from ..request import OutputFormat, Request
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
    output = OutputFormat(spec.schema.name, spec.schema.json_schema) if spec.schema is not None else None
    request = Request(endpoint=endpoint, user=(TextPart(prompt),), system=spec.system, effort=spec.effort,
                      temperature=spec.temperature, max_tokens=spec.max_tokens, cache_key=spec.cache_key,
                      output=output)
    kwargs = module_for(endpoint.api).build(request)
    kwargs.pop("stream_options", None)
    kwargs.pop("include", None)  # no reasoning to carry to a next turn
    kwargs["stream"] = False
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


async def send(client: Any, api: str, kwargs: dict[str, Any]) -> Answer:
    """POST the JSON-ready body as it is and read the JSON answer directly.

    ``create(**kwargs)`` would first walk the whole body through the SDK's request transformation,
    and building the SDK's response models cost another fifth of a row's CPU; the SDK still does
    the HTTP, errors and status classes.
    """
    body = dict(kwargs)
    headers = body.pop("extra_headers", None)
    options = {"headers": headers} if headers else {}
    path = "/chat/completions" if api == "chat" else "/responses"
    data = await client.post(path, body=body, cast_to=object, options=options)
    return read_json(api, data)


def read_json(api: str, data: Any) -> Answer:
    """An answer of either API from its JSON object."""
    return read_chat(_attrs(data)) if api == "chat" else read_responses(_attrs(data))


class _Attrs:
    """Attribute access over a JSON object, with ``model_extra`` for provider extras (xAI's cost ticks)."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        if name == "model_extra":
            return self._data
        value = self._data.get(name)
        return _attrs(value)

    @property
    def output_text(self) -> str:
        return "".join(part.get("text", "") for item in self._data.get("output") or ()
                       if isinstance(item, dict) and item.get("type") == "message"
                       for part in item.get("content") or () if isinstance(part, dict)
                       and part.get("type") == "output_text")


def _attrs(value: Any) -> Any:
    if isinstance(value, dict):
        return _Attrs(value)
    if isinstance(value, list):
        return [_attrs(v) for v in value]
    return value
