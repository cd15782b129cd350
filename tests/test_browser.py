"""JupyterLab in a real (headless) Chromium, driven the way a person uses ``%%grok``.

Why it exists: the kernel-level tests (test_kernel.py) prove which messages the kernel sends, but
not what a person sees. Only a real frontend shows whether the live ipywidgets view actually
renders partial text, whether the in-place switch to Markdown leaves a clean output (no leftover
"thinking" line, no duplicated output, no raw HTML), whether JupyterLab's cell id makes a re-run
replace its own turn, whether a saved-and-reloaded notebook shows the answers instead of "Error
displaying widget: model not found", and whether the toolbar's stop button really stops a stream.

Everything stays on 127.0.0.1: JupyterLab serves a temporary root, its kernel talks to the fake
Grok server of the ``fake`` fixture, and Chromium is Debian's (never a downloaded browser).
Screenshots of what the user sees go to tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import nbformat
import pytest

from grok_magics.testing import Reply

from conftest import assert_no_canary, user_texts, wait_until
from kernels import notebook

pytestmark = pytest.mark.timeout(300)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = Path(__file__).parent / "artifacts"
WAIT_MS = 60_000  # generous: a cold JupyterLab plus a kernel start can take a while on a busy CI machine

ASK_1 = "Explain a p-value to a first-year student."
ASK_2 = "Now a worked example with numbers."
ANSWER = (
    "A **p-value** is the probability of seeing data at least this extreme *if* the null hypothesis "
    "were true.\n\n- Small p: the data would be surprising under the null.\n- Large p: not surprising.\n"
)
LAST_SENTENCE = "Large p: not surprising."
EXAMPLE = "Flip a coin 100 times and get 60 heads: p ≈ 0.057, so not quite below 0.05."
EXAMPLE_AGAIN = "Roll a die 60 times and get 18 sixes: p ≈ 0.01, which is surprising for a fair die."
STORY = "Once upon a time, in a very long story that never ends"
KERNEL_IDLE = re.compile(r"^Python 3 \(ipykernel\) \| Idle$")
WIDGET_TROUBLE = ("model not found", "Error displaying widget", "Loading widget")


# --------------------------------------------------------------------------- JupyterLab server


@dataclass
class Lab:
    url: str
    root: Path
    log: Path
    process: subprocess.Popen[bytes]

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def wait_for_server(lab: Lab, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {lab.process.returncode}:\n{lab.log_tail()}")
        try:
            get_json(lab.url + "/api/status")
            return
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"JupyterLab did not answer /api/status within {timeout:.0f} s:\n{lab.log_tail()}")


def stop_server(lab: Lab) -> None:
    """Shut kernels down through the API (they run in their own sessions), then the server's group."""
    try:
        for kernel in get_json(lab.url + "/api/kernels"):
            request = urllib.request.Request(f"{lab.url}/api/kernels/{kernel['id']}", method="DELETE")
            urllib.request.urlopen(request, timeout=10).close()
    except OSError:
        pass
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(lab.process.pid, sig)
        except ProcessLookupError:
            break
        try:
            lab.process.wait(grace)
            break
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def lab(fake: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """JupyterLab on a free loopback port; its kernels inherit GROK_BASE_URL/XAI_API_KEY from ``fake``."""
    root, config, runtime, data, ipython = (tmp_path / d for d in ("root", "config", "runtime", "data", "ipython"))
    for path in (root, config / "labconfig", runtime, data, ipython):
        path.mkdir(parents=True)
    # no "Would you like to receive official Jupyter news?" popup over the notebook
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    env = dict(os.environ)  # after `fake` and clean_env: the fake's URL and key, autoload off, no proxies
    # JUPYTER_DATA_DIR only hides the user's own data dir; kernel spec and widget extensions come from sys.prefix
    env.update(JUPYTER_CONFIG_DIR=str(config), JUPYTER_RUNTIME_DIR=str(runtime), JUPYTER_DATA_DIR=str(data),
               IPYTHONDIR=str(ipython), PYTHONUNBUFFERED="1")
    port = free_port()
    log = tmp_path / "jupyterlab.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
             "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
             "--ServerApp.allow_root=True", "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root}",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=None",
             "--LabApp.extension_manager=readonly"],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    server = Lab(f"http://127.0.0.1:{port}", root, log, process)
    failed_before = request.session.testsfailed
    try:
        wait_for_server(server)
        yield server
    finally:
        stop_server(server)
        if request.session.testsfailed > failed_before:
            print(f"---- JupyterLab log (tail of {log}) ----\n{server.log_tail()}")


# --------------------------------------------------------------------------- browser


@pytest.fixture(autouse=True)
def needs_browser() -> None:
    """Skip without Chromium or Playwright, before any server starts; CI sets GROK_REQUIRE_BROWSER=1 to fail."""
    required = os.environ.get("GROK_REQUIRE_BROWSER") == "1"
    problem = None
    if not Path(CHROMIUM).exists():
        problem = f"{CHROMIUM} is missing (install Debian's chromium package; never `playwright install`)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError as exc:
            problem = f"playwright is not installed ({exc}); pip install -e '.[test]'"
    if problem and required:
        pytest.fail(f"{problem}, and GROK_REQUIRE_BROWSER=1 says the browser test must run")
    if problem:
        pytest.skip(problem)


@pytest.fixture
def page(lab: Lab, request: pytest.FixtureRequest) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    failed_before = request.session.testsfailed
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1280, "height": 900})
            pg.set_default_timeout(WAIT_MS)
            console_errors: list[str] = []
            pg.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
            yield pg
            if request.session.testsfailed > failed_before:
                pg.screenshot(path=str(ARTIFACTS / "browser-failure.png"))
                print("---- browser console errors ----\n" + "\n".join(console_errors[-30:]))
        finally:
            browser.close()


# --------------------------------------------------------------------------- what a person does


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / name))


def open_notebook(page: Any, lab: Lab, name: str) -> None:
    page.goto(f"{lab.url}/lab/tree/{name}")
    wait_for_kernel(page)
    if page.locator("#jp-left-stack").is_visible():  # close the file browser: more room for the notebook
        page.locator('.jp-SideBar.jp-mod-left [data-id="filebrowser"]').click()


def wait_for_kernel(page: Any) -> None:
    """The status bar names the kernel and says Idle. (The toolbar's indicator says "idle" before any
    kernel exists, and Shift+Enter at that moment is silently dropped.)"""
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    page.locator("#jp-main-statusbar .jp-StatusBar-TextItem", has_text=KERNEL_IDLE).wait_for()
    page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for()


def cell(page: Any, index: int) -> Any:
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def outputs(page: Any, index: int) -> Any:
    return cell(page, index).locator(".jp-OutputArea-output")


def final_markdown(page: Any, index: int) -> Any:
    return cell(page, index).locator(".jp-OutputArea-output.jp-RenderedMarkdown")


def run(page: Any, index: int) -> None:
    """Click into the cell and press Shift+Enter."""
    cell(page, index).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def write_and_run(page: Any, index: int, source: str) -> None:
    """Type into the (empty) cell JupyterLab added below the last one, then run it."""
    editor = cell(page, index).locator(".jp-InputArea-editor")
    editor.click()
    page.keyboard.type(source)
    assert editor.inner_text().strip() == source, "typing into the cell went wrong"
    page.keyboard.press("Shift+Enter")


def wait_finished(page: Any, index: int, count: int) -> None:
    """The cell's prompt shows its execution count: the kernel has answered this run."""
    prompt = cell(page, index).locator(".jp-InputPrompt")
    wait_until(lambda: prompt.inner_text().strip() == f"[{count}]:",
               f"cell {index} to finish as [{count}] (prompt is {prompt.inner_text().strip()!r})", WAIT_MS / 1000)


def notebook_text(page: Any) -> str:
    return page.locator(".jp-Notebook").inner_text()


def assert_clean_final(page: Any, index: int, *expected: str) -> None:
    """One Markdown output, rendered (no raw HTML), with the status line, and no live-view leftovers."""
    final = final_markdown(page, index)
    for text in expected:
        final.filter(has_text=text).wait_for()
    assert outputs(page, index).count() == 1, f"cell {index}: expected exactly one output"
    assert "grok-4.3 · xAI · " in final.locator("sub").inner_text(), "the status line is not rendered"
    shown = final.inner_text()
    assert "<sub>" not in shown and "<div" not in shown and "&lt;" not in shown, f"raw HTML on screen: {shown!r}"
    assert "Grok is thinking" not in shown and "▍" not in shown, f"live-view leftovers: {shown!r}"
    assert cell(page, index).locator(".grok-answer, .grok-status, .grok-thinking").count() == 0


def make_notebook(root: Path, name: str, *sources: str) -> Path:
    path = root / name
    nbformat.write(notebook(*sources), path)
    return path


# --------------------------------------------------------------------------- the test


def test_a_person_streams_saves_reloads_and_interrupts_in_jupyterlab(fake: Any, lab: Lab, page: Any) -> None:
    gate = threading.Event()
    fake.script(
        # Some thinking, then "A **p-value** is the pro" (4 deltas of 6); the rest waits for the gate.
        Reply(text=ANSWER, reasoning="Think of coins.", chunk=6, pace=0.03, gate_after=4, gate=gate, gate_seconds=240),
        Reply(text=EXAMPLE, reasoning="Pick numbers a student can check."),
        Reply(text=EXAMPLE_AGAIN, reasoning="Use a die this time."),
    )
    path = make_notebook(lab.root, "pvalues.ipynb", "%load_ext grok_magics", f"%%grok\n{ASK_1}",
                         f"%%grok --effort high\n{ASK_2}")
    open_notebook(page, lab, path.name)

    run(page, 0)
    wait_finished(page, 0, 1)

    # 1. streaming: the live view shows the start of the answer while the server holds back the rest
    try:
        run(page, 1)
        live = cell(page, 1).locator(".grok-answer")
        # all of what arrived, even though the last deltas came faster than the view refreshes
        live.filter(has_text="A p-value is the pro").wait_for()
        shown = live.inner_text()
        assert "probability" not in shown and LAST_SENTENCE not in shown, f"more than the server sent: {shown!r}"
        assert cell(page, 1).locator(".grok-thinking", has_text="Grok is thinking").count() == 0, "thinking left over"
        assert cell(page, 1).locator(".jp-InputPrompt").inner_text().strip() == "[*]:"
        assert final_markdown(page, 1).count() == 0
        cell(page, 1).scroll_into_view_if_needed()
        shot(page, "browser-1-streaming.png")
    finally:
        gate.set()

    # 2. the answer ends: the widget is replaced in place by rendered Markdown with the status line
    assert_clean_final(page, 1, LAST_SENTENCE)
    wait_finished(page, 1, 2)
    assert final_markdown(page, 1).locator("strong", has_text="p-value").count() == 1, "Markdown was not rendered"
    shot(page, "browser-2-final.png")

    # 3. the follow-up carries the first turn
    run(page, 2)
    assert_clean_final(page, 2, "60 heads")
    wait_finished(page, 2, 3)
    assert len(fake.requests) == 2
    assert user_texts(fake.requests[1].body) == [ASK_1, ASK_2]
    assert fake.requests[1].body["reasoning"] == {"effort": "high"}

    # 4. re-running the follow-up replaces its own turn (JupyterLab sends the cell id) and its output
    run(page, 2)
    assert_clean_final(page, 2, "18 sixes")
    wait_finished(page, 2, 4)
    assert len(fake.requests) == 3
    assert user_texts(fake.requests[2].body) == [ASK_1, ASK_2], "the re-run duplicated its turn"
    assert "60 heads" not in notebook_text(page), "the re-run left the old answer on screen"

    # 5. save, reload: the answers are plain rendered Markdown, not dead widgets
    cell(page, 1).locator(".jp-InputPrompt").click()  # command mode on a cell, like a person before Ctrl+S
    page.keyboard.press("Control+s")
    wait_until(lambda: "18 sixes" in path.read_text() and LAST_SENTENCE in path.read_text(), "the notebook on disk")
    page.locator(".lm-TabBar-tab.jp-mod-dirty").wait_for(state="detached")
    page.reload()
    wait_for_kernel(page)
    final_markdown(page, 1).filter(has_text=LAST_SENTENCE).wait_for()
    final_markdown(page, 2).filter(has_text="18 sixes").wait_for()
    page.wait_for_timeout(1500)  # give a dead widget reference the time to show its error, if there were one
    assert_clean_final(page, 1, LAST_SENTENCE)
    assert_clean_final(page, 2, "18 sixes")
    page_text = page.locator("body").inner_text()
    for trouble in WIDGET_TROUBLE:
        assert trouble not in page_text, f"after reload the page shows {trouble!r}"
    cell(page, 1).scroll_into_view_if_needed()
    shot(page, "browser-3-reloaded.png")

    file_text = path.read_text()
    assert_no_canary(file_text)
    assert "application/vnd.jupyter.widget-view+json" not in file_text, "the saved notebook points at a widget"
    saved = nbformat.read(path, as_version=4)
    for index in (1, 2):
        (output,) = saved.cells[index].outputs
        assert output.output_type == "display_data"
        assert set(output.data) == {"text/markdown", "text/plain"}
    assert saved.cells[1].outputs[0].data["text/markdown"].startswith(ANSWER.rstrip())

    # 6. interrupt: the stop button ends a stalled stream, keeps the partial text, the next cell answers
    fake.script(Reply(text=STORY, chunk=5, stall_after=3, stall_seconds=120), Reply(text="Short answer."))
    assert cell(page, 3).locator(".jp-InputArea-editor").inner_text().strip() == "", \
        "expected the empty cell JupyterLab adds after running the last cell"
    write_and_run(page, 3, "%%grok\nTell me a very long story.")
    cell(page, 3).locator(".grok-answer").filter(has_text="Once").wait_for()
    assert not fake.requests[-1].disconnected
    page.locator('.jp-NotebookPanel-toolbar [data-command="notebook:interrupt-kernel"]').click()
    assert fake.wait_for_disconnect(5), "the interrupt did not close the connection to the provider"
    interrupted = final_markdown(page, 3).filter(has_text="Interrupted")
    interrupted.wait_for()
    assert interrupted.inner_text().startswith("Once"), "the partial answer was not kept"
    assert "the answer above is partial" in interrupted.inner_text()
    assert "long story" not in interrupted.inner_text(), "more text than the server sent before it stalled"
    cell(page, 3).locator(".jp-OutputArea-output", has_text="Grok stopped: interrupted").wait_for()
    assert "Traceback" not in cell(page, 3).inner_text()
    assert cell(page, 3).locator(".grok-answer, .grok-status, .grok-thinking").count() == 0

    write_and_run(page, 4, "%grok Next question")
    assert_clean_final(page, 4, "Short answer.")
    assert user_texts(fake.requests[-1].body)[-1] == "Next question"
    cell(page, 3).scroll_into_view_if_needed()
    shot(page, "browser-4-interrupted.png")
    assert_no_canary(page.locator("body").inner_text())
