"""reduce over 100,000 short reviews, and map on Spark and Dask against map on the same rows in pandas.

Ratios, not timed asserts. The fake server runs in its own process and holds every answer for a fixed
latency, so the physical limit of a job is known:

* reduce: each level waits for the one below, so at best it takes Σ over levels of
  ceil(calls at that level / concurrency) × latency. We report calls, tokens (what the server counted),
  the time spent planning (rows → items → chunks, with exact counts from the tokenizer endpoint), the
  wall time, and ideal ÷ ours.
* map on an engine: the same rows, template, latency and concurrency budget as a pandas map; we report
  each wall time against the ideal rows × latency ÷ concurrency, and the engines' time ÷ pandas' time
  (Spark's start-up is reported apart; a real cluster pays it once per session).

Run: ``python benchmarks/operators.py`` (``--quick``: 20,000 reviews, 600 mapped rows). Spark needs pyspark and a
JRE, Dask needs dask[dataframe]; a missing engine is reported, not failed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
TESTS = str(Path(__file__).resolve().parents[1] / "tests")  # the fake server lives with the tests

KEY = "bench-key-0123456789"

SERVER = r"""
import re, sys
sys.path.insert(0, sys.argv[3])
from fake_grok import FakeGrok, Reply

def last_user(body):
    if "messages" in body:
        return body["messages"][-1]["content"]
    return body["input"][-1]["content"][0]["text"]

def respond(body):
    text = last_user(body)
    if "<rows>" in text:
        return Reply(text=f"covers {text.count(chr(10) + '- ')} rows: most complain about delivery and batteries")
    if "<parts>" in text:
        n = sum(int(x.replace(",", "")) for x in re.findall(r'<part rows="([0-9,]+)">', text))
        return Reply(text=f"covers {n} rows: most complain about delivery and batteries")
    return Reply(text="positive")

server = FakeGrok(key=sys.argv[1], latency=float(sys.argv[2]), seed=1, pace=0.0)
server.responder = respond
server.start()
print(server.base_url, flush=True)
sys.stdin.read()
calls = [r for r in server.api_requests]
tokens = sum(len(str(r.body)) // 4 for r in calls)
tokenized = len([r for r in server.requests if r.path.endswith("tokenize-text")])
print(len(calls), tokens, server.peak_concurrency, tokenized, flush=True)
server.stop()
"""


@contextlib.contextmanager
def server_process(latency: float) -> Iterator[dict[str, Any]]:
    root = str(Path(__file__).resolve().parents[1])
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, KEY, str(latency), TESTS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": root},
    )
    seen: dict[str, Any] = {}
    try:
        assert proc.stdout is not None
        seen["url"] = proc.stdout.readline().strip()
        yield seen
    finally:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()
        calls, tokens, peak, tokenizer = proc.stdout.readline().split()
        seen.update(calls=int(calls), tokens=int(tokens), peak=int(peak), tokenizer=int(tokenizer))
        proc.wait(timeout=60)


def reviews(n: int) -> Any:
    import random

    import pandas as pd

    rng = random.Random(7)
    topics = [
        "delivery was late",
        "battery died in a week",
        "great value",
        "screen scratched",
        "works as described",
        "support never answered",
        "arrived broken",
        "too loud",
        "fits perfectly",
        "colour differs from photo",
    ]
    return pd.DataFrame(
        {
            "review": [f"{rng.choice(topics)}; {rng.choice(topics)} (order {i})" for i in range(n)],
            "product": [f"product {i % 20}" for i in range(n)],
        }
    )


def bench_reduce(n: int, latency: float, concurrency: int) -> None:
    import grok_magics
    from grok_magics.operators import reduce as reducing

    df = reviews(n)
    with server_process(latency) as seen:
        os.environ.update(XAI_API_KEY=KEY, GROK_BASE_URL=seen["url"])
        planned: dict[str, float] = {}
        original = reducing.Reducer._estimate

        def timed(self: Any, *args: Any) -> None:
            planned["at"] = time.perf_counter()
            original(self, *args)

        with contextlib.redirect_stdout(io.StringIO()):  # warm-up: imports, the SDK's first client
            grok_magics.reduce(df.head(10), "warm-up {review}", cache=False, progress=False)
        reducing.Reducer._estimate = timed  # type: ignore[method-assign]
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            r = grok_magics.reduce(
                df,
                "The three main complaints in these {review}s",
                concurrency=concurrency,
                cache=False,
                progress=False,
                max_cost=1000,
                confirm=True,
            )
        wall = time.perf_counter() - t0
        reducing.Reducer._estimate = original  # type: ignore[method-assign]
    per_level = [len(level) for level in r.summaries]
    ideal = sum(math.ceil(c / concurrency) for c in per_level) * latency
    plan = planned.get("at", t0) - t0
    print(
        f"reduce {n:,} reviews, {latency * 1000:.0f} ms latency, concurrency {concurrency}: "
        f"{r.rows:,} rows → {' → '.join(f'{c:,}' for c in per_level)} ({r.levels} levels), "
        f"{seen['calls']:,} calls, ~{seen['tokens']:,} tokens sent, {seen['tokenizer']:,} tokenizer calls; "
        f"answer covers all rows: {r.text.startswith(f'covers {n} rows')}"
    )
    print(
        f"    wall {wall:.2f} s (planning {plan:.2f} s: items, packing, exact counts), ideal {ideal:.2f} s, "
        f"ideal ÷ ours {ideal / wall:.2f}; ideal ÷ (ours − planning) {ideal / max(wall - plan, 1e-9):.2f}; "
        f"peak in flight {seen['peak']} (budget {concurrency})"
    )
    last = [line for line in printed.getvalue().splitlines() if line.startswith("grok reduce:")]
    print("    " + (last[-1] if last else ""))


def bench_engines(n: int, latency: float, concurrency: int) -> None:
    import grok_magics

    df = reviews(n)
    ideal = n * latency / concurrency
    rows: list[tuple[str, float, str]] = []
    with server_process(latency) as seen:
        os.environ.update(XAI_API_KEY=KEY, GROK_BASE_URL=seen["url"])
        os.environ["GROK_MAGICS_CACHE_DIR"] = tempfile.mkdtemp(prefix="grok-ops-bench-")
        with contextlib.redirect_stdout(io.StringIO()):
            grok_magics.map(df.head(4), "warm-up {review}", cache=False, progress=False)
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            grok_magics.map(
                df,
                "Sentiment of: {review}",
                concurrency=concurrency,
                cache=False,
                progress=False,
                max_cost=1000,
                confirm=True,
            )
        rows.append(("pandas", time.perf_counter() - t0, ""))
        try:
            import dask
            import dask.dataframe as dd

            ddf = dd.from_pandas(df, npartitions=4)
            with dask.config.set(scheduler="threads", num_workers=2):
                t0 = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    out = grok_magics.map(
                        ddf,
                        "Sentiment of: {review}",
                        concurrency=concurrency,
                        cache=False,
                        progress=False,
                        max_cost=1000,
                        confirm=True,
                    )
                    out.compute()
                rows.append(("Dask (threads, 2 workers, 4 partitions)", time.perf_counter() - t0, ""))
        except ImportError:
            rows.append(("Dask", float("nan"), "not installed"))
        try:
            os.environ["PYSPARK_PYTHON"] = sys.executable
            from pyspark.sql import SparkSession

            t0 = time.perf_counter()
            spark = (
                SparkSession.builder.master("local[2]")
                .config("spark.ui.enabled", "false")
                .config("spark.driver.host", "127.0.0.1")
                .getOrCreate()
            )
            spark.sparkContext.setLogLevel("ERROR")
            sdf = spark.createDataFrame(df).repartition(4).cache()
            sdf.count()
            started = time.perf_counter() - t0
            for run in ("first job", "again"):
                t0 = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    out = grok_magics.map(
                        sdf,
                        f"Sentiment ({run}) of: {{review}}",
                        concurrency=concurrency,
                        cache=False,
                        progress=False,
                        max_cost=1000,
                        confirm=True,
                    )
                    out.write.format("noop").mode("overwrite").save()
                rows.append(
                    (
                        f"Spark (local[2], 4 partitions), {run}",
                        time.perf_counter() - t0,
                        f"session start-up {started:.1f} s apart"
                        if run == "first job"
                        else "Python workers already up",
                    )
                )
            spark.stop()
        except ImportError:
            rows.append(("Spark", float("nan"), "not installed"))
    base = rows[0][1]
    print(
        f"map {n:,} rows, {latency * 1000:.0f} ms latency, budget {concurrency} in flight: ideal {ideal:.2f} s; "
        f"peak in flight at the server {seen['peak']}"
    )
    for name, wall, note in rows:
        print(
            f"    {name:<42} {wall:7.2f} s  ideal ÷ it {ideal / wall:5.2f}  ÷ pandas {wall / base:5.2f}"
            + (f"  ({note})" if note else "")
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("GROK_MAGICS_CACHE_DIR", tempfile.mkdtemp(prefix="grok-ops-bench-"))
    n_reviews, n_rows = (20_000, 600) if args.quick else (100_000, 2_000)
    for latency, concurrency in ((0.05, 32), (0.5, 8)):
        bench_reduce(n_reviews, latency, concurrency)
    bench_engines(n_rows, 0.05, 16)


if __name__ == "__main__":
    main()
