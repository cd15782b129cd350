"""Hypothesis-generated magic lines and cell bodies: every one ends in a request or a one-line message.

Options, quoting, braces, backticks, unicode (lone surrogates included) and huge input go through a
real InteractiveShell against the fake server. Never a traceback, never "internal error". Bounded:
a few dozen examples per test, so the file runs in well under 30 s.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Harness, assert_no_canary
from fake_grok import Reply
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from grok_magics.errors import GrokError

pytestmark = pytest.mark.timeout(120)

FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

FLAGS = [
    "-m",
    "--model",
    "--provider",
    "--effort",
    "--api",
    "--chat",
    "--new",
    "--system",
    "--temperature",
    "--max-tokens",
    "-o",
    "--out",
    "--no-history",
    "--allow-key",
    "--",
    "--bogus",
    "-x",
    "help",
    "key",
    "reset",
    "history",
    "usage",
    "config",
    "chats",
]
VALUES = [
    "low",
    "default",
    "none",
    "chat",
    "responses",
    "xai",
    "openai",
    "nope",
    "nan",
    "-1",
    "1e309",
    "0.5",
    "3",
    "answer",
    "In",
    "class",
    "_x",
    "'quoted value'",
    '"double"',
    "'unclosed",
    "{name}",
    "{{name}}",
    "x" * 300,
    "grok-4.3",
    "é✓😀",
    "\ud800",
]
SNIPPETS = [
    "{name}",
    "{{name}}",
    "{missing}",
    "`{name}`",
    "```\n{name}\n```",
    "f'{x!r}'",
    "{",
    "}",
    "$x",
    "?",
    "\\",
    "'",
    '"',
    "\ud800",
    "\udfff",
    "é",
    "😀",
    "\u202e",
    "\x00",
    "<script>alert(1)</script>",
    "%grok",
    "--effort",
    "xai-",
    "-",
]

LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # str.splitlines() splits on all: IPython's cell, not ours


def one_line(text: str) -> str:
    return "".join(" " if c in LINE_BREAKS else c for c in text)


pairs = st.tuples(st.sampled_from(FLAGS), st.sampled_from(VALUES)).map(" ".join)  # an option and a value
words = st.one_of(
    pairs,
    pairs,
    st.sampled_from(FLAGS),
    st.sampled_from(VALUES),
    st.text(st.characters(blacklist_characters=LINE_BREAKS), max_size=12),
)
text = st.lists(st.one_of(st.sampled_from(SNIPPETS), st.text(max_size=20)), max_size=8).map("".join)
huge = st.sampled_from(["word " * 60_000, "{name} " * 20_000, "😀" * 50_000])


def _one_line_outcome(shell: Harness, fake: Any, source: str) -> None:
    fake.clear()
    fake.script(Reply(text="ok"))  # short: an echo of a huge prompt would stream for minutes
    before = len(fake.requests)
    ran = shell.run(source)
    out = ran.stdout + ran.stderr
    assert "Traceback" not in out, out
    assert "internal error" not in out and "please report it" not in out, out
    if ran.success:
        return
    error = ran.error
    assert isinstance(error, (UsageError, GrokError)), repr(error)
    if isinstance(error, GrokError):
        assert "\n" not in error.message
    assert len(fake.requests) <= before + 1
    assert_no_canary(out, repr(error))


@pytest.fixture
def fuzz_shell(shell: Harness, fake: Any) -> Harness:
    shell.run("%config GrokMagics.max_retries = 0")
    shell.shell.user_ns["name"] = "Ada"
    return shell


@FUZZ
@given(parts=st.lists(words, max_size=8), prompt=text)
def test_fuzzed_magic_lines(fuzz_shell: Harness, fake: Any, parts: list[str], prompt: str) -> None:
    line = one_line(" ".join(parts + [prompt]))
    _one_line_outcome(fuzz_shell, fake, "%grok " + line)


@FUZZ
@given(parts=st.lists(words, max_size=6), body=st.one_of(text, huge))
def test_fuzzed_cells(fuzz_shell: Harness, fake: Any, parts: list[str], body: str) -> None:
    header = one_line(" ".join(parts))
    _one_line_outcome(fuzz_shell, fake, f"%%grok {header}\n{body}")


# -- what a server sends back: odd values in every field end in an answer or one line ---------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["stop", "length", "MAX_TOKENS", "error", "\ud800", ""]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)
CHAT_FIELDS = ("content", "reasoning_content", "role", "refusal")


@st.composite
def chat_chunk(draw: Any) -> dict[str, Any]:
    delta = {name: draw(values) for name in draw(st.lists(st.sampled_from(CHAT_FIELDS), max_size=3, unique=True))}
    choice: dict[str, Any] = {
        "index": draw(st.one_of(st.just(0), values)),
        "delta": draw(st.one_of(st.just(delta), values)),
    }
    if draw(st.booleans()):
        choice["finish_reason"] = draw(values)
    chunk: dict[str, Any] = {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": draw(st.one_of(st.just([choice]), values)),
    }
    if draw(st.booleans()):
        chunk["usage"] = draw(
            st.one_of(
                values,
                st.fixed_dictionaries(
                    {"prompt_tokens": values, "completion_tokens": values, "total_tokens": values, "cost": values}
                ),
            )
        )
    return chunk


@st.composite
def responses_event(draw: Any) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "response.created",
                "response.output_text.delta",
                "response.output_item.done",
                "response.completed",
                "response.incomplete",
                "response.failed",
                "error",
                "response.reasoning_summary_text.delta",
                "response.weird",
            ]
        )
    )
    event: dict[str, Any] = {"type": kind, "sequence_number": draw(values)}
    for name in draw(
        st.lists(st.sampled_from(["delta", "item", "response", "code", "message"]), max_size=3, unique=True)
    ):
        event[name] = draw(values)
    if kind in ("response.completed", "response.incomplete") and draw(st.booleans()):
        event["response"] = {
            "id": "r",
            "status": draw(values),
            "output": draw(
                st.one_of(
                    st.just([{"type": "message", "content": [{"type": "output_text", "text": draw(values)}]}]), values
                )
            ),
            "usage": draw(values),
            "incomplete_details": draw(values),
        }
    return event


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False)


SERVER_FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SERVER_FUZZ
@given(chunks=st.lists(chat_chunk(), max_size=5))
def test_fuzzed_chat_streams(fuzz_shell: Harness, fake: Any, chunks: list[dict[str, Any]]) -> None:
    _server_says(fuzz_shell, fake, "chat", [_json(c) for c in chunks])


@SERVER_FUZZ
@given(events=st.lists(responses_event(), max_size=5))
def test_fuzzed_responses_streams(fuzz_shell: Harness, fake: Any, events: list[dict[str, Any]]) -> None:
    _server_says(fuzz_shell, fake, "responses", [_json(e) for e in events])


def _server_says(shell: Harness, fake: Any, api: str, payloads: list[str]) -> None:
    fake.clear()
    fake.script(Reply(raw_events=payloads))
    ran = shell.run(f"%grok --api {api} hi")
    out = ran.stdout + ran.stderr
    assert "Traceback" not in out and "internal error" not in out and "please report it" not in out, out
    if not ran.success:
        assert isinstance(ran.error, GrokError) and "\n" not in ran.error.message, repr(ran.error)
