"""One request and its scripted answer, in either wire API (Chat Completions, Responses), faults included."""

from __future__ import annotations

import base64
import functools
import json
import os
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .batch import _BatchDesk
from .bodies import (
    _DEFAULT_MESSAGES,
    _DONE,
    _SEARCH_TICKS,
    _Abort,
    _call_args,
    _call_ids,
    _chat_rounds_problem,
    _chat_usage,
    _ClientGone,
    _error_body,
    _Frame,
    _GateTimeout,
    _hex,
    _image_problem,
    _items,
    _pieces,
    _responses_rounds_problem,
    _responses_usage,
    _sse_data,
    _sse_event,
    _token_counts,
    _tool_definition_problem,
    fake_tokens,
    image_urls,
)
from .scripting import Recorded, Reply
from .sse import _Wire

if TYPE_CHECKING:
    from .server import FakeGrok, _Handler


class _Exchange:
    """Validates one request like the profile's provider would, then writes the scripted reply."""

    def __init__(self, fake: FakeGrok, handler: _Handler, rec: Recorded, route: str | None) -> None:
        self.fake = fake
        self.profile = fake.profile
        self.rec = rec
        self.route = route
        self.body: dict[str, Any] = rec.body if isinstance(rec.body, dict) else {}
        self.wire = _Wire(handler, fake.chunked, fake._stopping)
        self.created = int(time.time())
        self.model = str(self.body.get("model", ""))
        self.resp_id = f"resp_{_hex(32)}"
        self.chat_id = (
            str(uuid.uuid4()) + fake.profile.chat_id_suffix if fake.profile.chat_id_suffix else f"chatcmpl-{_hex()}"
        )
        self.fingerprint = f"fp_{_hex(10)}"

    # ---- validation

    def run(self) -> None:
        problem = self._problem()
        if problem:
            self._send_error(*problem)
            return
        if self.route == "batch":
            _BatchDesk(self).answer()
            return
        if self.route == "tokenize":
            self._send_json(
                200,
                {
                    "token_ids": [
                        {"token_id": i, "string_token": piece, "token_bytes": list(piece.encode())}
                        for i, piece in enumerate(fake_tokens(self.body["text"]))
                    ]
                },
            )
            return
        if self.route != "models" and self.fake._take_rate_limit():
            self._send_error(429, None, self.fake.rate_limit_retry_after)
            return
        if self.route != "models":
            self.wire.wait(self.fake.latency)
        if self.route == "models":
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": m, "object": "model", "created": self.created, "owned_by": "xai"}
                        for m in self.fake.models or ("grok-4.3",)
                    ],
                },
            )
            return
        self._answer(self.fake._next_reply(self.rec.body))

    def _problem(self) -> tuple[int, str] | None:
        if self.route is None:
            return 404, f"Not found: {self.rec.method} {self.rec.path}"
        if not self._authorized():
            return 401, _DEFAULT_MESSAGES[401]
        if self.route in ("models", "batch"):
            return None
        if self.route == "tokenize":
            text = self.body.get("text") if isinstance(self.rec.body, dict) else None
            return (400, "text must be a string") if not isinstance(text, str) else None
        if not isinstance(self.rec.body, dict):
            return 400, "Request body must be a JSON object"
        if not self.model:
            return 400, "model is required"
        if self.fake.models is not None and self.model not in self.fake.models:
            return 404, f"The model {self.model} does not exist or your team does not have access to it"
        return self._limit_problem() or self._images_problem() or self._tools_problem()

    def _images_problem(self) -> tuple[int, str] | None:
        urls = image_urls(self.body)
        if urls and not self.profile.images:
            return 400, f"Model {self.model} does not support image input"
        for url in urls:
            problem = _image_problem(url)
            if problem:
                return 400, problem
        return None

    def _tools_problem(self) -> tuple[int, str] | None:
        """Tool definitions and tool rounds checked the way the real APIs check them (pairs must match)."""
        tools = self.body.get("tools")
        if tools is not None:
            for tool in tools if isinstance(tools, list) else [None]:
                problem = _tool_definition_problem(tool, self.route, self.profile)
                if problem:
                    return 400, problem
        check = _chat_rounds_problem if self.route == "chat" else _responses_rounds_problem
        problem = check(_items(self.body))
        return (400, problem) if problem else None

    def _limit_problem(self) -> tuple[int, str] | None:
        limit = self.profile.max_tokens_limit
        for name in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
            value = self.body.get(name)
            if limit is not None and isinstance(value, int) and value > limit:
                return 400, f"{name} must be at most {limit}, got {value}"
        return None

    def _authorized(self) -> bool:
        key = self.fake.key
        if key is None:
            return True
        if self.profile.auth == "api-key":
            return self.rec.headers.get("api-key") == key
        return self.rec.headers.get("authorization") == f"Bearer {key}"

    # ---- plain JSON answers

    def _send_error(self, status: int, message: str | None, retry_after: float | None = None) -> None:
        body = _error_body(self.profile, status, message or _DEFAULT_MESSAGES.get(status, "Error"))
        extra = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        self._send_json(status, body, extra)

    def _send_json(self, status: int, obj: Any, extra: dict[str, str] | None = None) -> None:
        self._finish(lambda: self._send_bytes(status, json.dumps(obj).encode(), extra))

    def _send_bytes(self, status: int, data: bytes, extra: dict[str, str] | None = None) -> None:
        headers = {
            "Content-Type": "application/json",
            "Content-Length": str(len(data)),
            "x-request-id": _hex(),
            **(extra or {}),
        }
        if not self.fake.chunked:
            headers["Connection"] = "close"
        self.rec.status = status
        self.wire.start(status, headers)
        self.wire.write(data)

    # ---- scripted answers

    def _answer(self, reply: Reply) -> None:
        if reply.redirect_to is not None:
            self._send_bytes(307, b"", {"Location": reply.redirect_to.rstrip("/") + self.rec.path})
            return
        if reply.no_headers:
            self.wire.wait(reply.stall_seconds)
            self._stamp_end()
            self.wire.cut()
            return
        if reply.raw_body is not None:
            self.wire.wait(reply.first_delay)
            self._finish(
                lambda: self._send_bytes(
                    reply.status,
                    reply.raw_body.encode(),  # type: ignore[union-attr]
                    {"Content-Type": reply.raw_content_type},
                )
            )
            return
        if reply.status != 200:
            self.wire.wait(reply.first_delay)
            self._send_error(reply.status, reply.error_message, reply.retry_after)
        elif self.body.get("stream"):
            self._stream(reply)
        else:
            self._whole(reply)

    def _whole(self, reply: Reply) -> None:
        """Non-streaming: one JSON object; the stream faults map onto the whole body."""
        self.wire.wait(reply.first_delay)
        if reply.malformed_after is not None:
            self._stamp_end()
            self._send_bytes(200, b"{not json")
        elif reply.disconnect_after is not None:
            self._stamp_end()
            self.wire.cut()
        elif reply.stall_after is not None:
            self.wire.wait(reply.stall_seconds)
            self._stamp_end()
            self.wire.cut()
        elif reply.stream_error is not None:
            self._send_error(500, reply.stream_error)
        else:
            builder = self._chat_whole if self.route == "chat" else self._responses_whole
            self._send_json(200, builder(reply))

    def _stream(self, reply: Reply) -> None:
        self.rec.status = 200
        self.wire.start(200, {**self.wire.stream_headers(), "x-request-id": _hex()})
        if reply.raw_events is not None:
            for payload in reply.raw_events:
                self.wire.send(b"data: " + payload.encode("utf-8", "surrogatepass") + b"\n\n")
            self._finish(functools.partial(self.wire.send, _DONE, last=True))
            return
        frames = self._chat_frames(reply) if self.route == "chat" else self._responses_frames(reply)
        self._drive(frames, reply)

    def _drive(self, frames: Iterator[_Frame], reply: Reply) -> None:
        """Write frames with pacing, and stop at the first due fault."""
        pace = self.fake.pace if reply.pace is None else reply.pace
        self.wire.wait(reply.first_delay)
        sent = 0
        gated = reply.gate_after is None or reply.gate is None
        for frame in frames:
            if not gated and frame.kind in ("delta", "text_end") and sent >= reply.gate_after:  # type: ignore[operator]
                self._hold(reply.gate, reply.gate_seconds)  # type: ignore[arg-type]
                gated = True
            if frame.kind in ("delta", "text_end") and self._fault(reply, frame.kind, sent):
                return
            if frame.kind in ("delta", "think"):
                self.wire.wait(pace)
            if frame.kind == "delta" and self.rec.first_delta_at is None:
                self.rec.first_delta_at = time.monotonic()
            if frame.kind == "final" and reply.drop_before_done:
                self.wire.send(frame.data[: -len(_DONE)] if frame.data.endswith(_DONE) else frame.data)
                self._stamp_end()
                self.wire.cut()
                return
            if frame.kind == "final":
                self._finish(functools.partial(self.wire.send, frame.data, last=True))
                return
            if frame.kind != "text_end":
                self.wire.send(frame.data)
            if frame.kind == "delta":
                sent += 1

    def _hold(self, gate: threading.Event, seconds: float) -> None:
        """Let a test look at the client mid-answer, deterministically, before the rest is sent.

        A gate nobody opened means the test's condition never held: the reply is cut (so the client
        fails) and the request is marked, so the test fails loudly instead of passing late for another reason.
        """
        deadline = time.monotonic() + seconds
        while not gate.is_set():
            if time.monotonic() >= deadline:
                self.rec.gate_timed_out = True
                self._stamp_end()
                self.wire.cut()
                raise _GateTimeout()
            self.wire.wait(0.02)

    def _fault(self, reply: Reply, kind: str, sent: int) -> bool:
        def due(after: int | None) -> bool:
            return after is not None and (kind == "text_end" or sent >= after)

        if due(reply.malformed_after):
            self.wire.send(b"data: {not json\n\n")
            self._stamp_end()
            self.wire.end(close=True)
        elif due(reply.disconnect_after):
            self._stamp_end()
            self.wire.cut()
        elif due(reply.stall_after):
            self.wire.wait(reply.stall_seconds)
            self._stamp_end()
            self.wire.cut()
        elif due(reply.keepalive_after):
            deadline = time.monotonic() + reply.stall_seconds
            while time.monotonic() < deadline:  # bytes keep coming, so a read timeout never fires
                self.wire.send(b": keep-alive\n\n")
                self.wire.wait(reply.keepalive_every)
            self._stamp_end()
            self.wire.cut()
        elif due(reply.bad_bytes_after):
            self.wire.send(b'data: {"type":"response.output_text.delta","delta":"\xff\xfe\xfa"}\n\n')
            self._stamp_end()
            self.wire.end(close=True)
        else:
            return False
        return True

    def _stamp_end(self) -> None:
        """Stamp before the last bytes leave, so a client that has seen the end also sees the stamp."""
        self.rec.ended_at = time.monotonic()

    def _finish(self, last_write: Callable[[], None]) -> None:
        """Mark completed (and ended) before the last write, for the same reason as _stamp_end."""
        self.rec.completed = True
        self._stamp_end()
        self.fake._uncount(self.rec)  # before the last bytes: a client that has them may already send again
        try:
            last_write()
        except (_ClientGone, _Abort):
            self.rec.completed = False
            raise

    # ---- chat completions

    def _chat_envelope(self) -> dict[str, Any]:
        return {
            "id": self.chat_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": self.fingerprint,
        }

    def _chat_chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        head = self._chat_envelope() if self.profile.chunk_envelope else {}
        return _sse_data({**head, "choices": [choice]})

    def _chat_frames(self, reply: Reply) -> Iterator[_Frame]:
        yield _Frame("event", self._chat_chunk({"role": "assistant", "content": ""}))
        yield from self._chat_thinking(reply)
        for piece in _pieces(reply.text, reply.chunk):
            yield _Frame("delta", self._chat_chunk({"content": piece}))
        yield _Frame("text_end")
        if reply.stream_error is not None:
            error = {"message": reply.stream_error, "type": "server_error", "code": "internal_error"}
            yield _Frame("final", _sse_data({"error": error}) + _DONE)
            return
        yield from self._chat_tool_frames(reply)
        yield _Frame("event", self._chat_chunk({}, "length" if reply.incomplete else self._chat_finish(reply)))
        options = self.body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage") and not reply.omit_usage:
            yield _Frame("event", self._chat_usage_chunk(reply))
        yield _Frame("final", _DONE)

    @staticmethod
    def _chat_finish(reply: Reply) -> str:
        return "tool_calls" if reply.tool_calls and reply.finish_reason == "stop" else reply.finish_reason

    def _chat_tool_frames(self, reply: Reply) -> Iterator[_Frame]:
        """Each call as the SDK sees it streamed: id and name first, then the arguments in pieces."""
        for index, (call, call_id) in enumerate(zip(reply.tool_calls or (), _call_ids(reply))):
            head = {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": call["name"], "arguments": ""},
            }
            yield _Frame("event", self._chat_chunk({"tool_calls": [head]}))
            for piece in _pieces(_call_args(call), reply.chunk):
                yield _Frame(
                    "event", self._chat_chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                )

    def _chat_thinking(self, reply: Reply) -> Iterator[_Frame]:
        pieces = _pieces(reply.reasoning, reply.chunk)
        if self.profile.reasoning_content:
            for piece in pieces:
                yield _Frame("think", self._chat_chunk({"reasoning_content": piece}))
        elif self.profile.thinking_chunks:
            for _ in pieces[:3]:
                yield _Frame("think", self._chat_chunk({}))

    def _chat_usage_chunk(self, reply: Reply) -> bytes:
        usage = {**_chat_usage(_token_counts(reply, self.body), self.profile), **(reply.usage_extra or {})}
        if not self.profile.chunk_envelope:
            return _sse_data({"usage": usage})
        return _sse_data({**self._chat_envelope(), "choices": [], "usage": usage})

    def _chat_whole(self, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
        if self.profile.reasoning_content and reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        finish = "length" if reply.incomplete else self._chat_finish(reply)
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": i, "type": "function", "function": {"name": c["name"], "arguments": _call_args(c)}}
                for c, i in zip(reply.tool_calls, _call_ids(reply))
            ]
        return {
            **self._chat_envelope(),
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": None if reply.omit_usage else _chat_usage(_token_counts(reply, self.body), self.profile),
        }

    # ---- responses

    def _response(
        self, status: str, output: list[Any], usage: dict[str, Any] | None = None, **extra: Any
    ) -> dict[str, Any]:
        b = self.body if isinstance(self.body, dict) else {}
        reasoning: dict[str, Any] = b["reasoning"] if isinstance(b.get("reasoning"), dict) else {}
        return {
            "id": self.resp_id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "model": self.model,
            "output": output,
            "usage": usage,
            "error": None,
            "incomplete_details": None,
            "instructions": b.get("instructions"),
            "max_output_tokens": b.get("max_output_tokens"),
            "previous_response_id": b.get("previous_response_id"),
            "parallel_tool_calls": b.get("parallel_tool_calls", True),
            "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
            "store": b.get("store", True),
            "temperature": b.get("temperature"),
            "top_p": b.get("top_p"),
            "text": b.get("text") or {"format": {"type": "text"}},
            "tool_choice": b.get("tool_choice", "auto"),
            "tools": b.get("tools", []),
            **extra,
        }

    def _reasoning_item(self, reply: Reply, item_id: str) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": item_id,
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": reply.reasoning}],
        }
        include = self.body.get("include")
        if isinstance(include, list) and "reasoning.encrypted_content" in include:
            item["encrypted_content"] = base64.b64encode(os.urandom(24) + reply.reasoning.encode()).decode()
        return item

    @staticmethod
    def _message_item(item_id: str, text: str, status: str) -> dict[str, Any]:
        return {
            "id": item_id,
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
        }

    def _responses_frames(self, reply: Reply) -> Iterator[_Frame]:
        seq = iter(range(1_000_000))

        def ev(kind: str, **fields: Any) -> bytes:
            return _sse_event({"type": kind, **fields, "sequence_number": next(seq)})

        yield _Frame("event", ev("response.created", response=self._response("in_progress", [])))
        yield _Frame("event", ev("response.in_progress", response=self._response("in_progress", [])))
        output: list[Any] = []
        if reply.reasoning:
            yield from self._reasoning_frames(reply, ev, output)
        yield from self._search_frames(reply, ev, output)
        index, msg_id = len(output), f"msg_{_hex(32)}"
        ids = {"item_id": msg_id, "output_index": index}
        if self._with_message(reply):
            yield _Frame(
                "event",
                ev(
                    "response.output_item.added",
                    output_index=index,
                    item={**self._message_item(msg_id, "", "in_progress"), "content": []},
                ),
            )
            yield _Frame(
                "event",
                ev(
                    "response.content_part.added",
                    **ids,
                    content_index=0,
                    part={"type": "output_text", "text": "", "annotations": []},
                ),
            )
        for piece in _pieces(reply.text, reply.chunk):
            yield _Frame("delta", ev("response.output_text.delta", **ids, content_index=0, delta=piece, logprobs=[]))
        yield _Frame("text_end")
        for n, note in enumerate(self._annotations(reply)):
            yield _Frame(
                "event",
                ev(
                    "response.output_text.annotation.added", **ids, content_index=0, annotation_index=n, annotation=note
                ),
            )
        yield from self._responses_ending(reply, ev, output, ids)

    @staticmethod
    def _with_message(reply: Reply) -> bool:
        """A response that only calls tools has no message item, as on the real APIs."""
        return bool(reply.text) or not reply.tool_calls

    @staticmethod
    def _annotations(reply: Reply) -> list[dict[str, Any]]:
        cut = max(len(reply.text) - 1, 0)
        return [
            {
                "type": "url_citation",
                "url": c["url"],
                "title": c.get("title", ""),
                "start_index": cut,
                "end_index": len(reply.text),
            }
            for c in reply.citations or ()
        ]

    def _search_frames(self, reply: Reply, ev: Any, output: list[Any]) -> Iterator[_Frame]:
        """xAI's server-side searches: item added, in_progress → searching → completed, item done."""
        for search in reply.searches or ():
            kind = search.get("type", "web_search")
            item_id, index = f"ws_{_hex(24)}", len(output)
            ids = {"item_id": item_id, "output_index": index}
            yield _Frame(
                "event",
                ev(
                    "response.output_item.added",
                    output_index=index,
                    item={"id": item_id, "type": f"{kind}_call", "status": "in_progress"},
                ),
            )
            for status in ("in_progress", "searching", "completed"):
                yield _Frame("think", ev(f"response.{kind}_call.{status}", **ids))
            item = {
                "id": item_id,
                "type": f"{kind}_call",
                "status": "completed",
                "action": {"type": "search", "query": search.get("query", "")},
            }
            output.append(item)
            yield _Frame("event", ev("response.output_item.done", output_index=index, item=item))

    def _function_call_frames(self, reply: Reply, ev: Any, output: list[Any]) -> Iterator[_Frame]:
        for call, call_id in zip(reply.tool_calls or (), _call_ids(reply)):
            item_id, index, args = f"fc_{_hex(24)}", len(output), _call_args(call)
            item = {
                "id": item_id,
                "type": "function_call",
                "call_id": call_id,
                "name": call["name"],
                "arguments": "",
                "status": "in_progress",
            }
            yield _Frame("event", ev("response.output_item.added", output_index=index, item=item))
            for piece in _pieces(args, reply.chunk):
                yield _Frame(
                    "event",
                    ev("response.function_call_arguments.delta", item_id=item_id, output_index=index, delta=piece),
                )
            yield _Frame(
                "event",
                ev("response.function_call_arguments.done", item_id=item_id, output_index=index, arguments=args),
            )
            item = {**item, "arguments": args, "status": "completed"}
            output.append(item)
            yield _Frame("event", ev("response.output_item.done", output_index=index, item=item))

    def _reasoning_frames(self, reply: Reply, ev: Any, output: list[Any]) -> Iterator[_Frame]:
        item_id = f"rs_{_hex(32)}"
        ids = {"item_id": item_id, "output_index": 0, "summary_index": 0}
        yield _Frame(
            "event",
            ev("response.output_item.added", output_index=0, item={"id": item_id, "type": "reasoning", "summary": []}),
        )
        yield _Frame(
            "event", ev("response.reasoning_summary_part.added", **ids, part={"type": "summary_text", "text": ""})
        )
        for piece in _pieces(reply.reasoning, reply.chunk):
            yield _Frame("think", ev("response.reasoning_summary_text.delta", **ids, delta=piece))
        yield _Frame("event", ev("response.reasoning_summary_text.done", **ids, text=reply.reasoning))
        yield _Frame(
            "event",
            ev("response.reasoning_summary_part.done", **ids, part={"type": "summary_text", "text": reply.reasoning}),
        )
        item = self._reasoning_item(reply, item_id)
        output.append(item)
        yield _Frame("event", ev("response.output_item.done", output_index=0, item=item))

    def _responses_ending(self, reply: Reply, ev: Any, output: list[Any], ids: dict[str, Any]) -> Iterator[_Frame]:
        done = _DONE if self.profile.responses_done else b""
        msg_id, index = ids["item_id"], ids["output_index"]
        if reply.stream_error is not None:
            yield _Frame("event", ev("error", code="server_error", message=reply.stream_error, param=None))
            failed = self._response(
                "failed",
                [*output, self._message_item(msg_id, reply.text, "incomplete")],
                error={"code": "server_error", "message": reply.stream_error},
            )
            yield _Frame("final", ev("response.failed", response=failed) + done)
            return
        status = "incomplete" if reply.incomplete else "completed"
        text = reply.text if reply.final_text is None else reply.final_text
        if self._with_message(reply):
            message = self._message_item(msg_id, text, status)
            part = message["content"][0]
            part["annotations"] = self._annotations(reply)
            yield _Frame("event", ev("response.output_text.done", **ids, content_index=0, text=text, logprobs=[]))
            yield _Frame("event", ev("response.content_part.done", **ids, content_index=0, part=part))
            yield _Frame("event", ev("response.output_item.done", output_index=index, item=message))
            output = [*output, message]
        yield from self._function_call_frames(reply, ev, output)
        final = self._responses_final(reply, output)
        yield _Frame("final", ev(f"response.{status}", response=final) + done)

    def _responses_final(self, reply: Reply, output: list[Any]) -> dict[str, Any]:
        usage: dict[str, Any] | None = {
            **_responses_usage(_token_counts(reply, self.body), self.profile),
            **(reply.usage_extra or {}),
        }
        if reply.searches and self.profile.cost_ticks and usage is not None:
            kinds = [s.get("type", "web_search") for s in reply.searches]
            usage.update(
                num_server_side_tools_used=len(kinds),
                server_side_tool_usage_details={f"{k}_calls": kinds.count(k) for k in sorted(set(kinds))},
                cost_in_usd_ticks=usage["cost_in_usd_ticks"] + _SEARCH_TICKS * len(kinds),
            )
        if reply.omit_usage:
            usage = None
        if reply.incomplete:
            return self._response("incomplete", output, usage, incomplete_details={"reason": reply.incomplete})
        return self._response(reply.completed_status or "completed", output, usage)

    def _responses_whole(self, reply: Reply) -> dict[str, Any]:
        output: list[Any] = [self._reasoning_item(reply, f"rs_{_hex(32)}")] if reply.reasoning else []
        status = "incomplete" if reply.incomplete else "completed"
        if self._with_message(reply):
            output.append(self._message_item(f"msg_{_hex(32)}", reply.text, status))
            output[-1]["content"][0]["annotations"] = self._annotations(reply)
        output.extend(
            {
                "id": f"fc_{_hex(24)}",
                "type": "function_call",
                "call_id": i,
                "name": c["name"],
                "arguments": _call_args(c),
                "status": "completed",
            }
            for c, i in zip(reply.tool_calls or (), _call_ids(reply))
        )
        return self._responses_final(reply, output)
