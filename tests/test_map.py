"""%grok map and grok_magics.map: a prompt per row, against the fake Grok server (real SDK, real HTTP)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import polars as pl
import pytest
from conftest import CANARY, assert_no_canary, send_sigint, user_texts, watch
from fake_grok import FakeGrok, Reply
from pydantic import BaseModel

import grok_magics
from grok_magics.errors import GrokError
from grok_magics.mapping.rate import RequestWindow

pytestmark = pytest.mark.timeout(90)


def serve(fake_factory: Callable[..., FakeGrok], monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> FakeGrok:
    server = fake_factory("xai", **kwargs)
    monkeypatch.setenv("XAI_API_KEY", CANARY)
    monkeypatch.setenv("GROK_BASE_URL", server.base_url)
    return server


def reviews(n: int) -> pd.DataFrame:
    return pd.DataFrame({"review": [f"review number {i}" for i in range(n)], "stars": [i % 5 for i in range(n)]})


def prompts_sent(server: FakeGrok) -> list[str]:
    return [user_texts(r.body)[-1] for r in server.api_requests]


class Sentiment(BaseModel):
    label: str
    score: float


# --------------------------------------------------------------------------- result columns


def test_text_column_pandas_keeps_input_and_order(fake: FakeGrok) -> None:
    df = reviews(12)
    out = grok_magics.map(df, "Classify: {review} ({stars} stars)", concurrency=4, progress=False)
    assert list(out.columns) == ["review", "stars", "grok", "grok_error"]
    assert out["grok"].tolist() == [f"You said: Classify: review number {i} ({i % 5} stars)" for i in range(12)]
    assert out["grok_error"].isna().all() and "grok" not in df.columns  # the input is untouched
    assert sorted(prompts_sent(fake)) == sorted(f"Classify: review number {i} ({i % 5} stars)" for i in range(12))
    body = fake.api_requests[0].body
    assert body["stream"] is False and body["store"] is False and "include" not in body


def test_text_column_polars(fake: FakeGrok, capsys: pytest.CaptureFixture[str]) -> None:
    df = pl.DataFrame({"city": ["Oslo", "Lima", None]})
    out = grok_magics.map(df, "Country of {city}?", out_col="country", progress=False)
    assert isinstance(out, pl.DataFrame) and out.columns == ["city", "country", "country_error"]
    assert out["country"].to_list() == [
        "You said: Country of Oslo?",
        "You said: Country of Lima?",
        "You said: Country of ?",
    ]
    printed = capsys.readouterr().out
    assert "grok map: 3 rows to run, about $0.000202 at list prices (cap $1.00); assuming answers about" in printed
    assert "grok map: 3 rows — 3 done" in printed


def test_structured_columns_through_the_magic(shell: Any, fake: FakeGrok) -> None:
    fake.script(*[Reply(text=f'{{"label": "pos", "score": 0.{i}}}') for i in range(3)])
    shell.shell.user_ns.update(df=reviews(3), Sentiment=Sentiment)
    ran = shell.run("%%grok map df --out-col s --schema Sentiment --concurrency 1 -o scored\nSentiment of: {review}")
    assert ran.success, ran.error
    scored = shell.shell.user_ns["scored"]
    assert list(scored.columns) == ["review", "stars", "label", "score", "s_error"]
    assert scored["label"].tolist() == ["pos"] * 3 and scored["score"].tolist() == [0.0, 0.1, 0.2]
    fmt = fake.api_requests[0].body["text"]["format"]
    assert fmt["type"] == "json_schema" and fmt["strict"] is True and fmt["name"] == "Sentiment"
    assert fmt["schema"]["additionalProperties"] is False
    assert "3 done" in ran.stdout
    assert_no_canary(ran.everything)


def test_structured_polars_shorthand_on_chat_and_a_mismatch_is_a_row_error(fake: FakeGrok) -> None:
    fake.script(Reply(text='{"city": "Oslo", "pop": 700000}'), Reply(text='{"city": "Lima"}'))
    df = pl.DataFrame({"q": ["a", "b"]})
    out = grok_magics.map(df, "Where {q}", schema={"city": str, "pop": int}, api="chat", concurrency=1, progress=False)
    assert out.columns == ["q", "city", "pop", "grok_error"]
    assert out["city"].to_list() == ["Oslo", None] and out["pop"].to_list() == [700000, None]
    assert "pop" in out["grok_error"][1] and "schema" in out["grok_error"][1]
    rf = fake.api_requests[0].body["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["schema"]["required"] == ["city", "pop"]


# --------------------------------------------------------------------------- concurrency and rate limits


def test_concurrency_is_bounded(fake_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve(fake_factory, monkeypatch, latency=0.1)
    out = grok_magics.map(reviews(30), "{review}", concurrency=4, progress=False)
    assert out["grok_error"].isna().all()
    assert 2 <= server.peak_concurrency <= 4


def test_429s_are_retried_after_retry_after_and_the_job_finishes(
    fake_factory: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = serve(fake_factory, monkeypatch, rate_limit_fraction=0.3, rate_limit_retry_after=0.2, seed=3)
    out = grok_magics.map(reviews(20), "{review}", concurrency=4, progress=False)
    assert out["grok_error"].isna().all() and server.rate_limited > 0
    assert f"{server.rate_limited} rate-limited and retried" in capsys.readouterr().out
    by_prompt: dict[str, list[Any]] = {}
    for rec in server.api_requests:
        by_prompt.setdefault(user_texts(rec.body)[-1], []).append(rec)
    for attempts in by_prompt.values():
        for first, second in zip(attempts, attempts[1:]):
            assert first.status == 429 and second.started_at - first.ended_at >= 0.2  # honoured Retry-After


def test_throttle_halves_once_per_cooldown_and_grows_back() -> None:
    now = [0.0]

    async def scenario() -> list[int]:
        throttle = RequestWindow(8, clock=lambda: now[0])
        for _ in range(8):
            await throttle.acquire()
        seen = [throttle.allowed]
        await throttle.release(limited=True, retry_after=2.0)
        seen.append(throttle.allowed)
        now[0] = 1.5
        await throttle.release(limited=True)  # same burst, within the Retry-After cool-down: no second cut
        seen.append(throttle.allowed)
        for _ in range(6):
            await throttle.release()
        now[0] = 2.0
        await throttle.acquire()
        await throttle.release(limited=True)  # cool-down over: cuts again
        seen.append(throttle.allowed)
        for _ in range(3):  # one slot per success up to 90% of the window before the cut (3.6)
            await throttle.acquire()
            await throttle.release(ok=True)
        seen.append(throttle.allowed)
        for _ in range(40):  # then one slot per window of successes, up to the ceiling
            await throttle.acquire()
            await throttle.release(ok=True)
        seen.append(throttle.allowed)
        return seen

    assert asyncio.run(scenario()) == [8, 4, 4, 2, 4, 8]


def test_requests_per_second_cap_is_never_exceeded(fake_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve(fake_factory, monkeypatch)
    grok_magics.map(reviews(40), "{review}", concurrency=8, rps=20, progress=False)
    starts = sorted(r.started_at for r in server.api_requests)
    assert len(starts) == 40
    # 21 starts span at least 20 intervals of 1/20 s; the server stamps arrivals, so allow its jitter
    assert min(b - a for a, b in zip(starts, starts[20:])) >= 1.0 - 0.15


# --------------------------------------------------------------------------- cache, interrupt, errors, cost


def test_a_rerun_resumes_from_the_cache(fake: FakeGrok, cache_dir: Path) -> None:
    df = reviews(6)
    first = grok_magics.map(df, "Tag: {review}", progress=False)
    assert len(fake.api_requests) == 6
    again = grok_magics.map(df, "Tag: {review}", progress=False)
    assert len(fake.api_requests) == 6 and again["grok"].tolist() == first["grok"].tolist()
    grok_magics.map(reviews(8), "Tag: {review}", progress=False)  # two new rows: only they are sent
    assert sorted(prompts_sent(fake)[6:]) == ["Tag: review number 6", "Tag: review number 7"]
    grok_magics.map(df, "Tag: {review}", effort="high", progress=False)  # other parameters: other answers
    assert len(fake.api_requests) == 14
    grok_magics.map(df, "Tag: {review}", cache=False, progress=False)
    assert len(fake.api_requests) == 20
    stored = b"".join(p.read_bytes() for p in cache_dir.iterdir())
    assert CANARY.encode() not in stored and b"127.0.0.1" not in stored


def test_a_changed_variable_in_the_template_is_asked_again_not_served_from_the_cache(
    shell: Any, fake: FakeGrok, cache_dir: Path
) -> None:
    """The cache keys what goes out: a notebook variable the template reads changes the prompts, so the answers."""
    shell.shell.user_ns["df"] = reviews(2)
    shell.shell.user_ns["tone"] = "dry"
    assert shell.run("%%grok map df\nIn a {tone} tone: {review}").success
    shell.run("%%grok map df\nIn a {tone} tone: {review}")
    assert len(fake.api_requests) == 2, "the same variable: from the cache"
    shell.shell.user_ns["tone"] = "cheerful"
    assert shell.run("%%grok map df\nIn a {tone} tone: {review}").success
    assert sorted(prompts_sent(fake)[2:]) == [
        "In a cheerful tone: review number 0",
        "In a cheerful tone: review number 1",
    ]


def test_the_python_api_fills_a_template_from_the_notebooks_variables_as_the_magic_does(
    shell: Any, fake: FakeGrok, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.shell.user_ns.update(df=reviews(1), tone="dry")
    ran = shell.run("import grok_magics\nout = grok_magics.filter(df, 'In a {tone} tone, {review}?', progress=False)")
    assert ran.success, ran.error
    assert prompts_sent(fake) == ["In a dry tone, review number 0?"]
    grok_magics.map(reviews(1), "In a {tone} tone, {review}", namespace={"tone": "warm"}, progress=False)
    assert prompts_sent(fake)[-1] == "In a warm tone, review number 0"
    assert "sent as written" not in capsys.readouterr().out


def test_a_column_in_a_code_span_or_block_of_the_template_is_filled(fake: FakeGrok) -> None:
    """A template about code reads the row's code where it is written as code; other braces there stay as written."""
    df = pd.DataFrame({"code": ["x = 1", "y = {1: 2}"]})
    grok_magics.map(df, "Explain `{code}`:\n```python\n{code}  # {other} {{code}}\n```", progress=False)
    assert sorted(prompts_sent(fake)) == [
        "Explain `x = 1`:\n```python\nx = 1  # {other} {{code}}\n```",
        "Explain `y = {1: 2}`:\n```python\ny = {1: 2}  # {other} {{code}}\n```",
    ]


def test_interrupt_keeps_finished_rows_returned_and_cached(shell: Any, fake: FakeGrok) -> None:
    fake.script(Reply(text="one"), Reply(text="two"), Reply(text="three"), Reply(text="slow", first_delay=30))
    shell.shell.user_ns["df"] = reviews(6)
    watch(lambda: len(fake.api_requests) >= 4, send_sigint)
    ran = shell.run("%%grok map df --concurrency 1 -o part\n{review}")
    assert ran.success, ran.error
    part = shell.shell.user_ns["part"]
    assert part["grok"].tolist()[:3] == ["one", "two", "three"] and part["grok"][3:].isna().all()
    assert part["grok_error"].tolist()[3:] == ["not run: interrupted"] * 3
    assert "interrupted" in ran.stdout
    assert fake.wait_for_disconnect()  # the request in flight was dropped, so the provider stops
    before = len(fake.api_requests)
    ran = shell.run("%%grok map df --concurrency 1 -o whole\n{review}")
    assert ran.success and len(fake.api_requests) == before + 3  # only the unfinished rows
    assert shell.shell.user_ns["whole"]["grok"].tolist()[:3] == ["one", "two", "three"]


def test_failures_land_in_the_error_column(fake: FakeGrok, capsys: pytest.CaptureFixture[str]) -> None:
    fake.script(Reply(text="fine"), Reply(status=400, error_message="bad row"), Reply(status=503), Reply(text="ok"))
    out = grok_magics.map(reviews(3), "{review}", concurrency=1, progress=False)
    assert out["grok"].tolist() == ["fine", None, "ok"]  # the 503 was retried
    error = out["grok_error"][1]
    assert "HTTP 400" in error and "bad row" in error and "\n" not in error
    assert "1 failed (see column grok_error)" in capsys.readouterr().out


def test_cost_cap_stops_the_job_cleanly(fake: FakeGrok, capsys: pytest.CaptureFixture[str]) -> None:
    costly = {"input": 100_000, "output": 100_000}  # $0.125 + $0.25 a row at list price
    fake.script(*[Reply(text=f"r{i}", usage=costly) for i in range(10)])
    out = grok_magics.map(reviews(10), "{review}", concurrency=1, max_cost=1.0, progress=False)
    assert out["grok"].tolist()[:3] == ["r0", "r1", "r2"] and len(fake.api_requests) == 3
    assert out["grok_error"].tolist()[3:] == ["not run: --max-cost reached"] * 7
    assert "7 not run (--max-cost $1.00 reached)" in capsys.readouterr().out


def _dollars(line: str, before: str) -> float:
    return float(re.search(re.escape(before) + r" \$([0-9.e-]+)", line).group(1))  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("script", "options"),
    [
        (None, ""),  # the fake echoes each prompt: answers as long as their prompts
        ("positive", ""),  # a label, much shorter than the prompt
        ('{"label": "positive", "score": 0.8}', "--schema Sentiment"),
    ],
)
def test_the_estimate_is_within_twice_the_cost_and_says_what_it_assumed(
    shell: Any, fake: FakeGrok, script: str | None, options: str
) -> None:
    if script is not None:
        fake.script(*[Reply(text=script) for _ in range(40)])
    shell.shell.user_ns.update(df=reviews(40), Sentiment=Sentiment)
    ran = shell.run(f"%%grok map df {options} -o out\nWhat is the sentiment of this review? {{review}}")
    assert ran.success, ran.error
    line = next(x for x in ran.stdout.splitlines() if "rows to run" in x)
    guess = _dollars(line, "about")
    spent = _dollars(shell.run("%grok usage").stdout, "total:")
    assert spent / 2 <= guess <= spent * 2, (line, spent)
    assert "; assuming " in line and ("tokens" in line) and "reasoning" in line


def test_estimate_above_the_cap_needs_a_yes(shell: Any, fake: FakeGrok) -> None:
    shell.shell.user_ns["df"] = reviews(50)
    ran = shell.run("%%grok map df --max-tokens 100000 --max-cost 0.5\n{review}")
    assert not ran.success and isinstance(ran.error, GrokError)
    assert "above --max-cost $0.50" in str(ran.error) and fake.api_requests == []
    assert re.search(r"Pass --max-cost 15\.0\d \(or --yes; confirm=True in Python\) to run it", str(ran.error))
    assert "50 rows to run, about $12.50 at list prices (cap $0.50)" in ran.stdout
    tiny = shell.run("%%grok map df --max-cost 0.000001\n{review}")  # a cap below a cent: a cap that can be typed
    assert "Pass --max-cost 0.01 (or --yes" in str(tiny.error), tiny.error
    for word in ("nan", "inf"):
        refused = shell.run(f"%%grok map df --max-cost {word}\n{{review}}")
        assert not refused.success and "--max-cost" in str(refused.error) and fake.api_requests == []
    asked: list[str] = []
    with pytest.raises(GrokError):
        grok_magics.map(
            reviews(50),
            "{review}",
            max_tokens=100_000,
            max_cost=0.5,
            progress=False,
            confirm=lambda q: asked.append(q) or False,
        )
    assert "run until $0.50 is spent?" in asked[0] and fake.api_requests == []


def test_usage_errors_are_one_line(shell: Any, fake: FakeGrok) -> None:
    shell.shell.user_ns.update(df=reviews(2), notframe=[1, 2])
    for line, expected in (
        ("%%grok map notframe\n{x}", "not a pandas or polars DataFrame"),
        ("%%grok map df\nno columns here", "names no column"),
        ("%%grok map df --concurrency 0\n{review}", "concurrency"),
        ("%%grok map df --schema Missing\n{review}", "no such variable"),
    ):
        ran = shell.run(line)
        assert not ran.success and expected in str(ran.error), (line, ran.error)
        assert "\n" not in str(ran.error)
    assert fake.api_requests == []


def test_a_line_starting_with_map_is_still_a_prompt(shell: Any, fake: FakeGrok) -> None:
    ran = shell.run("%grok map the territory of France")
    assert ran.success and user_texts(fake.api_requests[0].body)[-1] == "map the territory of France"


def test_help_mentions_map(shell: Any) -> None:
    assert "%%grok map FRAME" in shell.run("%grok help").stdout


def test_line_magic_map_returns_the_frame(shell: Any, fake: FakeGrok) -> None:
    shell.shell.user_ns["df"] = reviews(2)
    ran = shell.run("out = %grok map df --concurrency 2 Say {stars}")
    assert ran.success, ran.error
    assert shell.shell.user_ns["out"]["grok"].tolist() == ["You said: Say 0", "You said: Say 1"]


# --------------------------------------------------------------------------- batch


def test_batch_submitted_polled_collected_and_resumable(
    fake_factory: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = serve(fake_factory, monkeypatch, batch_polls=2)
    server.script(Reply(text="a0"), Reply(status=400, error_message="nope"), Reply(text="a2"))
    df = reviews(3)
    out = grok_magics.map(df, "B: {review}", batch=True, poll_every=0.01, progress=False)
    assert out["grok"].tolist() == ["a0", None, "a2"] and "nope" in out["grok_error"][1]
    assert server.api_requests == []  # nothing went through the live API
    paths = [(r.method, r.path) for r in server.requests]
    batch_id = next(iter(server.batches))
    assert paths[:2] == [("POST", "/v1/batches"), ("POST", f"/v1/batches/{batch_id}/requests")]
    assert paths.count(("GET", f"/v1/batches/{batch_id}")) == 3  # pending, pending, done
    assert ("GET", f"/v1/batches/{batch_id}/results") in paths
    added = server.requests[1].body["batch_requests"]
    inner = added[0]["batch_request"]["chat_get_completion"]
    assert inner["model"] == "grok-4.3" and inner["messages"][-1]["content"] == "B: review number 0"
    assert "stream" not in inner and len(added) == 3
    assert f"batch {batch_id} submitted" in capsys.readouterr().out
    # another kernel, same frame and template, only the id: collects without submitting again
    before = len(server.requests)
    again = grok_magics.map(df, "B: {review}", batch_id=batch_id, cache=False, poll_every=0.01, progress=False)
    assert again["grok"].tolist() == ["a0", None, "a2"]
    assert all(r.method == "GET" for r in server.requests[before:])
    # the successful rows were cached: a live re-run sends only the failed one
    grok_magics.map(df, "B: {review}", progress=False)
    assert prompts_sent(server) == ["B: review number 1"]


def test_batch_needs_a_provider_with_a_batch_api(fake_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server = fake_factory("openai")
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    with pytest.raises(GrokError, match="no Batch API"):
        grok_magics.map(reviews(2), "{review}", provider="openai", model="m", batch=True, progress=False)
    assert server.requests == []


def test_cache_file_holds_no_key(fake: FakeGrok, cache_dir: Path) -> None:
    grok_magics.map(reviews(3), "{review}", progress=False)
    rows = sqlite3.connect(cache_dir / "map-cache.sqlite3").execute("SELECT key, text, usage FROM rows").fetchall()
    assert len(rows) == 3
    assert_no_canary(rows)


def test_provider_row_is_honoured_azure_key_header_and_chat(fake_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server = fake_factory("azure")
    monkeypatch.setenv("AZURE_AI_API_KEY", CANARY)
    monkeypatch.setenv("AZURE_AI_ENDPOINT", server.base_url)
    out = grok_magics.map(reviews(3), "{review}", provider="azure", concurrency=2, progress=False)
    assert out["grok_error"].isna().all() and len(server.api_requests) == 3
    for rec in server.api_requests:
        assert rec.path == "/openai/v1/chat/completions" and rec.headers["api-key"] == CANARY
        assert "authorization" not in rec.headers
        assert rec.body["reasoning_effort"] == "low" and "stream_options" not in rec.body


# --------------------------------------------------------------------------- the notebook


def test_map_notebook_runs_with_a_progress_bar(fake: FakeGrok, tmp_path: Path) -> None:
    """notebooks/map.ipynb runs as shipped in a real kernel: a progress-bar widget and 300 rows per map."""
    import nbformat
    from kernels import run_notebook

    source = Path(__file__).parent.parent / "notebooks" / "map.ipynb"
    nb = nbformat.read(source, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), "ship it clean"
    nb.cells.insert(0, nbformat.v4.new_code_cell("%load_ext grok_magics"))
    run_notebook(nb, tmp_path, timeout=180)
    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"], outputs
    text_map, structured = code[2], code[4]
    for cell in (text_map, structured):
        kinds = [list(o.get("data", {})) for o in cell.outputs]
        assert any("application/vnd.jupyter.widget-view+json" in k for k in kinds), "no progress bar widget"
        printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert "grok map: 300 rows — 300 done" in printed, printed
    shown = "".join(o.get("data", {}).get("text/plain", "") for o in text_map.outputs)
    assert "You said: Classify the sentiment" in shown
    means = "".join(o.get("data", {}).get("text/plain", "") for o in code[5].outputs)
    assert "kettle" in means and "0.5" in means  # the fake's placeholder score, per product
    assert len(fake.api_requests) == 620
    assert_no_canary(nbformat.writes(nb))


def test_interrupting_the_batch_wait_leaves_it_running_and_says_how_to_collect(
    shell: Any, fake_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(fake_factory, monkeypatch, batch_polls=10_000)
    shell.shell.user_ns["df"] = reviews(4)
    polls = lambda: sum(1 for r in server.requests if r.method == "GET")  # noqa: E731
    watch(lambda: polls() >= 3, send_sigint)
    ran = shell.run("%%grok map df --batch --poll-every 0.02 -o waiting\n{review}")
    assert ran.success, ran.error
    batch_id = next(iter(server.batches))
    assert f"collect it later with --batch-id {batch_id}" in ran.stdout
    waiting = shell.shell.user_ns["waiting"]
    assert waiting["grok"].isna().all()
    assert (
        waiting["grok_error"].tolist()
        == [f"not run: batch {batch_id} still running; collect it later with --batch-id {batch_id}"] * 4
    )
    assert not any(r.path.endswith(":cancel") for r in server.requests)


def test_list_schema_fills_one_column_and_clashing_fields_are_prefixed(fake: FakeGrok) -> None:
    fake.script(
        Reply(text='{"items": [{"city": "Oslo"}, {"city": "Lima"}]}'), Reply(text='{"review": "short", "stars": 4}')
    )
    df = reviews(1)
    cities = grok_magics.map(df, "Cities in {review}", schema=[{"city": str}], out_col="cities", progress=False)
    assert cities["cities"].tolist() == [[{"city": "Oslo"}, {"city": "Lima"}]]
    clash = grok_magics.map(df, "Again {review}", schema={"review": str, "stars": int}, out_col="g", progress=False)
    assert list(clash.columns) == ["review", "stars", "g_review", "g_stars", "g_error"]
    assert clash["g_review"].tolist() == ["short"] and clash["review"].tolist() == ["review number 0"]


def test_a_bad_key_fails_rows_with_a_one_line_hint_and_never_shows_the_key(
    shell: Any, fake_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = fake_factory("xai", key="the-right-key")
    monkeypatch.setenv("XAI_API_KEY", CANARY)
    monkeypatch.setenv("GROK_BASE_URL", server.base_url)
    shell.shell.user_ns["df"] = reviews(3)
    shell.run("%xmode Verbose")
    ran = shell.run("%%grok map df -o failed\n{review}")
    assert ran.success, ran.error
    errors = shell.shell.user_ns["failed"]["grok_error"].tolist()
    assert all("HTTP 401" in e and "XAI_API_KEY" in e and "\n" not in e for e in errors)
    assert "3 failed" in ran.stdout
    assert_no_canary(ran.everything, shell.shell.user_ns["failed"].to_csv())


def test_a_missing_key_stops_the_job_before_anything_is_sent(
    fake: FakeGrok, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("XAI_API_KEY")
    with pytest.raises(GrokError, match="no API key for xAI API: set XAI_API_KEY"):
        grok_magics.map(reviews(3), "{review}", progress=False)
    assert fake.requests == [] and capsys.readouterr().out == ""


def test_a_template_ending_in_a_question_mark_is_not_a_help_request(shell: Any, fake: FakeGrok) -> None:
    shell.shell.user_ns["df"] = reviews(2)
    ran = shell.run("%%grok map df -o asked\nWhich product is {review} about?")
    assert ran.success, ran.error
    assert sorted(prompts_sent(fake)) == [
        "Which product is review number 0 about?",
        "Which product is review number 1 about?",
    ]


def test_a_template_name_that_is_no_column_or_variable_is_said_once(
    fake: FakeGrok, capsys: pytest.CaptureFixture[str]
) -> None:
    """It goes out as written (a template may hold braces of its own): the reader is told, with the likely cause."""
    df = reviews(2)
    grok_magics.map(df, "{review}: {revew}", progress=False)
    assert "grok map: {revew} is sent as written: did you mean {review}?" in capsys.readouterr().out
    indexed = reviews(2).set_index("stars")
    grok_magics.map(indexed, "{review} ({stars} stars)", progress=False)
    said = capsys.readouterr().out
    assert "{stars} is sent as written: it is the frame's index (reset_index() makes it a column)" in said
    grok_magics.map(df, "{review}", progress=False)
    assert "sent as written" not in capsys.readouterr().out
