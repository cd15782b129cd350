"""Faults seen against real providers and OpenAI-compatible servers, one test each, on both wire APIs.

Each test asserts what the user sees, what the conversation holds afterwards, that the next ask
works, and that the canary key appears nowhere: not in outputs, the saved notebook, its nbconvert
HTML, the SDK's DEBUG logs or ``sys.last_value`` (with its chained exceptions and frame locals).
The saved notebook is what a frontend keeps of the cell: the final display and the error output.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import nbformat
import pytest
from conftest import (
    CANARY,
    Harness,
    Ran,
    assert_no_canary,
    poll,
    send_sigint,
    user_texts,
    watch,
)
from fake_grok import Reply

pytestmark = pytest.mark.timeout(60)

APIS = ["responses", "chat"]


@lru_cache(maxsize=1)
def _exporter() -> Any:
    from nbconvert import HTMLExporter

    return HTMLExporter()


@dataclass
class Seen:
    ran: Ran
    logs: str
    notebook: str
    html: str

    @property
    def final(self) -> str:
        """The saved Markdown of the answer (the last display update)."""
        shown = [m["data"].get("text/markdown", "") for m in self.ran.displays]
        return shown[-1] if shown else ""

    @property
    def text(self) -> str:
        return self.ran.stdout + self.final


def _exception_text(exc: BaseException | None) -> str:
    """An exception as deep as anyone can dig: repr, attributes, chained causes and every frame's locals."""
    parts: list[str] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts += [repr(exc), repr(vars(exc)) if hasattr(exc, "__dict__") else ""]
        tb = exc.__traceback__
        while tb is not None:
            parts.append(repr({k: v for k, v in tb.tb_frame.f_locals.items() if k not in ("user_ns", "ns")}))
            tb = tb.tb_next
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


def saved(ran: Ran, source: str) -> tuple[str, str]:
    """The cell as a frontend saves it (final display + error output), and nbconvert's HTML of it."""
    cell = nbformat.v4.new_code_cell(source)
    finals: dict[str, dict[str, Any]] = {}
    for message in ran.displays:
        finals[message["transient"].get("display_id", str(len(finals)))] = message
    cell.outputs = [
        nbformat.v4.new_output("display_data", data=m["data"], metadata=m["metadata"]) for m in finals.values()
    ]
    if not ran.success:
        cell.outputs.append(
            nbformat.v4.new_output("error", ename="GrokError", evalue="", traceback=ran.stdout.splitlines())
        )
    nb = nbformat.v4.new_notebook(cells=[cell])
    return nbformat.writes(nb), _exporter().from_notebook_node(nb)[0]


def ask(shell: Harness, caplog: pytest.LogCaptureFixture, source: str, cell_id: str | None = None) -> Seen:
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        ran = shell.run(source, cell_id=cell_id)
    notebook, html = saved(ran, source)
    logs = caplog.text + "".join(repr(r.args) for r in caplog.records)
    return Seen(ran, logs, notebook, html)


def rendered_outputs(html: str) -> str:
    """The HTML nbconvert made of the Markdown outputs (not its own page scripts)."""
    return "".join(
        part.split('<div class="jp-OutputArea-child', 1)[0].split("</main>", 1)[0]
        for part in html.split('data-mime-type="text/markdown"')[1:]
    )


def assert_clean(seen: Seen) -> None:
    assert "Traceback" not in seen.ran.stdout + seen.ran.stderr, seen.ran.stdout
    assert_no_canary(
        seen.ran.everything,
        seen.logs,
        seen.notebook,
        seen.html,
        _exception_text(sys.last_value) if hasattr(sys, "last_value") else "",
    )


def turns(shell: Harness, chat: str = "default") -> list[Any]:
    return shell.magics.session.chats.get(chat).turns


def next_ask_works(shell: Harness, server: Any, api: str, options: str = "") -> None:
    server.script(Reply(text="The next answer is fine."))
    ran = shell.run(f"%grok --api {api} {options}and now?")
    assert ran.success and "The next answer is fine." in ran.stdout + repr(ran.displays), ran.stdout


@pytest.fixture
def md(shell: Harness, fake: Any) -> Harness:
    """Markdown display, so the saved answer is visible in the recorded displays; no retries."""
    shell.run("%config GrokMagics.display = 'markdown'")
    shell.run("%config GrokMagics.max_retries = 0")
    return shell


# -- 1. completion is proved, not assumed ------------------------------------------------------------


@pytest.mark.parametrize("reason", ["error", "max_tokens", "MAX_TOKENS", "content_filter", "weird_new_reason"])
def test_chat_finish_reasons_other_than_good_endings_are_marked(
    md: Harness, fake: Any, caplog: Any, reason: str
) -> None:
    fake.script(Reply(text="A partial answer", finish_reason=reason))
    seen = ask(md, caplog, "%grok --api chat hi", cell_id="c")
    assert seen.ran.success
    assert seen.final.startswith("A partial answer")
    assert f"Stopped early by the provider ({reason})" in seen.final and "cut short" in seen.final
    meta = seen.ran.displays[-1]["metadata"]["grok_magics"]
    assert meta["finish"] == reason
    (turn,) = turns(md)
    assert turn.answer == "A partial answer"
    assert_clean(seen)
    next_ask_works(md, fake, "chat")


@pytest.mark.parametrize("reason", ["stop", "end_turn", "tool_calls"])
def test_chat_good_endings_are_complete(md: Harness, fake: Any, caplog: Any, reason: str) -> None:
    fake.script(Reply(text="A whole answer", finish_reason=reason))
    seen = ask(md, caplog, "%grok --api chat hi")
    assert seen.ran.success and "Stopped early" not in seen.final and "⚠" not in seen.final


def test_responses_completed_event_with_incomplete_status_is_marked(md: Harness, fake: Any, caplog: Any) -> None:
    fake.script(Reply(text="A partial answer", completed_status="incomplete"))
    seen = ask(md, caplog, "%grok --api responses hi")
    assert seen.ran.success and "Stopped early by the provider (incomplete)" in seen.final
    assert turns(md)[0].answer == "A partial answer" and turns(md)[0].items == ()  # not replayed as whole
    assert_clean(seen)
    next_ask_works(md, fake, "responses")


@pytest.mark.parametrize("api", APIS)
def test_length_endings_are_marked_on_both_apis(md: Harness, fake: Any, caplog: Any, api: str) -> None:
    fake.script(Reply(text="A partial answer", incomplete="max_output_tokens"))
    seen = ask(md, caplog, f"%grok --api {api} hi")
    assert "hit the output limit" in seen.final
    assert_clean(seen)
    next_ask_works(md, fake, api)


@pytest.mark.parametrize("deltas", ["", "The answer "])
def test_text_only_in_the_final_response_is_reconciled(md: Harness, fake: Any, caplog: Any, deltas: str) -> None:
    fake.script(Reply(text=deltas, final_text="The answer is 42."))
    seen = ask(md, caplog, "%grok --api responses hi", cell_id="r")
    assert seen.ran.success, seen.ran.stdout
    assert seen.final.startswith("The answer is 42.") and "⚠" not in seen.final
    assert turns(md)[0].answer == "The answer is 42."
    assert_clean(seen)
    next_ask_works(md, fake, "responses")


def test_diverging_final_text_replaces_the_deltas(md: Harness, fake: Any, caplog: Any) -> None:
    fake.script(Reply(text="garbled strea", final_text="The clean final answer."))
    seen = ask(md, caplog, "%grok --api responses hi")
    assert seen.final.startswith("The clean final answer.") and "garbled" not in seen.final


@pytest.mark.parametrize("api", APIS)
def test_empty_answer_is_a_warning_not_a_success(md: Harness, fake: Any, caplog: Any, api: str) -> None:
    md.run("%grok --api chat first")  # an earlier turn, to prove the empty one adds nothing
    fake.script(Reply(text=""))
    seen = ask(md, caplog, f"%grok --api {api} hi", cell_id="e")
    assert not seen.ran.success
    assert "returned an empty answer" in seen.ran.stdout and seen.ran.stdout.count("⚠ Failed") == 1  # said once
    assert len(turns(md)) == 1
    assert_clean(seen)
    next_ask_works(md, fake, api)


@pytest.mark.parametrize("api", APIS)
def test_drop_after_finish_and_usage_before_done_is_complete(md: Harness, fake: Any, caplog: Any, api: str) -> None:
    fake.script(Reply(text="A complete answer.", drop_before_done=True))
    seen = ask(md, caplog, f"%grok --api {api} hi", cell_id="d")
    assert seen.ran.success, seen.ran.stdout
    assert seen.final.startswith("A complete answer.") and "⚠" not in seen.final and "dropped" not in seen.text
    assert turns(md)[0].answer == "A complete answer."
    assert_clean(seen)
    next_ask_works(md, fake, api)


@pytest.mark.parametrize("api", APIS)
def test_drop_mid_answer_is_still_cut_off(md: Harness, fake: Any, caplog: Any, api: str) -> None:
    fake.script(Reply(text="A partial answer that goes on", disconnect_after=2))
    seen = ask(md, caplog, f"%grok --api {api} hi")
    assert not seen.ran.success and "⚠ Failed" in seen.ran.stdout  # the outcome, once, as the cell's error
    assert seen.final.startswith("A partial") and "partial answer ·" in seen.final  # the text stays, marked
    assert turns(md) == []
    next_ask_works(md, fake, api)


# -- 2. keys stay put ---------------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("provider", ["azure", "xai"])
def test_redirect_to_another_origin_carries_no_key(
    shell: Harness, fake_factory: Any, monkeypatch: Any, caplog: Any, provider: str, api: str
) -> None:
    home = fake_factory(provider)
    elsewhere = fake_factory(provider, key=None)  # would accept anything: it must simply never see the key
    monkeypatch.setenv("GROK_BASE_URL", home.base_url)
    monkeypatch.setenv("AZURE_AI_ENDPOINT", home.base_url)
    monkeypatch.setenv("AZURE_AI_API_KEY" if provider == "azure" else "XAI_API_KEY", CANARY)
    shell.run("%config GrokMagics.max_retries = 0")
    home.script(Reply(redirect_to=elsewhere.origin))
    elsewhere.script(Reply(status=401))
    seen = ask(shell, caplog, f"%grok --provider {provider} --api {api} hi")
    (request,) = elsewhere.requests
    assert CANARY not in repr(request.headers)
    assert not any(name in request.headers for name in ("authorization", "api-key"))
    assert not seen.ran.success and "redirected to another origin" in seen.ran.stdout
    assert "the key was not sent there" in seen.ran.stdout
    assert_clean(seen)
    next_ask_works(shell, home, api, f"--provider {provider} ")
    assert home.requests[-1].headers.get("api-key" if provider == "azure" else "authorization", "").endswith(CANARY)


def test_same_origin_redirect_still_works_with_the_key(shell: Harness, fake: Any) -> None:
    fake.script(Reply(redirect_to=fake.origin), Reply(text="After the redirect."))
    ran = shell.run("%grok --api chat hi")
    assert ran.success and "After the redirect." in ran.stdout


@pytest.mark.parametrize("api", APIS)
def test_debug_mode_and_verbose_tracebacks_never_show_the_key(shell: Harness, fake: Any, caplog: Any, api: str) -> None:
    """Before: a lone surrogate failed deep in the SDK; debug mode + %xmode Verbose printed `key = 'xai-…'`."""
    shell.run("%xmode Verbose")
    shell.run("%config GrokMagics.debug = True")
    seen = ask(shell, caplog, f"%grok --api {api} bad \ud800 text")
    assert not seen.ran.success and "not valid Unicode" in seen.ran.stdout
    assert "internal error" not in seen.ran.stdout
    assert fake.requests == []
    assert_clean(seen)
    next_ask_works(shell, fake, api)


def test_debug_tracebacks_of_internal_errors_have_no_locals(
    shell: Harness, fake: Any, caplog: Any, monkeypatch: Any
) -> None:
    """An internal error deep in a request (a bug of ours in the transport hook) while the SDK holds the key."""
    import grok_magics.providers.client as client

    def broken(response: Any) -> None:
        headers = dict(response.request.headers)  # a local that holds the key, as SDK frames do
        raise AssertionError(f"a bug with {len(headers)} headers")

    monkeypatch.setattr(client, "_responded", broken)
    shell.run("%xmode Verbose")
    shell.run("%config GrokMagics.debug = True")
    shell.run("%config GrokMagics.max_retries = 0")
    seen = ask(shell, caplog, "%grok --api chat hi")
    assert not seen.ran.success
    assert_no_canary(seen.ran.everything, seen.notebook, seen.html, seen.logs, _exception_text(sys.last_value))


def test_key_typed_after_the_key_subcommand_is_a_usage_error(shell: Harness, fake: Any, caplog: Any) -> None:
    seen = ask(shell, caplog, f"%grok key {CANARY}")
    assert not seen.ran.success and "UsageError" in seen.ran.stdout + seen.ran.stderr
    assert "run %grok key alone" in seen.ran.stdout + seen.ran.stderr
    assert fake.requests == [] and turns(shell) == []
    assert_no_canary(seen.ran.stdout, seen.ran.stderr, seen.final)  # (the source itself holds what was typed)


KEYS = {
    "xai": "xai-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4",
    "openai": "sk-proj-" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4",
    "aigateway": "sk-aig-" + "Z1x2C3v4B5n6M7q8W9e0",
    "bedrock": "ABSK" + "QmVkcm9ja0FQSUtleS1hYmNkZWZnaGlqa2xtbm9w",
}


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("shape", list(KEYS))
def test_prompts_and_lines_holding_a_key_are_refused(
    shell: Harness, fake: Any, caplog: Any, api: str, shape: str
) -> None:
    key = KEYS[shape]
    for source in (
        f"%grok --api {api} why does {key} fail?",
        f"%%grok --api {api}\nmy key is {key}",
        f"%grok --api {api} --system 'use {key}' hi",
        f"%grok --api {api} my key: {CANARY}",
    ):
        seen = ask(shell, caplog, source)
        assert not seen.ran.success and "shaped like" in seen.ran.stdout and "--allow-key" in seen.ran.stdout
        assert key not in seen.ran.stdout and CANARY not in seen.ran.stdout
    assert fake.requests == [] and turns(shell) == []
    fake.script(Reply(text="It is revoked."))
    ran = shell.run(f"%grok --api {api} --allow-key why does {key} fail?")
    assert ran.success and user_texts(fake.requests[-1].body)[-1] == f"why does {key} fail?"


def test_a_reference_holding_the_active_key_is_refused(shell: Harness, fake: Any) -> None:
    shell.shell.user_ns["secret"] = CANARY
    ran = shell.run("%grok what is {secret}?")
    assert not ran.success and "the active provider's API key" in ran.stdout
    assert fake.requests == []
    assert_no_canary(ran.everything)


def test_credentials_in_base_urls_are_masked(shell: Harness, fake: Any, caplog: Any, monkeypatch: Any) -> None:
    secret = "s3cretPassw0rdInUrl"
    port = fake.origin.rsplit(":", 1)[1]
    monkeypatch.setenv("GROK_BASE_URL", f"http://user:{secret}@127.0.0.1:{port}/v1")
    config = shell.run("%grok config").stdout
    assert "http://***@127.0.0.1" in config and secret not in config
    seen = ask(shell, caplog, "%grok hi")  # (httpx turns URL credentials into Basic auth: a 401 here)
    assert f"http://***@127.0.0.1:{port}/v1" in seen.logs  # the HTTP stack's own INFO line, masked
    assert secret not in seen.ran.everything + seen.logs
    monkeypatch.setenv("GROK_BASE_URL", f"http://user:{secret}@127.0.0.1:1/v1")  # refused connection
    shell.run("%config GrokMagics.max_retries = 0")
    seen = ask(shell, caplog, "%grok hi")
    assert not seen.ran.success and "could not connect to http://***@127.0.0.1:1/v1" in seen.ran.stdout
    assert secret not in seen.ran.everything + seen.logs


# -- 3. provider text is inert --------------------------------------------------------------------------

PAGE = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title><script>alert('x')</script></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


@pytest.mark.parametrize("api", APIS)
def test_html_error_pages_are_reduced_to_their_title(md: Harness, fake: Any, caplog: Any, api: str) -> None:
    fake.script(Reply(status=502, raw_body=PAGE))
    seen = ask(md, caplog, f"%grok --api {api} hi")
    assert not seen.ran.success
    line = [x for x in seen.ran.stdout.splitlines() if "HTTP 502" in x][0]
    assert "an HTML page: 502 Bad Gateway" in line and "<" not in line and "DOCTYPE" not in line
    assert "<script" not in rendered_outputs(seen.html)
    assert_clean(seen)
    next_ask_works(md, fake, api)


@pytest.mark.parametrize("api", APIS)
def test_raw_html_in_answers_and_errors_is_never_live_in_saved_html(
    md: Harness, fake: Any, caplog: Any, api: str
) -> None:
    evil = 'Here: <script>alert("pwned")</script> and <img src=x onerror="alert(1)"> done'
    answer = f"**Bold** text.\n\n{evil}\n\n```html\n<script>kept as code</script>\n```\n\nInline `<b>code</b>`."
    fake.script(Reply(text=answer))
    seen = ask(md, caplog, f"%grok --api {api} hi")
    assert seen.ran.success
    body = rendered_outputs(seen.html)
    assert "pwned" in body and "<script" not in body and "<img" not in body and "onerror" in body  # as text
    assert "<strong>Bold</strong>" in body  # Markdown still renders
    assert '<span class="nx">kept</span>' in body and "<script>kept" not in body  # code keeps its text
    assert "&lt;b&gt;code&lt;/b&gt;" in body
    fake.script(Reply(status=400, error_message='bad <script>alert("e")</script> request'))
    seen = ask(md, caplog, f"%grok --api {api} hi")
    assert '<script>alert("e")' not in seen.html and "alert" in seen.html  # the error line, as inert text
    assert_clean(seen)


@pytest.mark.parametrize("api", APIS)
def test_sse_framed_and_non_json_error_bodies_give_their_message(
    md: Harness, fake_factory: Any, monkeypatch: Any, caplog: Any, api: str
) -> None:
    server = fake_factory("openai")
    monkeypatch.delenv("GROK_BASE_URL")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    sse = 'data: {"error": {"message": "The upstream model is overloaded."}}\n\ndata: [DONE]\n\n'
    server.script(Reply(status=400, raw_body=sse, raw_content_type="text/event-stream"))
    seen = ask(md, caplog, f"%grok --provider openai -m some-model --api {api} hi")
    line = (
        [x for x in seen.ran.stdout.splitlines() if "HTTP 400" in x][0]
        if "HTTP 400" in seen.ran.stdout
        else seen.ran.stdout
    )
    assert "The upstream model is overloaded." in line and "data:" not in line and ".." not in line
    assert_clean(seen)
    next_ask_works(md, server, api, "--provider openai -m some-model ")


def test_long_messages_are_cut_in_the_middle_keeping_the_advice(md: Harness, fake: Any, caplog: Any) -> None:
    message = "Start of the message. " + "filler " * 200 + "The end says: use a shorter prompt."
    fake.script(Reply(status=400, error_message=message))
    seen = ask(md, caplog, "%grok hi")
    line = [x for x in seen.ran.stdout.splitlines() if "HTTP 400" in x][0]
    assert "Start of the message." in line and "use a shorter prompt" in line and " … " in line
    assert "check the options you passed" in line.lower()
    assert ".." not in line


def test_message_ending_in_a_period_gets_one_period(md: Harness, fake: Any) -> None:
    fake.script(Reply(status=402, error_message="Your team has run out of credits."))
    ran = md.run("%grok hi")
    assert "run out of credits. Add credits" in ran.stdout and "credits.." not in ran.stdout


# -- 4. state survives anything ---------------------------------------------------------------------------


def _assert_interrupted_ask_finished(md: Harness, fake: Any, ran: Ran) -> None:
    assert not ran.success and isinstance(ran.error, KeyboardInterrupt)
    final = ran.displays[-1]["data"].get("text/markdown", "")
    assert final.startswith("The b") and "partial answer ·" in final, ran.displays[-1]
    assert "Interrupted" in ran.stdout and "Interrupted" not in final  # said once, as the cell's error
    (turn,) = turns(md)
    assert turn.interrupted and turn.answer.startswith("The b")
    assert fake.wait_for_disconnect(5)
    next_ask_works(md, fake, "responses")


def _partial(md: Harness) -> Any:
    return lambda: any("The b" in m["data"].get("text/markdown", "") for m in md.publisher.messages)


LONG = Reply(text="The beginning of a long answer", chunk=5, stall_after=2, stall_seconds=30)


def raised_here(send: Any) -> bool:
    """Send a Ctrl-C to this, the main thread: True when it raised here, False when a handler took it quietly.

    No waiting is involved: ``signal.pthread_kill`` runs the Python handler before it returns when the signal
    is for the calling thread, so by the time `send` returns the Ctrl-C has been dealt with, one way or the other.
    """
    try:
        send()
    except KeyboardInterrupt:
        return True
    return False


def test_second_interrupt_during_the_ending_is_held_until_it_is_done(md: Harness, fake: Any, monkeypatch: Any) -> None:
    """Deterministic: the second SIGINT arrives exactly while the final view is being published."""
    fake.script(LONG)
    publish = md.publisher.publish
    fired = []

    def publish_then_interrupt(data: Any, *args: Any, **kwargs: Any) -> None:
        if not fired and "partial answer ·" in str(data):  # the final view
            fired.append(True)
            send_sigint()  # lands at the next bytecode, i.e. inside the ask's ending
        publish(data, *args, **kwargs)

    monkeypatch.setattr(md.publisher, "publish", publish_then_interrupt)
    watch(_partial(md), send_sigint, timeout=10)
    ran = md.run("%%grok\ntell me a long story", cell_id="s")
    assert fired
    _assert_interrupted_ask_finished(md, fake, ran)


@pytest.mark.timeout(25)  # without the re-delivery the ask would sit out the 30 s stall (and more)
def test_a_held_second_interrupt_is_delivered_when_the_first_was_swallowed(md: Harness, fake: Any) -> None:
    """Two quick Ctrl-Cs, and some library on the main thread swallows the first: the second, held as
    "already on its way", must still stop the ask."""
    fake.script(Reply(text="The beginning of a long answer", chunk=5, stall_after=2, stall_seconds=30))
    fired: list[bool] = []
    swallowed: list[bool] = []

    def swallow_then_interrupt(message: dict) -> None:
        if fired or not message["update"] or threading.current_thread() is not threading.main_thread():
            return
        fired.append(True)
        if raised_here(send_sigint):  # the first SIGINT raises here ...
            swallowed.append(True)  # ... and is swallowed, as a careless library might
        send_sigint()  # the second, right after: held, because the first is "on its way"

    md.publisher.on_publish = swallow_then_interrupt
    ran = md.run("%%grok\ntell me a long story", cell_id="s")
    assert fired and swallowed, "the first Ctrl-C never arrived, so nothing was swallowed"
    assert not ran.success and isinstance(ran.error, KeyboardInterrupt)
    assert fake.wait_for_disconnect(5)
    next_ask_works(md, fake, "responses")


@pytest.mark.parametrize("grace", [60.0, 0.0], ids=["within-the-second", "starved-past-the-second"])
def test_the_other_half_of_a_double_click_after_the_ask_ended_is_absorbed(
    md: Harness, fake: Any, monkeypatch: pytest.MonkeyPatch, grace: float
) -> None:
    """A second Ctrl-C that arrives just after an interrupted ask ended would land in the kernel's own reply
    to the cell; it is absorbed for a moment, and the next cell has the usual handler back. The moment is a
    second of wall time (60 here: getting from the ask's end to the next line can take longer on a loaded
    machine), or, when the main thread was starved past it (0 here), as long as the thread did little since:
    under two busy loops, a real kernel once ran the handler more than a second late and lost its reply."""
    import signal

    from grok_magics.engine import guard

    monkeypatch.setattr(guard, "LATE_GRACE", grace)
    usual = signal.getsignal(signal.SIGINT)  # SIG_IGN when the suite was started in the background (`cmd &`)
    fake.script(LONG)
    watch(_partial(md), send_sigint, timeout=10)
    ran = md.run("%%grok\ntell me a long story", cell_id="s")
    assert isinstance(ran.error, KeyboardInterrupt)
    absorbing = signal.getsignal(signal.SIGINT)
    assert absorbing is not usual and callable(absorbing), "nothing is in place to absorb the late Ctrl-C"
    if raised_here(send_sigint):  # the late half of the double click
        pytest.fail("a Ctrl-C right after an interrupted ask was raised outside it")
    assert signal.getsignal(signal.SIGINT) is absorbing  # absorbed as the same click, not passed on
    md.run("x = 1")  # the next cell starts: the usual handler is back
    assert signal.getsignal(signal.SIGINT) is usual
    next_ask_works(md, fake, "responses")


@pytest.mark.parametrize("gap_ms", [0, 1, 1, 2])
def test_two_interrupts_a_millisecond_apart(md: Harness, fake: Any, gap_ms: int) -> None:
    fake.script(LONG)
    sent = threading.Event()

    def twice() -> None:
        send_sigint()
        time.sleep(gap_ms / 1000)
        send_sigint()
        sent.set()

    watch(_partial(md), twice, timeout=10)
    ran = md.run("%%grok\ntell me a long story", cell_id="s")
    try:
        assert sent.wait(30), "the two Ctrl-Cs were never sent"
    except KeyboardInterrupt:  # held while the ask ran, or absorbed just after it ended: never raised out here
        pytest.fail("the second Ctrl-C was raised outside the ask")
    _assert_interrupted_ask_finished(md, fake, ran)


@pytest.mark.parametrize(
    "name",
    [
        "get_ipython",
        "__builtins__",
        "In",
        "Out",
        "class",
        "exit",
        "quit",
        "print",
        "_private",
        "not-an-identifier",
        "1x",
    ],
)
def test_out_refuses_names_that_would_break_the_session(shell: Harness, fake: Any, name: str) -> None:
    ran = shell.run(f"%grok -o {name} hi")
    assert not ran.success and "UsageError" in ran.stdout + ran.stderr
    assert fake.requests == []
    ran = shell.run("print('still fine')")
    assert ran.success and "still fine" in ran.stdout
    next_ask_works(shell, fake, "responses")


@pytest.mark.parametrize("api", APIS)
def test_failed_rerun_keeps_the_earlier_good_turn(md: Harness, fake: Any, caplog: Any, api: str) -> None:
    fake.script(Reply(text="The good answer."))
    assert md.run(f"%grok --api {api} question", cell_id="x").success
    fake.script(Reply(status=500))
    seen = ask(md, caplog, f"%grok --api {api} question", cell_id="x")
    assert not seen.ran.success and "earlier answer stays in the conversation" in seen.ran.stdout
    (turn,) = turns(md)
    assert turn.answer == "The good answer."
    assert_clean(seen)
    next_ask_works(md, fake, api)


def test_reloading_the_extension_keeps_chats_and_usage(shell: Harness, fake: Any) -> None:
    fake.script(Reply(text="Remember me."))
    assert shell.run("%grok --chat notes hi").success
    before = shell.run("%grok usage").stdout
    shell.run("%reload_ext grok_magics")
    shell.run("%unload_ext grok_magics")
    shell.run("%load_ext grok_magics")
    assert "notes: 1 turn(s)" in shell.run("%grok chats").stdout
    assert shell.run("%grok usage").stdout == before
    fake.script(Reply(text="Still here."))
    assert shell.run("%grok --chat notes again").success
    assert user_texts(fake.requests[-1].body) == ["hi", "again"]


@pytest.mark.parametrize(
    "source, says",
    [
        ("%grok --temperature nan hi", "temperature must be a number from 0 to 2 (or None), not nan"),
        ("%grok --temperature inf hi", "temperature must be a number from 0 to 2 (or None), not inf"),
        ("%grok --temperature 7 hi", "from 0 to 2"),
        ("%grok --max-tokens 0 hi", "max_tokens must be a positive number of tokens (or None), not 0"),
    ],
)
def test_bad_options_are_one_line_messages(shell: Harness, fake: Any, source: str, says: str) -> None:
    ran = shell.run(source)
    assert not ran.success and says in ran.stdout + ran.stderr
    assert "internal error" not in ran.stdout and "Traceback" not in ran.stdout + ran.stderr
    assert fake.requests == []


@pytest.mark.parametrize(
    "setting, value, says",
    [
        ("timeout", "-1", "positive number of seconds"),
        ("timeout", "float('nan')", "positive number of seconds"),
        ("connect_timeout", "0", "positive number of seconds"),
        ("deadline", "-5", "positive number of seconds"),
        ("max_retries", "-1", "0 or more"),
        ("temperature", "float('nan')", "from 0 to 2"),
        ("max_tokens", "0", "positive number of tokens"),
    ],
)
def test_bad_settings_are_refused_with_one_line(
    shell: Harness, fake: Any, caplog: Any, setting: str, value: str, says: str
) -> None:
    before = getattr(shell.magics, setting)
    ran = shell.run(f"%config GrokMagics.{setting} = {value}")
    shown = ran.stdout + ran.stderr + caplog.text  # IPython's %config reports through logging (stderr)
    assert says in shown and f"GrokMagics.{setting}" in shown
    assert "Traceback" not in shown
    assert getattr(shell.magics, setting) == before  # the bad value never took
    next_ask_works(shell, fake, "responses")


@pytest.mark.parametrize("api", APIS)
def test_non_utf8_bytes_in_the_stream_are_a_clear_message(md: Harness, fake: Any, caplog: Any, api: str) -> None:
    fake.script(Reply(text="some text here", bad_bytes_after=1))
    seen = ask(md, caplog, f"%grok --api {api} hi")
    assert not seen.ran.success and "not UTF-8" in seen.ran.stdout and "internal error" not in seen.ran.stdout
    assert turns(md) == []
    assert_clean(seen)
    next_ask_works(md, fake, api)


@pytest.mark.parametrize("api", APIS)
def test_keepalive_comments_cannot_extend_the_deadline(md: Harness, fake: Any, caplog: Any, api: str) -> None:
    # keep-alives every 50 ms, a read timeout that only a stall of seconds would reach (a busy machine can
    # hold the server back for a fraction of a second), and a deadline of one second that must still hold
    md.run("%config GrokMagics.timeout = 5")
    md.run("%config GrokMagics.deadline = 1.0")
    fake.script(Reply(text="some text here", keepalive_after=1, keepalive_every=0.05, stall_seconds=30))
    started = time.monotonic()
    seen = ask(md, caplog, f"%grok --api {api} hi")
    assert time.monotonic() - started < 20
    assert not seen.ran.success and "took longer than 1 s" in seen.ran.stdout
    assert "GrokMagics.deadline" in seen.ran.stdout
    assert turns(md) == []
    assert fake.wait_for_disconnect(5)
    md.run("%config GrokMagics.deadline = 60")
    assert_clean(seen)
    next_ask_works(md, fake, api)


@pytest.mark.parametrize("api", APIS)
def test_a_server_that_never_sends_headers_is_not_retried_for_ages(
    md: Harness, fake: Any, caplog: Any, api: str
) -> None:
    md.run("%config GrokMagics.timeout = 0.5")
    md.run("%config GrokMagics.max_retries = 5")
    fake.script(*[Reply(no_headers=True, stall_seconds=30) for _ in range(6)])
    started = time.monotonic()
    seen = ask(md, caplog, f"%grok --api {api} hi")
    assert time.monotonic() - started < 20
    assert not seen.ran.success and "no response from the server within 0.5 s" in seen.ran.stdout
    assert "no data for" not in seen.ran.stdout
    fake.clear()
    assert_clean(seen)
    md.run("%config GrokMagics.timeout = 60")  # half a second is too short a wait on a busy machine
    next_ask_works(md, fake, api)


def test_retry_after_waits_are_visible(md: Harness, fake: Any, caplog: Any) -> None:
    md.run("%config GrokMagics.max_retries = 1")
    fake.script(Reply(status=429, retry_after=0.5), Reply(text="After the wait."))
    seen = ask(md, caplog, "%grok hi")
    assert seen.ran.success
    shown = [m["data"].get("text/markdown", "") for m in seen.ran.displays]
    assert any("rate limited, retrying in 0.5 s" in s for s in shown), shown


def test_old_clients_are_closed_when_settings_change(shell: Harness, fake: Any, monkeypatch: Any) -> None:
    session = shell.magics.session
    made = []
    for n, timeout in enumerate((100, 200, 300)):
        shell.run(f"%config GrokMagics.timeout = {timeout}")
        monkeypatch.setenv("XAI_API_KEY", CANARY + str(n))  # a new key, as %grok key would set
        fake.key = CANARY + str(n)
        assert shell.run("%grok hi").success
        (entry,) = session.clients._cache.values()
        made.append(entry[1])
    assert len(session.clients) == 1 and len(set(map(id, made))) == 3
    assert [c.is_closed() for c in made] == [True, True, False]


# -- 5. any OpenAI-compatible server --------------------------------------------------------------------


@pytest.fixture
def generic(fake_factory: Any, monkeypatch: Any) -> Any:
    server = fake_factory("openai")
    monkeypatch.setenv("GROK_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    return server


@pytest.mark.parametrize("api", APIS)
def test_openai_row_sends_only_what_the_user_set(shell: Harness, generic: Any, api: str) -> None:
    assert shell.run(f"%grok -m llama --api {api} hi").success
    body, headers = generic.requests[-1].body, generic.requests[-1].headers
    assert "reasoning_effort" not in body and "reasoning" not in body and "prompt_cache_key" not in body
    assert "x-grok-conv-id" not in headers
    assert shell.run(f"%grok -m llama --api {api} --effort high hi").success
    body = generic.requests[-1].body
    assert body.get("reasoning_effort") == "high" or body.get("reasoning") == {"effort": "high"}
    shell.run("%config GrokMagics.effort = 'medium'")
    assert shell.run(f"%grok -m llama --api {api} hi").success
    body = generic.requests[-1].body
    assert body.get("reasoning_effort") == "medium" or body.get("reasoning") == {"effort": "medium"}


@pytest.mark.parametrize("api", APIS)
def test_effort_default_sends_nothing_on_every_row(shell: Harness, fake: Any, api: str) -> None:
    assert shell.run(f"%grok --api {api} hi").success
    body = fake.requests[-1].body
    assert body.get("reasoning_effort") == "low" or body.get("reasoning") == {"effort": "low"}  # xAI: explicit
    assert shell.run(f"%grok --api {api} --effort default hi").success
    body = fake.requests[-1].body
    assert "reasoning_effort" not in body and "reasoning" not in body


def test_missing_responses_endpoint_suggests_api_chat(shell: Harness, generic: Any, caplog: Any) -> None:
    shell.run("%config GrokMagics.max_retries = 0")
    generic.script(
        Reply(
            status=404,
            raw_body='{"error":"Not Found","message":"Cannot POST /v1/responses"}',
            raw_content_type="application/json",
        )
    )
    seen = ask(shell, caplog, "%grok -m llama --api responses hi")
    assert "Cannot POST /v1/responses" in seen.ran.stdout and "--api chat" in seen.ran.stdout
    assert_clean(seen)
    next_ask_works(shell, generic, "chat", "-m llama ")


@pytest.mark.parametrize(
    "message, advice",
    [
        ("litellm.BadRequestError: Invalid model name passed in model=llama", "check the model id (llama)"),
        ("Authentication Error, Invalid proxy server token passed", "%grok key --new (or set OPENAI_API_KEY)"),
        ("No connected db.", "%grok key --new (or set OPENAI_API_KEY)"),  # LiteLLM, for a key it cannot look up
        ("UnsupportedParamsError: openai does not support parameters: ['reasoning_effort']", "--effort default"),
    ],
)
def test_advice_matches_the_cause_not_just_the_status(shell: Harness, generic: Any, message: str, advice: str) -> None:
    shell.run("%config GrokMagics.max_retries = 0")
    generic.script(Reply(status=400, error_message=message))
    ran = shell.run("%grok -m llama --api chat hi")
    assert advice.lower() in ran.stdout.lower() and "check the options you passed" not in ran.stdout.lower()


def test_refused_connection_names_the_variable_really_used(shell: Harness, monkeypatch: Any) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    shell.run("%config GrokMagics.max_retries = 0")
    ran = shell.run("%grok --provider openai -m m hi")
    assert "(OPENAI_BASE_URL)" in ran.stdout and "GROK_BASE_URL" not in ran.stdout


def test_server_cost_is_used_and_other_models_have_no_list_price(shell: Harness, generic: Any) -> None:
    generic.script(
        Reply(text="priced", usage_extra={"cost": 0.0123}),
        Reply(text="unpriced"),
        Reply(text="silent", omit_usage=True),
    )
    ran = shell.run("%grok -m llama --api chat one")
    assert "$0.012" in ran.stdout and "~$" not in ran.stdout  # the server's own figure, not an estimate
    ran = shell.run("%grok -m llama --api chat two")
    assert "price unknown" in ran.stdout and "$" not in ran.stdout.split("\n")[-2]
    ran = shell.run("%grok -m llama --api chat three")
    assert "no usage reported" in ran.stdout
    usage = shell.run("%grok usage").stdout
    assert "3 request(s)" in usage and "1 with no usage reported" in usage and "1 without a price" in usage


def test_grok_ids_on_generic_rows_are_estimated(shell: Harness, generic: Any) -> None:
    ran = shell.run("%grok -m xai/grok-4.3 --api chat hi")
    assert "~$" in ran.stdout  # an estimate at Grok 4.3 list prices


# -- the same faults in a real kernel: the saved .ipynb and its nbconvert HTML ---------------------------


@pytest.mark.timeout(240)
def test_faults_in_a_real_kernel_leave_a_clean_saved_notebook(fake: Any, tmp_path: Any) -> None:
    from kernels import LabLikeClient, notebook
    from nbconvert import HTMLExporter

    fake.script(
        Reply(text='Answer <script>alert("saved")</script> end', finish_reason="MAX_TOKENS"),
        Reply(status=502, raw_body=PAGE),
        Reply(text=""),
        Reply(text="Last answer.", drop_before_done=True),
    )
    nb = notebook(
        "%load_ext grok_magics\n%config GrokMagics.max_retries = 0\n%config GrokMagics.debug = True\n%xmode Verbose",
        "%grok --api chat first",
        "%grok second",
        "%grok third",
        f"%grok key {CANARY}",
        "%grok --api chat fourth",
        "%grok history",
    )
    for cell in nb.cells[2:5]:
        cell.metadata["tags"] = ["raises-exception"]
    client = LabLikeClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    path = tmp_path / "faults.ipynb"
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)
    first = saved.cells[1].outputs[-1].data["text/markdown"]
    assert first.startswith("Answer &lt;script>") and "Stopped early by the provider (MAX_TOKENS)" in first
    errors = [o for c in saved.cells for o in c.outputs if o.output_type == "error"]
    text = "\n".join("\n".join(o.traceback) for o in errors)
    assert "an HTML page: 502 Bad Gateway" in text and "returned an empty answer" in text
    assert "run %grok key alone" in repr(saved.cells[4].outputs)
    assert "Last answer." in saved.cells[5].outputs[-1].data["text/markdown"]
    history = saved.cells[6].outputs[0].text
    assert "2 turn(s)" in history
    html, _ = HTMLExporter().from_notebook_node(saved)
    assert "<script" not in rendered_outputs(html)
    saved_outputs = [o for c in saved.cells for o in c.outputs]
    assert_no_canary(repr(saved_outputs), rendered_outputs(html))


@pytest.mark.timeout(240)
def test_two_interrupts_a_millisecond_apart_in_a_real_kernel(fake: Any, tmp_path: Any) -> None:
    """What the ■ button does twice in quick succession, three times over: each ask still ends whole."""
    from kernels import LabLikeClient, notebook

    fake.script(
        *[
            Reply(text=f"The beginning of story {n}, which goes on", chunk=5, stall_after=2, stall_seconds=60)
            for n in range(3)
        ]
    )
    cells = [f"%%grok --chat c{n}\ntell me long story {n}" for n in range(3)]
    nb = notebook("%load_ext grok_magics\n%config GrokMagics.display = 'markdown'", *cells, "%grok chats")
    for cell in nb.cells[1:4]:
        cell.metadata["tags"] = ["raises-exception"]
    client = LabLikeClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})

    def partial(index: int) -> bool:
        # the first words, in the first display or an update of it: on a busy machine the first deltas can
        # arrive together and be shown at once, with no update until the stall ends
        return any(
            m["msg_type"] in ("display_data", "update_display_data")
            and "The b" in m["content"].get("data", {}).get("text/markdown", "")
            for m in client.messages(index)
        )

    interrupted: list[int] = []
    clicked = {index: threading.Event() for index in (1, 2, 3)}
    gave_up = threading.Event()

    def interrupt_each() -> None:
        for index in (1, 2, 3):
            if not poll(lambda: partial(index), timeout=60):  # noqa: B023 - polled before the loop moves on
                gave_up.set()
                return  # (the assertion below names the cell that never showed its first words)
            client.interrupt()
            time.sleep(0.001)  # the gap between the two clicks: the point of the test, not a wait
            client.interrupt()
            interrupted.append(index)
            clicked[index].set()

    def after_both_clicks(cell_index: int) -> None:
        # The next cell is sent once both clicks on this one are: on a starved machine the "1 ms" gap can
        # stretch past this cell's end and into the next one, where a click rightly interrupts that cell.
        if cell_index - 1 in clicked:
            while not (clicked[cell_index - 1].wait(0.1) or gave_up.is_set()):
                pass

    client.before_cell = after_both_clicks

    thread = threading.Thread(target=interrupt_each, daemon=True)
    thread.start()
    client.execute()
    thread.join(10)
    assert not thread.is_alive() and interrupted == [1, 2, 3], f"only cells {interrupted} were interrupted"
    for index in (1, 2, 3):
        final = [o for o in nb.cells[index].outputs if o.output_type == "display_data"][-1]
        assert final.data["text/markdown"].startswith("The b") and "partial answer ·" in final.data["text/markdown"]
        # the outcome line, exactly once: the second click is held while the ask ends, or absorbed just after
        (error,) = [o for o in nb.cells[index].outputs if o.output_type == "error"]
        assert error.ename == "GrokInterrupted" and len(error.traceback) == 1, error
        assert "■ Interrupted — the partial answer above stays in the conversation." in error.traceback[0]
    chats = nb.cells[4].outputs[0].text
    assert all(f"c{n}: 1 turn(s)" in chats for n in range(3)), chats
