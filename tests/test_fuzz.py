"""Hypothesis-generated magic lines and cell bodies: every one ends in a request or a one-line message.

Options, quoting, braces, backticks, unicode (lone surrogates included) and huge input go through a
real InteractiveShell against the fake server. Never a traceback, never "internal error". Bounded:
a few dozen examples per test, so the file runs in well under 30 s.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from grok_magics.errors import GrokError
from grok_magics.testing import Reply

from conftest import Harness, assert_no_canary

pytestmark = pytest.mark.timeout(120)

FUZZ = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

FLAGS = ["-m", "--model", "--provider", "--effort", "--api", "--chat", "--new", "--system", "--temperature",
         "--max-tokens", "-o", "--out", "--no-history", "--allow-key", "--", "--bogus", "-x", "help", "key",
         "reset", "history", "usage", "config", "chats"]
VALUES = ["low", "default", "none", "chat", "responses", "xai", "openai", "nope", "nan", "-1", "1e309", "0.5",
          "3", "answer", "In", "class", "_x", "'quoted value'", '"double"', "'unclosed", "{name}", "{{name}}",
          "x" * 300, "grok-4.3", "é✓😀", "\ud800"]
SNIPPETS = ["{name}", "{{name}}", "{missing}", "`{name}`", "```\n{name}\n```", "f'{x!r}'", "{", "}", "$x",
            "?", "\\", "'", '"', "\ud800", "\udfff", "é", "😀", "\u202e", "\x00", "<script>alert(1)</script>",
            "%grok", "--effort", "xai-", "-"]

LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # str.splitlines() splits on all: IPython's cell, not ours


def one_line(text: str) -> str:
    return "".join(" " if c in LINE_BREAKS else c for c in text)


pairs = st.tuples(st.sampled_from(FLAGS), st.sampled_from(VALUES)).map(" ".join)  # an option and a value
words = st.one_of(pairs, pairs, st.sampled_from(FLAGS), st.sampled_from(VALUES),
                  st.text(st.characters(blacklist_characters=LINE_BREAKS), max_size=12))
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
