"""JupyterLab 4 and Notebook 7 in a real (headless) Chromium, driven the way a person uses ``%%grok``.

Why it exists: the kernel-level tests (test_kernel.py) prove which messages the kernel sends, but
not what a person sees. Only a real frontend shows whether the live view renders math, code and
tables while streaming as the final answer will, whether the end of the stream makes the output
jump, whether a save in the middle of an answer and a reload bring back the text (not "Error
displaying widget: model not found"), whether a failure or an interrupt is said once, whether the
Copy and Insert buttons work (also after a reload), whether the view follows the stream until the
reader scrolls away, whether a re-run replaces its own turn, whether tool calls collapse into
``<details>`` that survive the sanitiser and a side-effect tool asks in the frontend's input box, and
whether dark theme stays readable. Each frontend gets one long story in one notebook: a page load and
a kernel cost seconds of CPU each.

Everything stays on 127.0.0.1: the server serves a temporary root, its kernel talks to the fake
Grok server of the ``fake`` fixture, and Chromium is Debian's (never a downloaded browser).
Screenshots of what the user sees go to tests/artifacts/ (git-ignored); the README's come from here.
"""

from __future__ import annotations

import json
import os
import re
import signal
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
from conftest import (
    CANARY,
    assert_no_canary,
    fail_on_shut_gates,
    isolated_environ,
    user_texts,
    wait_until,
)
from fake_grok import FakeGrok, Reply
from kernels import notebook

from grok_magics.render.frontend import bundle

pytestmark = pytest.mark.timeout(300)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
TOOLS = (
    "import grok_magics\nwiped = []\n"
    "def add(a: int, b: int) -> int:\n    'Add.'\n    return a + b\n\n"
    "@grok_magics.tool(side_effects=True)\ndef wipe(table: str) -> str:\n    'Delete a table.'\n"
    "    wiped.append(table)\n    return 'wiped'"
)
WAIT_MS = 60_000  # generous: a cold JupyterLab plus a kernel start can take a while on a busy CI machine

ASK_1 = "Explain a p-value to a first-year student."
ASK_2 = "Now a worked example with numbers."
CODE = "from scipy import stats\nprint(stats.binomtest(60, 100).pvalue)"
ANSWER = (
    "## The idea\n\n"
    "A **p-value** is the probability of seeing data at least this extreme *if* the null hypothesis "
    "were true: $p = P(T \\ge t_{\\text{obs}} \\mid H_0)$, and a shift of $0.9\\,x$ keeps its backslash.\n\n"
    "$$\\operatorname{Var}(\\hat p) = \\frac{p(1-p)}{n}$$\n\n"
    f"```python\n{CODE}\n```\n\n"
    "| p | reading |\n|---|---|\n| 0.01 | surprising |\n| 0.5 | not surprising |\n\n"
    "- Small p: the data would be surprising under the null.\n- Large p: not surprising.\n"
)
LAST_SENTENCE = "Large p: not surprising."
CHUNK = 6
ALL_DELTAS = -(-len(ANSWER) // CHUNK)
EXAMPLE = "Flip a coin 100 times and get 60 heads: p ≈ 0.057, so not quite below 0.05."
EXAMPLE_AGAIN = "Roll a die 60 times and get 18 sixes: p ≈ 0.01, which is surprising for a fair die."
STORY = "Once upon a time, in a very long story that never ends"
KERNEL_IDLE = re.compile(r"^Python 3 \(ipykernel\) \| Idle$")
WIDGET_TROUBLE = ("model not found", "Error displaying widget", "Loading widget")


# --------------------------------------------------------------------------- JupyterLab server


@dataclass
class Lab:
    """A running JupyterLab (``kind="lab"``) or Notebook 7 (``kind="notebook"``) server."""

    root: Path
    log: Path
    process: subprocess.Popen[bytes]
    fake: FakeGrok
    kind: str = "lab"
    runtime: Path = Path()  # the server's runtime dir: it says there which port it took
    url: str = ""  # known once the server is up (``wait_for_server``)

    def notebook_url(self, name: str, workspace: str = "") -> str:
        """The page that opens notebook ``name`` (in JupyterLab, optionally in a workspace of its own)."""
        if self.kind != "lab":
            return f"{self.url}/notebooks/{name}"
        return f"{self.url}/lab/workspaces/{workspace}/tree/{name}" if workspace else f"{self.url}/lab/tree/{name}"

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def wait_for_server(lab: Lab, timeout: float = 90.0) -> None:
    """Wait for this server to be up, and learn its URL from the file it writes once it listens.

    The server takes a port the system picks (``port=0``): a port chosen here and handed over could be taken
    by another worker's server meanwhile, whose answers the test would then read as this one's."""
    info = lab.runtime / f"jpserver-{lab.process.pid}.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {lab.process.returncode}:\n{lab.log_tail()}")
        try:
            lab.url = f"http://127.0.0.1:{json.loads(info.read_text())['port']}"
            get_json(lab.url + "/api/status")
            return
        except (OSError, ValueError, KeyError):  # not written yet, written half, or not answering yet
            time.sleep(0.25)
    pytest.fail(f"JupyterLab did not answer /api/status within {timeout:.0f} s:\n{lab.log_tail()}")


def stop_kernels(lab: Lab) -> None:
    """Shut kernels down through the API (they run in their own sessions, out of the server's group)."""
    try:
        for kernel in get_json(lab.url + "/api/kernels"):
            request = urllib.request.Request(f"{lab.url}/api/kernels/{kernel['id']}", method="DELETE")
            urllib.request.urlopen(request, timeout=10).close()
    except OSError:
        pass


def stop_server(lab: Lab) -> None:
    stop_kernels(lab)
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


@pytest.fixture(scope="module", params=["lab", "notebook"])  # conftest.worker_group: one worker per frontend
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, ipython_dir: str) -> Iterator[Lab]:
    """JupyterLab 4 (light theme) or Notebook 7 (dark theme) on a free loopback port, with a fake Grok server
    of its own that its kernels reach through GROK_BASE_URL/XAI_API_KEY. One server per frontend serves the
    module's tests (each test gets its own notebook, workspace and kernel); starting one costs seconds."""
    kind = request.param
    if kind == "notebook":
        pytest.importorskip("notebook", reason="Notebook 7 needs the notebook package (pip install -e '.[test]')")
    check_browser()
    base = tmp_path_factory.mktemp(f"jupyter-{kind}")
    root, config, runtime, data, ipython, settings = (
        base / d for d in ("root", "config", "runtime", "data", "ipython", "settings")
    )
    for path in (root, config / "labconfig", runtime, data, ipython, settings / "@jupyterlab" / "apputils-extension"):
        path.mkdir(parents=True)
    theme = "JupyterLab Dark" if kind == "notebook" else "JupyterLab Light"
    (settings / "@jupyterlab" / "apputils-extension" / "themes.jupyterlab-settings").write_text(
        json.dumps({"theme": theme})
    )
    windowing = os.environ.get("GROK_TEST_WINDOWING")  # "none" on JupyterLab < 4.3 (see README, Supported versions)
    if windowing:  # these stories find cells in the page; JupyterLab 4.2 draws only the cells in view by default
        (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
        (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
            json.dumps({"windowingMode": windowing})
        )
    # no "Would you like to receive official Jupyter news?" popup over the notebook
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    fake = FakeGrok(profile="xai", key=CANARY).start()
    hidden, isolated = isolated_environ(ipython_dir)
    env = {name: value for name, value in os.environ.items() if name not in hidden}
    # JUPYTER_DATA_DIR only hides the user's own data dir; kernel spec and widget extensions come from sys.prefix
    env.update(
        isolated,
        XAI_API_KEY=CANARY,
        GROK_BASE_URL=fake.base_url,
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTER_DATA_DIR=str(data),
        IPYTHONDIR=str(ipython),
        PYTHONUNBUFFERED="1",
        JUPYTERLAB_SETTINGS_DIR=str(settings),
    )
    lab_only = (
        [
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.news_url=None",
            "--LabApp.extension_manager=readonly",
        ]
        if kind == "lab"
        else []
    )
    # window.jupyterapp, so a test can run the page extension's commands as the command palette would
    lab_only.append(f"--{'LabApp' if kind == 'lab' else 'JupyterNotebookApp'}.expose_app_in_browser=True")
    log = base / "jupyterlab.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyterlab" if kind == "lab" else "notebook",
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                "--ServerApp.port=0",  # the system picks a free one (see wait_for_server)
                "--ServerApp.port_retries=0",
                "--IdentityProvider.token=",
                "--ServerApp.password=",
                "--ServerApp.allow_root=True",
                "--ServerApp.disable_check_xsrf=True",
                f"--ServerApp.root_dir={root}",
                *lab_only,
            ],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Lab(root, log, process, fake, kind, runtime)
    try:
        wait_for_server(server)
        yield server
    finally:
        stop_server(server)
        fake.stop()


@pytest.fixture
def fake(lab: Lab) -> Iterator[FakeGrok]:
    """The frontend's own fake server, emptied for this test; a gate the test never opened fails it."""
    lab.fake.clear()
    yield lab.fake
    stop_kernels(lab)  # the next test starts from a server with no kernel running
    fail_on_shut_gates(lab.fake)


# --------------------------------------------------------------------------- browser


def check_browser() -> None:
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


@pytest.fixture(scope="module")
def browser(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Chromium per frontend, with a profile of its own on disk, as a person's browser has: its cache
    holds JupyterLab's scripts compiled, so the reloads after the first cost about half the CPU."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp(f"chromium-{lab.kind}")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab.url)
            yield context
        finally:
            context.close()


@pytest.fixture
def page(lab: Lab, browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A new tab (each test opens its notebook in a JupyterLab workspace of its own)."""
    ARTIFACTS.mkdir(exist_ok=True)
    failed_before = request.session.testsfailed
    pg = browser.new_page()
    try:
        pg.on("dialog", lambda dialog: dialog.accept())  # "leave the page?" on reload
        pg.set_default_timeout(WAIT_MS)
        console_errors: list[str] = []
        pg.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
        ours: list[str] = []  # uncaught errors thrown by the extension's code (its bundle is served under its name)
        pg.on("pageerror", lambda e: "grok-magics" in (e.stack or "") and ours.append(f"{e.message}\n{e.stack}"))
        yield pg
        assert not ours, "the page extension threw:\n" + "\n".join(ours[:3])
        if request.session.testsfailed > failed_before:
            pg.screenshot(path=str(ARTIFACTS / f"browser-failure-{request.node.name}.png"))
            print("---- browser console errors ----\n" + "\n".join(console_errors[-30:]))
            print(f"---- JupyterLab log (tail of {lab.log}) ----\n{lab.log_tail()}")
    finally:
        for tab in browser.pages:
            tab.close()


# --------------------------------------------------------------------------- what a person does


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / name))


def open_notebook(page: Any, lab: Lab, name: str) -> None:
    page.goto(lab.notebook_url(name, workspace=Path(name).stem))  # a workspace of its own: nothing else reopens
    wait_for_kernel(page, lab)
    if lab.kind == "lab" and page.locator("#jp-left-stack").is_visible():  # more room for the notebook
        page.locator('.jp-SideBar.jp-mod-left [data-id="filebrowser"]').click()


def open_and_load(page: Any, lab: Lab, path: Path) -> None:
    """Open the notebook and run its first cell (``%load_ext grok_magics``), as each story begins."""
    open_notebook(page, lab, path.name)
    run(page, 0)
    wait_finished(page, 0, 1)


def wait_for_kernel(page: Any, lab: Lab) -> None:
    """The frontend names the kernel and says idle. (The execution indicator says "idle" before any
    kernel exists, and Shift+Enter at that moment is silently dropped.)"""
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    if lab.kind == "lab":
        page.locator("#jp-main-statusbar .jp-StatusBar-TextItem", has_text=KERNEL_IDLE).wait_for()
    else:
        page.locator(".jp-Toolbar-kernelName", has_text="Python 3 (ipykernel)").wait_for()
        wait_until(
            lambda: any(s["kernel"]["execution_state"] == "idle" for s in get_json(lab.url + "/api/sessions")),
            "the kernel to start",
            WAIT_MS / 1000,
        )
    page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for()


def cell(page: Any, index: int) -> Any:
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def outputs(page: Any, index: int) -> Any:
    """The outputs a person can see (the front-end carrier output hides itself)."""
    return cell(page, index).locator(".jp-OutputArea-child:visible")


def answer(page: Any, index: int) -> Any:
    return cell(page, index).locator(".jp-OutputArea-output.jp-RenderedMarkdown")


def status(page: Any, index: int) -> Any:
    return cell(page, index).locator(".grok-status")


def run(page: Any, index: int) -> None:
    """Click into the cell and press Shift+Enter."""
    cell(page, index).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def write_and_run(page: Any, index: int, source: str) -> None:
    """Type into the (empty) cell the frontend added below the last one, then run it."""
    editor = cell(page, index).locator(".jp-InputArea-editor")
    editor.click()
    page.keyboard.type(source)
    assert editor.inner_text().strip() == source, "typing into the cell went wrong"
    page.keyboard.press("Shift+Enter")


def prompt_of(page: Any, index: int) -> str:
    return cell(page, index).locator(".jp-InputPrompt").inner_text().strip()


def wait_finished(page: Any, index: int, count: int) -> None:
    """The cell's prompt shows its execution count: the kernel has answered this run."""
    wait_until(
        lambda: prompt_of(page, index) == f"[{count}]:",
        f"cell {index} to finish as [{count}] (prompt is {prompt_of(page, index)!r})",
        WAIT_MS / 1000,
    )


def notebook_text(page: Any) -> str:
    return page.locator(".jp-Notebook").inner_text()


def save(page: Any, path: Path, *expected: str) -> None:
    cell(page, 0).locator(".jp-InputPrompt").click()  # command mode on a cell, like a person before Ctrl+S
    page.keyboard.press("Control+s")
    wait_until(lambda: all(text in path.read_text() for text in expected), f"{expected} in the notebook on disk")


def assert_clean_final(page: Any, index: int, *expected: str) -> None:
    """Rendered Markdown only (no raw HTML), ending in the status line, and no live-view leftovers."""
    final = answer(page, index)
    for text in expected:
        final.filter(has_text=text).first.wait_for()
    cell(page, index).locator(".grok-live").wait_for(state="detached")
    assert status(page, index).count() == 1, f"cell {index}: expected one status line"
    assert "grok-4.3 · xAI · " in status(page, index).inner_text() and "tokens" in status(page, index).inner_text()
    assert outputs(page, index).count() == answer(page, index).count(), f"cell {index}: not only Markdown"
    shown = cell(page, index).locator(".jp-OutputArea").inner_text()
    assert "<sub" not in shown and "<div" not in shown and "&lt;" not in shown, f"raw HTML on screen: {shown!r}"
    assert "▍" not in shown and "writing…" not in shown, f"live-view leftovers: {shown!r}"


def make_notebook(root: Path, name: str, *sources: str) -> Path:
    path = root / name
    nbformat.write(notebook(*sources), path)
    return path


def rgba(css_color: str) -> tuple[float, float, float, float]:
    values = [float(v) for v in re.findall(r"[\d.]+", css_color)]
    return values[0], values[1], values[2], values[3] if len(values) > 3 else 1.0


def luminance(rgb: tuple[float, float, float]) -> float:
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in rgb)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(page: Any, locator: Any) -> float:
    """WCAG contrast of an element's text, as painted (colour alpha and opacity blended), against the
    notebook's background."""
    fg = rgba(locator.evaluate("e => getComputedStyle(e).color"))
    opacity = float(locator.evaluate("e => getComputedStyle(e).opacity"))
    bg_css = page.locator(".jp-Notebook").evaluate("e => getComputedStyle(e).backgroundColor")
    if rgba(bg_css)[3] == 0:  # transparent: the body's colour shows through
        bg_css = page.locator("body").evaluate("e => getComputedStyle(e).backgroundColor")
    bg = rgba(bg_css)
    alpha = fg[3] * opacity
    painted = tuple(alpha * f + (1 - alpha) * b for f, b in zip(fg[:3], bg[:3]))
    hi, lo = sorted((luminance(painted), luminance(bg[:3])), reverse=True)  # type: ignore[arg-type]
    return (hi + 0.05) / (lo + 0.05)


def block_gaps(page: Any, index: int) -> dict[str, Any]:
    """Vertical gaps between an answer's consecutive blocks, within one output and across two."""
    return cell(page, index).evaluate(
        """c => {
        const parts = [...c.querySelectorAll('.grok-answer')];
        const kids = parts.flatMap((a, i) => [...a.children]
            .filter(k => k.getBoundingClientRect().height > 0 && !k.querySelector('.grok-status'))
            .map(k => [i, k]));
        const gaps = {outputs: parts.length, within: [], across: []};
        for (let j = 1; j < kids.length; j++) {
            const gap = kids[j][1].getBoundingClientRect().top - kids[j - 1][1].getBoundingClientRect().bottom;
            (kids[j][0] === kids[j - 1][0] ? gaps.within : gaps.across).push(Math.round(gap));
        }
        return gaps; }"""
    )


def clipboard(page: Any) -> str:
    return page.evaluate("navigator.clipboard.readText()")


# --------------------------------------------------------------------------- the test


def test_a_person_streams_saves_reloads_copies_and_interrupts(fake: Any, lab: Lab, page: Any) -> None:
    kind = lab.kind
    gate = threading.Event()
    fake.script(
        # All of the answer's text, then the server holds back the end of the reply until the gate opens.
        Reply(
            text=ANSWER,
            reasoning="Think of coins.",
            chunk=CHUNK,
            pace=0.01,
            gate_after=ALL_DELTAS,
            gate=gate,
            gate_seconds=240,
        ),
        Reply(text=EXAMPLE, reasoning="Pick numbers a student can check."),
        Reply(text=EXAMPLE_AGAIN, reasoning="Use a die this time."),
    )
    path = make_notebook(
        lab.root,
        "pvalues.ipynb",
        "%load_ext grok_magics\n" + TOOLS,
        f"%%grok\n{ASK_1}",
        f"%%grok --effort high\n{ASK_2}",
    )
    open_and_load(page, lab, path)

    # 1. streaming: finished blocks look final (heading below the notebook's sections, math typeset with
    #    its backslashes, code highlighted with Copy/Insert, a table), the unfinished tail is live below
    try:
        run(page, 1)
        live = cell(page, 1).locator(".grok-live")
        live.wait_for()
        answer(page, 1).filter(has_text=LAST_SENTENCE).first.wait_for()
        assert prompt_of(page, 1) == "[*]:", "the answer should still be streaming"
        outs = cell(page, 1).locator(".jp-OutputArea")
        assert outs.locator("h4", has_text="The idea").count() == 1 and outs.locator("h2").count() == 0
        wait_until(lambda: outs.locator("mjx-container").count() >= 3, "MathJax to typeset the live math")
        assert "0.9,x" not in outs.inner_text() and "$p" not in outs.inner_text(), "raw or mangled LaTeX"
        code = outs.locator("pre", has_text="binomtest")
        assert code.locator("span").count() > 2, "the code block is not highlighted"
        assert outs.locator("table td", has_text="surprising").count() == 2
        assert code.locator(".grok-tools button", has_text="Copy").count() == 1
        assert "Thought for" in outs.inner_text()
        # the view follows on the next frames (typesetting just moved the layout): within a moment, not a poll
        wait_until(lambda: in_view(page, live), "the view to keep the live edge in sight", FOLLOW_S)
        cell(page, 1).scroll_into_view_if_needed()
        shot(page, f"browser-{kind}-1-streaming.png")
        height_live = outs.bounding_box()["height"]

        # 2. an autosave now writes the text so far as Markdown; reloading that file (here: a copy of it, in a
        #    second tab, while the answer still streams in the first) shows the text, never a dead widget
        save(page, path, LAST_SENTENCE)
        on_disk = path.read_text()
        assert "widget-view" not in on_disk and "binomtest" in on_disk
        (lab.root / "midstream.ipynb").write_text(on_disk)
        reloaded = page.context.new_page()
        reloaded.goto(lab.notebook_url("midstream.ipynb", workspace="midstream"))
        answer(reloaded, 1).filter(has_text=LAST_SENTENCE).first.wait_for()
        answer(reloaded, 1).locator("pre", has_text="binomtest").wait_for()
        reloaded.wait_for_timeout(1000)  # give a dead widget reference the time to show its error, if there were one
        for trouble in WIDGET_TROUBLE:
            assert trouble not in reloaded.locator("body").inner_text(), f"the mid-stream save shows {trouble!r}"
        shot(reloaded, f"browser-{kind}-1b-saved-mid-stream-reopened.png")
        reloaded.close()
        assert prompt_of(page, 1) == "[*]:", "the answer should still be streaming"
    finally:
        gate.set()

    # 3. the end of the stream swaps nothing: same outputs, no visible jump, the status line is final
    assert_clean_final(page, 1, LAST_SENTENCE)
    wait_finished(page, 1, 2)
    height_final = cell(page, 1).locator(".jp-OutputArea").bounding_box()["height"]
    # the answer came as several outputs (its blocks finish one by one): between two of them blocks sit a line
    # apart (1em, ~14 px) as within one output, not the half JupyterLab leaves at an output's edge
    gaps = block_gaps(page, 1)
    assert gaps["outputs"] > 1 and gaps["across"] and min(gaps["across"]) >= 12, gaps
    assert abs(height_final - height_live) <= 30, f"the output jumped from {height_live} to {height_final} px"
    assert answer(page, 1).locator("strong", has_text="p-value").count() == 1, "Markdown was not rendered"
    assert contrast(page, status(page, 1)) >= 3, "the status line is unreadable in this theme"
    body_text = answer(page, 1).locator("strong", has_text="p-value")
    assert contrast(page, status(page, 1)) < contrast(page, body_text), "the status line is not dimmed"
    shot(page, f"browser-{kind}-2-final.png")

    code = cell(page, 1).locator("pre", has_text="binomtest")
    code.locator(".grok-tools button", has_text="Copy").click()
    wait_until(lambda: clipboard(page) == CODE, "the code on the clipboard")

    # 4. the follow-up carries the first turn; re-running it replaces its own turn and output
    run(page, 2)
    assert_clean_final(page, 2, "60 heads")
    wait_finished(page, 2, 3)
    assert user_texts(fake.requests[1].body) == [ASK_1, ASK_2]
    assert fake.requests[1].body["reasoning"] == {"effort": "high"}
    run(page, 2)
    assert_clean_final(page, 2, "18 sixes")
    wait_finished(page, 2, 4)
    assert user_texts(fake.requests[2].body) == [ASK_1, ASK_2], "the re-run duplicated its turn"
    assert "60 heads" not in notebook_text(page), "the re-run left the old answer on screen"

    # 5. a failure is said once: one line, the cell ends in error, no empty status line
    fake.script(Reply(status=401, error_message="Incorrect API key provided"))
    write_and_run(page, 3, "%grok --chat other this one fails")
    failure = cell(page, 3).locator(".jp-OutputArea-output", has_text="HTTP 401")
    failure.wait_for()
    wait_finished(page, 3, 5)
    text = cell(page, 3).locator(".jp-OutputArea").inner_text()
    assert text.count("HTTP 401") == 1 and text.count("Incorrect API key provided") == 1, text
    assert "Traceback" not in text and status(page, 3).count() == 0
    assert outputs(page, 3).count() == 1 or all(
        (outputs(page, 3).nth(i).bounding_box() or {"height": 0})["height"] < 2
        for i in range(outputs(page, 3).count())
        if "HTTP 401" not in outputs(page, 3).nth(i).inner_text()
    )
    cell(page, 3).scroll_into_view_if_needed()
    shot(page, f"browser-{kind}-3-failure.png")

    # 6. interrupt: the stop button ends a stalled stream, keeps the partial text, says so once
    fake.script(Reply(text=STORY, chunk=5, stall_after=3, stall_seconds=120), Reply(text="Short answer."))
    write_and_run(page, 4, "%%grok\nTell me a very long story.")
    answer(page, 4).filter(has_text="Once").first.wait_for()
    assert not fake.requests[-1].disconnected
    page.locator('.jp-NotebookPanel-toolbar [data-command="notebook:interrupt-kernel"]').click()
    assert fake.wait_for_disconnect(5), "the interrupt did not close the connection to the provider"
    cell(page, 4).locator(".jp-OutputArea-output", has_text="■ Interrupted").wait_for()
    status(page, 4).filter(has_text="partial answer").wait_for()
    text = cell(page, 4).locator(".jp-OutputArea").inner_text()
    assert text.startswith("Once") and text.count("Interrupted") == 1 and "long story" not in text, text
    assert "Traceback" not in text and cell(page, 4).locator(".grok-live").count() == 0
    write_and_run(page, 5, "%grok Next question")
    assert_clean_final(page, 5, "Short answer.")
    assert user_texts(fake.requests[-1].body)[-1] == "Next question"

    # 7. Insert puts the code in a new cell below the answer's cell, not run
    count_before = page.locator(".jp-Notebook .jp-Cell").count()
    cell(page, 1).locator("pre", has_text="binomtest").locator(".grok-tools button", has_text="Insert").click()
    wait_until(lambda: page.locator(".jp-Notebook .jp-Cell").count() == count_before + 1, "a new cell")
    inserted = cell(page, 2)
    assert inserted.locator(".jp-InputArea-editor").inner_text().strip() == CODE
    assert prompt_of(page, 2) == "[ ]:", "the inserted cell must not run"

    # 8. save, reload: Markdown everywhere, no dead widgets; Copy and Insert work without the kernel's help
    save(page, path, "Short answer.", "binomtest(60, 100)")
    wait_until(lambda: nbformat.read(path, as_version=4).cells[2].source == CODE, "the inserted cell on disk")
    page.reload()
    wait_for_kernel(page, lab)
    answer(page, 1).filter(has_text=LAST_SENTENCE).first.wait_for()
    assert_clean_final(page, 1, LAST_SENTENCE)
    assert_clean_final(page, 3, "18 sixes")
    page_text = page.locator("body").inner_text()
    for trouble in WIDGET_TROUBLE:
        assert trouble not in page_text, f"after reload the page shows {trouble!r}"
    reloaded_code = cell(page, 1).locator("pre", has_text="binomtest")
    reloaded_code.locator(".grok-tools button", has_text="Copy").click()
    wait_until(lambda: clipboard(page) == CODE, "the code on the clipboard after a reload")
    reloaded_code.locator(".grok-tools button", has_text="Insert").click()
    wait_until(lambda: page.locator(".jp-Notebook .jp-Cell").count() == count_before + 2, "a second new cell")
    cell(page, 1).scroll_into_view_if_needed()
    shot(page, f"browser-{kind}-4-reloaded.png")

    file_text = path.read_text()
    assert_no_canary(file_text, page.locator("body").inner_text())
    assert "application/vnd.jupyter.widget-view+json" not in file_text, "the saved notebook points at a widget"
    saved = nbformat.read(path, as_version=4)
    assert "widgets" not in saved.metadata
    for output in saved.cells[1].outputs:
        assert output.output_type == "display_data"
        assert set(output.data) in ({"text/markdown", "text/plain"}, {"text/html", "text/plain"})

    # 9. tools: the calls collapse into <details> that survive the frontend's sanitiser, and a side-effect
    #    tool's question is the frontend's own input box (after the reload: the kernel still has the tools)
    use_tools(page, fake, kind)

    # 10. a long answer: the view follows the growing edge while the reader stays at the bottom, and stops
    #    following once the reader scrolls up (as chat apps do). The server holds the last paragraphs back
    #    until the reader has scrolled up, so they arrive while the reader reads above.
    gate = threading.Event()
    story = "".join(f"Paragraph {n}: " + "and then something else happened. " * 6 + "\n\n" for n in range(60))
    pieces = -(-len(story) // 20)
    fake.script(Reply(text=story, chunk=20, pace=0.004, gate_after=pieces * 5 // 6, gate=gate, gate_seconds=240))
    last = page.locator(".jp-Notebook .jp-Cell").count() - 1
    try:
        write_and_run(page, last, "%grok Tell me a long story")
        live = cell(page, last).locator(".grok-live")
        answer(page, last).filter(has_text="Paragraph 20:").first.wait_for()
        wait_until(lambda: in_view(page, live), "the live edge to be followed into view")
        # a wheel over the top bar moves nothing that holds the answer: following goes on
        page.mouse.move(640, 8)
        page.mouse.wheel(0, -700)
        answer(page, last).filter(has_text="Paragraph 32:").first.wait_for()
        wait_until(lambda: in_view(page, live), "following to go on after a wheel over the top bar", FOLLOW_S)
        page.mouse.move(640, 450)
        page.mouse.wheel(0, -700)
        wait_until(lambda: not in_view(page, live), "the reader to scroll up")
        before = settled_scroll_top(page, cell(page, last))
        assert prompt_of(page, last) == "[*]:", "the answer ended before the reader scrolled up"
        assert answer(page, last).filter(has_text="Paragraph 55:").count() == 0, "the server did not hold back"
    finally:
        gate.set()
    if kind == "notebook":
        # Notebook 7 folds a long output into a scroll box of its own while it grows, which moves the page
        # under the reader by itself; following the edge (above) is what we can check there
        return
    # the held-back paragraphs arrive while the reader reads above: the view stays where the reader put it
    wait_until(lambda: prompt_of(page, last) != "[*]:", "the long answer to end", WAIT_MS / 1000)
    answer(page, last).filter(has_text="Paragraph 59:").first.wait_for(state="attached")
    assert abs(scroll_top(page, cell(page, last)) - before) < 5, "the view dragged the reader back down"
    assert cell(page, last).locator(".grok-live").count() == 0
    assert not in_view(page, status(page, last)), "the view followed after the reader scrolled up"


FOLLOW_S = 3.0  # how soon the view must bring a moved live edge back in sight (it looks every frame it moves)
SUBPIXEL = 1  # scroll positions are whole pixels and boxes are not: "in sight" allows this much past the window


# inside the window and inside every box that clips it (a notebook's scroller; Notebook 7 turns a long output
# into a scroll box of its own): judged by the window alone, an edge hidden in such a box looked in view
IN_SIGHT = """(el, sub) => { const r = el.getBoundingClientRect(); let top = 0, bottom = innerHeight;
  for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
    if (getComputedStyle(box).overflowY !== 'visible') {
      const b = box.getBoundingClientRect();
      top = Math.max(top, b.top);
      bottom = Math.min(bottom, b.top + box.clientHeight);
    } }
  return r.height > 0 && r.top >= top - sub && r.bottom <= bottom + sub; }"""


def below_fold(page: Any, locator: Any) -> float:
    """Pixels the element's bottom sits below the fold of the tightest box showing it (negative: above it)."""
    return float(
        locator.last.evaluate(
            """el => { let fold = innerHeight;
              for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
                if (getComputedStyle(box).overflowY !== 'visible')
                  fold = Math.min(fold, box.getBoundingClientRect().top + box.clientHeight);
              }
              return el.getBoundingClientRect().bottom - fold; }""",
            timeout=2000,
        )
    )


def in_view(page: Any, locator: Any) -> bool:
    try:
        return locator.count() > 0 and bool(locator.last.evaluate(IN_SIGHT, SUBPIXEL, timeout=2000))
    except Exception:  # gone between the count and the look (an answer's live edge ends)
        return False


def settled_scroll_top(page: Any, locator: Any) -> float:
    """The scroll position once a (smooth) wheel scroll has come to rest."""
    seen = [scroll_top(page, locator)]

    def still() -> bool:
        page.wait_for_timeout(150)  # one sample per 150 ms: at rest when two samples agree
        seen.append(scroll_top(page, locator))
        return seen[-1] == seen[-2]

    wait_until(still, "the scroll to come to rest")
    return seen[-1]


def scroll_top(page: Any, locator: Any) -> float:
    """scrollTop of the element's scrolling ancestor (JupyterLab and Notebook 7 scroll different boxes)."""
    return locator.evaluate("""e => { for (let n = e.parentElement; n; n = n.parentElement) {
        const s = getComputedStyle(n).overflowY;
        if ((s === 'auto' || s === 'scroll') && n.scrollHeight > n.clientHeight) return n.scrollTop; }
      return document.scrollingElement.scrollTop; }""")


def use_tools(page: Any, fake: Any, kind: str) -> None:
    fake.script(
        Reply(
            text="",
            tool_calls=[
                {"name": "add", "arguments": {"a": 20, "b": 22}, "id": "a1"},
                {"name": "wipe", "arguments": {"table": "orders"}, "id": "w1"},
            ],
        ),
        Reply(text="The sum is **42** and the table is gone."),
    )
    ask = page.locator(".jp-Notebook .jp-Cell").count() - 1
    write_and_run(page, ask, "%%grok --tools add,wipe\nAdd 20 and 22, then wipe the orders table.")
    stdin = cell(page, ask).locator(".jp-Stdin-input")
    stdin.wait_for()
    assert "Grok wants to run wipe" in cell(page, ask).locator(".jp-Stdin").inner_text()
    stdin.fill("y")
    stdin.press("Enter")
    answer(page, ask).filter(has_text="The sum is 42").first.wait_for()
    wait_until(lambda: re.fullmatch(r"\[\d+\]:", prompt_of(page, ask)) is not None, "the tools cell to finish")
    summaries = cell(page, ask).locator("details > summary")
    assert summaries.count() == 2 and summaries.first.inner_text().startswith("⚙ add(")
    result = cell(page, ask).locator("details").first.locator("pre")
    assert not result.first.is_visible(), "the call should start collapsed"
    summaries.first.click()
    result.last.filter(has_text="42").wait_for()
    cell(page, ask).scroll_into_view_if_needed()
    shot(page, f"tools-{kind}-expanded.png")
    items = fake.requests[-1].body["input"]
    sent = {i["call_id"]: i["output"] for i in items if i.get("type") == "function_call_output"}
    assert sent == {"a1": "42", "w1": "wiped"}, sent
    write_and_run(page, ask + 1, "print(wiped)")
    outputs(page, ask + 1).filter(has_text="['orders']").wait_for()
    shown = cell(page, ask).locator(".jp-OutputArea").inner_text()
    assert "&lt;details" not in shown and "<details" not in shown
    assert_no_canary(page.locator("body").inner_text())


# --------------------------------------------------------------------------- the page extension


PROSE = (
    "Is the p-value in the data or in the model? Explain it as a teacher would to a class that has seen "
    "1 - 0.95 = 0.05 and thinks that is the p-value, with a coin that lands heads in 58 of 100 flips "
    "(58 heads is not proof of anything), and say what would change with 580 of 1000."
)
CONTROL = "hits = [n for n in range(10) if n in (2, 3)]"
FAILING = "values = [1, 2, 3]\nvalues[10]"
FIXED = "values = [1, 2, 3]\nprint(values[-1])"
TOOL_JSON = '{"items": 3}'
FIX_ANSWER = (
    "The list has 3 items, so index 10 is out of range.\n\n"
    f"```python\n{FIXED}\n```\n\nWhat `len` says:\n\n```json\n{TOOL_JSON}\n```\n"
)
MEAN = "mean = 4.2"
# the same word, "in": bold keyword colour in Python, plain text colour in a %%grok cell (read as prose)
WORD_COLOUR = """cell => {
  const content = cell.querySelector('.cm-content');
  const walker = document.createTreeWalker(content, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (/(^|\\W)in(\\W|$)/.test(n.textContent)) return getComputedStyle(n.parentElement).color;
  }
  return null;
}"""


def word_colour(page: Any, index: int) -> str:
    return cell(page, index).evaluate(WORD_COLOUR)


def text_colour(page: Any, index: int) -> str:
    """The editor's colour for plain text."""
    return cell(page, index).locator(".cm-content").evaluate("e => getComputedStyle(e).color")


def is_prose(page: Any, index: int) -> bool:
    return "grok-prose-cell" in (cell(page, index).get_attribute("class") or "")


def reveal(page: Any, index: int) -> Any:
    """Scroll the notebook to cell ``index``, as a person does (notebook windowing may not draw it before)."""
    page.evaluate("i => window.jupyterapp.shell.currentWidget.content.scrollToItem(i, 'center')", index)
    cell(page, index).scroll_into_view_if_needed()
    return cell(page, index)


def source_of(page: Any, index: int) -> str:
    """The cell's source as the notebook model holds it."""
    return page.evaluate(
        "i => window.jupyterapp.shell.currentWidget.content.widgets[i].model.sharedModel.getSource()", index
    ).strip()


def wait_requests(fake: Any, count: int) -> None:
    wait_until(lambda: len(fake.requests) >= count, f"request {count} at the fake server", WAIT_MS / 1000)


def last_user_content(fake: Any) -> list[dict[str, Any]]:
    body = fake.requests[-1].body
    return [item for item in body["input"] if item.get("role") == "user"][-1]["content"]


def code_tools(page: Any, index: int, text: str) -> Any:
    return cell(page, index).locator("pre", has_text=text).locator(".grok-tools")


def assert_answer_buttons(page: Any, index: int) -> None:
    """Python gets Copy and Insert, JSON only Copy; each block has one bar (no second set from the script)."""
    python, data = code_tools(page, index, "print(values[-1])"), code_tools(page, index, '"items"')
    python.locator("button", has_text="Insert").wait_for()
    assert python.count() == 1 and data.count() == 1, "doubled buttons"
    assert python.locator(".grok-lang").inner_text() == "python" and data.locator(".grok-lang").inner_text() == "json"
    assert python.locator("button", has_text="Copy").count() == 1
    assert data.locator("button", has_text="Copy").count() == 1
    assert data.locator("button", has_text="Insert").count() == 0, "Insert offered on a JSON block"
    footer = cell(page, index).locator(".grok-answer-actions")
    assert footer.count() == 1 and footer.locator("button", has_text="Retry").count() == 1
    assert footer.locator("button", has_text="Continue").count() == 1


def test_the_page_extension_prose_cells_output_actions_and_the_channel(fake: Any, lab: Lab, page: Any) -> None:
    """%%grok cells read as prose; "Ask Grok" on a traceback and "Ask about this" on a picture and a value
    ask in new cells; the kernel pulls the cells above over the comm; the page asks the kernel for its chats.
    Then the saved notebook, copied (so untrusted) and reopened in a new kernel: Copy, Insert, Retry and
    Continue, the chat's name, and "Ask Grok" on a traceback that this kernel never saw."""
    kind = lab.kind
    fake.script(
        Reply(text=FIX_ANSWER),
        Reply(text="A small red rectangle."),
        Reply(text="The mean is 4.2."),
        Reply(text="A p-value is a tail probability."),
    )
    path = make_notebook(
        lab.root,
        "extension.ipynb",
        "%load_ext grok_magics\nfrom PIL import Image\nfrom grok_magics import page as grok_page",
        f"%%grok\n{PROSE}",
        CONTROL,
        FAILING,
        "Image.new('RGB', (40, 30), (220, 20, 20))",
        f"'{MEAN}'",
        "cells = await grok_page.cells_above()\nprint(len(cells), repr(cells[0]['source']))",
        "%%grok --chat stats\nOne line on p-values.",
    )
    open_notebook(page, lab, path.name)
    assert page.evaluate("document.body.dataset.grokMagics") == "0.1.0", "the extension did not load"

    # 1. prose: the %%grok cell is Markdown and wraps; "in" has the keyword colour only in Python
    assert is_prose(page, 1) and not is_prose(page, 2)
    # the editor loads each language asynchronously: wait until the control cell is highlighted as Python
    wait_until(lambda: word_colour(page, 2) != text_colour(page, 2), "Python highlighting in the control cell")
    keyword = word_colour(page, 2)
    wait_until(lambda: word_colour(page, 1) == text_colour(page, 1), "the %%grok cell's language to settle")
    assert word_colour(page, 1) == text_colour(page, 1) != keyword, "'in' in a %%grok cell reads as a keyword"
    assert cell(page, 1).locator(".cm-content.cm-lineWrapping").count() == 1, "the %%grok cell does not wrap"
    lines = cell(page, 1).locator(".cm-line")
    assert lines.nth(1).bounding_box()["height"] > 1.5 * lines.nth(0).bounding_box()["height"], "no soft wrap"
    assert "58 heads" in cell(page, 1).locator(".cm-content").inner_text()
    cell(page, 1).scroll_into_view_if_needed()
    shot(page, f"extension-{kind}-1-prose.png")
    # switching live: the first line becomes the magic and the cell turns prose; removed, it is Python again
    cell(page, 2).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Home")
    page.keyboard.type("%%grok\n")
    wait_until(lambda: is_prose(page, 2) and word_colour(page, 2) != keyword, "the cell to turn prose as typed")
    page.keyboard.press("Control+Home")
    page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Backspace")
    wait_until(lambda: not is_prose(page, 2) and word_colour(page, 2) == keyword, "the cell to be Python again")
    assert source_of(page, 2) == CONTROL
    page.keyboard.press("Escape")

    # 2. "Ask Grok" on a real traceback: a %%grok fix cell below, run, answered about that cell
    run(page, 0)
    wait_finished(page, 0, 1)
    run(page, 3)
    wait_finished(page, 3, 2)
    ask = cell(page, 3).locator(".grok-output-actions button", has_text="Ask Grok")
    assert ask.count() == 1 and cell(page, 3).locator(".grok-output-actions").count() == 1
    ask.click()
    answer(page, 4).filter(has_text="out of range").first.wait_for()
    wait_finished(page, 4, 3)
    assert source_of(page, 4).startswith("%%grok fix") and is_prose(page, 4)
    sent = user_texts(fake.requests[0].body)[-1]
    assert "values[10]" in sent and "IndexError" in sent, sent
    assert_answer_buttons(page, 4)
    assert cell(page, 4).locator(".grok-output-actions").count() == 0, "answers get no Ask about this"
    assert cell(page, 4).locator(".grok-chat").count() == 0, "the default chat is not labelled"
    # the page draws the buttons and follows: the kernel ships no script with the answer (~12 KB each, saved)
    assert cell(page, 4).locator(".grok-carrier").count() == 0, "a script was shipped to a page that has the extension"
    assert outputs(page, 4).count() == answer(page, 4).count()
    assert page.evaluate("window.__grokMagics === undefined"), "a script shipped in an answer ran beside the extension"
    cell(page, 4).scroll_into_view_if_needed()
    shot(page, f"extension-{kind}-2-ask-grok.png")

    # 3. "Ask about this" on a picture and on a value: the kernel attaches the output itself
    run(page, 5)
    wait_finished(page, 5, 4)
    cell(page, 5).locator(".grok-output-actions button", has_text="Ask about this").click()
    answer(page, 6).filter(has_text="red rectangle").first.wait_for()
    assert re.match(r"%%grok --output \S+:0", source_of(page, 6)), source_of(page, 6)
    images = [part for part in last_user_content(fake) if part["type"] == "input_image"]
    assert len(images) == 1 and images[0]["image_url"].startswith("data:image/png;base64,")
    run(page, 7)
    wait_finished(page, 7, 6)
    cell(page, 7).locator(".grok-output-actions button", has_text="Ask about this").click()
    answer(page, 8).filter(has_text="The mean is 4.2").first.wait_for()
    assert MEAN in user_texts(fake.requests[-1].body)[-1]

    # 4. the channel: an async cell pulls the cells above from the page; the page asks the kernel for its chats
    run(page, 9)
    outputs(page, 9).filter(has_text="%%grok --output").wait_for()
    printed = cell(page, 9).locator(".jp-OutputArea-output").inner_text().strip()
    assert re.match(r"^9 '%%grok --output \S+:0\\nWhat does this output show\?'$", printed), printed
    run(page, 10)
    answer(page, 10).filter(has_text="tail probability").first.wait_for()
    chats = page.evaluate("window.jupyterapp.commands.execute('grok-magics:chats')")
    assert {c["name"]: c["turns"] for c in chats} == {"default": 3, "stats": 1}, chats
    assert cell(page, 10).locator(".grok-chat").inner_text() == "chat: stats"
    cell(page, 10).scroll_into_view_if_needed()
    shot(page, f"extension-{kind}-4-about-and-chat.png")
    page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")  # as Ctrl+S does
    wait_until(lambda: all(t in path.read_text() for t in ("tail probability", "red rectangle")), "the save")

    # 5. the same notebook, untrusted (a copy someone downloaded), in a new kernel
    untrusted = nbformat.read(path, as_version=4)
    untrusted.metadata["downloaded"] = True  # another signature: Jupyter no longer trusts it
    # an answer made where no page was connected (papermill, nbclient) carries the script in an output of its own
    untrusted.cells[4].outputs.insert(0, nbformat.v4.new_output("display_data", data=bundle()))
    nbformat.write(untrusted, lab.root / "downloaded.ipynb")
    stop_kernels(lab)
    open_notebook(page, lab, "downloaded.ipynb")
    answer(page, 4).filter(has_text="out of range").first.wait_for()
    trusted = page.evaluate("window.jupyterapp.shell.currentWidget.content.model.cells.get(4).trusted")
    assert trusted is False, "the copy should be untrusted"
    assert_answer_buttons(page, 4)
    assert cell(page, 4).locator(".grok-carrier").count() == 1, "the answer made without a page lost its script"
    assert outputs(page, 4).count() == answer(page, 4).count(), "the untrusted carrier output shows"
    code_tools(page, 4, "print(values[-1])").locator("button", has_text="Copy").click()
    wait_until(lambda: clipboard(page) == FIXED, "the code on the clipboard")
    code_tools(page, 4, "print(values[-1])").locator("button", has_text="Insert").click()
    wait_until(lambda: source_of(page, 5) == FIXED, "the inserted cell")
    assert prompt_of(page, 5) == "[ ]:", "Insert must not run the cell"
    cell(page, 4).scroll_into_view_if_needed()
    shot(page, f"extension-{kind}-3-untrusted.png")

    # Continue: a new %%grok cell below, in the answer's chat, ready to type into
    reveal(page, 11).locator(".grok-answer-actions button", has_text="Continue").click()
    wait_until(lambda: source_of(page, 12) == "%%grok --chat stats", "the Continue cell")
    assert is_prose(page, 12) and prompt_of(page, 12) == "[ ]:"
    page.keyboard.press("Escape")

    # Retry re-runs the asking cell: the picture and the value it asks about now come from the page (this
    # kernel never made them)
    reveal(page, 0)
    run(page, 0)
    wait_finished(page, 0, 1)
    fake.script(
        Reply(text="Still red."), Reply(text="Still 4.2."), Reply(text="Index 10 does not exist: the list has 3 items.")
    )
    before = len(fake.requests)
    reveal(page, 7).locator(".grok-answer-actions button", has_text="Retry").click()
    answer(page, 7).filter(has_text="Still red").first.wait_for()
    wait_requests(fake, before + 1)
    images = [part for part in last_user_content(fake) if part["type"] == "input_image"]
    assert len(images) == 1 and images[0]["image_url"].startswith("data:image/png;base64,")
    before = len(fake.requests)
    reveal(page, 9).locator(".grok-answer-actions button", has_text="Retry").click()
    answer(page, 9).filter(has_text="Still 4.2").first.wait_for()
    wait_requests(fake, before + 1)
    assert MEAN in user_texts(fake.requests[-1].body)[-1]

    # "Ask Grok" on a saved traceback: this kernel never ran that cell, the page sends it
    reveal(page, 3).locator(".grok-output-actions button", has_text="Ask Grok").click()
    answer(page, 4).filter(has_text="does not exist").first.wait_for()
    sent = user_texts(fake.requests[-1].body)[-1]
    assert "values[10]" in sent and "IndexError" in sent, sent

    # after a kernel restart the channel comes back (here once the magics load again, as autoload is off)
    page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()")
    wait_for_kernel(page, lab)
    reveal(page, 0)
    run(page, 0)
    wait_finished(page, 0, 1)
    reveal(page, 11)
    run(page, 11)
    wait_finished(page, 11, 2)
    printed = cell(page, 11).locator(".jp-OutputArea-output").inner_text().strip()
    assert re.match(r"^11 '%%grok --output \S+:0\\nWhat does this output show\?'$", printed), printed
    assert_no_canary(page.locator("body").inner_text())


def test_following_in_a_scroll_box_after_end_and_in_two_notebooks_at_once(fake: Any, lab: Lab, page: Any) -> None:
    """A followed answer stays in sight inside every box that clips it (Notebook 7 makes a long output a scroll
    box of its own) and its status line shows at the end; End while it streams brings its edge back (JupyterLab
    scrolls past the last cell, above the edge); two notebooks side by side follow each its own answer."""
    story = "".join(f"Paragraph {n}: " + "and then something else happened. " * 6 + "\n\n" for n in range(50))
    pieces = -(-len(story) // 20)

    def held(gate: threading.Event) -> dict[str, Any]:
        """The last paragraphs wait for ``gate``: the answer is still streaming when it is looked at, however busy
        the machine."""
        return {"gate_after": pieces * 5 // 6, "gate": gate, "gate_seconds": 240}

    first = threading.Event()
    fake.script(Reply(text=story, chunk=20, pace=0.006, **held(first)))
    path = make_notebook(lab.root, "follow-a.ipynb", "%load_ext grok_magics", "%grok Tell me a long story")
    open_and_load(page, lab, path)
    try:
        run(page, 1)
        live = cell(page, 1).locator(".grok-live")
        answer(page, 1).filter(has_text="Paragraph 40:").first.wait_for()
        wait_until(lambda: in_view(page, live), "the live edge to be in sight inside its boxes", FOLLOW_S)
    finally:
        first.set()
    wait_finished(page, 1, 2)
    wait_until(lambda: in_view(page, status(page, 1)), "the status line to be in sight at the end", FOLLOW_S)
    shot(page, f"follow-{lab.kind}-1-end.png")
    if lab.kind != "lab":  # End past the last cell and the split view are JupyterLab's
        return

    # End while the answer streams, after the reader scrolled up: the edge comes back into sight
    second = threading.Event()
    fake.script(Reply(text=story, chunk=20, pace=0.01, **held(second)))
    try:
        write_and_run(page, 2, "%grok Tell me another")
        live = cell(page, 2).locator(".grok-live")
        answer(page, 2).filter(has_text="Paragraph 10:").first.wait_for()
        page.mouse.move(640, 450)
        page.mouse.wheel(0, -900)
        wait_until(lambda: not in_view(page, live), "the reader to scroll up")
        page.keyboard.press("Escape")  # command mode, as a person leaves the editor
        page.keyboard.press("End")
        wait_until(lambda: in_view(page, live), "End to bring the streaming answer's edge back", FOLLOW_S)
        # at the bottom of the view, not high up over the empty space JupyterLab scrolls to past the last cell
        wait_until(lambda: -80 <= below_fold(page, live) <= SUBPIXEL, "the edge at the fold after End", FOLLOW_S)
        answer(page, 2).filter(has_text="Paragraph 30:").first.wait_for()
        wait_until(lambda: in_view(page, live), "following to go on after End", FOLLOW_S)
    finally:
        second.set()
    wait_finished(page, 2, 3)

    # two notebooks side by side, an answer streaming in each: each is followed in its own panel
    other = make_notebook(lab.root, "follow-b.ipynb", "%load_ext grok_magics", "%grok Tell me a third")
    page.evaluate(
        f"async () => {{ await window.jupyterapp.commands.execute('docmanager:open', "
        f"{{path: '{other.name}', options: {{mode: 'split-right'}}}}); }}"
    )
    panes = page.locator(".jp-NotebookPanel")
    wait_until(lambda: panes.count() == 2, "the second notebook beside the first")
    left, right = panes.nth(0), panes.nth(1)
    wait_until(
        lambda: sum(s["kernel"]["execution_state"] == "idle" for s in get_json(lab.url + "/api/sessions")) == 2,
        "the second notebook's kernel",
        WAIT_MS / 1000,
    )

    def run_in(pane: Any, index: int, source: str = "") -> None:
        target = pane.locator(".jp-Cell").nth(index)
        target.evaluate("e => e.scrollIntoView({block: 'center'})")  # a narrow pane: the cell may be out of view
        target.locator(".jp-InputArea-editor").click()
        page.keyboard.type(source)
        page.keyboard.press("Shift+Enter")

    run_in(right, 0)
    wait_until(lambda: right.locator(".jp-InputPrompt").first.inner_text().strip() == "[1]:", "its %load_ext")
    # each holds its last paragraphs back until both were seen streaming (on a busy machine one could end first)
    gate = threading.Event()
    fake.script(
        Reply(text=story, chunk=20, pace=0.005, **held(gate)), Reply(text=story, chunk=20, pace=0.005, **held(gate))
    )
    try:
        run_in(left, 3, "%grok And one more")
        run_in(right, 1)
        left.locator(".jp-RenderedMarkdown", has_text="Paragraph 30:").first.wait_for()
        right.locator(".jp-RenderedMarkdown", has_text="Paragraph 30:").first.wait_for()
        live_left, live_right = left.locator(".grok-live"), right.locator(".grok-live")
        wait_until(lambda: in_view(page, live_left) and in_view(page, live_right), "both edges in sight", FOLLOW_S)
        assert live_left.count() == 1 and live_right.count() == 1, "an answer ended before both were seen"
        shot(page, "follow-lab-3-split.png")
    finally:
        gate.set()


def test_a_long_answer_shows_to_its_end(fake: Any, lab: Lab, page: Any) -> None:
    """An answer streams as one output per finished block; the frontends show 50 outputs of a cell and hide the
    rest behind "Show more outputs", which hid a long answer's end, its live edge and its status line."""
    # one block per delta, a few frames apart: each becomes its own output, however busy the machine
    blocks = [f"Block {n:02d}: " + "one more finished paragraph of the answer. " * 2 + "\n\n" for n in range(64)]
    fake.script(Reply(text="".join(blocks), chunk=len(blocks[0]), pace=0.15))
    path = make_notebook(lab.root, "long-answer.ipynb", "%load_ext grok_magics", "%%grok\nlong")
    open_and_load(page, lab, path)
    run(page, 1)
    wait_finished(page, 1, 2)
    made = page.evaluate("window.jupyterapp.shell.currentWidget.content.widgets[1].model.outputs.length")
    assert made > 50, f"the long answer came as {made} outputs: not past the limit, nothing proved"
    assert "Show more outputs" not in cell(page, 1).inner_text()
    answer(page, 1).filter(has_text="Block 63:").first.wait_for(state="attached")
    assert status(page, 1).count() == 1


def test_conversations_that_know_the_notebook(fake: Any, lab: Lab, page: Any) -> None:
    """Issue 19 in the page: the cells above as context (an unsaved edit included, a skipped and a pinned
    cell), the conversation continued after a real kernel restart, a fork that leaves the original intact,
    and the chat panel showing both chats with their cost, resetting one."""
    kind = lab.kind
    fake.script(Reply(text="They set up the data."), Reply(text="Set-up."), Reply(text="Another way."), Reply(text="x"))
    nb = notebook(
        "%load_ext grok_magics",
        "secret = 'do not send me'",
        "DATA = 'sales.csv'",
        "y = 3",
        "%%grok --context above:1\nWhat do the cells above do?",
        "%%grok\nShorter, please.",
        "%%grok --fork other\nAnother way?",
    )
    nb.cells[1].metadata["tags"] = ["grok-skip"]
    nb.cells[2].metadata["tags"] = ["grok-pin"]
    path = lab.root / "context.ipynb"
    nbformat.write(nb, path)
    open_notebook(page, lab, path.name)
    assert page.locator("#grok-magics-chats").count() == 1, "this branch's page extension is not the one loaded"
    for index in range(4):
        run(page, index)
        wait_finished(page, index, index + 1)
    # an edit that is not run (nor saved): the page sends what it shows
    cell(page, 3).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("  # edited, not run")
    page.keyboard.press("Escape")
    run(page, 4)
    answer(page, 4).filter(has_text="They set up the data.").first.wait_for()
    sent = json.dumps(fake.requests[-1].body)
    assert "notebook page" in sent and "y = 3  # edited, not run" in sent, sent
    assert "sales.csv" in sent and "do not send me" not in sent
    save(page, path, "They set up the data.")

    # a real restart: the chat is rebuilt from the answer the page shows, and says so
    page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()")
    wait_for_kernel(page, lab)
    reveal(page, 0)
    run(page, 0)
    wait_finished(page, 0, 1)
    reveal(page, 5)
    run(page, 5)
    answer(page, 5).filter(has_text="Set-up.").first.wait_for()
    texts = user_texts(fake.requests[-1].body)
    assert texts[0].startswith("What do the cells above do?") and texts[-1] == "Shorter, please.", texts
    assert "They set up the data." in json.dumps(fake.requests[-1].body)
    assert "continued from 1 answer above" in status(page, 5).inner_text()

    # a fork: from the conversation as it stands here; the original keeps its turns
    reveal(page, 6)
    run(page, 6)
    answer(page, 6).filter(has_text="Another way.").first.wait_for()
    assert user_texts(fake.requests[-1].body)[1:] == ["Shorter, please.", "Another way?"]
    assert "forked from chat 'default' at 2" in status(page, 6).inner_text()

    # the panel: both chats, their turns and cost; Reset empties one, the other stays
    tab = page.locator('.jp-SideBar [data-id="grok-magics-chats"]')
    if tab.count():
        tab.first.click()
    else:  # Notebook 7: the right side panel, opened through its command
        page.evaluate("window.jupyterapp.shell.activateById('grok-magics-chats')")
    panel = page.locator("#grok-magics-chats")
    panel.locator('.grok-chat[data-chat="other"]').wait_for()
    default = panel.locator('.grok-chat[data-chat="default"]')
    assert "2 turns" in default.locator(".grok-chat-line").inner_text() and "$" in default.inner_text()
    assert "fork of default at 2" in panel.locator('.grok-chat[data-chat="other"]').inner_text()
    assert "You: Shorter, please." in default.inner_text() and "Grok: Set-up." in default.inner_text()
    assert "no classroom budget set" in panel.locator(".grok-chat-budget").inner_text()
    shot(page, f"notebook-{kind}-chat-panel.png")
    panel.locator('.grok-chat[data-chat="other"] button', has_text="Reset").click()
    wait_until(
        lambda: "0 turns" in panel.locator('.grok-chat[data-chat="other"] .grok-chat-line').inner_text(),
        "the fork to be reset in the panel",
    )
    assert "2 turns" in default.locator(".grok-chat-line").inner_text()
    # Export downloads the chat as Markdown; Fork asks for a name and adds the fork
    with page.expect_download() as got:
        default.locator("button", has_text="Export").click()
    exported = Path(got.value.path()).read_text()
    assert got.value.suggested_filename == "grok-chat-default.md" and "Shorter, please." in exported
    default.locator("button", has_text="Fork").click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator("input").fill("side")
    dialog.locator(".jp-mod-accept").click()
    side = panel.locator('.grok-chat[data-chat="side"]')
    side.wait_for()
    assert "fork of default at 2" in side.inner_text() and "2 turns" in side.locator(".grok-chat-line").inner_text()
    # the end of an answer refreshes the panel by itself
    reveal(page, 7)
    write_and_run(page, 7, "%grok Once more?")
    wait_until(lambda: "3 turns" in default.locator(".grok-chat-line").inner_text(), "the panel to show the new turn")
    assert_no_canary(page.locator("body").inner_text(), path.read_text(), exported)


def test_a_notebooks_policy_reaches_the_kernel_and_policy_writes_it(fake: Any, lab: Lab, page: Any) -> None:
    """classroom: metadata.grok.policy comes with the page's push; ``%grok policy hints`` writes it back."""
    path = make_notebook(
        lab.root, "policy.ipynb", "%load_ext grok_magics", "%grok hi", "%grok policy hints", "%grok hi"
    )
    nb = nbformat.read(path, as_version=4)
    nb.metadata["grok"] = {"policy": "off"}
    solution = "def greet(name):\n    return 'Hello, ' + name"
    exercise = nbformat.v4.new_markdown_cell("Write `greet(name)`.", metadata={"grok": {"solution": solution}})
    nb.cells.insert(3, exercise)  # above the tutored ask: its guidance goes with the page's push, never on screen
    nbformat.write(nb, path)
    open_notebook(page, lab, "policy.ipynb")
    run(page, 0)
    wait_finished(page, 0, 1)
    run(page, 1)
    outputs(page, 1).filter(has_text="policy 'off', set by notebook metadata").first.wait_for()
    assert fake.requests == []
    run(page, 2)
    outputs(page, 2).filter(has_text="metadata.grok.policy = 'hints'").first.wait_for()
    fake.script(Reply(text="Think about what a greeting is for."))
    run(page, 4)
    status(page, 4).filter(has_text="tutor: concept (1/3)").wait_for()
    assert len(fake.requests) == 1 and "return 'Hello, ' + name" in json.dumps(fake.requests[0].body)
    assert "return 'Hello, '" not in notebook_text(page)
    shot(page, f"classroom-policy-{lab.kind}.png")
    save(page, path, '"policy": "hints"')
