"""Shared fixtures: fake Grok servers on loopback, and a real InteractiveShell driven like a user would.

Every test runs with a canary API key; helpers make it easy to assert it never shows up.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

# jsonschema (under nbformat and nbclient) imports rfc3987-syntax when it is installed, which builds a Lark
# grammar as it loads: 1.5 s of CPU in every test worker (python-jsonschema/jsonschema#1392). It only
# checks the "iri" formats, which no notebook schema uses, so the test processes go without it.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

# Where PYTHONDONTWRITEBYTECODE is set (some CI images do), each of a run's ~40 Python processes (test
# workers, kernels, helper processes) compiles grok_magics again and every worker re-rewrites the test
# modules' asserts. Bytecode is cached as Python normally does (into __pycache__, which git ignores) for
# this process and the ones it starts.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

import pytest  # noqa: E402
from fake_grok import FakeGrok, Reply
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

CANARY = "xai-CANARY-7f3c9e1d5b2a4c6e8f0a1b2c"
KEY_VARS = ("XAI_API_KEY", "AWS_BEARER_TOKEN_BEDROCK", "AIGATEWAY_API_KEY", "AZURE_AI_API_KEY", "OPENAI_API_KEY")
ENV_VARS = KEY_VARS + (
    "GROK_BASE_URL",
    "GROK_PROVIDER",
    "AWS_REGION",
    "AZURE_AI_ENDPOINT",
    "AZURE_GROK_DEPLOYMENT",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OPENAI_LOG",
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (the default in pyproject.toml): two workers per core, since most tests spend their time
    waiting on a socket, a kernel or a browser; none when only named tests (``file::test``) are asked for,
    where starting workers would cost more than it saves."""
    if config.args and all("::" in arg for arg in config.args):
        return 0
    return min(8, 2 * len(os.sched_getaffinity(0)))


def worker_group(nodeid: str) -> str:
    """Tests that share an expensive module fixture run on one worker, which starts it once: each
    frontend's browser tests (a JupyterLab or Notebook server and a Chromium) and the LiteLLM proxy's.
    Every other test is a group of its own, handed to whichever worker is free."""
    if nodeid.startswith("tests/test_browser.py::"):
        return "browser-" + nodeid.rpartition("[")[2].rstrip("]")
    if nodeid.startswith("tests/test_litellm.py::"):
        return "litellm"
    if nodeid.startswith("tests/test_engines.py::"):
        return "engines"  # one Spark JVM and one Dask cluster for the module
    return nodeid


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's ``loadgroup`` would do this from marks, but it stopped grouping with pytest 9.2
    (pytest-dev/pytest-xdist#1386); a scope per `worker_group` does the same. Groups go out first (they
    hold the most tests), so the long browser tests start at once, on different workers."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_group(nodeid)

    return SharedFixtureScheduling(config, log)


@pytest.fixture(scope="session")
def ipython_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty IPython profile: a developer's own ipython_kernel_config.py must not change what tests see."""
    return str(tmp_path_factory.mktemp("ipython"))


PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def isolated_environ(ipython_dir: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """What every test, and every process a test starts, must not see (the developer's real keys, endpoints
    and proxies) and must see (an empty IPython profile, autoload off, loopback never proxied)."""
    settings = {"IPYTHONDIR": ipython_dir, "GROK_MAGICS_AUTOLOAD": "0", "NO_PROXY": "127.0.0.1,localhost"}
    return ENV_VARS + PROXY_VARS, settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, ipython_dir: str) -> None:
    """No test sees the developer's real keys, endpoints or IPython profile, and nothing reaches the internet."""
    hidden, settings = isolated_environ(ipython_dir)
    for name in hidden:
        monkeypatch.delenv(name, raising=False)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own %grok map cache, so no run resumes another test's rows."""
    directory = tmp_path / "map-cache"
    monkeypatch.setenv("GROK_MAGICS_CACHE_DIR", str(directory))
    return directory


@pytest.fixture
def fake_factory() -> Iterator[Callable[..., FakeGrok]]:
    servers: list[FakeGrok] = []

    def start(profile: str = "xai", key: str = CANARY, **kwargs: Any) -> FakeGrok:
        server = FakeGrok(profile=profile, key=key, **kwargs)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
    fail_on_shut_gates(*servers)


def fail_on_shut_gates(*servers: FakeGrok) -> None:
    """A scripted gate that timed out means the test's condition never held: it must not pass silently."""
    shut = [r.path for server in servers for r in server.gate_timeouts]
    if shut:
        pytest.fail(f"a scripted gate was never opened (the test's condition never held): {shut}")


@pytest.fixture
def fake(fake_factory: Callable[..., FakeGrok], monkeypatch: pytest.MonkeyPatch) -> FakeGrok:
    """An xAI-shaped fake with the canary key, wired in through GROK_BASE_URL and XAI_API_KEY."""
    server = fake_factory("xai")
    monkeypatch.setenv("XAI_API_KEY", CANARY)
    monkeypatch.setenv("GROK_BASE_URL", server.base_url)
    return server


class RecordingPublisher(DisplayPublisher):
    """What a frontend would receive: every display and display update, in order."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.messages: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.on_publish: Callable[[dict[str, Any]], None] | None = None  # runs on the publishing thread

    def publish(
        self,
        data: Any,
        metadata: Any = None,
        source: Any = None,
        *,
        transient: Any = None,
        update: bool = False,
        **kwargs: Any,
    ) -> None:
        message = {
            "data": dict(data),
            "metadata": dict(metadata or {}),
            "transient": dict(transient or {}),
            "update": update,
            "time": time.monotonic(),
        }
        with self.lock:
            self.messages.append(message)
        if self.on_publish is not None:
            self.on_publish(message)

    def clear_output(self, wait: bool = False) -> None:
        pass


@dataclass
class Ran:
    success: bool
    stdout: str
    stderr: str
    displays: list[dict[str, Any]]
    error: BaseException | None

    @property
    def everything(self) -> str:
        return self.stdout + self.stderr + repr(self.displays) + repr(self.error)


class TimedWriter(io.StringIO):
    """stdout that remembers when each piece arrived, to prove text streamed."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.writes.append((time.monotonic(), text))
        return super().write(text)


@dataclass
class Harness:
    shell: InteractiveShell
    publisher: RecordingPublisher
    last_stdout: TimedWriter = field(default_factory=TimedWriter)

    def run(self, code: str, cell_id: str | None = None) -> Ran:
        start = len(self.publisher.messages)
        out, err = TimedWriter(), io.StringIO()
        self.last_stdout = out
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            result = self.shell.run_cell(code, store_history=True, cell_id=cell_id)
        return Ran(
            result.success,
            out.getvalue(),
            err.getvalue(),
            self.publisher.messages[start:],
            result.error_in_exec or result.error_before_exec,
        )

    @property
    def magics(self) -> Any:
        return self.shell._grok_magics


@pytest.fixture
def shell() -> Iterator[Harness]:
    """A fresh, real InteractiveShell with the extension loaded, as in terminal IPython."""
    InteractiveShell.clear_instance()
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    sh = InteractiveShell.instance(config=config)
    publisher = RecordingPublisher(shell=sh)
    sh.display_pub = publisher
    sh.run_line_magic("load_ext", "grok_magics")
    harness = Harness(sh, publisher)
    yield harness
    with contextlib.suppress(Exception):
        sh.run_line_magic("unload_ext", "grok_magics")
    # each shell registers an exit handler that would run a full gc.collect() per shell after pytest's summary
    atexit.unregister(sh.atexit_operations)
    InteractiveShell.clear_instance()


def poll(condition: Callable[[], bool], timeout: float = 60.0, every: float = 0.005) -> bool:
    """Whether `condition` came true within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(every)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Block until `condition` holds; fail the test, naming `what`, if it never does."""
    if not poll(condition, timeout, every=0.05):
        pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


@dataclass
class Watcher:
    """One background wait started by `watch`; it ends with its test (see `pytest_runtest_call`)."""

    what: str
    seen: threading.Event
    stopped: threading.Event
    lock: threading.Lock  # held while `then` runs, so stopping waits for a firing in progress
    thread: threading.Thread


_watchers: list[Watcher] = []


def watch(
    condition: Callable[[], bool], then: Callable[[], None], timeout: float = 60.0, what: str = ""
) -> threading.Event:
    """In the background: once `condition` holds, call `then` (`gate.set`, `send_sigint`, an interrupt).

    `then` runs only if the condition held — never on a timeout — and never after the test's body ended: the
    watcher is stopped there, and a condition that never held fails the test. With a gated fake reply this
    proves something was visible mid-answer; a Ctrl-C can only stop what it was meant to, never a later test.
    """
    seen, stopped, lock = threading.Event(), threading.Event(), threading.Lock()
    deadline = time.monotonic() + timeout

    def run() -> None:
        while not stopped.is_set() and time.monotonic() <= deadline:
            if condition():
                with lock:
                    if stopped.is_set():
                        return
                    seen.set()
                    then()
                return
            stopped.wait(0.005)

    name = what or getattr(condition, "__qualname__", repr(condition))
    thread = threading.Thread(target=run, daemon=True, name=f"watch {name}")
    _watchers.append(Watcher(name, seen, stopped, lock, thread))
    thread.start()
    return seen


def end_watchers() -> tuple[list[str], list[str]]:
    """Stop every watcher, so none can fire from here on: (conditions that never held, watchers whose Ctrl-C
    landed here, as the test ended — it would have hit whatever ran next)."""
    never: list[str] = []
    late: list[str] = []
    while _watchers:
        watcher = _watchers.pop()
        while True:
            try:
                with watcher.lock:
                    watcher.stopped.set()
                break
            except KeyboardInterrupt:  # its `then` sent a Ctrl-C just now: it must not escape into pytest
                late.append(watcher.what)
        watcher.thread.join(10)
        if not watcher.seen.is_set():
            never.append(watcher.what)
    return never, late


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Watchers end with the test's body: a test that failed keeps its own failure; one that passed fails
    if a watched condition never held or a watcher fired as it ended."""
    try:
        result = yield
    except BaseException:
        end_watchers()
        raise
    never, late = end_watchers()
    if never:
        pytest.fail(f"a watched condition never held while the test ran: {', '.join(never)}")
    if late:
        pytest.fail(f"a watcher fired as the test ended (its Ctrl-C would hit the next test): {', '.join(late)}")
    return result


def send_sigint() -> None:
    """Ctrl-C as a terminal delivers it: a real SIGINT to the main thread, which wakes it from a blocked
    socket read (``_thread.interrupt_main`` only sets a flag that a blocked read never checks)."""
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


def in_fresh_ipython(code: str, timeout: float = 60) -> str:
    """The output of ``code`` run after a new InteractiveShell loaded the extension, in a Python process of
    its own (so ``sys.modules`` holds only what that took)."""
    prelude = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "sh = InteractiveShell.instance()\n"
        "sh.run_line_magic('load_ext', 'grok_magics')\n"
    )
    out = subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return out.stdout


def assert_no_canary(*texts: Any) -> None:
    for text in texts:
        assert CANARY not in str(text), "the API key leaked"


def user_texts(body: dict[str, Any]) -> list[str]:
    """The user turns of a recorded request, for either wire API."""
    if "messages" in body:
        return [
            m["content"] if isinstance(m["content"], str) else m["content"][0]["text"]
            for m in body["messages"]
            if m["role"] == "user"
        ]
    return [item["content"][0]["text"] for item in body["input"] if item.get("role") == "user"]


def operator_judge(body: dict[str, Any]) -> Reply | None:
    """The fake model: filter says yes to rows mentioning "broken"; reduce counts the rows it was given;
    topk ranks items by the number after "score"."""
    text = user_texts(body)[-1]
    if "<items>" in text:
        items = re.findall(r"^\[(\d+)\] .*?score (\d+)", text, re.M)
        keep = int(re.search(r"best (\d+) of them", text).group(1))  # type: ignore[union-attr]
        best = sorted(items, key=lambda x: -int(x[1]))[:keep]
        return Reply(text=json.dumps({"ranking": [int(i) for i, _ in best]}))
    if "<rows>" in text:
        return Reply(text=f"covers {text.count(chr(10) + '- ')} rows")
    if "<parts>" in text:
        n = sum(int(x.replace(",", "")) for x in re.findall(r'<part rows="([0-9,]+)">', text))
        return Reply(text=f"covers {n} rows")
    schema = json.dumps(body.get("text") or body.get("response_format") or {})
    if '"keep"' in schema:
        verdict: dict[str, Any] = {"keep": "broken" in text}
        if '"reason"' in schema:
            verdict["reason"] = "it says broken" if verdict["keep"] else "nothing broken"
        return Reply(text=json.dumps(verdict))
    return None


def judging_grok(
    fake_factory: Callable[..., FakeGrok], monkeypatch: pytest.MonkeyPatch, judge: Any = operator_judge, **kwargs: Any
) -> FakeGrok:
    """The environment's Grok (xAI row, the canary key) is a fake answering as ``judge`` does."""
    server = fake_factory("xai", **kwargs)
    server.responder = judge
    monkeypatch.setenv("XAI_API_KEY", CANARY)
    monkeypatch.setenv("GROK_BASE_URL", server.base_url)
    return server


@pytest.fixture
def grok(fake_factory: Callable[..., FakeGrok], monkeypatch: pytest.MonkeyPatch) -> FakeGrok:
    """For the row operators: map, filter, reduce and topk get answers from ``operator_judge``."""
    return judging_grok(fake_factory, monkeypatch)
