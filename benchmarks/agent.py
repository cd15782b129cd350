"""The agent loop's own overhead per step, against running the same code by hand.

Three ways to run the same step (a group-by over a 200,000-row frame, its result a 12-row series):
by hand (``shell.run_cell``, as a user's cell), through the step machinery alone (run, capture, summarise
for Grok, show: ``run_step`` + ``feedback_for`` + ``display.outcome``), and the whole loop against the
fake server with no latency (one request per step: HTTP, SSE, the gate, the books). Reported as ratios;
exits 0 whatever they are, because these are numbers to watch, not tests. Run:
``python benchmarks/agent.py`` (``--quick`` for fewer repetitions).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the fake server lives with the tests
from fake_grok import FakeGrok, Reply  # noqa: E402

KEY = "bench-key-0123456789"
SETUP = """
import numpy as np, pandas as pd
rng = np.random.default_rng(0)
sales = pd.DataFrame({"month": rng.integers(1, 13, 200_000), "revenue": rng.random(200_000) * 100})
"""
STEP = "by_month = sales.groupby('month').revenue.sum()\nby_month"


def shell() -> Any:
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "grok_magics")
    sh.run_cell(SETUP)
    return sh


def timed(fn: Callable[[], Any], repeat: int) -> float:
    """Median milliseconds of ``fn`` after one untimed warm-up (imports, the client's first connection), stdout
    swallowed: the terminal's speed is not ours."""
    times = []
    with contextlib.redirect_stdout(io.StringIO()):
        fn()
    for _ in range(repeat):
        with contextlib.redirect_stdout(io.StringIO()):
            began = time.perf_counter()
            fn()
            times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def by_hand(sh: Any) -> None:
    sh.run_cell(STEP, store_history=False)


def machinery(sh: Any) -> None:
    from grok_magics.agent import display
    from grok_magics.agent.execution import run_step
    from grok_magics.agent.feedback import feedback_for
    from grok_magics.context.tables import Privacy

    done = run_step(sh, STEP, 1, 60.0)
    feedback_for(done, 1, Privacy(), 2_000, 20_000)
    display.outcome(1, done, 60.0)


def whole_loop(sh: Any, server: FakeGrok, steps: int) -> None:
    call = {"name": "run_python", "arguments": {"code": STEP, "purpose": "sum by month"}}
    server.script(*(Reply(text="", tool_calls=[call], pace=0.0) for _ in range(steps)), Reply(text="done", pace=0.0))
    result = sh.run_cell(f"%%grok --agent --no-history\nsum revenue by month, {steps} times")
    assert result.success, result.error_in_exec


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    repeat = 5 if parser.parse_args().quick else 20
    steps = 5
    with FakeGrok("xai", key=KEY, pace=0.0) as server:
        os.environ.update({"XAI_API_KEY": KEY, "GROK_BASE_URL": server.base_url})
        sh = shell()
        sh.run_line_magic("config", "GrokMagics.agent_approval = 'auto'")
        sh.run_line_magic("config", "GrokMagics.display = 'text'")
        hand = timed(lambda: by_hand(sh), repeat)
        ours = timed(lambda: machinery(sh), repeat)
        loop = timed(lambda: whole_loop(sh, server, steps), max(repeat // 4, 2)) / steps
        empty = timed(lambda: whole_loop(sh, server, 0), max(repeat // 4, 2))  # one request, no step
    print(f"{'per step (ms)':<62} {'median':>9} {'ratio':>8}")
    print(f"{'by hand: shell.run_cell':<62} {hand:>9.1f} {1:>7.2f}x")
    print(f"{'step machinery: run + capture + summarise + show':<62} {ours:>9.1f} {ours / hand:>7.2f}x")
    print(f"{'whole loop, fake server (0 latency), per step':<62} {loop:>9.1f} {loop / hand:>7.2f}x")
    print(f"{'  of which a request/response round trip (no step)':<62} {empty:>9.1f} {empty / hand:>7.2f}x")


if __name__ == "__main__":
    main()
