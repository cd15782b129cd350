"""Bounded, as a user meets it: tool calls and tool-result bytes per round have limits the model is told
about and the view sums up in one line; waiting for a map batch has a deadline, says what it waits for,
and a batch status (or result) in a shape it cannot read is a one-line error, never an endless poll.

Real InteractiveShell and the fake Grok server; the Batch API also against llmock (an independent
implementation on PyPI, run from the venv of tests/servers.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd
import pytest
from conftest import CANARY, Harness, assert_no_canary, user_texts
from fake_grok import FakeGrok, Reply
from servers import port_file, server_process

import grok_magics
from grok_magics.errors import GrokError

pytestmark = pytest.mark.timeout(90)

TOOLS = '''
ran = []

def note(n: int) -> int:
    """Note a number."""
    ran.append(n)
    return n

def page(n: int) -> str:
    """A page of text."""
    ran.append(n)
    return "x" * 9_000
'''


def tool_outputs(body: dict[str, Any]) -> dict[str, str]:
    """call id → output sent back, for either API."""
    if "messages" in body:
        return {m["tool_call_id"]: m["content"] for m in body["messages"] if m["role"] == "tool"}
    return {i["call_id"]: i["output"] for i in body["input"] if i.get("type") == "function_call_output"}


def calls_of(name: str, n: int) -> list[dict[str, Any]]:
    return [{"name": name, "arguments": {"n": i}, "id": f"c{i}"} for i in range(n)]


@pytest.fixture
def tools(shell: Harness) -> Harness:
    assert shell.run(TOOLS).success
    return shell


def final_markdown(ran: Any) -> str:
    return ran.displays[-1]["data"]["text/markdown"]


# -- tool calls per round ---------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_calls_past_the_limit_are_answered_with_an_error_and_summed_up(tools: Harness, fake: Any, api: str) -> None:
    tools.run("%config GrokMagics.display = 'markdown'")
    tools.run("%config GrokMagics.max_tool_calls = 5")
    fake.script(Reply(text="", tool_calls=calls_of("note", 300)), Reply(text="Counted."))
    ran = tools.run(f"%%grok --api {api} --tools note\ncount to 300", cell_id="many")
    assert ran.success, ran.everything
    assert tools.shell.user_ns["ran"] == [0, 1, 2, 3, 4]  # only the first five ran
    outputs = tool_outputs(fake.requests[1].body)
    assert len(outputs) == 300  # every call is answered: the API pairs each call with a result
    assert [outputs[f"c{i}"] for i in range(5)] == ["0", "1", "2", "3", "4"]
    refused = json.loads(outputs["c299"])["error"]
    assert refused.startswith("not run: this response asked for 300 tool calls and at most 5 run per round")
    md = final_markdown(ran)
    assert md.count("<details>") == 5, "the 295 refused calls must not be listed one by one"
    assert (
        "⚠ Grok asked for 300 tool calls in one response: 5 ran, the other 295 were answered with an error "
        "(limit: %config GrokMagics.max_tool_calls)."
    ) in md
    assert "Counted." in md
    assert len(ran.displays[-1]["metadata"]["grok_magics"]["tool_calls"]) == 5
    fake.script(Reply(text="Next."))
    assert tools.run("%grok next").success  # the round it left is valid history for the API
    assert user_texts(fake.requests[-1].body) == ["count to 300", "next"]
    assert_no_canary(ran.everything)


def test_the_default_limit_and_the_terminal_note(tools: Harness, fake: Any) -> None:
    fake.script(Reply(text="", tool_calls=calls_of("note", 25)), Reply(text="Done."))
    ran = tools.run("%%grok --tools note\ncount")
    assert ran.success, ran.everything
    assert tools.shell.user_ns["ran"] == list(range(20))
    assert "⚠ Grok asked for 25 tool calls in one response: 20 ran, the other 5 were answered" in ran.stdout
    assert ran.stdout.count("[tool]") == 20


def test_results_past_the_byte_limit_are_answered_with_an_error(tools: Harness, fake: Any) -> None:
    tools.run("%config GrokMagics.display = 'markdown'")
    tools.run("%config GrokMagics.max_tool_result_bytes = 20000")
    fake.script(Reply(text="", tool_calls=calls_of("page", 4)), Reply(text="Read two pages."))
    ran = tools.run("%%grok --tools page\nread four pages")
    assert ran.success, ran.everything
    assert tools.shell.user_ns["ran"] == [0, 1, 2, 3]  # all ran (within the call limit) ...
    outputs = tool_outputs(fake.requests[1].body)
    assert outputs["c0"] == outputs["c1"] == "x" * 9_000  # ... two fit in 20,000 bytes ...
    for late in ("c2", "c3"):  # ... the other two are an error the model can act on
        said = json.loads(outputs[late])["error"]
        assert said.startswith(
            "result not sent: its 9,000 bytes would take this round's tool results past 20,000 bytes"
        )
    assert sum(len(o) for o in outputs.values()) < 20_000 + 1_000
    md = final_markdown(ran)
    assert md.count("<details>") == 4  # these ran: each is listed, two with their error
    assert (
        "⚠ 2 tool result(s) were not sent back: this round's results reached the 20,000-byte limit "
        "(%config GrokMagics.max_tool_result_bytes)."
    ) in md


def test_config_shows_the_limits(shell: Harness) -> None:
    shell.run("%config GrokMagics.max_tool_calls = 7")
    shown = shell.run("%grok config").stdout
    assert (
        "limits          8 tool rounds per ask; per round 7 tool calls, 200,000 bytes of results; map --batch "
        "waits 3600 s at most"
    ) in shown
    assert "max_tool_calls, max_tool_result_bytes, batch_deadline" in " ".join(shell.run("%grok help").stdout.split())


@pytest.mark.parametrize(
    "setting, value",
    [
        ("max_tool_calls", "0"),
        ("max_tool_result_bytes", "-1"),
        ("batch_deadline", "0"),
        ("batch_deadline", "float('inf')"),
    ],
)
def test_limits_are_checked_when_set(
    shell: Harness, caplog: pytest.LogCaptureFixture, setting: str, value: str
) -> None:
    before = getattr(shell.magics, setting)
    shell.run(f"%config GrokMagics.{setting} = {value}")  # %config logs a refused value, as IPython does
    assert f"GrokMagics.{setting} must be" in caplog.text
    assert getattr(shell.magics, setting) == before


# -- waiting for a map batch ------------------------------------------------------------------------


def serve(fake_factory: Callable[..., FakeGrok], monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> FakeGrok:
    server = fake_factory("xai", **kwargs)
    monkeypatch.setenv("XAI_API_KEY", CANARY)
    monkeypatch.setenv("GROK_BASE_URL", server.base_url)
    return server


def reviews(n: int) -> pd.DataFrame:
    return pd.DataFrame({"review": [f"review number {i}" for i in range(n)]})


def test_batch_wait_has_a_deadline_says_what_it_waits_for_and_can_be_collected_later(
    shell: Harness, fake_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grok_magics.mapping import batch_job

    monkeypatch.setattr(batch_job, "SAY_EVERY", 0.05)  # 30 s in real use; the wait must wake up to say it
    server = serve(fake_factory, monkeypatch, batch_polls=10**9)  # pending until the test says otherwise
    shell.shell.user_ns["df"] = reviews(3)
    shell.run("%config GrokMagics.batch_deadline = 1")
    ran = shell.run("%%grok map df --batch --poll-every 3600 -o out\nB: {review}")  # one poll an hour
    assert ran.success, ran.everything
    (batch_id,) = server.batches
    assert ran.stdout.count(f"waiting for batch {batch_id}: 3 of 3 requests pending") >= 2
    note = (
        f"batch {batch_id} still running after the 1 s wait (GrokMagics.batch_deadline); collect it later "
        f"with --batch-id {batch_id}"
    )
    assert note in ran.stdout  # the summary line says it
    out = shell.shell.user_ns["out"]
    assert out["grok_error"].tolist() == [f"not run: {note}"] * 3
    server.batch_polls = 0  # the provider finishes
    ran = shell.run(f"%%grok map df --batch-id {batch_id} --poll-every 0.01 -o out\nB: {{review}}")
    assert ran.success, ran.everything
    assert shell.shell.user_ns["out"]["grok"].tolist() == [f"You said: B: review number {i}" for i in range(3)]


def test_a_batch_in_another_implementations_shape_ends_with_one_line(
    fake_factory: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = serve(fake_factory, monkeypatch, batch_polls=2, batch_dialect="llmock")
    out = grok_magics.map(reviews(3), "B: {review}", batch=True, poll_every=0.01, progress=False)
    (batch_id,) = server.batches
    polls = [r for r in server.requests if r.method == "GET" and r.path == f"/v1/batches/{batch_id}"]
    assert len(polls) == 3  # PENDING was read as pending, COMPLETED as done
    note = (
        f"batch {batch_id} answered 3 results that name no row: they carry no batch_request_id (fields seen: "
        "custom_id, error, request_id, response, state), so this server does not answer in the xAI Batch "
        "API's shape"
    )
    assert out["grok_error"].tolist() == [f"not run: {note}"] * 3
    printed = capsys.readouterr().out
    assert f"waiting for batch {batch_id}: 3 of 3 requests pending (status PENDING)" in printed
    assert f"3 not run ({note})" in printed


def test_a_batch_status_it_cannot_read_is_one_line_naming_the_fields(
    shell: Harness, fake_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(fake_factory, monkeypatch, batch_dialect="opaque")
    shell.shell.user_ns["df"] = reviews(2)
    ran = shell.run("%%grok map df --batch --poll-every 0.01\nB: {review}")
    assert not ran.success
    (batch_id,) = server.batches
    message = str(ran.error)
    assert message == (
        f"xAI API: cannot read the status of batch {batch_id} (fields seen: batch_id, name, "
        "state.percent, state.phase); expected state.num_requests and state.num_pending, as xAI's "
        "Batch API sends. Stopped waiting; check the base URL"
    )
    assert "internal error" not in ran.everything and "Traceback" not in ran.stdout + ran.stderr
    polls = [r for r in server.requests if r.method == "GET" and r.path == f"/v1/batches/{batch_id}"]
    assert len(polls) == 1  # not polled again as if it were pending


# -- the same against llmock (an independent OpenAI-compatible mock from PyPI) ------------------------

LLMOCK = """
import socket
import sys
from pathlib import Path

import llmock.routers.batch
import uvicorn
from llmock.main import app

llmock.routers.batch._BATCH_DELAY = 0.2  # its batches finish in 0.2 s
listening = socket.create_server(("127.0.0.1", 0))  # a port the system picks, held from here on
Path(sys.argv[1]).write_text(str(listening.getsockname()[1]))
uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off")).run(sockets=[listening])
"""


@pytest.fixture
def llmock_url(tmp_path: Path) -> Iterator[str]:
    """llmock's app under uvicorn, in the venv that holds the servers nobody here wrote."""
    base = port_file(tmp_path / "port")
    with server_process(["-c", LLMOCK, str(tmp_path / "port")], tmp_path, lambda: base() and base() + "/docs"):
        yield base() + "/xai/v1"


def test_map_batch_against_llmock_ends_with_one_line(
    llmock_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XAI_API_KEY", CANARY)
    monkeypatch.setenv("GROK_BASE_URL", llmock_url)
    out = grok_magics.map(reviews(3), "B: {review}", batch=True, poll_every=0.05, progress=False)
    errors = out["grok_error"].tolist()
    assert len(set(errors)) == 1 and errors[0].startswith("not run: batch ")
    assert (
        "results that name no row: they carry no batch_request_id (fields seen: custom_id, error, request_id, "
        "response, state)" in errors[0]
    )
    printed = capsys.readouterr().out
    assert "(status PENDING)" in printed and "3 not run (batch " in printed
    assert_no_canary(printed, errors)


def test_map_batch_deadline_is_checked(fake: Any) -> None:
    with pytest.raises(GrokError, match="batch_deadline must be a positive number of seconds"):
        grok_magics.map(reviews(1), "{review}", batch=True, batch_deadline=0, progress=False)
    assert fake.requests == []
