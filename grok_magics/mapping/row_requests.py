"""One row's request and answer: built with the same request/wire code as an ask, sent whole (no stream).

Map rows are independent one-shot asks: no history, no encrypted reasoning round-trip; one shared
prompt-cache key per job, since every row starts with the same system prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from grok_magics.model.events import Usage
from grok_magics.model.json_path import dig
from grok_magics.model.parts import TextPart
from grok_magics.model.request import OutputFormat, Request
from grok_magics.model.usage import chat_usage, responses_usage
from grok_magics.providers.client import add_headers, per_request_headers
from grok_magics.providers.table import Endpoint
from grok_magics.structured.schemas import Schema
from grok_magics.wire import module_for
from grok_magics.wire.posting import post_args
from grok_magics.wire.responses import ending, final_text, objects

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
    window: int = 0  # the model's context window in tokens: a row over it fails alone (0: not checked)


def request_for(spec: RowSpec, prompt: str, endpoint: Endpoint | None = None) -> Request:
    """A row as the one request type every path sends, so the gate reads it like any ask."""
    output = OutputFormat(spec.schema.name, spec.schema.json_schema) if spec.schema is not None else None
    return Request(
        endpoint=endpoint or spec.endpoint,
        user=(TextPart(prompt),),
        system=spec.system,
        effort=spec.effort,
        temperature=spec.temperature,
        max_tokens=spec.max_tokens,
        cache_key=spec.cache_key,
        output=output,
    )


def kwargs_for(spec: RowSpec, prompt: str, endpoint: Endpoint | None = None) -> dict[str, Any]:
    request = request_for(spec, prompt, endpoint)
    endpoint = request.endpoint
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
    choices = dig(completion, "choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    text = dig(choice, "message", "content")
    usage = dig(completion, "usage")
    finish = dig(choice, "finish_reason") or ""
    return Answer(
        text if isinstance(text, str) else "",
        chat_usage(usage) if usage is not None else None,
        finish if finish in ("length", "content_filter") else "",
    )


def read_responses(response: Any) -> Answer:
    text = final_text(objects(dig(response, "output"))) or ""
    usage = dig(response, "usage")
    cut = ending(response, completed_event=True)[1] if dig(response, "status") == "incomplete" else ""
    return Answer(text, responses_usage(usage) if usage is not None else None, cut)


async def send(client: Any, api: str, kwargs: dict[str, Any]) -> Answer:
    """POST the JSON-ready body as it is and read the JSON answer directly (see ``wire.post_args``).

    Building the SDK's response models cost another fifth of a row's CPU; the SDK still does the
    HTTP, errors and status classes.
    """
    body, options = post_args(kwargs)
    data = await client.post(module_for(api).PATH, body=body, cast_to=object, options=options)
    return read_json(api, data)


def read_json(api: str, data: Any) -> Answer:
    """An answer of either API from its JSON object."""
    return read_chat(data) if api == "chat" else read_responses(data)
