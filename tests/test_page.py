"""The kernel's end of the page channel (grok_magics/page.py), driven as the page extension drives it.

A real ipykernel, and a client that speaks the comm protocol the way the extension in src/bridge.ts does
(the browser tests prove the extension itself); nbclient for the no-page case; an in-process shell for
what ``--output`` sends under the privacy settings.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import Harness, assert_no_canary, user_texts
from fake_grok import Reply
from kernels import notebook, run_notebook, start_kernel

from grok_magics.page import Bridge, Context

pytestmark = pytest.mark.timeout(180)


class Page:
    """What the extension does over the comm, from a jupyter_client."""

    def __init__(self, kc: Any) -> None:
        self.kc = kc
        self.comm_id = ""

    def send(self, msg_type: str, content: dict[str, Any], cell_id: str | None = None) -> str:
        msg = self.kc.session.msg(msg_type, content, metadata={"cellId": cell_id} if cell_id else {})
        self.kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    def say(self, data: dict[str, Any]) -> None:
        self.send("comm_msg", {"comm_id": self.comm_id, "data": data})

    def run(self, code: str, cell_id: str = "") -> str:
        return self.send(
            "execute_request",
            {
                "code": code,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
            cell_id or str(uuid.uuid4()),
        )

    def iopub_until(self, done: Any, timeout: float = 60) -> list[dict[str, Any]]:
        """iopub messages until ``done(msg)`` holds for one of them (which is included)."""
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.kc.get_iopub_msg(timeout=1)
            except Exception:
                continue
            seen.append(msg)
            if done(msg):
                return seen
        pytest.fail(f"no such iopub message within {timeout} s; saw {[m['msg_type'] for m in seen]}")

    def idle_after(self, msg_id: str, timeout: float = 60) -> list[dict[str, Any]]:
        return self.iopub_until(
            lambda m: (
                m["parent_header"].get("msg_id") == msg_id
                and m["msg_type"] == "status"
                and m["content"]["execution_state"] == "idle"
            ),
            timeout,
        )

    def comm_data(self, timeout: float = 30) -> dict[str, Any]:
        msgs = self.iopub_until(lambda m: m["msg_type"] == "comm_msg", timeout)
        return msgs[-1]["content"]["data"]


def printed(msgs: list[dict[str, Any]]) -> str:
    return "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream")


def errors(msgs: list[dict[str, Any]]) -> list[str]:
    return [f"{m['content']['ename']}: {m['content']['evalue']}" for m in msgs if m["msg_type"] == "error"]


@pytest.fixture
def kernel(tmp_path: Path) -> Any:
    km, kc = start_kernel(tmp_path)
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def test_the_kernel_greets_answers_takes_a_push_and_is_pulled_from_an_async_cell(fake: Any, kernel: Any) -> None:
    page = Page(kernel)
    # loading the magics opens the kernel's comm (the page may have connected first) and says hello
    msgs = page.idle_after(page.run("%load_ext grok_magics"))
    opened = [m for m in msgs if m["msg_type"] == "comm_open"]
    assert len(opened) == 1 and opened[0]["content"]["target_name"] == "grok_magics"
    assert opened[0]["content"]["data"] == {"v": 1, "type": "hello", "version": "0.1.0"}
    page.comm_id = opened[0]["content"]["comm_id"]
    page.say({"v": 1, "type": "hello", "app": "lab", "version": "0.1.0"})

    # the page asks for the chats
    page.say({"v": 1, "type": "request", "id": "p1", "method": "chats"})
    assert page.comm_data() == {"v": 1, "type": "reply", "id": "p1", "ok": True, "result": []}
    # a newer protocol is refused with one line, not misread
    page.say({"v": 2, "type": "request", "id": "p2", "method": "chats"})
    refused = page.comm_data()
    assert refused["ok"] is False and "protocol 1, not 2" in refused["error"]

    # before a Grok cell runs, the page pushes the output it names; the kernel attaches it
    fake.script(Reply(text="It is the mean."))
    page.say(
        {
            "v": 1,
            "type": "context",
            "cell_id": "ask",
            "notebook": {"path": "a.ipynb", "metadata": {}},
            "above": [
                {
                    "id": "c1",
                    "cell_type": "code",
                    "source": "print(m)",
                    "execution_count": 3,
                    "outputs": [{"output_type": "stream", "text": "mean = 4.2\n"}],
                }
            ],
            "outputs": {"c1:0": {"output_type": "stream", "text": "mean = 4.2\n"}},
        }
    )
    msgs = page.idle_after(page.run("%%grok --output c1:0\nWhat is this number?", "ask"))
    assert not errors(msgs), errors(msgs)
    # the page draws the answer's buttons and follows it: no fallback script is saved with the answer
    shown = [m["content"]["data"] for m in msgs if m["msg_type"] in ("display_data", "update_display_data")]
    assert shown and not [d for d in shown if "<script>" in d.get("text/html", "")]
    sent = user_texts(fake.requests[-1].body)[-1]
    assert "mean = 4.2" in sent and "an output of In [3]" in sent and sent.endswith("What is this number?")
    page.say({"v": 1, "type": "request", "id": "p3", "method": "chats"})
    assert [(c["name"], c["turns"]) for c in page.comm_data()["result"]] == [("default", 1)]

    # an async cell pulls the cells above; the kernel's request reaches the page while the cell awaits
    ask = page.run("from grok_magics import page\ncells = await page.cells_above()\nprint(cells[0]['source'])", "pull")
    request = page.comm_data()
    assert request["type"] == "request" and request["method"] == "cells_above"
    assert request["params"] == {"cell_id": "pull"}
    page.say(
        {
            "v": 1,
            "type": "reply",
            "id": request["id"],
            "ok": True,
            "result": {"cell_id": "pull", "cells": [{"id": "c9", "cell_type": "code", "source": "x = 41"}]},
        }
    )
    msgs = page.idle_after(ask)
    assert printed(msgs) == "x = 41\n" and not errors(msgs)

    # nobody answers: a short, clean failure; once unanswered, the next wait is shorter
    started = time.monotonic()
    msgs = page.idle_after(page.run("try:\n    await page.notebook()\nexcept page.PageUnavailable as e:\n    print(e)"))
    assert "the page did not answer notebook within 2 s" in printed(msgs)
    msgs = page.idle_after(
        page.run("try:\n    await page.notebook(timeout=5)\nexcept page.PageUnavailable as e:\n    print(e)")
    )
    assert "within 0.5 s" in printed(msgs), printed(msgs)
    assert time.monotonic() - started < 60
    assert_no_canary(repr(msgs))


def test_without_a_page_every_magic_works_and_page_features_say_so(fake: Any, tmp_path: Path) -> None:
    fake.script(Reply(text="Hello there."))
    nb = notebook(
        "%load_ext grok_magics",
        "%%grok --output c1:0\nWhat does this show?",
        "from grok_magics import page\nprint(page.connected(), page.pushed())\n"
        "try:\n    await page.cells_above()\nexcept page.PageUnavailable as e:\n    print(e)",
        "%%grok\nSay hello.",
    )
    nb.cells[1].metadata["tags"] = ["raises-exception"]
    run_notebook(nb, tmp_path)
    (error,) = nb.cells[1].outputs
    assert error.output_type == "error" and "\n" not in error.evalue
    assert error.evalue.startswith(
        '--output ("Ask about this") needs the notebook page with the grok-magics extension'
    ), error.evalue
    assert "nothing was sent" in error.evalue
    text = nb.cells[2].outputs[0].text
    assert text.startswith("False None\n") and "asking the page for cells_above needs the notebook page" in text
    assert "Hello there." in nb.cells[3].outputs[-1].data["text/markdown"]
    # no page to draw them: the answer carries the script for its buttons and following (trusted notebooks run it)
    scripts = [o for o in nb.cells[3].outputs if "<script>" in o.get("data", {}).get("text/html", "")]
    assert len(scripts) == 1
    assert len(fake.requests) == 1 and user_texts(fake.requests[0].body) == ["Say hello."]
    assert_no_canary(nbformat.writes(nb))


def _with_page(shell: Harness, cell_id: str, outputs: dict[str, Any], above: tuple[Any, ...] = ()) -> None:
    """The context the page would have pushed before cell ``cell_id`` ran (in-process: no comm)."""
    bridge = Bridge(shell.shell, manager=None)
    bridge.pushed[cell_id] = Context(cell_id, {"path": "n.ipynb"}, above, outputs)
    shell.shell._grok_page = bridge


def test_an_output_goes_through_the_privacy_rules_and_the_key_scan(shell: Harness, fake: Any) -> None:
    import pandas as pd

    frame = pd.DataFrame({"name": ["Ann", "Bob"], "ssn": ["123-45-6789", "987-65-4321"]})
    shell.shell.user_ns["Out"][5] = frame
    table = {
        "output_type": "execute_result",
        "execution_count": 5,
        "data": {"text/plain": frame.to_string(), "text/html": frame.to_html()},
    }
    shell.run("%config GrokMagics.redact_columns = ['ssn']")

    # a table the kernel still holds: the frame builder sends it, redacted
    fake.script(Reply(text="Two people."))
    _with_page(shell, "a", {"t:0": table})
    ran = shell.run("%%grok --output t:0\nWho is in it?", cell_id="a")
    assert ran.success, ran.everything
    body = repr(fake.requests[-1].body)
    assert "Ann" in body and "123-45-6789" not in body and "987-65-4321" not in body

    # the same table only as text (the kernel restarted): refused, since the redaction cannot apply
    del shell.shell.user_ns["Out"][5]
    _with_page(shell, "b", {"t:0": table})
    ran = shell.run("%%grok --output t:0\nWho is in it?", cell_id="b")
    assert not ran.success and "redact_columns cannot be applied" in str(ran.error)
    assert len(fake.requests) == 1, "something was sent"

    # text with a key in it is refused by the key scan, as a prompt would be
    key_text = {"output_type": "stream", "text": "token = xai-" + "A1b2" * 12 + "\n"}
    _with_page(shell, "c", {"k:0": key_text})
    ran = shell.run("%%grok --output k:0\nWhat is this?", cell_id="c")
    assert not ran.success and "shaped like an xAI key" in str(ran.error) and len(fake.requests) == 1

    # an output the page did not send: one line saying what to do
    ran = shell.run("%%grok --output gone:0\nAnd this?", cell_id="c")
    assert not ran.success and 'click "Ask about this"' in str(ran.error)


class _Comm:
    """A greeted comm, for an in-process bridge: what the kernel sends is kept, not delivered."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, data: Any) -> None:
        self.sent.append(data)


def test_a_push_that_lands_after_its_cell_started_is_waited_for(shell: Harness, fake: Any) -> None:
    """JupyterLab ≥ 4.6 sends comm messages on a kernel subshell (another thread), so the page's push can
    arrive just after the cell's execute request started; the magic waits a moment for it."""
    import threading

    bridge = Bridge(shell.shell, manager=None)
    bridge.comms.append(_Comm())
    shell.shell._grok_page = bridge
    push = {
        "v": 1,
        "type": "context",
        "cell_id": "late",
        "notebook": {},
        "above": [],
        "outputs": {"p:0": {"output_type": "stream", "text": "p = 0.057\n"}},
    }
    asked = threading.Event()
    looked_up = bridge.context

    def context(cell_id: str, wait: float = 0.0) -> Any:
        asked.set()  # the magic is looking for its context now: only then does the push land
        return looked_up(cell_id, wait)

    bridge.context = context  # type: ignore[method-assign]
    threading.Thread(target=lambda: asked.wait(60) and bridge._receive(bridge.comms[0], push), daemon=True).start()
    fake.script(Reply(text="Not quite significant."))
    ran = shell.run("%%grok --output p:0\nIs this significant?", cell_id="late")
    assert ran.success, ran.everything
    assert "p = 0.057" in user_texts(fake.requests[-1].body)[-1]


def test_interrupting_a_cell_that_awaits_the_page_stops_the_cell_not_the_kernel(tmp_path: Path) -> None:
    """Ctrl-C during ``await page.…`` lands in the event loop the kernel runs the cell in: it must become
    the cell's KeyboardInterrupt (the kernel lives on), as it is for any other cell."""
    km, kc = start_kernel(tmp_path)
    try:
        page = Page(kc)
        msgs = page.idle_after(page.run("%load_ext grok_magics"))
        page.comm_id = next(m for m in msgs if m["msg_type"] == "comm_open")["content"]["comm_id"]
        page.say({"v": 1, "type": "hello", "app": "lab", "version": "0.1.0"})
        waiting = page.run("from grok_magics import page\nawait page.notebook(timeout=120)")
        assert page.comm_data()["method"] == "notebook"  # the cell now awaits an answer that never comes
        km.interrupt_kernel()
        msgs = page.idle_after(waiting, timeout=30)
        assert [e.split(":")[0] for e in errors(msgs)] == ["KeyboardInterrupt"], errors(msgs)
        assert km.is_alive()
        msgs = page.idle_after(page.run("print(6 * 7)"))
        assert printed(msgs) == "42\n" and not errors(msgs)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
