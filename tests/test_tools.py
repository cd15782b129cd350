"""Local tools, the data toolset and xAI search, through a real InteractiveShell against the fake server."""

from __future__ import annotations

import io
import json
import threading
from typing import Annotated, Any, Literal

import pytest
from conftest import CANARY, Harness, assert_no_canary, send_sigint, wait_until
from fake_grok import Reply
from pydantic import BaseModel, Field

pytestmark = pytest.mark.timeout(60)

TOOLS_CELL = '''
import grok_magics

def add(a: int, b: int) -> int:
    """Add two whole numbers.

    Args:
        a: the first number
        b: the second number
    """
    return a + b

def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()

def broken(x: int) -> int:
    """Always fails."""
    raise ValueError(f"no luck with {x}")

@grok_magics.tool(side_effects=True)
def delete_file(path: str) -> str:
    """Delete a file."""
    deleted.append(path)
    return "deleted"

deleted = []

def mean_of(column: str, scale: float) -> dict:
    """A mean, with every digit."""
    return {"column": column, "mean": 1271.5294117647059 * scale, "share": 0.000123456789}
'''


@pytest.fixture
def tools_shell(shell: Harness) -> Harness:
    assert shell.run(TOOLS_CELL).success
    shell.run("%config GrokMagics.display = 'markdown'")
    return shell


def final(ran: Any) -> str:
    return ran.displays[-1]["data"]["text/markdown"]


def metadata(ran: Any) -> dict[str, Any]:
    return ran.displays[-1]["metadata"]["grok_magics"]


def tool_outputs(body: dict[str, Any]) -> dict[str, str]:
    """call id → output sent back, for either API."""
    if "messages" in body:
        return {m["tool_call_id"]: m["content"] for m in body["messages"] if m["role"] == "tool"}
    return {i["call_id"]: i["output"] for i in body["input"] if i.get("type") == "function_call_output"}


# -- the loop ------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_two_rounds_with_two_calls_in_one_round(tools_shell: Harness, fake, api: str) -> None:
    fake.script(
        Reply(
            text="Let me compute.",
            tool_calls=[
                {"name": "add", "arguments": {"a": 2, "b": 3}, "id": "c1"},
                {"name": "shout", "arguments": {"text": "hi"}, "id": "c2"},
            ],
        ),
        Reply(text="", tool_calls=[{"name": "add", "arguments": {"a": 5, "b": 10}, "id": "c3"}]),
        Reply(text="The sum is 15 and HI."),
    )
    ran = tools_shell.run(f"%%grok --api {api} --tools add,shout\nAdd 2 and 3, then add 10; shout hi", cell_id="t")
    assert ran.success, ran.stdout
    first, second, third = (r.body for r in fake.requests)
    names = [t["function"]["name"] for t in first["tools"]] if api == "chat" else [t["name"] for t in first["tools"]]
    assert names == ["add", "shout"]
    schema = first["tools"][0]["function"]["parameters"] if api == "chat" else first["tools"][0]["parameters"]
    assert schema["required"] == ["a", "b"] and schema["properties"]["a"] == {
        "type": "integer",
        "description": "the first number",
    }
    assert tool_outputs(second) == {"c1": "5", "c2": "HI"}  # both calls of round one (strings go as they are)
    assert tool_outputs(third) == {"c1": "5", "c2": "HI", "c3": "15"}
    shown = final(ran)
    assert shown.index("Let me compute.") < shown.index("<details><summary>⚙ add(") < shown.index("The sum is 15")
    assert shown.count("<details>") == 3 and 'shout({"text": "hi"})' in shown
    assert [c["name"] for c in metadata(ran)["tool_calls"]] == ["add", "shout", "add"]
    turn = tools_shell.magics.session.chats.get("default").turns[0]
    assert turn.answer == "The sum is 15 and HI." and len(turn.rounds) == 2
    assert tools_shell.magics.session.tally("xai", "grok-4.3").requests == 3  # each round is billed
    assert_no_canary(ran.everything)


def test_a_tool_call_shows_its_arguments_once_and_its_floats_rounded(tools_shell: Harness, fake) -> None:
    fake.script(
        Reply(text="", tool_calls=[{"name": "mean_of", "arguments": {"column": "rows", "scale": 1.0}, "id": "c1"}]),
        Reply(text="The mean is about 1271.53."),
    )
    ran = tools_shell.run("%%grok --tools mean_of\nMean of rows?")
    assert ran.success, ran.stdout
    shown = final(ran)
    summary = '<summary>⚙ mean_of({"column": "rows", "scale": 1.0})</summary>'
    assert summary in shown and shown.count('"column"') == 2  # the summary and the result: arguments once
    assert '"mean": 1271.53' in shown and '"share": 0.0001235' in shown and "1271.5294" not in shown
    sent = json.loads(tool_outputs(fake.requests[1].body)["c1"])
    assert sent["mean"] == 1271.5294117647059  # the model gets every digit
    assert metadata(ran)["tool_calls"][0]["result"] == tool_outputs(fake.requests[1].body)["c1"]  # and the notebook


def test_long_arguments_are_cut_in_the_summary_and_shown_once_below(tools_shell: Harness, fake) -> None:
    text = "word " * 40
    fake.script(Reply(text="", tool_calls=[{"name": "shout", "arguments": {"text": text}}]), Reply(text="Done."))
    ran = tools_shell.run("%%grok --tools shout\nShout this")
    assert ran.success, ran.stdout
    shown = final(ran)
    assert "<summary>⚙ shout(…)</summary>" in shown and shown.count('"text": "word word') == 1  # arguments once
    assert "WORD WORD" in shown  # and the result


def test_a_tool_that_raises_answers_the_model_with_the_error(tools_shell: Harness, fake) -> None:
    fake.script(
        Reply(
            text="",
            tool_calls=[
                {"name": "broken", "arguments": {"x": 7}, "id": "c1"},
                {"name": "add", "arguments": {"a": "not a number", "b": 1}, "id": "c2"},
                {"name": "missing", "arguments": {}, "id": "c3"},
            ],
        ),
        Reply(text="That tool failed."),
    )
    ran = tools_shell.run("%%grok --tools broken,add\ntry it")
    assert ran.success, ran.stdout
    outputs = tool_outputs(fake.requests[1].body)
    assert json.loads(outputs["c1"]) == {"error": "ValueError: no luck with 7"}
    assert "validation error" in json.loads(outputs["c2"])["error"]
    assert "no tool called missing" in json.loads(outputs["c3"])["error"]
    assert "That tool failed." in final(ran) and "— error" in final(ran)


def test_the_round_limit_stops_with_a_note(tools_shell: Harness, fake) -> None:
    tools_shell.run("%config GrokMagics.max_tool_rounds = 2")
    again = [{"name": "add", "arguments": {"a": 1, "b": 1}}]
    fake.script(*(Reply(text="", tool_calls=again) for _ in range(3)))
    ran = tools_shell.run("%%grok --tools add\nloop forever", cell_id="limit")
    assert ran.success, ran.stdout
    assert len(fake.requests) == 3  # two rounds of tools, then the third request's calls are not run
    assert "Stopped after 2 tool rounds" in final(ran) and "max_tool_rounds" in final(ran)
    fake.script(Reply(text="ok"))
    assert tools_shell.run("%grok next").success  # the history it left is valid for the API (pairs match)
    assert len(tool_outputs(fake.requests[-1].body)) == 2


def test_interrupt_during_a_tool_stops_the_ask(tools_shell: Harness, fake) -> None:
    tools_shell.run(
        "import threading, time\nstarted = threading.Event()\n"
        "def slow(n: int) -> int:\n    'Takes a while.'\n    started.set()\n"
        "    for _ in range(3000):\n        time.sleep(0.01)\n    return n\n"
    )
    started = tools_shell.shell.user_ns["started"]
    fake.script(Reply(text="", tool_calls=[{"name": "slow", "arguments": {"n": 1}}]), Reply(text="never"))
    threading.Thread(target=lambda: started.wait(20) and send_sigint(), daemon=True).start()
    ran = tools_shell.run("%%grok --tools slow\ngo slow", cell_id="slow")
    assert not ran.success and isinstance(ran.error, KeyboardInterrupt)
    assert len(fake.requests) == 1, "a request was sent after the interrupt"
    assert "not run" in final(ran) and "Interrupted" in ran.stdout  # the outcome is said once, as the error
    fake.script(Reply(text="fine"))
    assert tools_shell.run("%grok next").success  # no half round in the history


def test_interrupt_between_rounds_sends_nothing_more(tools_shell: Harness, fake) -> None:
    tools_shell.run("def stop(n: int) -> int:\n    'Stops.'\n    raise KeyboardInterrupt\n")
    fake.script(
        Reply(
            text="",
            tool_calls=[{"name": "stop", "arguments": {"n": 1}}, {"name": "add", "arguments": {"a": 1, "b": 2}}],
        )
    )
    ran = tools_shell.run("%%grok --tools stop,add\ngo")
    assert isinstance(ran.error, KeyboardInterrupt) and len(fake.requests) == 1
    shown = final(ran)
    assert "add(" in shown and "not run" in shown  # the second call never ran
    assert "Interrupted" in ran.stdout and "Interrupted" not in shown  # said once, as the cell's error


# -- history -------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_history_replays_a_tool_turn_and_a_rerun_replaces_it(tools_shell: Harness, fake, api: str) -> None:
    fake.script(
        Reply(
            text="", reasoning="I should add.", tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}, "id": "c1"}]
        ),
        Reply(text="It is 3."),
    )
    assert tools_shell.run(f"%%grok --api {api} --tools add\n1+2?", cell_id="a").success
    fake.script(Reply(text="Yes."))
    assert tools_shell.run(f"%%grok --api {api}\nsure?", cell_id="b").success
    body = fake.requests[-1].body
    if api == "chat":
        roles = [m["role"] for m in body["messages"]]
        assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
        assert body["messages"][2]["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a": 1, "b": 2}'}
    else:
        kinds = [i.get("type") or i["role"] for i in body["input"]]
        assert kinds == ["system", "user", "reasoning", "function_call", "function_call_output", "message", "user"]
        assert body["input"][2]["encrypted_content"]  # xAI's reasoning of the tool round goes back verbatim
    assert tool_outputs(body) == {"c1": "3"}
    assert "Tools: add" in tools_shell.run("%grok history").stdout
    # re-running the first cell replaces its tool rounds instead of adding more
    fake.script(
        Reply(text="", tool_calls=[{"name": "add", "arguments": {"a": 2, "b": 2}, "id": "c9"}]), Reply(text="It is 4.")
    )
    assert tools_shell.run(f"%%grok --api {api} --tools add\n2+2?", cell_id="a").success
    turns = tools_shell.magics.session.chats.get("default").turns
    assert [t.answer for t in turns] == ["It is 4.", "Yes."]
    assert [c.call_id for r in turns[0].rounds for c in r.calls] == ["c9"]


def test_chat_tools_subcommand_adds_lists_and_removes(tools_shell: Harness, fake) -> None:
    ran = tools_shell.run("%grok tools add add,shout --chat calc")
    assert "Tools for chat 'calc': add, shout" in ran.stdout
    fake.script(Reply(text="no tools needed"))
    assert tools_shell.run("%grok --chat calc hello").success
    assert [t["name"] for t in fake.requests[-1].body["tools"]] == ["add", "shout"]
    assert "add" in tools_shell.run("%grok tools list --chat calc").stdout
    tools_shell.run("%grok tools remove add,shout --chat calc")
    assert tools_shell.run("%grok --chat calc hello").success
    assert "tools" not in fake.requests[-1].body
    bad = tools_shell.run("%grok tools add nosuchfunction")
    assert not bad.success and "no function called nosuchfunction" in bad.stdout + bad.stderr + str(bad.error)


# -- side effects ----------------------------------------------------------------------------------


def test_side_effect_tool_is_refused_without_a_way_to_confirm(tools_shell: Harness, fake) -> None:
    fake.script(
        Reply(text="", tool_calls=[{"name": "delete_file", "arguments": {"path": "/tmp/x"}, "id": "d"}]),
        Reply(text="Could not delete."),
    )
    ran = tools_shell.run("%%grok --tools delete_file\ndelete /tmp/x")  # pytest's stdin cannot be read
    assert ran.success
    assert "cannot ask the user to confirm" in tool_outputs(fake.requests[1].body)["d"]
    assert tools_shell.shell.user_ns["deleted"] == []


@pytest.mark.parametrize("answer,runs", [("y\n", True), ("n\n", False)])
def test_side_effect_tool_asks_first(tools_shell: Harness, fake, monkeypatch, answer: str, runs: bool) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))  # what a person types at the prompt
    fake.script(
        Reply(text="", tool_calls=[{"name": "delete_file", "arguments": {"path": "/tmp/x"}, "id": "d"}]),
        Reply(text="Done."),
    )
    ran = tools_shell.run("%%grok --tools delete_file\ndelete /tmp/x")
    assert ran.success and "Grok wants to run delete_file" in ran.stdout
    assert tools_shell.shell.user_ns["deleted"] == (["/tmp/x"] if runs else [])
    expected = "deleted" if runs else "the user declined"
    assert expected in tool_outputs(fake.requests[1].body)["d"]


# -- refusals --------------------------------------------------------------------------------------


def test_aigateway_refuses_tools_and_search_before_sending(tools_shell: Harness, fake_factory, monkeypatch) -> None:
    server = fake_factory("aigateway")
    monkeypatch.setenv("AIGATEWAY_API_KEY", CANARY)
    monkeypatch.setenv("GROK_BASE_URL", server.base_url)
    ran = tools_shell.run("%grok --provider aigateway --tools add what is 1+1")
    assert not ran.success and "Tool calling — no" in str(ran.error)
    ran = tools_shell.run("%grok --provider aigateway --search web news")
    assert not ran.success and "not available on AIgateway" in str(ran.error)
    assert server.requests == []
    assert_no_canary(ran.everything)


def test_search_needs_xai_and_responses(tools_shell: Harness, fake_factory, monkeypatch) -> None:
    server = fake_factory("bedrock")
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", CANARY)
    monkeypatch.setenv("GROK_BASE_URL", server.base_url)
    ran = tools_shell.run("%grok --provider bedrock --search x news")
    assert not ran.success and "not available on Amazon Bedrock" in str(ran.error)
    monkeypatch.setenv("XAI_API_KEY", CANARY)
    ran = tools_shell.run("%grok --provider xai --api chat --search web news")
    assert not ran.success and "Responses API" in str(ran.error)
    assert server.requests == []
    bad = tools_shell.run("%grok --search bing news")
    assert not bad.success and "search" in str(bad.error)


# -- xAI search ------------------------------------------------------------------------------------


def test_search_request_shape_progress_citations_and_cost(tools_shell: Harness, fake) -> None:
    gate = threading.Event()
    fake.script(
        Reply(
            text="Grok 4.3 shipped [1] and people on X liked it [2].",
            gate_after=0,
            gate=gate,
            searches=[{"type": "web_search", "query": "grok 4.3 release"}, {"type": "x_search", "query": "grok 4.3"}],
            citations=[
                {"url": "https://x.ai/news/grok-4-3", "title": "Grok 4.3"},
                {"url": "https://x.com/xai/status/1", "title": "xAI on X"},
                {"url": "https://x.ai/news/grok-4-3", "title": "Grok 4.3"},
            ],
        )
    )

    def searched() -> bool:
        return any("Searched X: grok 4.3" in m["data"].get("text/markdown", "") for m in tools_shell.publisher.messages)

    threading.Thread(target=lambda: (wait_until(searched, "search progress"), gate.set()), daemon=True).start()
    ran = tools_shell.run("%%grok --search web,x\nWhat's new with Grok?")
    assert ran.success, ran.stdout
    body = fake.requests[0].body
    assert body["tools"] == [{"type": "web_search"}, {"type": "x_search"}]
    shown = final(ran)
    assert (
        "**Sources**\n\n1. [Grok 4.3](https://x.ai/news/grok-4-3)\n2. [xAI on X](https://x.com/xai/status/1)" in shown
    )
    assert "3." not in shown.split("**Sources**")[1].split("<sub>")[0]  # one number per URL
    assert "2 server-side tool calls" in shown
    meta = metadata(ran)
    assert meta["citations"][0]["url"] == "https://x.ai/news/grok-4-3" and meta["server_side_tools"] == 2
    assert [s["query"] for s in meta["searches"]] == ["grok 4.3 release", "grok 4.3"]
    usage = tools_shell.magics.session.tally("xai", "grok-4.3")
    assert usage.exact and usage.cost > 2 * 0.005 - 1e-9  # the search calls are in xAI's reported cost


# -- the data toolset --------------------------------------------------------------------------------

ORDERS_CELL = """
import numpy as np, pandas as pd
rng = np.random.default_rng(7)
n = 200_000
orders = pd.DataFrame({
    "region": rng.choice(["north", "south", "east", "west"], n),
    "amount": np.round(rng.uniform(1, 1000, n), 2),
    "date": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
    "email": [f"customer{i}@secret.example" for i in range(n)],
    "card_number": [f"4111-{i:08d}" for i in range(n)],
})
"""

NORTH_MARCH = [
    {"column": "amount", "op": ">", "value": 500},
    {"column": "region", "op": "==", "value": "north"},
    {"column": "date", "op": "between", "value": ["2026-03-01", "2026-03-31 23:59:59"]},
]


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_data_toolset_answers_on_all_rows_without_sending_them(tools_shell: Harness, fake, api: str) -> None:
    assert tools_shell.run(ORDERS_CELL).success
    orders = tools_shell.shell.user_ns["orders"]
    march = orders["date"].between("2026-03-01", "2026-03-31 23:59:59")
    expected = int(((orders["amount"] > 500) & (orders["region"] == "north") & march).sum())
    total = round(float(orders.loc[orders["region"] == "north", "amount"].sum()), 2)
    fake.script(
        Reply(
            text="",
            tool_calls=[
                {"name": "count_rows", "arguments": {"frame": "orders", "filters": NORTH_MARCH}, "id": "c1"},
                {
                    "name": "aggregate",
                    "arguments": {"frame": "orders", "function": "sum", "column": "amount", "group_by": ["region"]},
                    "id": "c2",
                },
            ],
        ),
        Reply(text=f"{expected} orders."),
    )
    ran = tools_shell.run(
        f"%%grok --api {api} --tools data\nHow many orders over $500 came from the north region "
        "last March in {orders}?"
    )
    assert ran.success, ran.stdout
    outputs = tool_outputs(fake.requests[1].body)
    assert json.loads(outputs["c1"]) == {"rows": expected}  # exact, on all 200,000 rows
    groups = {r["region"]: r["sum"] for r in json.loads(outputs["c2"])["rows"]}
    assert groups["north"] == pytest.approx(total) and len(groups) == 4
    sent = json.dumps([r.body for r in fake.requests])
    for value in ("secret.example", "4111-", str(orders["amount"].iloc[0]), str(orders["amount"].iloc[-1])):
        assert value not in sent, f"a row value ({value}) left the kernel"
    tools = fake.requests[0].body["tools"]
    described = json.dumps(tools)
    assert "200,000 rows" in described and "amount (float64)" in described  # the schema does leave


def test_excluded_columns_are_never_returned(tools_shell: Harness, fake) -> None:
    assert tools_shell.run(ORDERS_CELL).success
    fake.script(
        Reply(
            text="",
            tool_calls=[
                {"name": "top_rows", "arguments": {"frame": "orders", "by": "amount", "n": 5}, "id": "t"},
                {"name": "value_counts", "arguments": {"frame": "orders", "column": "email"}, "id": "v"},
                {
                    "name": "count_rows",
                    "arguments": {
                        "frame": "orders",
                        "filters": [{"column": "card_number", "op": "contains", "value": "4111"}],
                    },
                    "id": "f",
                },
                {"name": "describe", "arguments": {"frame": "orders"}, "id": "d"},
                {
                    "name": "aggregate",
                    "arguments": {"frame": "orders", "function": "count", "group_by": ["email"]},
                    "id": "g",
                },
                {"name": "list_frames", "arguments": {}, "id": "l"},
                {
                    "name": "top_rows",
                    "arguments": {"frame": "orders", "by": "amount", "columns": ["email"]},
                    "id": "t2",
                },
                {"name": "top_rows", "arguments": {"frame": "orders", "by": "card_number"}, "id": "t3"},
                {
                    "name": "aggregate",
                    "arguments": {"frame": "orders", "function": "max", "column": "email"},
                    "id": "m",
                },
                {"name": "quantiles", "arguments": {"frame": "orders", "column": "card_number"}, "id": "q"},
                {"name": "correlation", "arguments": {"frame": "orders", "columns": ["email"]}, "id": "c"},
                {"name": "describe", "arguments": {"frame": "orders", "columns": ["email"]}, "id": "d2"},
            ],
        ),
        Reply(text="done"),
    )
    ran = tools_shell.run("%%grok --tools data --data orders --exclude email,card_*\nwho are the top customers?")
    assert ran.success, ran.stdout
    outputs = tool_outputs(fake.requests[1].body)
    top = json.loads(outputs["t"])
    assert top["columns"] == ["region", "amount", "date"] and len(top["data"]) == 5
    for name in ("v", "f", "g", "t2", "t3", "m", "q", "c", "d2"):
        assert "has no column" in json.loads(outputs[name])["error"], name
    sent = json.dumps([r.body for r in fake.requests]) + final(ran)
    assert "secret.example" not in sent and "4111-" not in sent
    assert "email" not in outputs["d"] + outputs["l"] and "card_number" not in outputs["d"] + outputs["l"]
    # a follow-up in the same chat, without repeating --exclude or {orders}, still cannot read them
    fake.script(
        Reply(
            text="",
            tool_calls=[{"name": "value_counts", "arguments": {"frame": "orders", "column": "email"}, "id": "v"}],
        ),
        Reply(text="done"),
    )
    assert tools_shell.run("%%grok --tools data\nand their emails?").success
    assert "has no column" in tool_outputs(fake.requests[-1].body)["v"]
    assert "secret.example" not in json.dumps(fake.requests[-1].body)


def test_data_toolset_reads_polars_and_validates_arguments(tools_shell: Harness, fake) -> None:
    made = tools_shell.run("import polars as pl\nsales = pl.DataFrame({'shop': ['a', 'b', 'a'], 'n': [1, 2, 3]})")
    assert made.success
    fake.script(
        Reply(
            text="",
            tool_calls=[
                {
                    "name": "aggregate",
                    "arguments": {"frame": "sales", "function": "sum", "column": "n", "group_by": ["shop"]},
                    "id": "ok",
                },
                {
                    "name": "count_rows",
                    "arguments": {"frame": "sales", "filters": [{"column": "n", "op": "; import os", "value": 1}]},
                    "id": "op",
                },
                {
                    "name": "aggregate",
                    "arguments": {"frame": "sales", "function": "__import__", "column": "n"},
                    "id": "fn",
                },
                {"name": "count_rows", "arguments": {"frame": "other"}, "id": "frame"},
            ],
        ),
        Reply(text="done"),
    )
    assert tools_shell.run("%%grok --tools data\nsales per shop in {sales}?").success
    outputs = tool_outputs(fake.requests[1].body)
    assert json.loads(outputs["ok"])["rows"] == [{"shop": "a", "sum": 4}, {"shop": "b", "sum": 2}]
    for name in ("op", "fn", "frame"):
        assert "validation error" in json.loads(outputs[name])["error"]


def test_data_toolset_needs_a_frame(tools_shell: Harness, fake) -> None:
    ran = tools_shell.run("%grok --tools data what is in my data?")
    assert not ran.success and "needs a DataFrame" in str(ran.error) and fake.requests == []


# -- the shipped notebook ------------------------------------------------------------------------------


def test_tools_notebook_runs_top_to_bottom(fake, tmp_path, monkeypatch) -> None:
    """notebooks/tools.ipynb in a real kernel (nbclient), answered by scripted fake replies."""
    from pathlib import Path

    import nbformat
    from kernels import run_notebook

    monkeypatch.delenv("GROK_MAGICS_AUTOLOAD")  # loaded as installed
    source = Path(__file__).parent.parent / "notebooks" / "tools.ipynb"
    nb = nbformat.read(source, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), "ship it clean"
    north_march = [
        {"column": "amount", "op": ">", "value": 500},
        {"column": "region", "op": "==", "value": "north"},
        {"column": "date", "op": "between", "value": ["2026-03-01", "2026-03-31 23:59:59"]},
    ]
    fake.script(
        Reply(
            text="",
            tool_calls=[
                {"name": "count_rows", "arguments": {"frame": "orders", "filters": north_march}, "id": "n"},
                {
                    "name": "aggregate",
                    "arguments": {"frame": "orders", "function": "sum", "column": "amount", "group_by": ["region"]},
                    "id": "s",
                },
            ],
        ),
        Reply(text="(fake reply) The count and the totals per region are in the tool results above."),
        Reply(
            text="",
            tool_calls=[
                {"name": "fx_rate", "arguments": {"currency": "EUR"}, "id": "e"},
                {"name": "fx_rate", "arguments": {"currency": "GBP"}, "id": "g"},
            ],
        ),
        Reply(text="(fake reply) 250 × 1.08 + 100 × 1.27 = $397.00"),
        Reply(
            text="(fake reply) Grok 4.3 is out [1].",
            searches=[{"type": "web_search", "query": "xAI Grok 4.3"}],
            citations=[{"url": "https://x.ai/news", "title": "xAI news"}],
        ),
    )
    run_notebook(nb, tmp_path)
    errors = [o for cell in nb.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    frame = nb.cells[-1].outputs[0].data["text/plain"]  # the structured answer, as a DataFrame
    assert "region" in frame and "orders" in frame and "note" in frame
    counted = json.loads(tool_outputs(fake.requests[1].body)["n"])["rows"]
    by_hand = nb.cells[5].outputs[0].text.strip()
    assert str(counted) == by_hand and counted > 1000  # the tool's answer is pandas' answer on all rows
    assert {k: v for k, v in tool_outputs(fake.requests[3].body).items() if k in "eg"} == {"e": "1.08", "g": "1.27"}
    assert "n" in tool_outputs(fake.requests[3].body)  # the earlier tool turn is replayed in the same chat
    assert fake.requests[4].body["tools"] == [{"type": "web_search"}, {"type": "x_search"}]
    sent = json.dumps([r.body for r in fake.requests])
    assert "@example.com" not in sent and "email" not in sent
    saved = nbformat.writes(nb)
    assert "<details><summary>⚙ count_rows(" in saved and "1. [xAI news](https://x.ai/news)" in saved
    assert "Tools for chat 'money': fx_rate" in saved
    assert_no_canary(saved)
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_notebook_node(nbformat.reads(saved, as_version=4))
    assert "<summary>⚙ count_rows(" in html and '<a href="https://x.ai/news">xAI news</a>' in html


# -- schemas from signatures -------------------------------------------------------------------------


class Point(BaseModel):
    x: float
    y: float


def distance(
    a: Point,
    b: Point,
    unit: Literal["m", "km"] = "m",
    scale: Annotated[float, Field(gt=0, description="multiplier")] = 1.0,
) -> float:
    """Distance between two points.

    Args:
        a: the start
        b: the end
    """
    assert isinstance(a, Point) and isinstance(b, Point)  # validated into the model, not a dict
    d = ((a.x - b.x) ** 2 + (a.y - b.y) ** 2) ** 0.5 * scale
    return d / 1000 if unit == "km" else d


def test_schema_from_a_signature_with_a_pydantic_model_and_docstring() -> None:
    from grok_magics.model.events import ToolCall
    from grok_magics.tools.functions import from_function, run_call

    made = from_function(distance)
    schema = made.spec.parameters
    assert made.spec.description == "Distance between two points."
    assert schema["required"] == ["a", "b"] and schema["additionalProperties"] is False
    assert schema["properties"]["a"]["description"] == "the start" and "Point" in schema["$defs"]
    assert schema["properties"]["unit"]["enum"] == ["m", "km"]
    assert schema["properties"]["scale"]["exclusiveMinimum"] == 0
    tools = {made.name: made}
    ok = run_call(ToolCall("1", "distance", '{"a": {"x": 0, "y": 0}, "b": {"x": 3, "y": 4}, "scale": 2}'), tools)
    assert (ok.output, ok.error) == ("10.0", False)
    for bad in (
        '{"a": {"x": 0}, "b": {"x": 3, "y": 4}}',
        '{"a": 1}',
        "[1, 2]",
        "not json",
        '{"a": {"x": 0, "y": 0}, "b": {"x": 3, "y": 4}, "scale": -1}',
        '{"a": {}, "b": {}, "rm": 1}',
    ):
        assert run_call(ToolCall("2", "distance", bad), tools).error, bad


def test_hidden_columns_use_the_context_blocks_case_insensitive_globs() -> None:
    from grok_magics.context.references import referenced_names
    from grok_magics.tools.data import hidden

    assert hidden("card_number", ["card_*"]) and hidden("email", ["email"]) and hidden("Email", ["*EMAIL*"])
    assert not hidden("amount", ["card_*", "email"]) and hidden(3, ["3"])
    assert referenced_names("in {orders} and {{literal}} and {orders} or {x1}") == ["orders", "x1"]


def test_terminal_prints_each_call_and_search(shell: Harness, fake) -> None:
    assert shell.run(TOOLS_CELL).success
    fake.script(
        Reply(text="", tool_calls=[{"name": "add", "arguments": {"a": 20, "b": 22}}]),
        Reply(text="42, and the web agrees.", searches=[{"type": "web_search", "query": "20+22"}]),
    )
    ran = shell.run("%%grok --tools add --search web\n20+22?")
    assert ran.success, ran.stdout
    assert '[tool] add({"a": 20, "b": 22}) → 42' in ran.stdout and "[search web] 20+22" in ran.stdout
    assert ran.stdout.index("[tool]") < ran.stdout.index("42, and the web agrees.")
    assert "1 server-side tool call" in ran.stdout


def test_live_status_says_what_is_running() -> None:
    from grok_magics.model.events import SearchProgress, ToolCall, ToolResult
    from grok_magics.model.reply import Reply as Answer
    from grok_magics.render.status import Header, status_line

    header = Header(model="grok-4.3", provider="xai", api="responses")
    reply = Answer()
    reply.add(SearchProgress("x", "in_progress", item_id="s1"))
    assert "searching X…" in status_line(header, reply, live=True)
    reply.add(SearchProgress("x", "searching", item_id="s1"))
    reply.add(SearchProgress("x", "completed", "grok", item_id="s1"))
    assert "searching" not in status_line(header, reply, live=True) and len(reply.searches) == 1
    assert reply.searches[0].query == "grok"
    reply.add(ToolCall("c", "add", "{}"))
    reply.activity = "running add…"  # what the ask loop sets before it calls the function
    assert "running add…" in status_line(header, reply, live=True)
    reply.add(ToolResult("c", "add", "3"))
    assert "running" not in status_line(header, reply, live=True)


def test_side_effect_tool_is_refused_in_a_kernel_without_stdin(fake, tmp_path) -> None:
    """nbclient (like papermill) allows no input: the call is refused, the model is told, nothing runs."""
    from kernels import notebook, run_notebook

    nb = notebook(
        "%load_ext grok_magics\nimport grok_magics\ndone = []\n"
        "@grok_magics.tool(side_effects=True)\ndef wipe(table: str) -> str:\n    'Delete a table.'\n"
        "    done.append(table)\n    return 'wiped'",
        "%%grok --tools wipe\nwipe the orders table",
        "print(done)",
    )
    fake.script(
        Reply(text="", tool_calls=[{"name": "wipe", "arguments": {"table": "orders"}, "id": "w"}]),
        Reply(text="I could not wipe it."),
    )
    run_notebook(nb, tmp_path)
    assert "cannot ask the user to confirm" in tool_outputs(fake.requests[1].body)["w"]
    assert nb.cells[2].outputs[0].text.strip() == "[]"
    saved = json.dumps(nb.cells[1].outputs)
    assert "wipe(" in saved and "I could not wipe it." in saved
