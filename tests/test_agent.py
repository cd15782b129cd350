"""Agent cells (``%%grok --agent``) against the fake server, through a real InteractiveShell."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import CANARY, Harness, assert_no_canary, send_sigint
from fake_grok import Reply

from grok_magics.providers.table import PROVIDERS

pytestmark = pytest.mark.timeout(90)

DATA = """
import pandas as pd
sales = pd.DataFrame({
    "month": ["2024-01", "2024-02", "2024-03", "2024-03"],
    "revenue": [100.0, 120.0, 900.0, 80.0],
    "ssn": ["111-22-3333", "444-55-6666", "777-88-9999", "123-45-6789"],
})
"""


def step(code: str, purpose: str = "look", call_id: str = "") -> dict[str, Any]:
    call: dict[str, Any] = {"name": "run_python", "arguments": {"code": code, "purpose": purpose}}
    if call_id:
        call["id"] = call_id
    return call


def outputs_of(body: dict[str, Any]) -> list[str]:
    """Every tool output sent back, in order, for either API."""
    if "messages" in body:
        return [m["content"] for m in body["messages"] if m["role"] == "tool"]
    return [i["output"] for i in body["input"] if i.get("type") == "function_call_output"]


def images_of(body: dict[str, Any]) -> list[str]:
    """Image URLs anywhere in the request (the step's figures follow the tool results as a user message)."""
    found: list[str] = []
    for item in body.get("messages") or body.get("input") or []:
        content = item.get("content")
        for part in content if isinstance(content, list) else []:
            if part.get("type") == "image_url":
                found.append(part["image_url"]["url"])
            elif part.get("type") == "input_image":
                found.append(part["image_url"])
    return found


def agent_meta(ran: Any) -> dict[str, Any]:
    return next(d["metadata"]["grok_magics_agent"] for d in ran.displays if "grok_magics_agent" in d["metadata"])


def shown(ran: Any) -> str:
    return "\n".join(str(d["data"].get("text/markdown") or d["data"].get("text/plain")) for d in ran.displays)


@pytest.fixture
def agent_shell(shell: Harness) -> Harness:
    assert shell.run(DATA).success
    shell.run("%config GrokMagics.display = 'markdown'")
    shell.run("%config GrokMagics.redact_columns = ['ssn']")
    return shell


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_a_multi_step_session(agent_shell: Harness, fake, api: str) -> None:
    agent_shell.run("%config GrokMagics.agent_approval = 'auto'")
    plot = "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1, 3, 2])"
    fake.script(
        Reply(text="Let me look.", tool_calls=[step("sales['revenu'].sum()", "total", "c1")]),
        Reply(text="", tool_calls=[step("by_month = sales.groupby('month').revenue.sum()\nby_month", "fix", "c2")]),
        Reply(text="", tool_calls=[step(plot, "plot", "c3")]),
        Reply(text="", tool_calls=[step("print(sales.ssn.iloc[0])\nsales", "the rows", "c4")]),
        Reply(text="March is odd: revenue jumps to 980 (Step 2), as the chart shows (Step 3)."),
    )
    ran = agent_shell.run(f"%%grok --agent --api {api}\nplot revenue by month in {{sales}}, what is odd?", cell_id="a")
    assert ran.success, ran.stdout + ran.stderr
    assert len(fake.requests) == 5
    first, second, third, fourth, fifth = (r.body for r in fake.requests)
    tools = first["tools"]
    assert [t.get("name") or t["function"]["name"] for t in tools] == ["run_python"]
    error, fixed, plotted, rows = outputs_of(fifth)
    assert "KeyError" in error and "revenu" in error and 'File "<grok agent step 1>"' in error  # fed back
    assert "interactiveshell" not in error and "execution.py" not in error  # a trimmed traceback
    assert "2024-03" in fixed and "980" in fixed  # the series result, as a context block
    assert "image(s) attached" in plotted and images_of(fourth) and images_of(fourth)[0].startswith("data:image/png")
    assert len(images_of(fifth)) == 1  # the figure stays in the conversation once
    assert "4 rows" in rows and "ssn" in rows  # the frame as a block: shape and columns...
    for secret in ("111-22-3333", "777-88-9999"):
        assert secret not in json.dumps(fifth)  # ...but the redacted column's values never leave, printed or not
    text = shown(ran)
    assert "sales['revenu'].sum()" in text and "March is odd" in text and "Step 1 failed" in text
    assert text.index("Step 1 ·") < text.index("Step 2 ·") < text.index("March is odd")
    assert "2024-03" in text  # a step's value is shown as the shell shows a cell's (run_step formats it)
    assert any("image/png" in d["data"] for d in ran.displays)  # the figure is shown in the cell
    meta = agent_meta(ran)
    assert meta["approval"] == "auto" and [s["status"] for s in meta["steps"]] == ["failed", "ran", "ran", "ran"]
    assert agent_shell.shell.user_ns["by_month"]["2024-03"] == 980.0  # the steps ran in the user's namespace
    turn = agent_shell.magics.session.chats.get("default").turns[0]
    assert len(turn.rounds) == 4 and turn.answer.startswith("March is odd")
    assert_no_canary(ran.everything, *(json.dumps(r.body) for r in fake.requests))


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_risky_mode_asks_only_for_flagged_steps(agent_shell: Harness, fake, monkeypatch, tmp_path: Path, api) -> None:
    target = tmp_path / "out.txt"
    agent_shell.run("%config GrokMagics.agent_approval = 'risky'")
    fake.script(
        Reply(text="", tool_calls=[step("len(sales)", "count")]),
        Reply(text="", tool_calls=[step(f"open({str(target)!r}, 'w').write('x')", "save")]),
        Reply(text="", tool_calls=[step("sales = sales.head(1)", "shrink")]),
        Reply(text="Done: 4 rows."),
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("s\nn\n"))
    ran = agent_shell.run(f"%%grok --agent --api {api}\nhow many rows in {{sales}}?")
    assert ran.success, ran.stdout + ran.stderr
    assert not target.exists() and len(agent_shell.shell.user_ns["sales"]) == 4  # both risky steps skipped
    steps = agent_meta(ran)["steps"]
    assert [(s["status"], s["by"]) for s in steps] == [
        ("ran", "risky mode: nothing flagged"),
        ("skipped", "you"),
        ("skipped", "you"),
    ]
    assert "writes a file" in steps[1]["risks"][0] and "replaces your variable sales" in steps[2]["risks"]
    assert "skipped" in outputs_of(fake.requests[-1].body)[1]
    assert "Run this step?" in ran.stdout and "⚠ flagged: writes a file" in shown(ran)


def test_confirm_stop_ends_the_loop_and_keeps_the_conversation(agent_shell: Harness, fake, monkeypatch) -> None:
    fake.script(
        Reply(text="", tool_calls=[step("x = 41 + 1\nx", "add")]),
        Reply(text="", tool_calls=[step("x + 1", "more"), step("x + 2", "even more")]),
        Reply(text="never"),
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("y\nq\n"))
    ran = agent_shell.run("%%grok --agent\ncompute", cell_id="stop")
    assert ran.success, ran.stdout + ran.stderr
    assert len(fake.requests) == 2  # nothing sent after Stop
    meta = agent_meta(ran)
    assert meta["approval"] == "confirm" and meta["stopped"] == "stopped at your request"
    assert [s["status"] for s in meta["steps"]] == ["ran", "not run: stopped"]  # the third was never proposed
    fake.script(Reply(text="ok"))
    assert agent_shell.run("%grok next").success  # the partial conversation is valid history
    sent = outputs_of(fake.requests[-1].body)
    assert len(sent) == 3 and "42" in sent[0] and "stopped" in sent[1] and "stopped" in sent[2]


def test_confirm_without_stdin_runs_nothing(agent_shell: Harness, fake) -> None:
    fake.script(Reply(text="", tool_calls=[step("import os\nos.getcwd()", "where")]), Reply(text="never"))
    ran = agent_shell.run("%%grok --agent\nwhere am I?")
    assert ran.success
    assert len(fake.requests) == 1
    meta = agent_meta(ran)
    assert meta["steps"][0]["decision"] == "stop" and "agent_approval" in meta["stopped"]


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_a_step_over_its_time_limit_is_interrupted_and_the_loop_goes_on(agent_shell: Harness, fake, api) -> None:
    agent_shell.run("%config GrokMagics.agent_approval = 'auto'")
    agent_shell.run("%config GrokMagics.agent_step_seconds = 0.5")
    fake.script(
        Reply(text="", tool_calls=[step("import time\nprint('started')\ntime.sleep(60)", "slow")]),
        Reply(text="It was too slow."),
    )
    ran = agent_shell.run(f"%%grok --agent --api {api}\nbe slow")
    assert ran.success, ran.stdout + ran.stderr
    sent = outputs_of(fake.requests[-1].body)[0]
    assert "over its time limit" in sent and "started" in sent
    assert agent_meta(ran)["steps"][0]["status"] == "timed out" and "It was too slow." in shown(ran)
    assert "over its 0.5 s limit" in shown(ran)


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_ctrl_c_mid_loop_stops_at_once_and_keeps_what_ran(agent_shell: Harness, fake, api: str) -> None:
    agent_shell.run("%config GrokMagics.agent_approval = 'auto'")
    agent_shell.run("import threading\nstarted = threading.Event()")
    started = agent_shell.shell.user_ns["started"]
    fake.script(
        Reply(text="", tool_calls=[step("first = 1", "one")]),
        Reply(text="", tool_calls=[step("import time\nstarted.set()\nfor _ in range(3000): time.sleep(0.01)", "wait")]),
        Reply(text="never"),
    )
    threading.Thread(target=lambda: started.wait(30) and send_sigint(), daemon=True).start()
    ran = agent_shell.run(f"%%grok --agent --api {api}\ngo", cell_id="int")
    assert isinstance(ran.error, KeyboardInterrupt)
    assert "2 step(s) ran; they and their outputs stay" in str(ran.error), ran.error  # not "before any answer"
    assert len(fake.requests) == 2 and agent_shell.shell.user_ns["first"] == 1
    meta = agent_meta(ran)
    assert [s["status"] for s in meta["steps"]] == ["ran", "interrupted"] and meta["stopped"].startswith("interrupted")
    fake.script(Reply(text="fine"))
    assert agent_shell.run(f"%grok --api {api} next").success  # the partial conversation is recorded, valid
    assert len(outputs_of(fake.requests[-1].body)) == 2


def test_the_step_limit_asks_for_an_answer_then_stops(agent_shell: Harness, fake) -> None:
    agent_shell.run("%config GrokMagics.agent_approval = 'auto'")
    agent_shell.run("%config GrokMagics.agent_max_steps = 1")
    again = [step("1 + 1", "again")]
    fake.script(*(Reply(text="", tool_calls=again) for _ in range(3)), Reply(text="never"))
    ran = agent_shell.run("%%grok --agent\nloop")
    assert ran.success
    assert len(fake.requests) == 3
    assert "step limit (1) is reached; answer now" in outputs_of(fake.requests[2].body)[1]
    assert agent_meta(ran)["stopped"] == "step limit (1) reached"


def test_schema_only_sends_shapes_and_dtypes(agent_shell: Harness, fake) -> None:
    agent_shell.run("%config GrokMagics.agent_approval = 'auto'")
    fake.script(
        Reply(text="", tool_calls=[step("print(sales.month.iloc[0])\nsales.describe()\n", "stats")]),
        Reply(text="ok"),
    )
    assert agent_shell.run("%%grok --agent --schema-only\nstats of {sales}").success
    sent = outputs_of(fake.requests[-1].body)[0]
    assert "2024-01" not in sent and "withheld" in sent and "revenue" in sent and "float64" in sent


def test_a_provider_without_tools_says_so_before_sending(agent_shell: Harness, fake, monkeypatch) -> None:
    monkeypatch.setenv("AI_GATEWAY_API_KEY", "gw-test-key-123456")
    ran = agent_shell.run("%%grok --agent --provider aigateway\ngo")
    assert not ran.success and "does not offer tool calling, which --agent needs" in str(ran.error)
    assert not fake.requests


def test_dry_run_shows_the_tool(agent_shell: Harness, fake) -> None:
    ran = agent_shell.run("%%grok --agent --dry-run\nlook at {sales}")
    (shown,) = [d["data"]["text/plain"] for d in ran.displays]  # shown as an ask's dry run is (ask.dry_run)
    assert ran.success and 'tools = [{"type": "function", "name": "run_python"' in shown
    assert "call run_python with one short step" in shown  # the agent's guide in the system prompt
    assert "the text was sent only to the provider's tokenizer" in shown  # exact counts, as for an ask
    assert not fake.api_requests  # nothing went to the model
    assert_no_canary(ran.everything)


def test_code_places_the_steps_that_ran_in_the_next_cell(agent_shell: Harness, fake, monkeypatch) -> None:
    agent_shell.run("%config GrokMagics.agent_approval = 'risky'")
    fake.script(
        Reply(text="", tool_calls=[step("a = 2", "set a"), step("import os\nos.remove('x')", "tidy")]),
        Reply(text="", tool_calls=[step("a * 21", "times")]),
        Reply(text="It is 42."),
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("s\n"))
    assert agent_shell.run("%%grok --agent --code\nwhat is a*21").success
    # the skipped step is not in the cell: nothing that did not run is shown as if it had
    assert agent_shell.shell.rl_next_input == "# Step 1: set a\na = 2\n\n# Step 3: times\na * 21"


def test_a_key_printed_by_a_step_is_masked_everywhere(agent_shell: Harness, fake) -> None:
    agent_shell.run("%config GrokMagics.agent_approval = 'auto'")
    fake.script(
        Reply(text="", tool_calls=[step("import os\nprint(os.environ['XAI_API_KEY'])\nos.environ['XAI_API_KEY']")]),
        Reply(text="done"),
    )
    ran = agent_shell.run("%%grok --agent\nshow me the key")
    assert ran.success
    sent = outputs_of(fake.requests[-1].body)[0]
    assert "stdout:" in sent and "result (str)" in sent  # the step's output went back, the key masked in it
    assert "1 key-shaped value in the step outputs sent to Grok masked" in shown(ran)
    assert_no_canary(ran.everything, *(json.dumps(r.body) for r in fake.requests))
    assert CANARY not in json.dumps(agent_meta(ran))


# -- every provider row with tool calling; replay -----------------------------------------------------

PROVIDER_ROWS = [(name, api) for name, provider in PROVIDERS.items() if provider.tools for api in provider.apis]


@pytest.mark.parametrize("provider, api", PROVIDER_ROWS)
def test_every_row_with_tool_calling_runs_an_agent(agent_shell: Harness, fake_factory, monkeypatch, provider, api):
    from test_providers import MODEL_OPTION, point_at

    server = fake_factory(provider)
    point_at(server, provider, monkeypatch)
    agent_shell.run("%config GrokMagics.agent_approval = 'auto'")
    server.script(Reply(text="", tool_calls=[step("6 * 7", "multiply")]), Reply(text=f"42 on {provider}."))
    model = MODEL_OPTION.get(provider, "")
    ran = agent_shell.run(f"%%grok --agent --provider {provider} --api {api} {model}\nsix times seven")
    assert ran.success, ran.stdout + ran.stderr
    assert len(server.requests) == 2 and "42" in outputs_of(server.requests[1].body)[0]
    assert f"42 on {provider}." in shown(ran)
    assert_no_canary(ran.everything)


def test_a_recorded_agent_session_replays_with_its_steps_and_no_key(agent_shell: Harness, fake, tmp_path, monkeypatch):
    agent_shell.run("%config GrokMagics.agent_approval = 'auto'")
    path = tmp_path / "agent.cassette.jsonl"
    fake.script(
        Reply(text="", tool_calls=[step("total = sales.revenue.sum()\ntotal", "sum", "c1")]),
        Reply(text="The total is 1,200 (Step 1)."),
    )
    assert agent_shell.run(f"%grok record {path}").success
    assert agent_shell.run("%%grok --agent\ntotal of {sales}?").success
    agent_shell.run("%grok record off")
    agent_shell.run("%grok reset --all")
    del agent_shell.shell.user_ns["total"]
    fake.stop()
    monkeypatch.delenv("XAI_API_KEY")
    assert agent_shell.run(f"%grok replay {path}").success
    ran = agent_shell.run("%%grok --agent\ntotal of {sales}?")
    assert ran.success, ran.stdout + ran.stderr
    assert agent_shell.shell.user_ns["total"] == 1200.0  # the step ran again, here
    assert "The total is 1,200 (Step 1)." in shown(ran) and "replayed" in shown(ran)
    assert len(fake.requests) == 2  # nothing went to the server


# -- a real kernel: approval through the frontend's input box ------------------------------------------


def test_approval_through_the_prompt_in_a_real_kernel(fake, tmp_path: Path) -> None:
    from kernels import start_kernel

    fake.script(
        Reply(text="", tool_calls=[step("x = 6 * 7\nx", "multiply")]),
        Reply(text="", tool_calls=[step("import shutil\nshutil.rmtree('nothing-here')", "clean up")]),
        Reply(text="x is 42 (Step 1); I did not clean up (Step 2 was skipped)."),
    )
    km, kc = start_kernel(tmp_path)
    seen: list[dict[str, Any]] = []
    prompts: list[str] = []

    def run(code: str, answers: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        msg_id = kc.execute(code, allow_stdin=bool(answers))
        for answer in answers:
            request = kc.get_stdin_msg(timeout=60)
            prompts.append(request["content"]["prompt"])
            kc.input(answer)
        outputs = []
        while True:
            msg = kc.get_iopub_msg(timeout=60)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            seen.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return outputs
            outputs.append(msg)

    try:
        run("%load_ext grok_magics")
        ran = run("%%grok --agent\nwhat is 6*7? then tidy up", answers=("y", "s"))
        assert prompts == ["Run this step? [y] run · [s] skip · [q] stop: "] * 2
        texts = " ".join(str(m["content"]) for m in ran)
        assert "Step 1: approved (you)" in texts and "Step 2: skipped (you)" in texts and "42" in texts
        assert "x is 42 (Step 1)" in texts
        meta = next(
            m["content"]["metadata"]["grok_magics_agent"]
            for m in ran
            if "grok_magics_agent" in m["content"].get("metadata", {})
        )
        assert [(s["status"], s["decision"]) for s in meta["steps"]] == [("ran", "run"), ("skipped", "skip")]
        assert "changes files" in meta["steps"][1]["risks"][0]
        check = run("print(x, 'nothing-here' in __import__('os').listdir('.'))")
        assert any("42 False" in str(m["content"]) for m in check)
        # a step over its time limit is interrupted in the kernel too (SIGINT to the kernel's main thread)
        run("%config GrokMagics.agent_approval = 'auto'")
        run("%config GrokMagics.agent_step_seconds = 1")
        fake.script(
            Reply(text="", tool_calls=[step("import time\nfor _ in range(600): time.sleep(0.05)", "wait")]),
            Reply(text="That step was too slow."),
        )
        slow = " ".join(str(m["content"]) for m in run("%%grok --agent\nwait a while"))
        assert "over its 1 s limit" in slow and "That step was too slow." in slow
        assert "over its time limit" in outputs_of(fake.requests[-1].body)[-1]
        after = run("print('kernel fine')")
        assert any("kernel fine" in str(m["content"]) for m in after)
        assert_no_canary(*[m["content"] for m in seen])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_output_bytes_per_step_and_cost_caps_hold(agent_shell: Harness, fake) -> None:
    agent_shell.run("%config GrokMagics.agent_approval = 'auto'")
    agent_shell.run("%config GrokMagics.agent_output_bytes = 300")
    agent_shell.run("%config GrokMagics.max_calls_per_hour = 2")
    fake.script(
        Reply(text="", tool_calls=[step("print('x' * 5000)", "print a lot")]),
        Reply(text="", tool_calls=[step("1 + 1", "again")]),
        Reply(text="never"),
    )
    ran = agent_shell.run("%%grok --agent\nprint a lot")
    assert len(fake.requests) == 2  # the third request is refused by the gate: a cap holds mid-loop
    sent = outputs_of(fake.requests[1].body)[0]
    assert len(sent.encode()) <= 300 and "cut: this step's output is over 300 bytes" in sent
    assert not ran.success and "2 of 2 calls this hour used: nothing was sent" in str(ran.error)
    assert [s["status"] for s in agent_meta(ran)["steps"]] == ["ran", "ran"]  # what ran is kept and shown


def test_mode_from_the_environment_and_the_classroom_policy(agent_shell: Harness, fake, monkeypatch) -> None:
    monkeypatch.setenv("GROK_MAGICS_AGENT_APPROVAL", "auto")
    from grok_magics.agent.approval import effective_mode
    from grok_magics.magics.grok import GrokMagics

    assert GrokMagics().agent_approval == "auto"  # the environment variable sets the default
    agent_shell.run("%config GrokMagics.agent_approval = 'auto'")
    # under a policy other than full, auto approval does not hold (and the policy's own gate decides the rest)
    assert effective_mode("auto", "hints")[0] == "confirm"
    assert "not allowed under the classroom policy 'hints'" in effective_mode("auto", "hints")[1]
    assert effective_mode("auto", "full") == ("auto", "")
    agent_shell.run("%config GrokMagics.policy = 'hints'")
    fake.script(Reply(text="", tool_calls=[step("1 + 1")]), Reply(text="never"))
    ran = agent_shell.run("%%grok --agent\ngo")  # the tutor answers under hints; an agent is refused
    assert not ran.success and "hints" in str(ran.error) and fake.requests == []
    assert "(not agent cells)" in str(ran.error), ran.error
    agent_shell.run("%config GrokMagics.policy = 'full'")
    from grok_magics.magics.agent_cell import agent_settings

    magics = agent_shell.magics
    assert agent_settings(magics, magics.defaults()).policy == "full"


def test_terminal_text_shows_each_step_inline(agent_shell: Harness, fake) -> None:
    agent_shell.run("%config GrokMagics.agent_approval = 'auto'")
    agent_shell.run("%config GrokMagics.display = 'text'")
    fake.script(Reply(text="Looking.", tool_calls=[step("print('hello from the step')", "greet")]), Reply(text="Done."))
    ran = agent_shell.run("%%grok --agent\ngreet")
    assert ran.success
    plain = "\n".join(str(d["data"].get("text/plain", "")) for d in ran.displays)
    assert "── Step 1 · greet\nprint('hello from the step')" in plain and "Step 1: approved (auto)" in plain
    assert ran.stdout.index("Looking.") < ran.stdout.index("hello from the step") < ran.stdout.index("Done.")


def test_a_headless_agent_run_saves_steps_decisions_and_no_key(fake, tmp_path: Path, monkeypatch) -> None:
    """nbclient (no page, no stdin): auto mode runs the steps; the saved notebook keeps each step's code and
    outputs (tagged with their step) and the decisions in the summary's metadata, and never the key."""
    import nbformat
    from kernels import notebook, run_notebook

    monkeypatch.setenv("GROK_MAGICS_AGENT_APPROVAL", "auto")
    fake.script(
        Reply(text="Summing first.", tool_calls=[step("total = sum([1, 2, 3])\nprint('total', total)", "sum")]),
        Reply(text="The total is 6 (Step 1)."),
    )
    nb = notebook("%load_ext grok_magics", "%%grok --agent\nadd 1, 2 and 3")
    run_notebook(nb, tmp_path)
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    outputs = nb.cells[1].outputs
    steps = [o for o in outputs if "grok_magics_agent_step" in o.get("metadata", {})]
    assert any("sum([1, 2, 3])" in o.data.get("text/markdown", "") for o in steps)
    assert any(o.output_type == "stream" and "total 6" in o.text for o in outputs)
    summary = next(o for o in outputs if "grok_magics_agent" in o.get("metadata", {}))
    assert summary.metadata["grok_magics_agent"]["steps"][0]["by"] == "auto"
    assert "The total is 6 (Step 1)." in "".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert "widgets" not in nb.metadata
    assert_no_canary(path.read_text())


def test_at_most_four_images_of_a_step_go_back(agent_shell: Harness, fake) -> None:
    agent_shell.run("%config GrokMagics.agent_approval = 'auto'")
    six = "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nfor k in range(6): plt.figure()"
    fake.script(Reply(text="", tool_calls=[step(six, "six figures")]), Reply(text="ok"))
    ran = agent_shell.run("%%grok --agent\ndraw")
    assert ran.success
    body = fake.requests[-1].body
    assert len(images_of(body)) == 4 and "2 more image(s) not sent: at most 4 per step" in outputs_of(body)[0]
    assert sum("image/png" in d["data"] for d in ran.displays) == 6  # the cell still shows all of them


# -- with the page: the pieces that need no browser (the page's own story is tests/test_agent_page.py) -------


def test_an_agent_cell_is_awaited_only_where_a_page_can_answer(shell: Harness) -> None:
    """Terminal IPython has no channel to a page: the agent cell stays an ordinary cell magic. In a kernel
    (the channel exists) it becomes an awaited call, so the page's answers are handled while it waits."""
    sh = shell.shell
    cell = "%%grok --agent --rerun\nplot {sales}\n"
    assert "run_cell_magic('grok', '--agent --rerun'" in sh.transform_cell(cell)
    assert "await" not in sh.transform_cell(cell)
    sh._grok_page = object()  # what page.attach leaves on a kernel's shell
    try:
        awaited = sh.transform_cell(cell)
        assert awaited.startswith("await __import__('grok_magics.magics.agent_cell'")
        assert ".awaited('grok', '--agent --rerun', 'plot {sales}\\n')" in awaited
        assert "await" not in sh.transform_cell("%%grok\nnot an agent\n")
        assert "await" not in sh.transform_cell("%%grok --agentish\nx\n")
    finally:
        del sh._grok_page


def test_the_inline_host_never_waits_and_the_page_wait_is_interruptible() -> None:
    import asyncio
    import os
    import signal

    from grok_magics.agent.host import drive
    from grok_magics.engine.guard import interruptible

    async def plain() -> int:
        return 7

    async def waits() -> None:
        await asyncio.sleep(0)

    assert drive(plain()) == 7
    with pytest.raises(RuntimeError, match="only the page host"):
        drive(waits())

    async def inner() -> None:  # a page request is interruptible itself
        await interruptible(asyncio.sleep(60))

    async def pressed() -> str:
        loop = asyncio.get_running_loop()
        for wait in (asyncio.sleep(60), inner()):  # alone, and inside another interruptible wait
            loop.call_later(0.05, os.kill, os.getpid(), signal.SIGINT)
            with pytest.raises(KeyboardInterrupt):  # raised here, in the coroutine: not in the event loop
                await interruptible(wait)
        return "the loop lived on"

    before = signal.getsignal(signal.SIGINT)  # a suite started in the background inherits SIGINT ignored
    assert asyncio.run(pressed()) == "the loop lived on"
    assert signal.getsignal(signal.SIGINT) is before


def test_a_step_s_outputs_become_valid_cell_outputs_without_the_key(
    agent_shell: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the page puts into a step's cell: valid nbformat outputs, known keys masked."""
    import nbformat

    from grok_magics.agent.execution import run_step
    from grok_magics.agent.host import cell_outputs
    from grok_magics.privacy.redaction import remember

    monkeypatch.setenv("XAI_API_KEY", CANARY)
    remember(CANARY)  # the key the agent's requests used: known to the kernel once it asked Grok
    code = "import os\nprint('key', os.environ['XAI_API_KEY'])\nsales.revenue.sum()"
    outcome = run_step(agent_shell.shell, code, 1, None)
    failed = run_step(agent_shell.shell, "1 / 0", 2, None)
    outputs = cell_outputs(outcome, 1) + cell_outputs(failed, 2)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=outputs)])
    nbformat.validate(nb)
    kinds = [o["output_type"] for o in outputs]
    assert kinds == ["stream", "execute_result", "error"]
    assert "1200.0" in outputs[1]["data"]["text/plain"] and outputs[0]["text"].startswith("key ")
    assert outputs[2]["ename"] == "ZeroDivisionError"
    assert_no_canary(json.dumps(outputs))


class _Page:
    """The kernel's end of the channel as the page host sees it: answers scripted, requests kept."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, dict[str, Any]]] = []

    async def request(self, method: str, params: dict[str, Any], timeout: float) -> Any:
        self.asked.append((method, params))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_the_page_host_asks_only_when_the_mode_says_and_stops_when_nobody_answers() -> None:
    import asyncio

    from grok_magics.agent.host import PageHost
    from grok_magics.errors import PageUnavailable

    page = _Page({"decision": "run"}, {"decision": "stop"}, {"decision": "maybe"}, PageUnavailable("gone"), {})
    host = PageHost(page, "agent-cell")

    async def story() -> list[Any]:
        return [
            await host.decide("auto", 1, "x = 1", "set", []),  # the cell is inserted, nobody is asked
            await host.decide("confirm", 2, "y = 2", "", []),
            await host.decide("risky", 3, "import os; os.remove('f')", "", ["changes files (os.remove)"]),
            await host.decide("confirm", 4, "z = 3", "", []),
            await host.steps_below(clear=True),
        ]

    auto, stop, unclear, unanswered, below = asyncio.run(story())
    assert (auto.decision, auto.by) == ("run", "auto") and page.asked[0][1]["ask"] is False
    assert page.asked[0][1]["agent_cell"] == "agent-cell" and page.asked[0][1]["code"] == "x = 1"
    assert (stop.decision, stop.by) == ("stop", "you, on the page") and page.asked[1][1]["ask"] is True
    assert unclear.decision == "skip" and page.asked[2][1]["risks"] == ["changes files (os.remove)"]
    assert unanswered.decision == "stop" and unanswered.by.startswith("the page did not answer")
    assert below == 0 and page.asked[4] == ("agent_steps", {"agent_cell": "agent-cell", "clear": True})
