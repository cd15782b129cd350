"""A real ipykernel executing notebooks through nbclient, against the fake Grok server.

The client adds what JupyterLab adds to every execute request (the cell id), records every iopub
message with its arrival time, and can interrupt the kernel the way JupyterLab does (SIGINT).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import CANARY, assert_no_canary, user_texts, watch
from fake_grok import Reply
from kernels import LabLikeClient, answer_of, notebook, run_notebook, start_kernel
from nbconvert import HTMLExporter

pytestmark = pytest.mark.timeout(240)

ANSWER = (
    "A **p-value** is the probability of seeing data at least this extreme *if* the null hypothesis "
    "were true.\n\n- Small p: the data would be surprising under the null.\n- Large p: not surprising.\n"
)


def markdown_values(msgs: list[dict[str, Any]]) -> list[str]:
    """The Markdown of every display and display update the kernel sent for a cell, in order."""
    return [
        m["content"]["data"].get("text/markdown", "")
        for m in msgs
        if m["msg_type"] in ("display_data", "update_display_data")
    ]


def test_notebook_streams_persists_markdown_and_continues_the_chat(fake, tmp_path: Path) -> None:
    gate = threading.Event()
    fake.script(
        Reply(text=ANSWER, chunk=6, gate_after=4, gate=gate, gate_seconds=120, pace=0.01, reasoning="Think of coins."),
        Reply(text="Flip a coin 100 times and get 60 heads: p ≈ 0.057."),
    )
    nb = notebook(
        "%load_ext grok_magics",
        "%%grok\nExplain a p-value to a first-year student.",
        "%%grok --effort high\nNow give a worked example with numbers.",
        "print('after')",
    )
    client = LabLikeClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    saved_mid_stream: list[str] = []

    def partial_on_screen_and_on_disk() -> bool:
        # the tail shows all four deltas sent so far (the last ones arrived faster than a frame, so the
        # flush timer sent them) while the server still holds the rest back ...
        if not any("is the pro" in v and "Large p" not in v for v in markdown_values(client.messages(1))):
            return False
        # ... and a save at this moment (an autosave) writes that text as Markdown, not a widget
        with client.lock:
            saved_mid_stream.append(nbformat.writes(nb))
        return True

    seen = watch(partial_on_screen_and_on_disk, gate.set)
    client.execute()
    assert seen.is_set(), "no partial answer reached the frontend while the reply was still streaming"
    mid = nbformat.reads(saved_mid_stream[0], as_version=4)
    assert "is the pro" in answer_of(mid.cells[1]), "an autosave mid-answer would lose the text"
    assert "widget-view" not in saved_mid_stream[0] and "widgets" not in mid.metadata

    updates = [v for v in markdown_values(client.messages(1)) if "grok-live" in v]
    assert len([v for v in updates if "is the pro" in v and "Large p" not in v]) >= 1

    first, second = fake.requests
    assert user_texts(second.body) == [
        "Explain a p-value to a first-year student.",
        "Now give a worked example with numbers.",
    ]
    assert second.body["reasoning"] == {"effort": "high"}

    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)
    answer = answer_of(saved.cells[1])
    for output in saved.cells[1].outputs:
        assert output.output_type == "display_data"
        assert set(output.data) in ({"text/markdown", "text/plain"}, {"text/html", "text/plain"})
    assert "<summary>Thought for" in answer and "Think of coins." in answer, "the reasoning is not kept"
    assert answer.split("</details>\n\n", 1)[1].startswith(ANSWER.rstrip())
    assert "grok-4.3 · xAI · " in answer and "tokens" in answer
    assert saved.cells[1].outputs[-1].metadata["grok_magics"]["usage"]["output"] > 0
    assert "60 heads" in answer_of(saved.cells[2])
    assert saved.cells[3].outputs[0].text == "after\n"
    assert "widgets" not in saved.metadata, "a headless run must keep no widget state"
    assert_no_canary(path.read_text())

    html, _ = HTMLExporter().from_notebook_node(saved)
    assert "<strong>p-value</strong>" in html and "Loading widget" not in html and "model not found" not in html
    assert "▍" not in html, html[html.find("▍") - 400 : html.find("▍") + 40]
    assert "grok-status grok-live" not in html, "a live tail was left in the saved notebook"
    assert_no_canary(html)


def test_headless_runs_leave_no_widget_state_and_show_failures_once(fake, tmp_path: Path) -> None:
    """nbclient/papermill/nbconvert --execute: final Markdown only; a failure is one line, once, in the
    saved notebook and in its HTML; the cell still ends in error."""
    fake.script(
        *[Reply(text=f"Answer {n} with $x_{n}$ and `code`.") for n in range(4)],
        Reply(text="partial text before", disconnect_after=1),
    )
    nb = notebook(
        "%load_ext grok_magics\n%config GrokMagics.max_retries = 0",
        *[f"%grok question {n}" for n in range(4)],
        "%grok this one fails",
    )
    nb.cells[-1].metadata["tags"] = ["raises-exception"]
    LabLikeClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = nbformat.writes(nb)
    assert "widgets" not in nb.metadata and "widget-view" not in text
    assert all("$x_" in answer_of(nb.cells[n]) for n in range(1, 5))
    failed = nb.cells[-1]
    errors = [o for o in failed.outputs if o.output_type == "error"]
    assert len(errors) == 1 and len(errors[0].traceback) == 1
    sentence = "the connection dropped mid-answer"
    assert sentence in errors[0].traceback[0] and "Traceback" not in errors[0].traceback[0]
    assert text.count(sentence) == 2, "the sentence must be saved once (the evalue repeats it, never shown)"
    markdown = answer_of(failed)
    assert markdown.startswith("partial") and "partial answer · grok-4.3" in markdown
    assert sentence not in markdown
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert html.count(sentence) == 1, "nbconvert HTML must show the failure once"


def test_text_display_in_a_kernel_coalesces_writes(fake, tmp_path: Path) -> None:
    answer = "word " * 2000
    fake.script(Reply(text=answer, chunk=4, pace=0))
    nb = notebook("%load_ext grok_magics\n%config GrokMagics.display = 'text'", "%grok a long one")
    client = LabLikeClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    streams = [m for m in client.messages(1) if m["msg_type"] == "stream"]
    assert "".join(m["content"]["text"] for m in streams).startswith(answer)
    assert len(streams) < 2500 / 10, f"{len(streams)} stream messages for 2,500 deltas: writes are not coalesced"


def test_markdown_display_mode_sends_display_updates(fake, tmp_path: Path) -> None:
    gate = threading.Event()
    fake.script(Reply(text=ANSWER, chunk=6, gate_after=3, gate=gate, pace=0.03))
    nb = notebook("%load_ext grok_magics\n%config GrokMagics.display = 'markdown'", "%%grok\nExplain.")
    client = LabLikeClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})

    def partial_update() -> bool:
        return any(
            m["msg_type"] == "update_display_data"
            and "p-val" in m["content"]["data"]["text/markdown"]
            and "Large p" not in m["content"]["data"]["text/markdown"]
            for m in client.messages(1)
        )

    seen = watch(partial_update, gate.set)
    client.execute()
    assert seen.is_set()
    updates = [
        m["content"]["data"]["text/markdown"] for m in client.messages(1) if m["msg_type"] == "update_display_data"
    ]
    assert len([u for u in updates if "Large p" not in u]) >= 2 and "Large p" in updates[-1]
    (output,) = nb.cells[1].outputs
    assert output.data["text/markdown"].startswith(ANSWER.rstrip())


def test_rerun_cell_replaces_its_turn(fake, tmp_path: Path) -> None:
    nb = notebook("%load_ext grok_magics", "%%grok\nFirst", "%%grok\nSecond", "%grok history")
    client = LabLikeClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells[:3]):
            client.execute_cell(cell, index)
        client.execute_cell(nb.cells[2], 2)  # the user runs the same cell again
        client.execute_cell(nb.cells[3], 3)
    assert [user_texts(r.body) for r in fake.requests] == [["First"], ["First", "Second"], ["First", "Second"]]
    history = nb.cells[3].outputs[0].text
    assert "2 turn(s)" in history and history.count("You: Second") == 1


def test_interrupt_stops_the_stream_and_the_next_cell_works(fake, tmp_path: Path) -> None:
    fake.script(
        Reply(text="Once upon a time, in a very long story", chunk=5, stall_after=3, stall_seconds=120),
        Reply(text="Short answer."),
    )
    nb = notebook("%load_ext grok_magics", "%%grok\nTell me a very long story.", "%grok Next question")
    nb.cells[1].metadata["tags"] = ["raises-exception"]
    client = LabLikeClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    interrupted_at: list[float] = []

    def stop() -> None:
        interrupted_at.append(time.monotonic())
        client.interrupt()

    seen = watch(lambda: any("Once " in v for v in markdown_values(client.messages(1))), stop)
    client.execute()
    assert seen.is_set()
    assert fake.wait_for_disconnect(5), "the server never saw the connection close"
    story, after = fake.requests
    # the story's own connection was dropped by the client mid-stall (the server had not finished it): after the
    # interrupt was sent and before the next cell asked anything, so the ■ closed it — not a later clean-up, and
    # not the stall running out
    assert story.disconnected and not story.completed, story
    assert story.ended_at is not None and interrupted_at[0] <= story.ended_at <= after.started_at
    assert after.completed and not after.disconnected
    outputs = nb.cells[1].outputs
    answer = answer_of(nb.cells[1])
    shown = answer.split("<sub")[0].strip()  # the first words are drawn at once: the ■ may come after one delta
    assert shown.startswith("Once") and "Once upon a time, in a very long story".startswith(shown), answer
    assert "partial answer ·" in answer and "Interrupted" not in answer
    (error,) = [o for o in outputs if o.output_type == "error"]
    assert error.ename == "GrokInterrupted" and "Traceback" not in "".join(error.traceback)
    assert len(error.traceback) == 1 and "■ Interrupted" in error.traceback[0]
    assert "Short answer." in answer_of(nb.cells[2])
    assert_no_canary(nbformat.writes(nb))


def test_extension_autoloads_from_the_installed_startup_file(fake, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("GROK_MAGICS_AUTOLOAD")
    nb = notebook("%%grok\nHello without load_ext", "%load_ext grok_magics", "%grok usage")
    run_notebook(nb, tmp_path)
    assert "You said: Hello without load_ext" in answer_of(nb.cells[0])
    assert nb.cells[1].outputs == [], "a manual %load_ext after auto-load must be a silent no-op"
    assert "1 request(s)" in nb.cells[2].outputs[0].text, "the manual load must not replace the loaded extension"


def test_key_typed_at_the_prompt_never_reaches_the_notebook(fake, tmp_path: Path, monkeypatch) -> None:
    """%grok key asks through the frontend's password box; the key lives only in the kernel's memory."""
    monkeypatch.delenv("XAI_API_KEY")
    km, kc = start_kernel(tmp_path)
    try:
        seen: list[Any] = []

        def run(code: str, answer: str | None = None) -> list[dict[str, Any]]:
            msg_id = kc.execute(code, allow_stdin=answer is not None)
            if answer is not None:
                request = kc.get_stdin_msg(timeout=30)
                assert request["content"]["password"] is True
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

        run("%load_ext grok_magics")
        missing = run("%grok hi")
        assert any("set XAI_API_KEY" in str(m["content"]) for m in missing)
        run("%grok key", answer=CANARY)
        answered = run("%grok hi")
        assert any("You said: hi" in str(m["content"]) for m in answered)
        assert fake.requests[-1].headers["authorization"] == f"Bearer {CANARY}"
        run("%xmode Verbose")
        fake.script(Reply(status=401, error_message=f"bad key {CANARY}"))
        run("%config GrokMagics.max_retries = 0")
        failed = run("%grok hi")
        assert any("HTTP 401" in str(m["content"]) for m in failed)
        run("%grok config")
        assert_no_canary(*[m["content"] for m in seen])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_welcome_notebook_runs_top_to_bottom(fake, tmp_path: Path, monkeypatch) -> None:
    """The README points people at notebooks/welcome.ipynb: it must run as shipped, auto-loaded, quietly."""
    monkeypatch.delenv("GROK_MAGICS_AUTOLOAD")  # as installed by the README's command
    source = Path(__file__).parent.parent / "notebooks" / "welcome.ipynb"
    nb = nbformat.read(source, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), "ship it clean"
    assert "load_ext" not in nb.cells[1].source and "%grok key" in nb.cells[1].source
    run_notebook(nb, tmp_path)
    first_three = [o for cell in nb.cells[:3] for o in cell.get("outputs", [])]
    assert all(o.output_type != "error" and o.get("name") != "stderr" for o in first_three), first_three
    shown = repr(first_three).lower()
    assert "warning" not in shown and "already loaded" not in shown and "\\x1b" not in shown
    assert "XAI_API_KEY is set" in nb.cells[1].outputs[0].text
    texts = nbformat.writes(nb)
    assert "You said: Explain Simpson's paradox in two sentences." in texts
    assert len(fake.requests) == 3
    assert_no_canary(texts)
