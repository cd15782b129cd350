"""%grok filter, reduce and topk (and --sample) against the fake Grok server: real SDK, real HTTP, a real shell.

The fake answers from what each request carries (``FakeGrok.responder``), so the checks are about the
operators' own logic: a filter keeps exactly the rows whose text says so, a reduce's answer covers
every row exactly once however many levels it took, a topk returns the true top k of scored rows.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from typing import Any, Callable

import pandas as pd
import polars as pl
import pytest
from conftest import CANARY, Harness, assert_no_canary, operator_judge, user_texts
from fake_grok import FakeGrok, Reply

import grok_magics
from grok_magics.errors import GrokError

pytestmark = pytest.mark.timeout(120)
XAI_SHAPED = "xai-" + "Qw7" * 10


def reviews(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "review": [f"review {i}: {'broken on arrival' if i % 3 == 0 else 'works fine'}" for i in range(n)],
            "product": [f"p{i % 4}" for i in range(n)],
        }
    )


def model_requests(server: FakeGrok) -> list[Any]:
    return server.api_requests


def tokenizer_requests(server: FakeGrok) -> list[Any]:
    return [r for r in server.requests if r.path.endswith("/tokenize-text")]


# --------------------------------------------------------------------------- filter


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_filter_keeps_the_rows_the_model_says_yes_to_with_a_strict_boolean_schema(
    grok: FakeGrok, api: str, capsys: Any
) -> None:
    df = reviews(12)
    out = grok_magics.filter(df, "Does this review report a defect? {review}", api=api, progress=False)
    assert list(out.index) == [0, 3, 6, 9] and list(out.columns) == ["review", "product"]
    body = model_requests(grok)[0].body
    fmt = body["text"]["format"] if api == "responses" else body["response_format"]["json_schema"]
    schema = fmt["schema"]
    assert schema["properties"] == {"keep": {"type": "boolean"}} and schema["additionalProperties"] is False
    assert fmt["strict"] is True
    printed = capsys.readouterr().out
    assert "grok filter: 12 rows to run, about $" in printed  # the estimate before the first request
    assert "grok filter: 12 rows — 12 done" in printed and "4 kept, 8 dropped" in printed


def test_filter_polars_with_reasons_and_keep_all(grok: FakeGrok) -> None:
    df = pl.from_pandas(reviews(6))
    kept = grok_magics.filter(df, "Defect? {review}", reason=True, progress=False)
    assert isinstance(kept, pl.DataFrame) and kept.columns == ["review", "product", "keep_reason"]
    assert kept["review"].to_list() == ["review 0: broken on arrival", "review 3: broken on arrival"]
    assert kept["keep_reason"].to_list() == ["it says broken"] * 2
    every = grok_magics.filter(df, "Defect? {review}", reason=True, keep_all=True, progress=False)
    assert every["keep"].to_list() == [True, False, False, True, False, False]
    assert every.columns == ["review", "product", "keep", "keep_reason", "keep_error"]
    assert len(model_requests(grok)) == 6  # the second run came from the cache


def test_filter_a_bad_verdict_is_a_row_error_left_out_and_counted(grok: FakeGrok, capsys: Any) -> None:
    grok.script(Reply(text='{"keep": "yes"}'), Reply(text="not json"))
    out = grok_magics.filter(reviews(4), "Defect? {review}", concurrency=1, keep_all=True, progress=False)
    errors = out["keep_error"].tolist()
    assert "keep" in errors[0] and "not JSON" in errors[1] and errors[2:] == [None, None]
    assert out["keep"].tolist()[:2] == [None, None]
    out = grok_magics.filter(reviews(4), "Defect? {review}", concurrency=1, progress=False)
    assert list(out.index) == [0, 3]  # rows 0 and 1 now answered (failures are not cached)
    grok.script(Reply(status=400, error_message="nope"))
    out = grok_magics.filter(reviews(5), "Defect? {review}", concurrency=1, progress=False)
    assert "1 failed rows left out: keep_all=True shows them" in capsys.readouterr().out


def test_filter_through_the_magic_and_batch(shell: Harness, grok: FakeGrok) -> None:
    shell.shell.user_ns["df"] = reviews(6)
    ran = shell.run("%%grok filter df --reason -o kept\nIs a defect reported? {review}")
    assert ran.success, ran.everything
    assert list(shell.shell.user_ns["kept"].index) == [0, 3]
    ran = shell.run("%%grok filter df --batch --poll-every 0.01 --no-cache -o batched\nDefect? {review}")
    assert ran.success, ran.everything
    assert list(shell.shell.user_ns["batched"].index) == [0, 3] and "batch" in ran.stdout
    assert grok.batches and len(model_requests(grok)) == 6  # the batch's rows went through the Batch API
    ran = shell.run("%grok filter the list above")  # no frame named: an ordinary prompt
    assert ran.success and "You said: filter the list above" in ran.everything
    assert_no_canary(ran.everything)


def test_filter_refuses_a_schema(grok: FakeGrok) -> None:
    with pytest.raises(GrokError, match="--schema is for map"):
        grok_magics.filter(reviews(2), "Defect? {review}", schema={"x": int})
    with pytest.raises(GrokError, match="reason and keep_all are filter's options"):
        grok_magics.map(reviews(2), "Tag {review}", reason=True)
    assert model_requests(grok) == []


# --------------------------------------------------------------------------- reduce


def many_reviews(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"review": [f"review {i} " + "word " * 30 for i in range(n)], "product": [f"p{i % 3}" for i in range(n)]}
    )


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_reduce_covers_every_row_once_over_levels_and_streams_the_last_level(
    shell: Harness, grok: FakeGrok, api: str
) -> None:
    shell.shell.user_ns["df"] = many_reviews(600)
    ran = shell.run(
        f"%%grok reduce df --chunk-tokens 1500 --api {api} --max-cost 5 -o r\nThe main complaints in these {{review}}s"
    )
    assert ran.success, ran.everything
    r = shell.shell.user_ns["r"]
    assert r.text == "covers 600 rows" and r.rows == 600 and r.levels == 2 and r.error is None
    assert len(r.summaries[0]) > 10 and r.summaries[-1] == ["covers 600 rows"]
    assert sum(r.covered[0]) == 600 and r.calls == len(r.summaries[0]) + 1
    assert "grok reduce: 600 rows in" in ran.stdout and "(exact counts)" in ran.stdout
    assert "reduce: 600 rows, 2 levels" in ran.stdout  # the streamed answer's status line says what went in
    assert "covers 600 rows" in ran.stdout
    first = user_texts(model_requests(grok)[0].body)[-1]
    assert first.startswith("Task: The main complaints in these reviews")
    last = model_requests(grok)[-1]
    assert last.body["stream"] is True and "<parts>" in user_texts(last.body)[-1]  # streamed, like an ask
    assert len(tokenizer_requests(grok)) >= len(r.summaries[0])  # one exact count per chunk, not per row
    usage = shell.run("%grok usage").stdout
    assert f"chat %grok reduce: {r.calls} call(s)" in usage
    assert_no_canary(ran.everything, repr(r.summaries))


def test_reduce_in_a_notebook_streams_its_answer_as_an_ask_does(grok: FakeGrok, tmp_path: Any) -> None:
    """The row command hands the kernel's shell down with its settings: in a notebook the last call's answer is
    the live Markdown view an ask has, not the terminal's text."""
    from kernels import answer_of, notebook, run_notebook

    nb = notebook(
        "%load_ext grok_magics",
        "import pandas as pd\ndf = pd.DataFrame({'review': [f'review {i}' for i in range(40)]})",
        "%%grok reduce df --max-cost 5\nThe main complaints in these {review}s",
    )
    run_notebook(nb, tmp_path)
    shown = answer_of(nb.cells[2])
    assert "covers 40 rows" in shown and "reduce: 40 rows, 1 level" in shown, nb.cells[2].outputs
    assert_no_canary(str(nb.cells[2].outputs))


def test_reduce_rerun_comes_from_the_cache_and_by_groups(grok: FakeGrok, capsys: Any) -> None:
    df = many_reviews(300)
    first = grok_magics.reduce(df, "complaints in {review}", chunk_tokens=1500, max_cost=5, progress=False)
    sent = len(model_requests(grok))
    again = grok_magics.reduce(df, "complaints in {review}", chunk_tokens=1500, max_cost=5, progress=False)
    assert again.text == first.text == "covers 300 rows" and len(model_requests(grok)) == sent
    assert "from the cache" in capsys.readouterr().out
    by = grok_magics.reduce(df, "complaints in {review}", by="product", chunk_tokens=1500, max_cost=5, progress=False)
    assert by["product"].tolist() == ["p0", "p1", "p2"]
    assert by["answer"].tolist() == ["covers 100 rows"] * 3 and by["rows"].tolist() == [100] * 3
    assert by.attrs["grok_reduce"]["p1"].summaries[-1] == ["covers 100 rows"]
    assert not any(r.body.get("stream") for r in model_requests(grok)[sent:])  # per group: no streaming


def test_reduce_chunks_fit_by_exact_counts_where_the_estimate_is_short(grok: FakeGrok) -> None:
    from fake_grok import fake_tokens

    df = pd.DataFrame({"review": [",".join(["ab"] * 120) + f" {i}" for i in range(60)]})  # ~240 tokens, ~90 by /4
    r = grok_magics.reduce(df, "complaints in {review}", chunk_tokens=1500, max_cost=5, progress=False)
    assert r.text == "covers 60 rows" and r.exact_tokens
    first_level = [user_texts(q.body)[-1] for q in model_requests(grok) if "<rows>" in user_texts(q.body)[-1]]
    sizes = [len(fake_tokens(p)) for p in first_level]
    assert len(first_level) >= 10 and max(sizes) <= 1500  # by characters / 4 they would be 4 chunks of ~5,000


def test_reduce_without_a_tokenizer_estimates_and_a_failing_tokenizer_falls_back(
    fake_factory: Callable[..., FakeGrok], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    server = fake_factory("azure")
    server.responder = operator_judge
    monkeypatch.setenv("AZURE_AI_API_KEY", CANARY)
    monkeypatch.setenv("AZURE_AI_ENDPOINT", server.base_url)
    r = grok_magics.reduce(
        many_reviews(200), "complaints in {review}", provider="azure", chunk_tokens=1500, max_cost=5, progress=False
    )
    assert r.text == "covers 200 rows" and not r.exact_tokens
    assert "(estimated, characters / 4)" in capsys.readouterr().out and not tokenizer_requests(server)


def test_reduce_tokenizer_failure_is_said_once_and_counts_fall_back(
    grok: FakeGrok, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grok_magics.providers.table import PROVIDERS

    monkeypatch.setitem(
        PROVIDERS, "xai", __import__("dataclasses").replace(PROVIDERS["xai"], tokenize_path="/no-such-tokenizer")
    )
    r = grok_magics.reduce(many_reviews(200), "complaints in {review}", chunk_tokens=1500, max_cost=5, progress=False)
    assert r.text == "covers 200 rows" and not r.exact_tokens
    printed = capsys.readouterr().out
    assert "the tokenizer failed (" in printed and "so counts are estimates" in printed
    assert len([q for q in grok.requests if q.path.endswith("/no-such-tokenizer")]) == 1


def test_reduce_faults_are_retried_and_nothing_is_lost(
    fake_factory: Callable[..., FakeGrok], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = fake_factory("xai", rate_limit_fraction=0.3, rate_limit_retry_after=0.05, seed=5, latency=0.02)
    server.responder = operator_judge
    monkeypatch.setenv("XAI_API_KEY", CANARY)
    monkeypatch.setenv("GROK_BASE_URL", server.base_url)
    server.script(Reply(status=500), Reply(disconnect_after=0))
    r = grok_magics.reduce(
        many_reviews(400), "complaints in {review}", chunk_tokens=1500, max_cost=5, concurrency=4, progress=False
    )
    assert r.text == "covers 400 rows" and server.rate_limited > 0
    assert 1 <= server.peak_concurrency <= 4


def test_reduce_stops_at_the_cap_and_keeps_what_it_has(grok: FakeGrok, capsys: Any) -> None:
    grok.script(*[Reply(text="covers 1 rows", usage_extra={"cost_in_usd_ticks": 2_000_000_000}) for _ in range(3)])
    r = grok_magics.reduce(
        many_reviews(300),
        "complaints in {review}",
        chunk_tokens=1500,
        max_cost=0.5,
        concurrency=1,
        confirm=True,
        progress=False,
    )
    assert r.error and "--max-cost $0.50 reached" in r.error and r.text == ""
    assert len(model_requests(grok)) == 3  # $0.20 a call: the cap stopped the 4th
    assert "stopped: --max-cost" in capsys.readouterr().out


def test_reduce_masks_key_shaped_rows_and_refuses_a_key_in_the_task(grok: FakeGrok) -> None:
    df = many_reviews(20)
    df.loc[3, "review"] = f"my token {XAI_SHAPED}"
    r = grok_magics.reduce(df, "complaints in {review}", progress=False)
    assert r.text == "covers 20 rows"
    assert XAI_SHAPED not in repr([q.body for q in grok.requests])
    with pytest.raises(GrokError, match="nothing was sent"):
        grok_magics.reduce(df, f"complaints in {{review}} {CANARY}", progress=False)


def test_reduce_obeys_the_classroom(shell: Harness, grok: FakeGrok) -> None:
    shell.shell.user_ns["df"] = many_reviews(300)
    shell.run("%config GrokMagics.max_calls_per_hour = 3")
    ran = shell.run("%%grok reduce df --chunk-tokens 1500 --concurrency 1 --max-cost 5 -o r\ncomplaints in {review}")
    assert ran.success, ran.everything
    assert len(model_requests(grok)) == 3 and "3 of 3 calls this hour used" in shell.shell.user_ns["r"].error
    shell.run("%config GrokMagics.lock = ['model']")
    ran = shell.run("%%grok reduce df -m other\ncomplaints in {review}")
    assert not ran.success and "--model is locked" in str(ran.error)


# --------------------------------------------------------------------------- topk


def scored(n: int, seed: int = 1) -> pd.DataFrame:
    scores = list(range(n))
    random.Random(seed).shuffle(scores)
    return pd.DataFrame({"text": [f"item {i} score {s}" for i, s in enumerate(scores)], "score": scores})


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_topk_finds_the_true_top_k_in_bounded_calls(grok: FakeGrok, api: str, capsys: Any) -> None:
    df = scored(500)
    out = grok_magics.topk(df, "the highest score in {text}", k=5, group_size=20, api=api, progress=False)
    assert out["score"].tolist() == [499, 498, 497, 496, 495] and out["rank"].tolist() == [1, 2, 3, 4, 5]
    calls = out.attrs["grok_topk"]
    assert len(model_requests(grok)) == len(calls) <= 500 // (20 - 5) + 4
    assert "~" + f"{len(calls)}" in capsys.readouterr().out.split("\n")[0]  # the estimate named the calls
    final = calls[-1]
    assert [df["score"][r] for r in final.ranking] == [499, 498, 497, 496, 495]


def test_topk_polars_through_the_magic(shell: Harness, grok: FakeGrok) -> None:
    shell.shell.user_ns["df"] = pl.from_pandas(scored(120))
    ran = shell.run("%%grok topk df -k 3 --group 10 -o best\nthe highest score in {text}")
    assert ran.success, ran.everything
    best = shell.shell.user_ns["best"]
    assert best["score"].to_list() == [119, 118, 117] and best["rank"].to_list() == [1, 2, 3]


def test_topk_a_bad_ranking_loses_that_group_and_says_so(grok: FakeGrok, capsys: Any) -> None:
    grok.script(Reply(text='{"ranking": [99]}'))
    out = grok_magics.topk(scored(60), "highest score in {text}", k=2, group_size=10, concurrency=1, progress=False)
    assert len(out) == 2
    assert "1 failed (their 10 rows left the tournament)" in capsys.readouterr().out
    again = grok_magics.topk(scored(60), "highest score in {text}", k=2, group_size=10, concurrency=1, progress=False)
    assert again["score"].tolist() == [59, 58] and "failed" not in capsys.readouterr().out  # not cached: asked again


def test_topk_stopped_by_its_cap_returns_the_rows_still_in_contention(grok: FakeGrok, capsys: Any) -> None:
    """Run until the cap is spent, the tournament has no ranking yet: the rows the top k are among come back
    unranked, and a second run with a higher cap pays only for the calls the first did not make."""

    def judge(body: dict[str, Any]) -> Reply | None:
        reply = operator_judge(body)  # $0.10 a call
        return replace(reply, usage_extra={"cost_in_usd_ticks": 1_000_000_000}) if reply else None

    grok.responder = judge
    df = scored(200)  # groups of 10 keeping 2: 20 calls, then 4, then 1
    first = grok_magics.topk(
        df, "highest score in {text}", k=2, group_size=10, max_cost=2.25, concurrency=1, confirm=True, progress=False
    )
    said = capsys.readouterr().out
    made = len(model_requests(grok))
    assert 20 < made < 25 and "stopped: --max-cost $2.25 reached in round 2" in said
    assert "the top 2 are among the" in said and "rows still in contention" in said
    assert "cached: run again with a higher --max-cost to pay only for the rest" in said
    finished = made - 20  # round 2's groups that were asked, of 4
    assert len(first) == 2 * finished + 10 * (4 - finished) and first["rank"].isna().all()
    assert {199, 198} <= set(first["score"])  # the true top 2 were not eliminated
    assert first.index.is_monotonic_increasing  # the frame's own order: no ranking is implied

    # the rerun is priced for the calls the cache does not answer: at list prices the whole tournament is
    # estimated above this cap, the rest well below it, so it runs without asking
    grok.responder = operator_judge
    again = grok_magics.topk(
        df, "highest score in {text}", k=2, group_size=10, max_cost=0.01, concurrency=1, progress=False
    )
    assert f"~{25 - made} calls to keep the top 2 ({made} from cache)" in capsys.readouterr().out
    assert again["score"].tolist() == [199, 198] and again["rank"].tolist() == [1, 2]
    assert len(model_requests(grok)) == 25  # 25 calls in all: the first run's came from the cache


def test_topk_stopped_with_the_cache_off_does_not_promise_a_cheap_rerun(grok: FakeGrok, capsys: Any) -> None:
    def judge(body: dict[str, Any]) -> Reply | None:
        reply = operator_judge(body)
        return replace(reply, usage_extra={"cost_in_usd_ticks": 1_000_000_000}) if reply else None

    grok.responder = judge
    kwargs: dict[str, Any] = {"k": 2, "group_size": 10, "concurrency": 1, "confirm": True, "progress": False}
    grok_magics.topk(scored(200), "highest score in {text}", max_cost=1.05, cache=False, **kwargs)
    said = capsys.readouterr().out
    assert "with the cache off a rerun pays for every call again" in said and "are cached" not in said


def test_topk_refuses_groups_too_small_to_narrow(grok: FakeGrok) -> None:
    with pytest.raises(GrokError, match="at least 2·k rows"):
        grok_magics.topk(scored(50), "best {text}", k=10, group_size=15)


# --------------------------------------------------------------------------- --sample


def test_sample_runs_n_seeded_rows_and_projects_the_whole_frame(grok: FakeGrok, capsys: Any) -> None:
    df = reviews(200)
    part = grok_magics.filter(df, "Defect? {review}", sample=20, seed=7, progress=False)
    assert len(part) == 20 and len(model_requests(grok)) == 20 and "keep" in part.columns
    again = grok_magics.filter(df, "Defect? {review}", sample=20, seed=7, progress=False)
    assert list(again.index) == list(part.index) and len(model_requests(grok)) == 20  # same rows, cached
    printed = capsys.readouterr().out
    assert "grok filter --sample 20: 20 of 200 rows, seed 7" in printed
    share = re.search(r"(\d+)% kept \(~([\d,]+) of 200 rows\)", printed)
    assert share is not None
    assert "the whole job, 200 rows: ~" in printed and "at --concurrency 8" in printed
    mapped = grok_magics.map(df, "Tag {review}", sample=5, progress=False)
    assert len(mapped) == 5 and "grok map --sample: 5 rows, 0 failed" in capsys.readouterr().out
    grok_magics.topk(scored(300), "highest score in {text}", k=2, group_size=10, sample=40, progress=False)
    assert "grok topk --sample: the whole job" in capsys.readouterr().out
    r = grok_magics.reduce(
        many_reviews(400), "complaints in {review}", sample=100, chunk_tokens=1500, max_cost=5, progress=False
    )
    assert r.text == "covers 100 rows"
    printed = capsys.readouterr().out
    assert "grok reduce --sample 100: 100 of 400 rows, seed 0" in printed
    assert re.search(
        r"grok reduce --sample: 100 rows, 1 of 1 answered, \d+ characters; the whole job, 400 rows: "
        r"~\d+ calls in \d+ levels, ~[\d,]+ tokens, ~\$[\d.]+ at this sample's rate",
        printed,
    ), printed
