"""One gate out: every path that sends (asks, tool rounds, replay fall-through, map rows live and batch) is
refused or counted by the same policy check, against the fake server (real SDK, real HTTP, real shell)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pandas as pd
import pytest
from conftest import CANARY, Harness, assert_no_canary, user_texts
from fake_grok import Reply

import grok_magics
from grok_magics.mapping.rate import RequestWindow

XAI_SHAPED = "xai-" + "Zx9" * 10  # key-shaped, not the canary: the scan must catch shapes, not only the active key

pytestmark = pytest.mark.timeout(120)


def reviews(n: int) -> pd.DataFrame:
    return pd.DataFrame({"review": [f"review number {i}" for i in range(n)]})


def bodies(fake: Any) -> str:
    return "\n".join(repr(r.body) for r in fake.api_requests)


# -- map obeys the classroom ---------------------------------------------------------------------------


def test_map_refuses_a_locked_model_and_an_out_of_range_temperature(shell: Harness, fake) -> None:
    shell.shell.user_ns["df"] = reviews(3)
    shell.run("%config GrokMagics.lock = ['model']")
    ran = shell.run("%%grok map df -m other-model\n{review}")
    assert not ran.success and "--model is locked in this classroom" in str(ran.error)
    ran = shell.run("import grok_magics\ngrok_magics.map(df, '{review}', model='other-model')")
    assert "--model is locked" in str(ran.error) and "(model= from Python;" in str(ran.error), ran.error
    ran = shell.run("%%grok map df --temperature 7\n{review}")
    assert not ran.success and "temperature must be a number from 0 to 2" in str(ran.error)
    assert fake.api_requests == []


def test_map_rows_count_against_the_hourly_cap_and_show_in_usage(shell: Harness, fake) -> None:
    shell.shell.user_ns["df"] = reviews(3)
    shell.run("%config GrokMagics.max_calls_per_hour = 2")
    ran = shell.run("%%grok map df --concurrency 1 -o out\n{review}")
    assert ran.success, ran.everything
    assert len(fake.api_requests) == 2
    errors = shell.shell.user_ns["out"]["grok_error"].tolist()
    assert errors[:2] == [None, None] and errors[2].startswith("not run: 2 of 2 calls this hour used")
    assert "1 not run (2 of 2 calls this hour used" in ran.stdout
    usage = shell.run("%grok usage").stdout
    assert "grok-4.3 on xai: 2 request(s)" in usage and "chat %grok map: 2 call(s)" in usage
    ran = shell.run("%grok and now an ask")
    assert not ran.success and "2 of 2 calls this hour used" in str(ran.error) and len(fake.api_requests) == 2


def test_map_stops_when_the_classroom_budget_is_spent(shell: Harness, fake) -> None:
    shell.shell.user_ns["df"] = reviews(5)
    shell.run("%config GrokMagics.max_cost_usd = 0.001")
    fake.script(*[Reply(text="ok", usage_extra={"cost_in_usd_ticks": 6_000_000}) for _ in range(5)])
    ran = shell.run("%%grok map df --concurrency 1 -o out\n{review}")
    assert ran.success, ran.everything
    assert len(fake.api_requests) == 2  # $0.0006 spent < $0.001: one more; $0.0012: no more
    assert "3 not run (this kernel's budget of $0.001 is spent" in ran.stdout
    assert "budget: $0.00 of $0.001 left" in shell.run("%grok usage").stdout


def test_a_key_in_the_template_or_system_refuses_the_job_and_a_key_in_a_row_never_leaves(shell: Harness, fake) -> None:
    df = reviews(3)
    df.loc[1, "review"] = f"my token is {XAI_SHAPED}"
    shell.shell.user_ns["df"] = df
    ran = shell.run(f"%%grok map df --system 'use {XAI_SHAPED}'\n{{review}}")
    assert not ran.success and "shaped like an xAI key (xai-…); nothing was sent" in str(ran.error)
    ran = shell.run(f"%%grok map df\n{{review}} {CANARY}")
    assert not ran.success and "the active provider's API key" in str(ran.error)
    assert fake.api_requests == []
    ran = shell.run("%%grok map df -o out\n{review}")
    assert ran.success, ran.everything
    assert XAI_SHAPED not in bodies(fake) and len(fake.api_requests) >= 2  # refused or masked, never sent
    assert_no_canary(ran.everything, shell.shell.user_ns["out"].to_csv())


def test_map_with_allow_key_sends_a_key_shaped_row(fake) -> None:
    df = reviews(2)
    df.loc[0, "review"] = f"revoked test key {XAI_SHAPED}"
    out = grok_magics.map(df, "{review}", progress=False, allow_key=True)
    assert out["grok_error"].isna().all() and XAI_SHAPED in bodies(fake)


# -- tool rounds and replay fall-through pass the gate too ------------------------------------------------


def leak() -> str:
    """Reads a config file (that happens to hold a key)."""
    return f"api_key = {XAI_SHAPED}"


def test_a_tool_result_carrying_a_key_is_not_sent_back(shell: Harness, fake) -> None:
    shell.shell.user_ns["leak"] = leak
    fake.script(Reply(text="", tool_calls=[{"name": "leak", "arguments": {}, "id": "c1"}]), Reply(text="done"))
    ran = shell.run("%%grok --tools leak\nread the config")
    assert ran.success and "key-shaped value in tool results masked" in ran.stdout  # masked where it became text
    assert len(fake.api_requests) == 2 and XAI_SHAPED not in bodies(fake) + ran.everything


def test_each_tool_round_counts_against_the_hourly_cap(shell: Harness, fake) -> None:
    shell.shell.user_ns["leak"] = lambda: "nothing secret"
    shell.run("%config GrokMagics.max_calls_per_hour = 1")
    fake.script(Reply(text="", tool_calls=[{"name": "quiet", "arguments": {}, "id": "c1"}]), Reply(text="never"))

    def quiet() -> str:
        """Nothing to see."""
        return "fine"

    shell.shell.user_ns["quiet"] = quiet
    ran = shell.run("%%grok --tools quiet\ngo")
    assert not ran.success and "1 of 1 calls this hour used: nothing was sent" in ran.stdout
    assert len(fake.api_requests) == 1


# -- caps without usage, and models without a price ------------------------------------------------------


def test_the_cost_cap_accumulates_over_calls(shell: Harness, fake) -> None:
    shell.run("%config GrokMagics.max_cost_usd = 0.001")
    fake.script(*[Reply(text="ok", usage_extra={"cost_in_usd_ticks": 4_000_000}) for _ in range(4)])
    for n in range(3):  # $0, $0.0004, $0.0008 spent before each: all under the cap
        assert shell.run(f"%grok ask {n}").success
    ran = shell.run("%grok one more")
    assert not ran.success and "budget of $0.001 is spent ($0.0012 so far)" in str(ran.error)
    assert len(fake.api_requests) == 3


def test_caps_hold_when_the_server_reports_no_usage(shell: Harness, fake) -> None:
    shell.run("%config GrokMagics.max_cost_usd = 0.0001")
    fake.script(Reply(text="x" * 400, omit_usage=True), Reply(text="never", omit_usage=True))
    assert shell.run("%grok first").success  # ~100 output tokens, counted at characters / 4: over $0.0001
    ran = shell.run("%grok second")
    assert not ran.success and "budget of $0.0001 is spent" in str(ran.error) and len(fake.api_requests) == 1
    assert "1 without usage, counted at characters / 4" in shell.run("%grok usage").stdout


def test_map_max_cost_holds_when_the_server_reports_no_usage(fake) -> None:
    fake.script(*[Reply(text="y" * 4000, omit_usage=True) for _ in range(40)])
    out = grok_magics.map(reviews(40), "{review}", concurrency=1, max_cost=0.005, progress=False, confirm=True)
    # each row: ~1,000 output tokens counted at characters / 4, $0.0025 at list prices: two rows reach $0.005
    assert len(fake.api_requests) == 2
    assert out["grok_error"].tolist()[2] == "not run: --max-cost reached"


@pytest.fixture
def generic(fake_factory: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    server = fake_factory("openai")
    monkeypatch.setenv("GROK_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    return server


def test_a_budget_on_a_model_without_a_price_needs_a_price(shell: Harness, generic: Any) -> None:
    shell.run("%config GrokMagics.max_cost_usd = 0.01")
    ran = shell.run("%grok -m llama --api chat hi")
    assert not ran.success and "no price is known for llama, so nothing was sent" in str(ran.error)
    assert "GrokMagics.prices" in str(ran.error) and generic.api_requests == []
    shell.run("%config GrokMagics.prices = {'llama': {'input': 'cheap'}}")  # refused by the setting's check
    assert shell.magics.prices == {}
    shell.run("%config GrokMagics.prices = {'llama': {'input': 100.0, 'output': 200.0}}")
    generic.script(Reply(text="priced now"))
    ran = shell.run("%grok -m llama --api chat hi")
    assert ran.success and "~$" in ran.stdout and "price unknown" not in ran.stdout
    assert not re.search(r"\$0\.00(?!\d)", shell.run("%grok usage").stdout)  # priced: a real figure, not zero


def test_usage_and_map_say_price_unknown_for_other_models(shell: Harness, generic: Any) -> None:
    assert shell.run("%grok -m llama --api chat hi").success
    usage = shell.run("%grok usage").stdout
    assert "chat default: 1 call(s)" in usage and "price unknown" in usage.split("chat default")[1]
    total = next(line for line in usage.splitlines() if line.startswith("total:"))
    assert total.startswith("total: price unknown") and "$" not in total and "Grok 4.3" not in total, total
    shell.shell.user_ns["df"] = reviews(2)
    ran = shell.run("%%grok map df -m llama --api chat\n{review}")
    assert not ran.success and "no price is known for llama; nothing was sent. Pass --yes" in str(ran.error)
    assert "(confirm=True in Python)" in str(ran.error)  # the same line serves grok_magics.map
    ran = shell.run("%%grok map df -m llama --api chat --yes\n{review}")
    assert ran.success and "price unknown for llama" in ran.stdout and "price unknown, " in ran.stdout


# -- advice follows the cause on every path -----------------------------------------------------------------


def test_a_refused_key_that_is_set_points_to_key_new(shell: Harness, fake) -> None:
    fake.script(Reply(status=401, error_message="Incorrect API key provided"))
    ran = shell.run("%grok hi")
    assert "%grok key --new (or set XAI_API_KEY)" in ran.stdout


def test_a_forbidden_key_points_to_key_new_too(shell: Harness, fake) -> None:
    fake.script(Reply(status=403, error_message="Forbidden: this team has no access"))
    ran = shell.run("%grok hi")
    assert "HTTP 403" in ran.stdout and "%grok key --new, or set XAI_API_KEY" in ran.stdout


def test_a_server_error_after_retries_says_how_often_it_was_tried(shell: Harness, fake) -> None:
    shell.run("%config GrokMagics.max_retries = 2")
    fake.script(*[Reply(status=500, error_message="upstream exploded") for _ in range(3)])
    ran = shell.run("%grok hi")
    assert "HTTP 500" in ran.stdout and "(tried 3 times)" in ran.stdout and len(fake.api_requests) == 3


def test_map_rate_limit_advice_names_maps_own_retry_option(fake) -> None:
    fake.script(*[Reply(status=429, error_message="slow down", retry_after=0) for _ in range(2)])
    out = grok_magics.map(reviews(1), "{review}", progress=False, retries=1)
    error = out["grok_error"].tolist()[0]
    assert "HTTP 429" in error and "raise --retries (now 1)" in error and "max_retries" not in error
    assert len(fake.api_requests) == 2


# -- the mechanisms the classroom relies on, pinned --------------------------------------------------------


def test_history_trimming_drops_the_oldest_turns_only(shell: Harness, fake) -> None:
    shell.run("%config GrokMagics.history_tokens = 450")
    long = "word " * 80  # ~100 tokens a turn: some earlier turns fit the budget, not all
    for n in range(5):
        fake.script(Reply(text=f"answer {n}"))
        assert shell.run(f"%grok turn {n} {long}").success
    texts = [t.split()[1] for t in user_texts(fake.requests[-1].body) if t.startswith("turn")]
    assert texts[-1] == "4" and "0" not in texts and len(texts) >= 3, texts  # the newest earlier turns, in order
    assert texts == [str(n) for n in range(5 - len(texts), 5)]


def test_after_a_429_no_new_request_starts_until_in_flight_is_below_the_cut_window() -> None:
    async def scenario() -> tuple[int, bool, bool]:
        throttle = RequestWindow(4)
        for _ in range(4):
            await throttle.acquire()
        await throttle.release(limited=True)  # window 4 → 2, with 3 still in flight
        waiting = asyncio.ensure_future(throttle.acquire())
        await asyncio.sleep(0.05)
        blocked_at_3 = not waiting.done()
        await throttle.release()  # a failure that neither grows nor cuts: 2 in flight, not below the window
        await asyncio.sleep(0.05)
        blocked_at_2 = not waiting.done()
        await throttle.release()  # 1 in flight: now one may start
        await asyncio.wait_for(waiting, 5)
        return throttle.allowed, blocked_at_3, blocked_at_2

    allowed, blocked_at_3, blocked_at_2 = asyncio.run(scenario())
    assert blocked_at_3 and blocked_at_2 and allowed >= 2


def test_a_map_row_over_the_context_window_fails_alone_and_is_not_sent(shell: Harness, fake) -> None:
    """The provider would refuse it (after its place in the queue): the row fails in one line, the rest run."""
    shell.shell.user_ns["df"] = pd.DataFrame({"review": ["a short review", "long " * 3000, "another one"]})
    shell.run("%config GrokMagics.context_window = 1000")
    ran = shell.run("%%grok map df -o out\n{review}")
    assert ran.success, ran.everything
    errors = list(shell.shell.user_ns["out"]["grok_error"])
    assert pd.isna(errors[0]) and pd.isna(errors[2]), errors
    assert str(errors[1]).startswith("this row is ~") and "over the 1,000-token context window" in str(errors[1])
    assert len(fake.api_requests) == 2 and all("long long" not in str(r.body) for r in fake.api_requests)
