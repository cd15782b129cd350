"""Tests of the fake Grok server itself, through raw http.client and the real openai SDK."""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any, Callable, Iterator, NamedTuple

import openai
import pytest
from conftest import CANARY
from fake_grok import PROFILES, FakeGrok, Recorded, Reply

pytestmark = pytest.mark.timeout(20)

KEY = CANARY
MODEL = {
    "xai": "grok-4.3",
    "bedrock": "xai.grok-4.3",
    "aigateway": "xai/grok-4.3",
    "azure": "grok-4.3",
    "openai": "gpt-anything",
}
RESPONSES_PROFILES = ["xai", "bedrock", "azure", "openai"]
TEXT = "The quick brown fox jumps over the lazy dog."  # 45 chars -> 6 deltas of 8

Factory = Callable[..., FakeGrok]
_clients: list[openai.OpenAI] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Close every SDK client a test made, so no pooled socket outlives its test."""
    yield
    while _clients:
        _clients.pop().close()


def client_for(server: FakeGrok, key: str = KEY, **kwargs: Any) -> openai.OpenAI:
    kwargs.setdefault("max_retries", 0)
    if server.profile.auth == "api-key":
        kwargs.setdefault("default_headers", {"api-key": key})
        key = "unused-bearer"
    _clients.append(openai.OpenAI(base_url=server.base_url, api_key=key, timeout=10, **kwargs))
    return _clients[-1]


def chat(client: openai.OpenAI, model: str, text: str = "hello", **kwargs: Any) -> Any:
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], stream=True, **kwargs
    )


def chat_text(stream: Any) -> tuple[list[str], Any]:
    """Content deltas and the last non-null usage of a chat stream."""
    deltas, usage = [], None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices or []:
            if choice.delta.content:
                deltas.append(choice.delta.content)
    return deltas, usage


class Raw(NamedTuple):
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def events(self) -> list[str]:
        return [block for block in self.body.decode().split("\n\n") if block]


def raw_post(server: FakeGrok, path: str, body: dict[str, Any]) -> Raw:
    """One request over a fresh http.client connection, read to the end and closed."""
    conn = http.client.HTTPConnection("127.0.0.1", int(server.origin.rsplit(":", 1)[1]), timeout=10)
    try:
        conn.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        return Raw(response.status, response.headers, response.read())
    finally:
        conn.close()


# --------------------------------------------------------------------------- happy paths


@pytest.mark.parametrize("profile", list(PROFILES))
def test_chat_stream_text_arrives_in_several_deltas_with_usage(fake_factory: Factory, profile: str) -> None:
    server = fake_factory(profile)
    server.script(Reply(text=TEXT))
    stream = chat(client_for(server), MODEL[profile], stream_options={"include_usage": True})
    deltas, usage = chat_text(stream)
    assert len(deltas) == 6 and "".join(deltas) == TEXT
    assert usage is not None and usage.completion_tokens == len(TEXT) // 4 + 1
    rec = server.requests[0]
    assert (rec.path, rec.api, rec.status, rec.completed) == (
        server.profile.prefix + "/chat/completions",
        "chat",
        200,
        True,
    )


@pytest.mark.parametrize("profile", RESPONSES_PROFILES)
def test_responses_stream_text_and_usage(fake_factory: Factory, profile: str) -> None:
    server = fake_factory(profile)
    server.script(Reply(text=TEXT))
    events = list(client_for(server).responses.create(model=MODEL[profile], input="hi", stream=True))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) == 6 and "".join(deltas) == TEXT
    final = events[-1]
    assert final.type == "response.completed"
    assert final.response.output_text == TEXT and final.response.id.startswith("resp_")
    assert final.response.usage.output_tokens == len(TEXT) // 4 + 1
    assert server.requests[0].api == "responses"


def test_chat_usage_chunk_only_when_asked(fake_factory: Factory) -> None:
    server = fake_factory("openai")
    _, usage = chat_text(chat(client_for(server), "m"))
    assert usage is None
    _, usage = chat_text(chat(client_for(server), "m", stream_options={"include_usage": True}))
    assert usage is not None


def test_responses_event_order_with_reasoning(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    server.script(Reply(text="Answer: 42", reasoning="Let me think it over."))
    events = list(client_for(server).responses.create(model="grok-4.3", input="q", stream=True))
    kinds = [e.type for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        *["response.reasoning_summary_text.delta"] * 3,
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 2,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    reasoning = events[9].item
    assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_")
    assert reasoning.summary[0].text == "Let me think it over."
    assert reasoning.encrypted_content is None  # not asked for
    assert events[10].item.id.startswith("msg_")


def test_encrypted_reasoning_only_when_included(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    server.script(Reply(reasoning="secret thoughts"))
    response = client_for(server).responses.create(
        model="grok-4.3", input="q", include=["reasoning.encrypted_content"], store=False
    )
    item = response.output[0]
    assert item.type == "reasoning" and isinstance(item.encrypted_content, str) and item.encrypted_content


def test_xai_usage_excludes_reasoning_and_azure_includes_it(fake_factory: Factory) -> None:
    usage = {"input": 555, "cached": 5, "output": 29, "reasoning": 125}
    xai, azure = fake_factory("xai"), fake_factory("azure")
    for server in (xai, azure):
        server.script(Reply(usage=usage))
    _, x = chat_text(chat(client_for(xai), "grok-4.3", stream_options={"include_usage": True}))
    _, a = chat_text(chat(client_for(azure), "grok-4.3", stream_options={"include_usage": True}))
    assert (x.prompt_tokens, x.completion_tokens, x.total_tokens) == (555, 29, 709)
    assert x.completion_tokens_details.reasoning_tokens == 125
    assert x.model_extra["cost_in_usd_ticks"] == 550 * 12_500 + 5 * 2_000 + 154 * 25_000
    assert (a.completion_tokens, a.total_tokens) == (154, 709)
    assert "cost_in_usd_ticks" not in (a.model_extra or {})


def test_xai_chat_thinks_with_empty_deltas(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    server.script(Reply(text="ok", reasoning="a" * 24))
    chunks = list(chat(client_for(server), "grok-4.3"))
    assert chunks[0].id.endswith("_us-east-1")
    empties = [c for c in chunks[1:] if c.choices[0].delta.content is None and c.choices[0].finish_reason is None]
    assert len(empties) == 3
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_aigateway_chunk_shape_and_reasoning_content(fake_factory: Factory) -> None:
    server = fake_factory("aigateway")
    server.script(Reply(text="ok", reasoning="pondering deeply"))
    chunks = list(chat(client_for(server), "xai/grok-4.3", stream_options={"include_usage": True}))
    assert all(c.id is None and c.model is None for c in chunks)
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content", "") for c in chunks if c.choices
    )
    assert reasoning == "pondering deeply"
    assert chunks[-1].choices is None and chunks[-1].usage.prompt_tokens >= 1


def test_default_reply_echoes_last_user_text(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    client = client_for(server)
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "You said: first"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
    ]
    deltas, _ = chat_text(client.chat.completions.create(model="grok-4.3", messages=messages, stream=True))
    assert "".join(deltas) == "You said: second"
    response = client.responses.create(
        model="grok-4.3", input=[{"role": "user", "content": [{"type": "input_text", "text": "third"}]}]
    )
    assert response.output_text == "You said: third"


def test_non_streaming_objects(fake_factory: Factory) -> None:
    server = fake_factory("bedrock")
    client = client_for(server)
    server.script(Reply(text="whole"), Reply(text="whole too", incomplete="max_output_tokens"))
    completion = client.chat.completions.create(model="xai.grok-4.3", messages=[{"role": "user", "content": "x"}])
    assert completion.choices[0].message.content == "whole" and completion.usage.total_tokens > 0
    response = client.responses.create(model="xai.grok-4.3", input="x")
    assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text == "whole too"


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("profile", list(PROFILES))
def test_wrong_key_is_authentication_error(fake_factory: Factory, profile: str) -> None:
    server = fake_factory(profile)
    with pytest.raises(openai.AuthenticationError):
        chat(client_for(server, key="sk-wrong"), MODEL[profile])
    assert server.requests[0].status == 401


def test_azure_rejects_bearer_only(fake_factory: Factory) -> None:
    server = fake_factory("azure")
    bearer_only = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
    _clients.append(bearer_only)
    with pytest.raises(openai.AuthenticationError) as info:
        bearer_only.responses.create(model="grok-4.3", input="hi", stream=True)
    assert info.value.status_code == 401
    assert "error" in json.loads(info.value.response.text)


def test_azure_deployment_name_is_configurable(fake_factory: Factory) -> None:
    server = fake_factory("azure", models=("my-deploy",))
    deltas, _ = chat_text(chat(client_for(server), "my-deploy"))
    assert deltas
    with pytest.raises(openai.NotFoundError):
        chat(client_for(server), "grok-4.3")


def test_aigateway_has_no_responses_api(fake_factory: Factory) -> None:
    server = fake_factory("aigateway")
    with pytest.raises(openai.NotFoundError):
        client_for(server).responses.create(model="xai/grok-4.3", input="hi", stream=True)
    assert server.requests[0].status == 404


def test_aigateway_caps_max_tokens(fake_factory: Factory) -> None:
    server = fake_factory("aigateway")
    with pytest.raises(openai.BadRequestError) as info:
        chat(client_for(server), "xai/grok-4.3", max_tokens=8192)
    assert json.loads(info.value.response.text)["error"]["code"] == 400
    assert chat_text(chat(client_for(server), "xai/grok-4.3", max_tokens=4096))[0]


@pytest.mark.parametrize("profile", ["xai", "bedrock"])
def test_unknown_model_is_404(fake_factory: Factory, profile: str) -> None:
    server = fake_factory(profile)
    with pytest.raises(openai.NotFoundError) as info:
        client_for(server).responses.create(model="grok-9", input="hi", stream=True)
    assert "The model grok-9 does not exist or your team does not have access to it" in info.value.response.text


def test_unknown_path_and_wrong_prefix_are_404(fake_factory: Factory) -> None:
    server = fake_factory("bedrock")
    assert raw_post(server, "/v1/chat/completions", {"model": "xai.grok-4.3"}).status == 404
    assert raw_post(server, "/openai/v1/embeddings", {"model": "xai.grok-4.3"}).status == 404
    assert [r.api for r in server.requests] == [None, None]


# --------------------------------------------------------------------------- errors and faults


def test_429_with_retry_after_is_retried(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    server.script(Reply(status=429, retry_after=0.3), Reply(text="second time lucky"))
    started = time.monotonic()
    deltas, _ = chat_text(chat(client_for(server, max_retries=1), "grok-4.3"))
    assert "".join(deltas) == "second time lucky"
    assert [r.status for r in server.requests] == [429, 200]
    assert time.monotonic() - started >= 0.3  # the SDK honoured Retry-After


def test_retry_after_header_and_xai_error_shape_on_the_wire(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    server.script(Reply(status=429, retry_after=2))
    response = raw_post(server, "/v1/chat/completions", {"model": "grok-4.3", "messages": []})
    assert response.status == 429 and response.headers.get("Retry-After") == "2"
    assert json.loads(response.body) == {"code": "Some resource has been exhausted", "error": "Rate limit exceeded"}


def test_402_reaches_client_with_readable_xai_body(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    server.script(Reply(status=402))
    with pytest.raises(openai.APIStatusError) as info:
        client_for(server).responses.create(model="grok-4.3", input="hi", stream=True)
    assert info.value.status_code == 402
    body = json.loads(info.value.response.text)
    assert body["error"] == "Your team has run out of credits" and isinstance(body["code"], str)


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_malformed_line_raises_json_error(fake_factory: Factory, api: str) -> None:
    server = fake_factory("xai")
    server.script(Reply(text=TEXT, malformed_after=2))
    client = client_for(server)
    stream = (
        chat(client, "grok-4.3")
        if api == "chat"
        else client.responses.create(model="grok-4.3", input="hi", stream=True)
    )
    seen = []
    with pytest.raises(json.JSONDecodeError):
        for item in stream:
            seen.append(item)
    assert seen  # the good events before the bad line got through
    assert server.requests[0].completed is False


def test_disconnect_in_chunked_mode_is_a_transport_error(fake_factory: Factory) -> None:
    server = fake_factory("xai", chunked=True)
    server.script(Reply(text=TEXT, disconnect_after=2))
    seen: list[str] = []
    with pytest.raises(openai.APIConnectionError) as info:
        seen.extend(chat_text(chat(client_for(server), "grok-4.3"))[0])
    assert type(info.value.__cause__).__name__ == "RemoteProtocolError"
    rec = server.requests[0]
    assert (rec.completed, rec.disconnected) == (False, False)


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_disconnect_in_close_mode_just_ends_early(fake_factory: Factory, api: str) -> None:
    server = fake_factory("xai", chunked=False)
    server.script(Reply(text=TEXT, disconnect_after=2))
    client = client_for(server)
    if api == "chat":
        chunks = list(chat(client, "grok-4.3"))
        assert [c.choices[0].delta.content for c in chunks][1:] == [TEXT[:8], TEXT[8:16]]
        assert all(c.choices[0].finish_reason is None for c in chunks)
    else:
        events = list(client.responses.create(model="grok-4.3", input="hi", stream=True))
        assert [e.type for e in events][-2:] == ["response.output_text.delta"] * 2
    assert server.requests[0].completed is False


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_stall_then_client_close_is_seen_as_disconnect(fake_factory: Factory, api: str) -> None:
    server = fake_factory("xai")
    server.script(Reply(text=TEXT, stall_after=1, stall_seconds=10))
    client = client_for(server)
    stream = (
        chat(client, "grok-4.3")
        if api == "chat"
        else client.responses.create(model="grok-4.3", input="hi", stream=True)
    )
    for item in stream:
        if getattr(item, "type", "") == "response.output_text.delta" or (
            getattr(item, "choices", None) and item.choices[0].delta.content
        ):
            break
    assert not server.wait_for_disconnect(timeout=0.2)  # still stalling, client still there
    stream.close()
    assert server.wait_for_disconnect(timeout=5)
    rec = server.requests[0]
    assert rec.disconnected and not rec.completed and rec.ended_at is not None


def test_chat_stream_error_raises_api_error(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    server.script(Reply(text="partial", stream_error="upstream exploded"))
    with pytest.raises(openai.APIError) as info:
        chat_text(chat(client_for(server), "grok-4.3"))
    assert not isinstance(info.value, openai.APIStatusError)
    assert "upstream exploded" in info.value.message


def test_responses_stream_error_yields_error_then_failed(fake_factory: Factory) -> None:
    server = fake_factory("openai")
    server.script(Reply(text="partial", stream_error="upstream exploded"))
    events = list(client_for(server).responses.create(model="m", input="hi", stream=True))
    assert [e.type for e in events][-2:] == ["error", "response.failed"]
    assert events[-2].code == "server_error" and events[-2].message == "upstream exploded"
    assert events[-1].response.error.message == "upstream exploded"


def test_incomplete_in_both_apis(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    server.script(Reply(incomplete="max_output_tokens"), Reply(incomplete="max_output_tokens"))
    events = list(client_for(server).responses.create(model="grok-4.3", input="hi", stream=True))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"
    chunks = list(chat(client_for(server), "grok-4.3"))
    assert chunks[-1].choices[0].finish_reason == "length"


def test_pacing_spreads_deltas(fake_factory: Factory) -> None:
    server = fake_factory("openai", pace=0.5)  # overridden by the reply below
    server.script(Reply(text="x" * 40, pace=0.05))
    arrivals = []
    asked = time.monotonic()
    for event in client_for(server).responses.create(model="m", input="hi", stream=True):
        if event.type == "response.output_text.delta":
            arrivals.append((time.monotonic(), event.delta))
    assert [d for _, d in arrivals] == ["x" * 8] * 5
    # the last delta cannot leave before the four paces between five deltas (a busy client may read the
    # earlier ones late, all at once, so the gaps the client sees prove nothing)
    assert arrivals[-1][0] - asked >= 4 * 0.05


def test_first_delay_holds_the_first_event(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    server.script(Reply(first_delay=0.3))
    started = time.monotonic()
    next(iter(chat(client_for(server), "grok-4.3")))
    assert time.monotonic() - started >= 0.3


# --------------------------------------------------------------------------- wire framing


def test_chunked_mode_wire_format(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    response = raw_post(server, "/v1/responses", {"model": "grok-4.3", "input": "hi", "stream": True})
    assert response.headers.get("Transfer-Encoding") == "chunked"
    assert response.headers.get("Content-Type").startswith("text/event-stream")
    blocks = response.events()
    assert blocks[0].startswith("event: response.created\ndata: {")
    assert blocks[-1] == "data: [DONE]"  # xAI ends Responses streams with [DONE]
    assert json.loads(blocks[-2].split("data: ", 1)[1])["type"] == "response.completed"


def test_close_mode_wire_format(fake_factory: Factory) -> None:
    server = fake_factory("openai", chunked=False)
    response = raw_post(server, "/v1/responses", {"model": "m", "input": "hi", "stream": True})
    assert response.headers.get("Connection") == "close"
    assert response.headers.get("Content-Length") is None and response.headers.get("Transfer-Encoding") is None
    blocks = response.events()
    assert blocks[-1].startswith("event: response.completed")  # OpenAI: no [DONE] on Responses


def test_chat_always_ends_with_done(fake_factory: Factory) -> None:
    server = fake_factory("aigateway")
    response = raw_post(
        server,
        "/v1/chat/completions",
        {"model": "xai/grok-4.3", "messages": [{"role": "user", "content": "x"}], "stream": True},
    )
    blocks = response.events()
    assert blocks[-1] == "data: [DONE]" and all(b.startswith("data: ") for b in blocks)


# --------------------------------------------------------------------------- recording and helpers


def test_recording_captures_body_headers_and_timing(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    client_for(server).responses.create(
        model="grok-4.3",
        input="remember me",
        prompt_cache_key="conv-1",
        reasoning={"effort": "low"},
        extra_headers={"X-Grok-Conv-Id": "conv-1"},
    )
    assert server.wait_for_requests(1, timeout=1)
    rec: Recorded = server.requests[0]
    assert rec.method == "POST" and rec.path == "/v1/responses"
    assert rec.body["input"] == "remember me" and rec.body["prompt_cache_key"] == "conv-1"
    assert rec.body["reasoning"] == {"effort": "low"}
    assert rec.headers["x-grok-conv-id"] == "conv-1" and rec.headers["authorization"] == f"Bearer {KEY}"
    assert rec.ended_at is not None and rec.ended_at >= rec.started_at


def test_requests_is_a_copy_and_clear_resets(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    server.script(Reply(text="queued"))
    snapshot = server.requests
    snapshot.append("junk")  # type: ignore[arg-type]
    assert server.requests == []
    server.clear()
    deltas, _ = chat_text(chat(client_for(server), "grok-4.3", text="ping"))
    assert "".join(deltas) == "You said: ping"  # the queued reply was dropped
    assert not server.wait_for_requests(2, timeout=0.1)
    server.clear()
    assert server.requests == []


def test_addresses_and_rebase(fake_factory: Factory) -> None:
    server = fake_factory("bedrock")
    assert server.origin.startswith("http://127.0.0.1:")
    assert server.base_url == server.origin + "/openai/v1"
    assert server.rebase("https://bedrock-mantle.us-east-1.api.aws/openai/v1") == server.origin + "/openai/v1"
    assert server.rebase("https://api.x.ai/v1?x=1") == server.origin + "/v1?x=1"


def test_stop_ends_a_stall_and_frees_the_port() -> None:
    server = FakeGrok(profile="xai", key=KEY, pace=0.0).start()
    server.script(Reply(stall_after=0, stall_seconds=600))  # far beyond this file's 20 s test timeout
    stream = chat(client_for(server), "grok-4.3")
    assert server.wait_for_requests(1)
    server.stop()
    with pytest.raises(openai.APIConnectionError):
        list(stream)
    assert server.requests[0].completed is False


def test_a_gate_nobody_opens_cuts_the_reply_and_is_recorded() -> None:
    """A gated test whose condition never held must fail, not pass once the hold runs out."""
    with FakeGrok(profile="xai", key=KEY, pace=0.0) as server:
        gate = threading.Event()
        server.script(Reply(text=TEXT, gate_after=2, gate=gate, gate_seconds=0.3))
        deltas: list[str] = []
        with pytest.raises(openai.APIConnectionError):  # a chunked body cut short
            for chunk in chat(client_for(server), "grok-4.3"):
                deltas += [c.delta.content for c in chunk.choices or [] if c.delta.content]
        assert "".join(deltas) == TEXT[:16], "nothing after the gate may be sent"
        assert [r.gate_timed_out for r in server.requests] == [True]
        assert server.gate_timeouts == server.requests
        server.script(Reply(text=TEXT, gate_after=2, gate=gate))
        gate.set()
        deltas, _ = chat_text(chat(client_for(server), "grok-4.3"))
        assert "".join(deltas) == TEXT and not server.requests[-1].gate_timed_out


# --------------------------------------------------------------------------- images

PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def image_message(url: str) -> list[dict[str, Any]]:
    return [
        {
            "role": "user",
            "content": [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": url}}],
        }
    ]


def test_images_are_accepted_and_listed_on_both_apis(fake_factory: Factory) -> None:
    from fake_grok import image_urls

    server = fake_factory("xai", key=KEY)
    url = "data:image/png;base64," + PNG_1PX
    client = client_for(server)
    list(client.chat.completions.create(model="grok-4.3", messages=image_message(url), stream=True))
    list(
        client.responses.create(
            model="grok-4.3",
            stream=True,
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "and this?"},
                        {"type": "input_image", "image_url": "https://example.com/a.png"},
                    ],
                }
            ],
        )
    )
    assert [r.status for r in server.requests] == [200, 200]
    assert image_urls(server.requests[0].body) == [url]
    assert image_urls(server.requests[1].body) == ["https://example.com/a.png"]


def test_aigateway_rejects_images_and_bad_image_data_is_a_400(fake_factory: Factory) -> None:
    gateway = fake_factory("aigateway", key=KEY)
    with pytest.raises(openai.BadRequestError, match="image"):
        client_for(gateway).chat.completions.create(
            model="xai/grok-4.3", messages=image_message("data:image/png;base64," + PNG_1PX), stream=True
        )
    xai = fake_factory("xai", key=KEY)
    for url in (
        "data:image/png;base64,not*base64",
        "data:image/gif;base64," + PNG_1PX,
        "data:image/jpeg;base64," + PNG_1PX,
    ):
        with pytest.raises(openai.BadRequestError):
            client_for(xai).chat.completions.create(model="grok-4.3", messages=image_message(url), stream=True)


# -- tool turns, searches, citations -------------------------------------------------------------

FN_TOOL_CHAT = {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}
FN_TOOL_RESPONSES = {"type": "function", "name": "add", "parameters": {"type": "object"}}
TWO_CALLS = [
    {"name": "add", "arguments": {"a": 1, "b": 2}, "id": "c1"},
    {"name": "add", "arguments": {"a": 3, "b": 4}, "id": "c2"},
]


def test_chat_streams_tool_calls_by_index_and_finishes_with_tool_calls(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    server.script(Reply(text="", tool_calls=TWO_CALLS, chunk=4))
    stream = chat(client_for(server), "grok-4.3", tools=[FN_TOOL_CHAT])
    calls: dict[int, dict[str, str]] = {}
    finish = None
    pieces = 0
    for chunk in stream:
        for choice in chunk.choices or []:
            finish = choice.finish_reason or finish
            for piece in choice.delta.tool_calls or []:
                pieces += 1
                call = calls.setdefault(piece.index, {"id": "", "name": "", "args": ""})
                call["id"] = piece.id or call["id"]
                call["name"] = piece.function.name or call["name"]
                call["args"] += piece.function.arguments or ""
    assert finish == "tool_calls"
    assert [(c["id"], c["name"], json.loads(c["args"])) for c in calls.values()] == [
        ("c1", "add", {"a": 1, "b": 2}),
        ("c2", "add", {"a": 3, "b": 4}),
    ]
    assert pieces > 4  # arguments arrive in pieces, to be accumulated by index


def test_responses_streams_function_calls_and_no_empty_message(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    server.script(Reply(text="", tool_calls=TWO_CALLS, chunk=4))
    stream = client_for(server).responses.create(model="grok-4.3", input="hi", stream=True, tools=[FN_TOOL_RESPONSES])
    events = list(stream)
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds and "response.output_text.delta" not in kinds
    done = [e.item for e in events if e.type == "response.output_item.done"]
    assert [(i.type, i.call_id, i.name, json.loads(i.arguments)) for i in done] == [
        ("function_call", "c1", "add", {"a": 1, "b": 2}),
        ("function_call", "c2", "add", {"a": 3, "b": 4}),
    ]
    final = events[-1].response
    assert [o.type for o in final.output] == ["function_call", "function_call"]


def test_tool_round_pairs_are_checked_on_both_apis(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    call = {"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{}"}}
    good_chat = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "3"},
    ]
    assert raw_post(server, "/v1/chat/completions", {"model": "grok-4.3", "messages": good_chat}).status == 200
    unanswered = good_chat[:2] + [{"role": "user", "content": "and?"}]
    stray = [good_chat[0], {"role": "tool", "tool_call_id": "nope", "content": "3"}]
    for messages in (unanswered, stray):
        assert raw_post(server, "/v1/chat/completions", {"model": "grok-4.3", "messages": messages}).status == 400
    fc = {"type": "function_call", "call_id": "c1", "name": "add", "arguments": "{}"}
    out = {"type": "function_call_output", "call_id": "c1", "output": "3"}
    user = {"role": "user", "content": "hi"}
    assert raw_post(server, "/v1/responses", {"model": "grok-4.3", "input": [user, fc, out]}).status == 200
    assert raw_post(server, "/v1/responses", {"model": "grok-4.3", "input": [user, fc]}).status == 400
    assert raw_post(server, "/v1/responses", {"model": "grok-4.3", "input": [user, out]}).status == 400


def test_tools_refused_where_the_provider_has_none(fake_factory: Factory) -> None:
    gateway = fake_factory("aigateway")
    body = {"model": "xai/grok-4.3", "messages": [{"role": "user", "content": "hi"}], "tools": [FN_TOOL_CHAT]}
    assert raw_post(gateway, "/v1/chat/completions", body).status == 400
    bedrock = fake_factory("bedrock")
    body = {"model": "xai.grok-4.3", "input": "hi", "tools": [{"type": "web_search"}]}
    assert raw_post(bedrock, "/openai/v1/responses", body).status == 400
    xai = fake_factory("xai")
    body = {"model": "grok-4.3", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "web_search"}]}
    assert raw_post(xai, "/v1/chat/completions", body).status == 400  # server-side search is Responses-only


def test_searches_citations_and_server_side_tool_usage(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    server.script(
        Reply(
            text="Grok 4.3 is out.",
            searches=[{"type": "web_search", "query": "grok 4.3"}, {"type": "x_search", "query": "from:xai"}],
            citations=[{"url": "https://x.ai/news", "title": "xAI news"}],
        )
    )
    stream = client_for(server).responses.create(
        model="grok-4.3", input="news?", stream=True, tools=[{"type": "web_search"}, {"type": "x_search"}]
    )
    events = list(stream)
    kinds = [e.type for e in events]
    for kind in ("web_search_call", "x_search_call"):
        assert [k for k in kinds if k.startswith(f"response.{kind}.")] == [
            f"response.{kind}.in_progress",
            f"response.{kind}.searching",
            f"response.{kind}.completed",
        ]
    assert "response.output_text.annotation.added" in kinds
    final = events[-1].response
    assert [o.type for o in final.output] == ["web_search_call", "x_search_call", "message"]
    assert final.output[0].action.query == "grok 4.3"
    note = final.output[2].content[0].annotations[0]
    assert (note.type, note.url, note.title) == ("url_citation", "https://x.ai/news", "xAI news")
    extra = final.usage.model_extra
    assert extra["num_server_side_tools_used"] == 2
    assert extra["server_side_tool_usage_details"] == {"web_search_calls": 1, "x_search_calls": 1}


# --------------------------------------------------------------------------- load: concurrency, latency, 429s


def test_peak_concurrency_counts_overlapping_api_requests(fake_factory: Factory) -> None:
    gate = threading.Event()
    server = fake_factory("xai", latency=0.0)
    server.script(*[Reply(text="held", gate_after=0, gate=gate) for _ in range(3)])
    client = client_for(server)
    threads = [threading.Thread(target=lambda: "".join(chat_text(chat(client, "grok-4.3"))[0])) for _ in range(3)]
    for t in threads:
        t.start()
    assert server.wait_for_requests(3)
    assert poll_true(lambda: server.in_flight == 3)
    gate.set()
    for t in threads:
        t.join(10)
    assert server.peak_concurrency == 3 and poll_true(lambda: server.in_flight == 0)
    client.models.list()  # management calls are not API requests
    assert server.peak_concurrency == 3 and len(server.api_requests) == 3


def test_latency_holds_every_answer(fake_factory: Factory) -> None:
    server = fake_factory("xai", latency=0.2)
    client = client_for(server)
    client.chat.completions.create(model="grok-4.3", messages=[{"role": "user", "content": "x"}])
    rec = server.requests[0]
    assert rec.ended_at is not None and rec.ended_at - rec.started_at >= 0.2


def test_injected_429s_are_a_seeded_fraction_with_retry_after(fake_factory: Factory) -> None:
    server = fake_factory("xai", rate_limit_fraction=0.3, rate_limit_retry_after=0.5, seed=7)
    statuses = []
    for _ in range(40):
        raw = raw_post(
            server, "/v1/chat/completions", {"model": "grok-4.3", "messages": [{"role": "user", "content": "x"}]}
        )
        statuses.append(raw.status)
        if raw.status == 429:
            assert raw.headers["Retry-After"] == "0.5"
            assert "exhausted" in json.loads(raw.body)["code"]
    limited = statuses.count(429)
    assert limited == server.rate_limited and 4 <= limited <= 20  # seeded: the same every run
    again = fake_factory("xai", rate_limit_fraction=0.3, seed=7)
    assert [
        raw_post(again, "/v1/chat/completions", {"model": "grok-4.3", "messages": []}).status for _ in range(40)
    ] == statuses


def poll_true(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


# --------------------------------------------------------------------------- xAI Batch API


def _batch_item(request_id: str, text: str, model: str = "grok-4.3") -> dict[str, Any]:
    return {
        "batch_request_id": request_id,
        "batch_request": {"chat_get_completion": {"model": model, "messages": [{"role": "user", "content": text}]}},
    }


def test_batch_create_add_poll_and_page_results(fake_factory: Factory) -> None:
    server = fake_factory("xai", batch_polls=2)
    server.script(Reply(text="first"), Reply(status=400, error_message="bad row"))
    client = client_for(server)
    batch = client.post("/batches", body={"name": "job"}, cast_to=object)
    batch_id = batch["batch_id"]
    assert batch["state"]["num_requests"] == 0
    items = [_batch_item("r0", "a"), _batch_item("r1", "b"), _batch_item("r2", "c")]
    client.post(f"/batches/{batch_id}/requests", body={"batch_requests": items}, cast_to=object)
    states = [client.get(f"/batches/{batch_id}", cast_to=object)["state"] for _ in range(3)]
    assert [s["num_pending"] for s in states] == [3, 3, 0]
    assert states[-1] | {} == {
        "num_requests": 3,
        "num_pending": 0,
        "num_success": 2,
        "num_error": 1,
        "num_cancelled": 0,
    }
    page = client.get(f"/batches/{batch_id}/results", options={"params": {"limit": 2}}, cast_to=object)
    assert [r["batch_request_id"] for r in page["results"]] == ["r0", "r1"] and page["pagination_token"]
    first = page["results"][0]["batch_result"]["response"]["chat_get_completion"]
    assert first["choices"][0]["message"]["content"] == "first" and first["usage"]["cost_in_usd_ticks"] > 0
    assert page["results"][1]["batch_result"]["error"]["message"] == "bad row"
    rest = client.get(
        f"/batches/{batch_id}/results",
        options={"params": {"limit": 2, "pagination_token": page["pagination_token"]}},
        cast_to=object,
    )
    assert [r["batch_request_id"] for r in rest["results"]] == ["r2"] and rest["pagination_token"] is None
    third = rest["results"][0]["batch_result"]["response"]["chat_get_completion"]
    assert third["choices"][0]["message"]["content"] == "You said: c"
    assert server.api_requests == []  # batch traffic is not counted as live API requests


def test_batch_results_are_empty_until_done_and_cancel_stops_it(fake_factory: Factory) -> None:
    server = fake_factory("xai", batch_polls=5)
    client = client_for(server)
    batch_id = client.post("/batches", body={"name": "j"}, cast_to=object)["batch_id"]
    client.post(f"/batches/{batch_id}/requests", body={"batch_requests": [_batch_item("r0", "a")]}, cast_to=object)
    assert client.get(f"/batches/{batch_id}/results", cast_to=object)["results"] == []
    cancelled = client.post(f"/batches/{batch_id}:cancel", body={}, cast_to=object)
    assert cancelled["state"]["num_cancelled"] == 1 and cancelled["state"]["num_pending"] == 0
    with pytest.raises(openai.NotFoundError):
        client.get("/batches/batch_nope", cast_to=object)


def test_batch_api_only_where_the_profile_has_one(fake_factory: Factory) -> None:
    server = fake_factory("openai")
    with pytest.raises(openai.NotFoundError):
        client_for(server).post("/batches", body={"name": "j"}, cast_to=object)
    with pytest.raises(openai.AuthenticationError):
        client_for(fake_factory("xai"), key="wrong").post("/batches", body={"name": "j"}, cast_to=object)


def test_structured_requests_get_a_fake_instance_of_their_schema(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    client = client_for(server)
    schema = {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": ["pos", "neg"]},
            "score": {"type": "number"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "city": {"$ref": "#/$defs/City"},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "$defs": {"City": {"type": "object", "properties": {"pop": {"type": "integer"}}}},
    }
    expected = {"label": "pos", "score": 0.5, "tags": ["fake"], "city": {"pop": 1}, "note": "fake"}
    chat_answer = client.chat.completions.create(
        model="grok-4.3",
        messages=[{"role": "user", "content": "x"}],
        response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": schema, "strict": True}},
    )
    assert json.loads(chat_answer.choices[0].message.content) == expected
    responses_answer = client.responses.create(
        model="grok-4.3", input="x", text={"format": {"type": "json_schema", "name": "r", "schema": schema}}
    )
    assert json.loads(responses_answer.output_text) == expected
    server.script(Reply(text="scripted wins"))
    again = client.chat.completions.create(
        model="grok-4.3",
        messages=[{"role": "user", "content": "x"}],
        response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": schema}},
    )
    assert again.choices[0].message.content == "scripted wins"


def test_first_delta_time_is_recorded_for_streams_only(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    client = client_for(server)
    chat_text(chat(client, "grok-4.3"))
    client.chat.completions.create(model="grok-4.3", messages=[{"role": "user", "content": "x"}])
    streamed, whole = server.requests
    assert streamed.first_delta_at is not None and streamed.ended_at is not None
    assert streamed.started_at <= streamed.first_delta_at <= streamed.ended_at
    assert whole.first_delta_at is None


# --------------------------------------------------------------------------- faults of OpenAI-compatible servers


def _stream_post(server: FakeGrok, api: str, timeout: float = 10) -> tuple[int, bytes, bool]:
    """POST a streaming request with http.client; (status, body read so far, whether it ended cleanly)."""
    conn = http.client.HTTPConnection("127.0.0.1", int(server.origin.rsplit(":", 1)[1]), timeout=timeout)
    path = server.profile.prefix + ("/chat/completions" if api == "chat" else "/responses")
    body = {
        "model": "grok-4.3",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages" if api == "chat" else "input": [{"role": "user", "content": "hi"}],
    }
    try:
        conn.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        try:
            return response.status, response.read(), True
        except http.client.IncompleteRead as exc:
            return response.status, exc.partial, False
    finally:
        conn.close()


def test_completed_event_with_another_status_and_final_text(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    server.script(Reply(text="part", final_text="part and the rest", completed_status="incomplete"))
    events = list(client_for(server).responses.create(model="grok-4.3", input="q", stream=True))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "part"
    final = events[-1]
    assert final.type == "response.completed" and final.response.status == "incomplete"
    assert final.response.output_text == "part and the rest"


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_drop_before_done_sends_every_event_then_cuts(fake_factory: Factory, api: str) -> None:
    server = fake_factory("xai")
    server.script(Reply(text="whole", drop_before_done=True))
    status, body, clean = _stream_post(server, api)
    assert status == 200 and not clean
    assert b"[DONE]" not in body
    assert (
        (b'"finish_reason":"stop"' in body and b'"usage":{' in body)
        if api == "chat"
        else b"event: response.completed" in body
    )


def test_redirect_points_at_the_other_origin(fake_factory: Factory) -> None:
    home, other = fake_factory("xai"), fake_factory("xai")
    home.script(Reply(redirect_to=other.origin))
    # http.client does not follow redirects; the SDK's client does (the magic's side: test_faults.py)
    response = raw_post(home, "/v1/chat/completions", {"model": "grok-4.3", "messages": []})
    assert response.status == 307
    assert response.headers["Location"] == other.origin + "/v1/chat/completions"
    assert other.requests == []


def test_raw_error_bodies_are_sent_verbatim(fake_factory: Factory) -> None:
    server = fake_factory("openai")
    page = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1></body></html>"
    server.script(Reply(status=502, raw_body=page))
    status, body, _ = _stream_post(server, "chat")
    assert status == 502 and body.decode() == page
    sse = 'data: {"error": {"message": "model overloaded"}}\n\ndata: [DONE]\n\n'
    server.script(Reply(status=400, raw_body=sse, raw_content_type="text/event-stream"))
    status, body, _ = _stream_post(server, "chat")
    assert status == 400 and body.decode() == sse


def test_keepalive_comments_flow_until_the_client_leaves(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    server.script(Reply(text="some text here", keepalive_after=1, keepalive_every=0.01, stall_seconds=0.5))
    status, body, _ = _stream_post(server, "chat")
    assert status == 200 and body.count(b": keep-alive\n\n") >= 10


def test_no_headers_holds_the_request_until_the_client_gives_up(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    server.script(Reply(no_headers=True, stall_seconds=10))
    with pytest.raises(TimeoutError):
        _stream_post(server, "chat", timeout=0.3)
    assert server.wait_for_requests(1) and server.requests[0].status == 0


def test_bad_bytes_are_not_utf8(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    server.script(Reply(text="some text here", bad_bytes_after=1))
    _, body, _ = _stream_post(server, "responses")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


def test_usage_extra_and_omitted_usage(fake_factory: Factory) -> None:
    server = fake_factory("openai")
    server.script(Reply(usage_extra={"cost": 0.0012}), Reply(omit_usage=True))
    _, usage = chat_text(chat(client_for(server), "m", stream_options={"include_usage": True}))
    assert usage.model_extra["cost"] == 0.0012
    _, usage = chat_text(chat(client_for(server), "m", stream_options={"include_usage": True}))
    assert usage is None


def test_raw_events_are_streamed_verbatim(fake_factory: Factory) -> None:
    server = fake_factory("xai")
    server.script(Reply(raw_events=['{"choices":[{"index":0,"delta":{"content":42}}]}', "not json"]))
    status, body, clean = _stream_post(server, "chat")
    assert status == 200 and clean
    assert body == (b'data: {"choices":[{"index":0,"delta":{"content":42}}]}\n\ndata: not json\n\ndata: [DONE]\n\n')
