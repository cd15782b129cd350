"""%grok map against the physical limit: rows x latency / concurrency.

A fake server that holds every answer for a fixed latency can, at best, finish ``rows`` requests in
``rows * latency / concurrency`` seconds. We report ideal / measured (1.0 = the limit; goal ≥ 0.85),
and the same with a share of requests answered 429 + Retry-After (goal ≥ 0.6).
Run: ``python benchmarks/map.py`` (``--quick`` for 300 rows). Not a test: it prints and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
TESTS = str(Path(__file__).resolve().parents[1] / "tests")  # the fake server lives with the tests

KEY = "bench-key-0123456789"


SERVER = """
import sys
sys.path.insert(0, sys.argv[5])
from fake_grok import FakeGrok
server = FakeGrok(key=sys.argv[1], latency=float(sys.argv[2]), rate_limit_fraction=float(sys.argv[3]),
                  rate_limit_retry_after=float(sys.argv[4]), seed=1).start()
print(server.base_url, flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
server.stop()
"""


@contextlib.contextmanager
def server_process(latency: float, limited: float, retry_after: float) -> Iterator[str]:
    """The fake server in its own process, so it does not share a GIL with the client being measured."""
    root = str(Path(__file__).resolve().parents[1])
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, KEY, str(latency), str(limited), str(retry_after), TESTS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": root},
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


def ours(base_url: str, rows: int, concurrency: int) -> tuple[float, int]:
    import pandas as pd

    import grok_magics

    df = pd.DataFrame({"text": [f"row {i}" for i in range(rows)]})
    os.environ.update(XAI_API_KEY=KEY, GROK_BASE_URL=base_url)
    with contextlib.redirect_stdout(io.StringIO()):  # warm-up: imports and the SDK's first type builds, for both
        grok_magics.map(df.head(4).assign(text="warm-up"), "{text}", cache=False, progress=False)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        out = grok_magics.map(
            df, "Label: {text}", concurrency=concurrency, cache=False, progress=False, max_cost=1000, confirm=True
        )
    return time.perf_counter() - t0, int(out["grok_error"].notna().sum())


def bare_sdk(base_url: str, rows: int, concurrency: int) -> float:
    """The same requests through AsyncOpenAI and a semaphore: what the client side costs without us
    (the SDK's own retries handle 429s here)."""
    import asyncio

    import openai

    async def run() -> float:
        client = openai.AsyncOpenAI(api_key=KEY, base_url=base_url, max_retries=10)
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                await client.responses.create(
                    model="grok-4.3", input=f"Label: row {i}", store=False, reasoning={"effort": "low"}
                )

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(rows)))
        elapsed = time.perf_counter() - t0
        await client.close()
        return elapsed

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="300 rows instead of 1,000")
    args = parser.parse_args()
    rows = 300 if args.quick else 1000
    latency, concurrency = 0.05, 32
    os.environ.setdefault("GROK_MAGICS_CACHE_DIR", tempfile.mkdtemp(prefix="grok-map-bench-"))
    ideal = rows * latency / concurrency
    print(f"{'benchmark':<58} {'ours':>7} {'ideal':>7} {'ratio':>6}  goal     (bare SDK + semaphore)")
    for label, share, goal in (("no 429s", 0.0, 0.85), ("10% 429s (Retry-After 50 ms)", 0.10, 0.6)):
        with server_process(latency, share, latency) as url:
            elapsed, failed = ours(url, rows, concurrency)
        with server_process(latency, share, latency) as url:
            bare = bare_sdk(url, rows, concurrency)
        ratio = ideal / elapsed
        ok = "ok" if ratio >= goal and not failed else "MISSED"
        name = f"map {rows:,} rows, 50 ms latency, concurrency 32, {label}"
        print(
            f"{name:<58} {elapsed:>6.2f}s {ideal:>6.2f}s {ratio:>6.2f}  ≥ {goal:<5g}{ok:<7} "
            f"({bare:.2f}s, {ideal / bare:.2f})" + (f"  {failed} rows failed" if failed else "")
        )


if __name__ == "__main__":
    main()
