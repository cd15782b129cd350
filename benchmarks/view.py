"""What the answer view costs on a long, fast answer: frontend updates per second, bytes sent to the
frontend, and kernel CPU spent in the view.

A 100,000-character answer streams from the fake Grok server in 4-character deltas (25,000 deltas,
no pacing) through ``%%grok`` in a real InteractiveShell, once per view. A recording display publisher
stands in for the frontend: it counts every display and display update and the bytes of their JSON
(as jupyter_client encodes it: UTF-8, non-ASCII kept); for the text view every write to stdout counts
(in a kernel each one is an iopub message). View CPU is thread CPU time inside the view's methods and
its flush timer. Run: ``python benchmarks/view.py`` (``--quick``: one run, ``--chars N``: answer size).
Targets: ≤ 20 updates/s, bytes ≤ 3x the answer, view CPU ≤ 0.5 s. Exits 0 either way: goals to watch.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

from grok_magics.render import views

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the fake server lives with the tests
from fake_grok import FakeGrok, Reply  # noqa: E402

KEY = "bench-key-0123456789"


class CountingPublisher(DisplayPublisher):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.messages = 0
        self.bytes = 0

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
        self.messages += 1
        self.bytes += len(json.dumps({"data": data, "metadata": metadata or {}}, ensure_ascii=False).encode())

    def clear_output(self, wait: bool = False) -> None:
        pass


class CountingStdout(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.bytes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        self.bytes += len(json.dumps({"name": "stdout", "text": text}, ensure_ascii=False).encode())
        return super().write(text)


@dataclass
class Run:
    view: str
    seconds: float  # wall time of the ask
    messages: int
    bytes: int
    cpu: float  # thread CPU seconds inside the view

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


class CpuMeter:
    """Wraps methods so that thread CPU time spent in them is added up (main thread and timer alike)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.lock = threading.Lock()
        self.depth = threading.local()

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            outer = getattr(self.depth, "n", 0) == 0
            self.depth.n = getattr(self.depth, "n", 0) + 1
            began = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth.n -= 1
                if outer:
                    with self.lock:
                        self.total += time.thread_time() - began

        return timed


@contextlib.contextmanager
def metered(meter: CpuMeter):
    """Every view class's start/update/finish and the flush timer are metered while the block runs."""
    patched = []
    for cls, names in (
        (views.LiveView, ("start", "update", "finish")),
        (views.MarkdownView, ("start", "update", "finish")),
        (views.TextView, ("start", "update", "finish")),
        (views.Coalescer, ("_flush",)),
    ):
        for name in names:
            original = getattr(cls, name)
            patched.append((cls, name, original))
            setattr(cls, name, meter.wrap(original))
    try:
        yield
    finally:
        for cls, name, original in patched:
            setattr(cls, name, original)


def answer_text(chars: int) -> str:
    """Markdown like a long answer: paragraphs, math, lists and code blocks."""
    pieces = []
    n = 0
    while sum(map(len, pieces)) < chars:
        n += 1
        pieces.append(
            f"## Part {n}\n\nThe estimate $\\hat\\beta_{n} = (X^T X)^{{-1}} X^T y$ is unbiased when "
            "the errors have mean zero; **its variance** shrinks as $n$ grows. " * 3 + "\n\n"
        )
        pieces.append("- first point about the data\n- second point, with `code`\n\n")
        pieces.append(f"```python\nbeta_{n} = np.linalg.solve(X.T @ X, X.T @ y)\nprint(beta_{n})\n```\n\n")
    return "".join(pieces)[:chars]


def run_once(fake: FakeGrok, view: str, text: str) -> Run:
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance()
    publisher = CountingPublisher(shell=shell)
    shell.display_pub = publisher
    shell.run_line_magic("load_ext", "grok_magics")
    shell.run_line_magic("config", f"GrokMagics.display = {view!r}")
    fake.script(Reply(text=text, chunk=4, pace=0))
    meter = CpuMeter()
    out = CountingStdout()
    with metered(meter), contextlib.redirect_stdout(out):
        began = time.perf_counter()
        result = shell.run_cell("%%grok\nWrite a long answer", store_history=False)
        seconds = time.perf_counter() - began
    assert result.success, result.error_in_exec
    shell.run_line_magic("unload_ext", "grok_magics")
    messages = out.writes if view == "text" else publisher.messages
    sent = out.bytes if view == "text" else publisher.bytes
    return Run(view, seconds, messages, sent, meter.total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run per view instead of the median of 5")
    parser.add_argument("--chars", type=int, default=100_000)
    args = parser.parse_args()
    repeat = 1 if args.quick else 5
    fake = FakeGrok(profile="xai", key=KEY)
    fake.start()
    os.environ.update(XAI_API_KEY=KEY, GROK_BASE_URL=fake.base_url, GROK_MAGICS_AUTOLOAD="0")
    text = answer_text(args.chars)
    print(f"{len(text):,}-character answer in 4-character deltas ({len(text) // 4:,} deltas), median of {repeat}")
    print(f"{'view':<14} {'wall s':>7} {'updates':>8} {'upd/s':>6} {'bytes':>11} {'x answer':>9} {'view CPU s':>11}")
    try:
        names = ("live", "markdown", "text")
        run_once(fake, "text", text)  # warm-up: imports and the first connection, not measured
        runs: dict[str, list[Run]] = {name: [] for name in names}
        for _ in range(repeat):  # interleaved, so load from others on a shared machine hits every view alike
            for name in names:
                runs[name].append(run_once(fake, name, text))
        for view in names:
            pick = sorted(runs[view], key=lambda r: r.cpu)[len(runs[view]) // 2]
            wall = statistics.median(r.seconds for r in runs[view])
            goals = "ok" if pick.per_second <= 20 and pick.bytes <= 3 * len(text) and pick.cpu <= 0.5 else "MISSED"
            label = "live (default)" if view == "live" else view
            print(
                f"{label:<14} {wall:>7.2f} {pick.messages:>8,} {pick.per_second:>6.1f} {pick.bytes:>11,} "
                f"{pick.bytes / len(text):>8.2f}x {pick.cpu:>11.3f}   {goals if view != 'markdown' else ''}"
            )
    finally:
        fake.stop()
    print(
        "targets: ≤ 20 updates/s, bytes ≤ 3x the answer, view CPU ≤ 0.5 s "
        "(the markdown fallback re-sends the whole answer by design)"
    )


if __name__ == "__main__":
    main()
