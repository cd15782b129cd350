"""map, filter and reduce on Spark (local mode), Dask (threads and a distributed LocalCluster) and polars
LazyFrames, against the fake Grok server: the engine's own workers send the requests.

The budget is the job's total: the fake server's observed peak of requests in flight never exceeds the
``concurrency`` asked for, across all partitions. The key reaches workers that do not have it in their
environment (Spark's JVM and Dask's worker processes are started without it), and is in no plan or graph.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import sys
from typing import Any, Callable, Iterator

import pandas as pd
import polars as pl
import pytest
from conftest import CANARY, KEY_VARS, Harness, assert_no_canary, judging_grok, operator_judge, user_texts
from fake_grok import FakeGrok, Reply

import grok_magics
from grok_magics.errors import GrokError

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # pyspark on pandas 3
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*copy keyword"),
]
REQUIRED = os.environ.get("GROK_REQUIRE_ENGINES") == "1"  # .ci/run: these tests must run, not skip


def need(module: str) -> Any:
    if REQUIRED:
        import importlib

        return importlib.import_module(module)
    return pytest.importorskip(module)


@contextlib.contextmanager
def without_keys() -> Iterator[None]:
    """Start a JVM or worker processes without any key in their environment: only the job can bring it."""
    saved = {k: os.environ.pop(k) for k in KEY_VARS if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    need("pyspark")
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # the workers run this interpreter (openai, grok_magics)
    with without_keys():
        session = (
            SparkSession.builder.master("local[2]")
            .appName("grok-magics-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .getOrCreate()
        )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    need("distributed")
    from distributed import Client, LocalCluster

    with without_keys():
        local = LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
            worker_dashboard_address=None,
        )
    client = Client(local)
    yield client
    client.close()
    local.close()


def judge(body: dict[str, Any]) -> Reply | None:
    """The row operators' fake model (conftest), plus map's structured rows: a label and a score."""
    reply = operator_judge(body)
    schema = json.dumps(body.get("text") or body.get("response_format") or {})
    if reply is None and '"score"' in schema:
        text = user_texts(body)[-1]
        return Reply(text=json.dumps({"label": text[-6:], "score": len(text)}))
    return reply


@pytest.fixture
def grok(fake_factory: Callable[..., FakeGrok], monkeypatch: pytest.MonkeyPatch) -> FakeGrok:
    return judging_grok(fake_factory, monkeypatch, judge, latency=0.15)


def rows(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "review": [f"review {i}: {'broken' if i % 3 == 0 else 'fine'}" for i in range(n)],
            "product": [f"p{i % 2}" for i in range(n)],
            "n": list(range(n)),
        }
    )


# --------------------------------------------------------------------------- Spark


def test_spark_map_is_lazy_within_the_budget_and_the_key_is_in_no_plan(spark: Any, grok: FakeGrok, capsys: Any) -> None:
    sdf = spark.createDataFrame(rows(40)).repartition(4)
    out = grok_magics.map(sdf, "Tag {review}", concurrency=3, progress=False)
    assert type(out).__name__ == "DataFrame" and type(out).__module__.startswith("pyspark")
    assert grok.api_requests == []  # lazy: nothing sent until the frame is computed
    printed = capsys.readouterr().out
    assert "grok map: 40 rows on Spark, 2 tasks at once × 1 request in flight (budget 3)" in printed
    plan = out._jdf.queryExecution().toString()
    got = out.toPandas().sort_values("n")
    assert got["grok"].tolist() == [
        f"You said: Tag review {i}: {'broken' if i % 3 == 0 else 'fine'}" for i in range(40)
    ]
    assert got["grok_error"].isna().all() and len(grok.api_requests) == 40
    assert 1 <= grok.peak_concurrency <= 3  # the job's budget, across both tasks
    assert all(r.headers["authorization"] == f"Bearer {CANARY}" for r in grok.api_requests)  # the key got there
    assert_no_canary(plan, printed, repr(out), pickle.dumps(out.schema))


def test_spark_filter_and_structured_map_with_faults_fail_per_row(
    spark: Any, fake_factory: Callable[..., FakeGrok], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = fake_factory("xai", latency=0.1, rate_limit_fraction=0.2, rate_limit_retry_after=0.05, seed=4)
    server.responder = judge
    monkeypatch.setenv("XAI_API_KEY", CANARY)
    monkeypatch.setenv("GROK_BASE_URL", server.base_url)
    sdf = spark.createDataFrame(rows(30)).repartition(3)
    kept = grok_magics.filter(sdf, "Defect? {review}", concurrency=4, api="chat", progress=False)
    assert sorted(r["n"] for r in kept.collect()) == list(range(0, 30, 3)) and server.rate_limited > 0
    assert server.peak_concurrency <= 4
    server.script(Reply(status=400, error_message="no such thing"))
    scored = grok_magics.map(
        sdf, "Score {review}", schema={"label": str, "score": int}, concurrency=4, cache=False, progress=False
    ).toPandas()
    assert dict(scored.dtypes)["score"] in ("int64", "float64") and len(scored) == 30
    errors = scored["grok_error"].dropna().tolist()
    assert len(errors) == 1 and "no such thing" in errors[0]
    assert server.peak_concurrency <= 4


def test_spark_reduce_chunks_in_the_engine_and_combines_on_the_driver(spark: Any, grok: FakeGrok, capsys: Any) -> None:
    sdf = spark.createDataFrame(rows(90)).repartition(3)
    by = grok_magics.reduce(sdf, "complaints in {review}", by="product", concurrency=2, progress=False)
    assert sorted(zip(by["product"], by["answer"])) == [("p0", "covers 45 rows"), ("p1", "covers 45 rows")]
    assert grok.peak_concurrency <= 2
    one = grok_magics.reduce(sdf, "complaints in {review}", concurrency=2, progress=False)
    assert one.text == "covers 90 rows" and one.levels == 2 and sum(one.covered[0]) == 90
    assert "level 1 on Spark" in capsys.readouterr().out


def test_spark_is_refused_under_a_classroom_cap(spark: Any, shell: Harness, grok: FakeGrok) -> None:
    shell.shell.user_ns["sdf"] = spark.createDataFrame(rows(4))
    shell.run("%config GrokMagics.max_calls_per_hour = 100")
    ran = shell.run("%%grok map sdf -o out\nTag {review}")
    assert not ran.success and "classroom caps" in str(ran.error) and "df.toPandas()" in str(ran.error)
    ran = shell.run("%%grok reduce sdf\ncomplaints in {review}")
    assert not ran.success and "classroom caps" in str(ran.error)
    assert grok.api_requests == []


# --------------------------------------------------------------------------- Dask


@pytest.fixture
def threads() -> Iterator[None]:
    need("dask.dataframe")
    import dask

    with dask.config.set(scheduler="threads", num_workers=4):
        yield


def test_dask_threads_map_and_filter_stay_within_the_budget(grok: FakeGrok, threads: None) -> None:
    dd = need("dask.dataframe")
    ddf = dd.from_pandas(rows(40), npartitions=8)
    out = grok_magics.map(ddf, "Tag {review}", concurrency=6, progress=False)
    assert grok.api_requests == []
    got = out.compute()
    assert len(got) == 40 and got["grok_error"].isna().all() and list(got["n"]) == list(range(40))
    assert 1 <= grok.peak_concurrency <= 6
    kept = grok_magics.filter(ddf, "Defect? {review}", reason=False, concurrency=2, progress=False).compute()
    assert list(kept["n"]) == list(range(0, 40, 3)) and grok.peak_concurrency <= 6


def test_dask_distributed_workers_get_the_key_by_scatter_not_in_the_graph(cluster: Any, grok: FakeGrok) -> None:
    dd = need("dask.dataframe")
    ddf = dd.from_pandas(rows(32), npartitions=4)
    out = grok_magics.map(ddf, "Tag {review}", concurrency=4, progress=False)
    graph = out.__dask_graph__()
    assert_no_canary(repr(dict(graph)))
    got = cluster.compute(out).result()
    assert len(got) == 32 and got["grok_error"].isna().all()
    assert grok.peak_concurrency <= 4  # 2 workers × 2 threads: one request in flight per task
    r = grok_magics.reduce(ddf, "complaints in {review}", concurrency=4, progress=False)
    assert r.text == "covers 32 rows"
    assert grok.peak_concurrency <= 4


def test_dask_budget_below_the_tasks_narrows_the_frame(grok: FakeGrok, threads: None, capsys: Any) -> None:
    dd = need("dask.dataframe")
    ddf = dd.from_pandas(rows(20), npartitions=5)
    out = grok_magics.map(ddf, "Tag {review}", concurrency=1, progress=False)
    assert out.npartitions == 1 and "1 task at once × 1 request in flight (budget 1)" in capsys.readouterr().out
    assert len(out.compute()) == 20 and grok.peak_concurrency == 1


# --------------------------------------------------------------------------- polars LazyFrame


def test_polars_lazyframe_is_read_in_slices_and_stays_lazy(grok: FakeGrok, monkeypatch: pytest.MonkeyPatch) -> None:
    from grok_magics.engines import lazy

    monkeypatch.setattr(lazy, "SLICE", 7)
    seen: list[int] = []
    original = pl.LazyFrame.collect

    def collect(self: Any, *args: Any, **kwargs: Any) -> Any:
        frame = original(self, *args, **kwargs)
        seen.append(frame.height)
        return frame

    monkeypatch.setattr(pl.LazyFrame, "collect", collect)
    lf = pl.from_pandas(rows(30)).lazy()
    kept = grok_magics.filter(lf, "Defect? {review}", concurrency=4, progress=False)
    assert isinstance(kept, pl.LazyFrame)
    assert max(seen) <= 5  # the count (one row) and the estimate's first rows: never the whole frame
    assert original(kept)["n"].to_list() == list(range(0, 30, 3)) and len(grok.api_requests) == 30
    r = grok_magics.reduce(lf, "complaints in {review}", progress=False)
    assert r.text == "covers 30 rows"


def test_a_template_name_no_column_holds_is_said_once_on_every_engine(
    grok: FakeGrok, threads: None, capsys: Any
) -> None:
    """As for a pandas frame: the job says once that ``{revew}`` goes out as written, with the likely cause —
    on a LazyFrame (whole or a calibrating sample) and on a Dask frame alike."""
    dd = need("dask.dataframe")
    said = "{revew} is sent as written: did you mean {review}?"
    lf = pl.from_pandas(rows(6)).lazy()
    for run in (
        lambda: grok_magics.map(lf, "Tag {review} {revew}", progress=False),
        lambda: grok_magics.map(lf, "Tag {review} {revew}", sample=3, progress=False),
        lambda: grok_magics.map(dd.from_pandas(rows(6), npartitions=2), "Tag {review} {revew}", progress=False),
    ):
        run()
        assert capsys.readouterr().out.count(said) == 1
    grok_magics.map(lf, "Tag {review}", progress=False)
    assert "sent as written" not in capsys.readouterr().out


# --------------------------------------------------------------------------- shared refusals


def test_batch_on_an_engine_frame_is_refused_in_one_line(grok: FakeGrok) -> None:
    lf = pl.from_pandas(rows(3)).lazy()
    with pytest.raises(GrokError, match="collect it first"):
        grok_magics.map(lf, "Tag {review}", batch=True)
    assert grok.api_requests == []


BAD_OPTIONS = [
    ({"max_cost": "0.5"}, "max_cost must be a positive number of dollars, not '0.5'"),
    ({"max_cost": float("nan")}, "max_cost must be a positive number of dollars"),
    ({"concurrency": 0}, "concurrency must be a whole number of at least 1, not 0"),
    ({"sample": 0}, "sample must be a whole number of at least 1, not 0"),
    ({"rps": 0}, "rps must be a positive number of requests a second, not 0"),
    ({"retries": -1}, "retries must be a whole number of at least 0, not -1"),
    ({"batch_deadline": -5}, "batch_deadline must be a positive number of seconds, not -5"),
    ({"cache": "no"}, "cache must be True or False, not 'no'"),
    ({"namespace": ["tone"]}, "namespace must be a mapping of names to values (a dict), not a list"),
]


@pytest.mark.parametrize(
    "given, said", BAD_OPTIONS, ids=[next(iter(g)) + "=" + repr(g[next(iter(g))]) for g, _ in BAD_OPTIONS]
)
def test_every_engine_refuses_the_same_bad_option_the_same_way(
    grok: FakeGrok, threads: None, given: dict[str, Any], said: str
) -> None:
    """Options are checked once, where they are made: pandas, a LazyFrame and Dask refuse alike, before sending."""
    dd = need("dask.dataframe")
    frames = [rows(4), pl.from_pandas(rows(4)).lazy(), dd.from_pandas(rows(4), npartitions=2)]
    for frame in frames:
        for verb in ("map", "filter"):
            with pytest.raises(GrokError, match=re.escape(f"{verb}: {said}")):
                getattr(grok_magics, verb)(frame, "Tag {review}", progress=False, **given)
    assert grok.api_requests == []


def test_a_lazyframe_filter_says_what_it_kept_and_what_it_masked(grok: FakeGrok, capsys: Any) -> None:
    """Its summary ends as a pandas filter's does, and it says that key-shaped values went out masked."""
    df = rows(6)
    df.loc[1, "review"] = "review 1: fine, my token xai-" + "Qw7" * 10
    kept = grok_magics.filter(pl.from_pandas(df).lazy(), "Defect? {review}", progress=False)
    said = capsys.readouterr().out
    assert kept.collect()["n"].to_list() == [0, 3]
    assert (
        "; 2 kept, 4 dropped" in said and "grok filter: 1 key-shaped value in the rows masked before sending." in said
    )
