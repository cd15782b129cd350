"""%grok / %%grok driven through a real InteractiveShell against the fake Grok server."""

from __future__ import annotations

import re
import socket
import sys
import threading
from typing import Callable

import pytest
from conftest import (
    CANARY,
    Harness,
    assert_no_canary,
    in_fresh_ipython,
    send_sigint,
    user_texts,
    watch,
)
from fake_grok import Reply


def open_gate_when(condition: Callable[[], bool], gate: threading.Event) -> threading.Event:
    """Let the server finish only once `condition` held while it was still holding the rest back."""
    return watch(condition, gate.set, timeout=15.0)


# -- loading ---------------------------------------------------------------------------------------


def test_load_registers_and_unload_removes_everything(shell: Harness) -> None:
    sh = shell.shell
    magics = shell.magics
    assert "grok" in sh.magics_manager.magics["line"] and "grok" in sh.magics_manager.magics["cell"]
    assert magics in sh.configurables
    assert magics.pre_run_cell in sh.events.callbacks["pre_run_cell"]
    sh.run_line_magic("unload_ext", "grok_magics")
    assert "grok" not in sh.magics_manager.magics["line"] and "grok" not in sh.magics_manager.magics["cell"]
    assert magics not in sh.configurables
    assert magics.pre_run_cell not in sh.events.callbacks["pre_run_cell"]
    assert not any("grok" in getattr(t, "__module__", "") for t in sh.input_transformers_cleanup)
    assert "GrokMagics" not in sh.magics_manager.registry
    assert not hasattr(sh, "_grok_magics")
    sh.run_line_magic("load_ext", "grok_magics")
    assert "grok" in sh.magics_manager.magics["cell"]


def test_every_subcommand_the_parser_knows_has_a_handler() -> None:
    from grok_magics.magics.command_line import SUBCOMMANDS
    from grok_magics.magics.grok import HANDLERS

    assert set(HANDLERS) | {"fix"} == set(SUBCOMMANDS)  # fix asks Grok: it is not a printing subcommand


def test_loading_imports_nothing_heavy() -> None:
    out = in_fresh_ipython(
        "heavy = ['openai', 'httpx', 'httpx2', 'ipywidgets', 'markdown_it', 'pandas', 'PIL', 'pydantic',\n"
        "         'numpy', 'polars', 'matplotlib']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    assert out.strip() == "[]"


def test_settings_are_traitlets_configurable_with_percent_config(shell: Harness, fake) -> None:
    shell.run("%config GrokMagics.effort = 'high'")
    shell.run("%config GrokMagics.temperature = 0.3")
    assert shell.run("%grok hi").success
    body = fake.requests[-1].body
    assert body["reasoning"] == {"effort": "high"} and body["temperature"] == 0.3
    assert shell.run("%grok --effort none --temperature 0.9 hi").success  # options beat %config
    body = fake.requests[-1].body
    assert body["reasoning"] == {"effort": "none"} and body["temperature"] == 0.9


def test_config_shows_the_effort_that_is_sent(shell: Harness, fake) -> None:
    """Unset, the xAI row sends "low": %grok config says what goes out, not "provider default"."""
    for setting, shown, sent in (("''", "low", {"effort": "low"}), ("'default'", "none sent", None)):
        shell.run(f"%config GrokMagics.effort = {setting}")
        config = shell.run("%grok config").stdout
        assert re.search(rf"^effort +{shown}", config, re.M), config
        assert shell.run("%grok hi").success
        assert fake.requests[-1].body.get("reasoning") == sent


# -- streaming and display -------------------------------------------------------------------------


def test_terminal_text_streams_before_the_reply_finishes(shell: Harness, fake) -> None:
    gate = threading.Event()
    fake.script(Reply(text="alpha beta gamma delta epsilon zeta", chunk=6, gate_after=2, gate=gate))
    seen = open_gate_when(lambda: "alpha" in "".join(t for _, t in shell.last_stdout.writes), gate)
    ran = shell.run("%%grok\nSay six words")
    assert ran.success, ran.stdout
    assert seen.is_set(), "no text appeared while the server was still streaming"
    assert "alpha beta gamma delta epsilon zeta" in ran.stdout
    assert "grok-4.3 · xAI · " in ran.stdout  # the status line


def test_markdown_view_updates_in_place_then_saves_full_markdown(shell: Harness, fake) -> None:
    shell.run("%config GrokMagics.display = 'markdown'")
    gate = threading.Event()
    answer = "## Title\n\nSome **bold** text and a list:\n\n- one\n- two\n- three\n- four\n"
    fake.script(Reply(text=answer, chunk=4, gate_after=3, gate=gate, pace=0.05))

    def partial() -> bool:
        return any(m["update"] and "## T" in m["data"].get("text/markdown", "") for m in shell.publisher.messages)

    seen = open_gate_when(partial, gate)
    ran = shell.run("%%grok\nFormat something")
    assert ran.success and seen.is_set(), "no partial answer was shown while the server held the rest"
    first, updates = ran.displays[0], ran.displays[1:]
    display_id = first["transient"]["display_id"]
    assert all(m["update"] and m["transient"]["display_id"] == display_id for m in updates)
    partials = [m for m in updates[:-1] if answer.strip() not in m["data"]["text/markdown"]]
    assert len(partials) >= 2, "expected several partial updates before the end"
    final = updates[-1]
    # the answer's top heading sits below the notebook's own sections (GrokMagics.headings = 4)
    assert final["data"]["text/markdown"].startswith(answer.rstrip().replace("## Title", "#### Title"))
    assert '<sub class="grok-status"' in final["data"]["text/markdown"]
    assert "grok-4.3 · xAI · " in final["data"]["text/markdown"]
    assert answer.strip() in final["data"]["text/plain"]
    meta = final["metadata"]["grok_magics"]
    assert meta["model"] == "grok-4.3" and meta["usage"]["output"] > 0 and meta["finish"] == "stop"


def test_question_mark_prompts_are_asked_not_help_requests(shell: Harness, fake) -> None:
    fake.script(Reply(text="A p-value is..."))
    ran = shell.run("x = 1\n%grok What is a p-value?")
    assert ran.success and "A p-value is" in ran.stdout and "not found" not in ran.stdout
    assert user_texts(fake.requests[-1].body)[-1] == "What is a p-value?"


def test_out_option_stores_the_answer(shell: Harness, fake) -> None:
    fake.script(Reply(text="forty-two"))
    assert shell.run("%grok -o answer what is the answer?").success
    assert shell.shell.user_ns["answer"] == "forty-two"


# -- prompts ---------------------------------------------------------------------------------------


def test_prompt_is_sent_as_written_with_references(shell: Harness, fake) -> None:
    shell.shell.user_ns.update(city="Paris", n=3, data=[1, 2])
    cell = (
        "%%grok\n"
        'Fix this: json.loads(\'{"a": {"b": 1}}\') and f"{n:.2f}" in {city}, {{city}}, {data}, {missing}\n'
        "```python\nprint(f'{city}')\n```"
    )
    assert shell.run(cell).success
    sent = user_texts(fake.requests[-1].body)[-1]
    assert sent == (
        'Fix this: json.loads(\'{"a": {"b": 1}}\') and f"{n:.2f}" in Paris, {city}, {data}, {missing}\n'
        "```python\nprint(f'{city}')\n```"
    )


def test_line_magic_is_not_var_expanded_by_ipython(shell: Harness, fake) -> None:
    shell.shell.user_ns["price"] = 10
    assert shell.run("%grok costs $price or {1+1} or {price}?").success
    assert user_texts(fake.requests[-1].body)[-1] == "costs $price or {1+1} or 10?"


# -- conversations ---------------------------------------------------------------------------------


def test_follow_up_carries_earlier_turns_and_reasoning_on_responses(shell: Harness, fake) -> None:
    fake.script(Reply(text="First answer.", reasoning="thinking hard"), Reply(text="Second answer."))
    assert shell.run("%%grok\nFirst question", cell_id="c1").success
    assert shell.run("%%grok --effort high\nSecond question", cell_id="c2").success
    first, second = (r.body for r in fake.requests)
    assert first["store"] is False and first["include"] == ["reasoning.encrypted_content"]
    assert first["reasoning"] == {"effort": "low"}  # explicit even by default
    assert second["reasoning"] == {"effort": "high"}
    assert first["input"][0]["role"] == "system"
    assert user_texts(second) == ["First question", "Second question"]
    replayed = second["input"][2:-1]
    reasoning = [i for i in replayed if i.get("type") == "reasoning"]
    assert reasoning and reasoning[0].get("encrypted_content"), "reasoning items must be sent back verbatim"
    assert any(i.get("type") == "message" for i in replayed)
    assert first["prompt_cache_key"] == second["prompt_cache_key"] != ""


def test_follow_up_on_chat_sends_messages_and_conversation_header(shell: Harness, fake) -> None:
    fake.script(Reply(text="One."), Reply(text="Two."))
    assert shell.run("%grok --api chat first").success
    assert shell.run("%grok --api chat second").success
    first, second = fake.requests
    assert [m["role"] for m in second.body["messages"]] == ["system", "user", "assistant", "user"]
    assert second.body["messages"][2]["content"] == "One."
    assert second.body["reasoning_effort"] == "low"
    assert second.body["stream_options"] == {"include_usage": True}
    assert first.headers["x-grok-conv-id"] == second.headers["x-grok-conv-id"]


def test_rerun_cell_replaces_its_turn_in_place(shell: Harness, fake) -> None:
    for cell_id, question in (("a", "Q1"), ("b", "Q2")):
        assert shell.run(f"%%grok\n{question}", cell_id=cell_id).success
    assert shell.run("%%grok\nQ1 again", cell_id="a").success  # re-run the first cell
    assert user_texts(fake.requests[-1].body) == ["Q1 again"], "a re-run sees only what came before it"
    assert shell.run("%%grok\nQ3", cell_id="c").success
    assert user_texts(fake.requests[-1].body) == ["Q1 again", "Q2", "Q3"]
    assert shell.run("%%grok\nQ3 edited", cell_id="c").success
    assert user_texts(fake.requests[-1].body) == ["Q1 again", "Q2", "Q3 edited"]
    assert len(shell.magics.session.chats.get("default").turns) == 3


def test_rerun_in_another_chat_leaves_the_first(shell: Harness, fake) -> None:
    assert shell.run("%%grok --chat a\nQ", cell_id="x").success
    assert shell.run("%%grok --chat b\nQ", cell_id="x").success
    chats = shell.magics.session.chats
    assert chats.get("a").turns == [] and len(chats.get("b").turns) == 1


def test_two_asks_in_one_cell_are_two_turns(shell: Harness, fake) -> None:
    assert shell.run("%grok one\n%grok two", cell_id="x").success
    assert shell.run("%grok one\n%grok two", cell_id="x").success
    assert user_texts(fake.requests[-1].body) == ["one", "two"]


def test_named_chats_new_reset_and_no_history(shell: Harness, fake) -> None:
    shell.run("%grok --chat a alpha")
    shell.run("%grok --chat b beta")
    shell.run("%grok --chat a alpha2")
    assert user_texts(fake.requests[-1].body) == ["alpha", "alpha2"]
    shell.run("%grok --chat a --no-history lone")
    assert user_texts(fake.requests[-1].body) == ["lone"]
    assert "prompt_cache_key" not in fake.requests[-1].body
    shell.run("%grok --chat a --new fresh")
    assert user_texts(fake.requests[-1].body) == ["fresh"]
    shell.run("%grok reset --chat b")
    shell.run("%grok --chat b beta2")
    assert user_texts(fake.requests[-1].body) == ["beta2"]
    shell.run("%grok reset --all")
    assert shell.magics.session.chats.names() == []


def test_system_option_sticks_to_its_chat(shell: Harness, fake) -> None:
    shell.run('%grok --chat p --system "You are a pirate." ahoy')
    shell.run("%grok --chat p again")
    shell.run("%grok elsewhere")
    systems = [r.body["input"][0]["content"] for r in fake.requests]
    assert systems[0] == systems[1] == "You are a pirate."
    assert systems[2].startswith("You are Grok")


def test_new_starts_afresh_without_an_earlier_system_unless_given_again(shell: Harness, fake) -> None:
    shell.run('%grok --chat p --system "You are a pirate." ahoy')
    shell.run("%grok --chat p --new hello")  # a new conversation: the configured system prompt again
    shell.run('%grok --chat p --new --system "You are a poet." hi')  # given on the same line: it wins
    shell.run("%grok --chat p and again")
    systems = [r.body["input"][0]["content"] for r in fake.requests]
    assert systems[0] == "You are a pirate." and systems[1].startswith("You are Grok")
    assert systems[2] == systems[3] == "You are a poet."
    assert [m["role"] for m in fake.requests[1].body["input"]] == ["system", "user"]  # and no earlier turns


def test_history_is_trimmed_oldest_first_but_keeps_the_system_prompt(shell: Harness, fake) -> None:
    shell.run("%config GrokMagics.history_tokens = 300")
    long = "word " * 150  # ~190 tokens per turn
    for n in range(4):
        fake.script(Reply(text=f"answer {n}"))
        assert shell.run(f"%grok turn {n} {long}").success
    last = fake.requests[-1].body
    assert last["input"][0]["role"] == "system"
    texts = user_texts(last)
    assert texts[-1].startswith("turn 3") and not any(t.startswith("turn 0") for t in texts)
    assert len(texts) < 4


def test_subcommands_report(shell: Harness, fake) -> None:
    fake.script(Reply(text="An answer."))
    shell.run("%grok a question")
    history = shell.run("%grok history").stdout
    assert "You: a question" in history and "Grok: An answer." in history
    assert "default: 1 turn(s)" in shell.run("%grok chats").stdout
    usage = shell.run("%grok usage").stdout
    assert "grok-4.3 on xai: 1 request(s)" in usage and "$" in usage
    config = shell.run("%grok config").stdout
    assert "XAI_API_KEY set" in config and "AZURE_AI_API_KEY unset" in config and "model           grok-4.3" in config
    assert "--effort" in shell.run("%grok help").stdout
    assert_no_canary(history, usage, config)
    fake.script(Reply(text="Sure."))
    assert shell.run("%grok help me write a regex").success  # a prompt, not the subcommand
    assert user_texts(fake.requests[-1].body)[-1] == "help me write a regex"


def test_bad_options_are_one_line_usage_errors(shell: Harness, fake) -> None:
    for line in ("%grok --effort extreme hi", "%%grok --bogus\nhi", "%grok", "%%grok\n   "):
        ran = shell.run(line)
        assert not ran.success and "UsageError" in ran.stdout + ran.stderr
        assert "Traceback" not in ran.stdout + ran.stderr
        assert not isinstance(ran.error, SystemExit)
    assert fake.requests == []


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, said, hint",
    [
        (401, "Incorrect API key provided", "XAI_API_KEY"),
        (402, "run out of credits", "credits"),
        (404, "does not exist", "model id (grok-4.3)"),
        (429, "Rate limit exceeded", "rate limited"),
        (500, "Internal server error", "server error"),
        (503, "Service unavailable", "server error"),
    ],
)
def test_http_errors_are_one_actionable_line(shell: Harness, fake, status: int, said: str, hint: str) -> None:
    shell.run("%config GrokMagics.max_retries = 0")
    message = "The model grok-4.3 does not exist" if status == 404 else None
    fake.script(Reply(status=status, error_message=message, retry_after=1 if status == 429 else None))
    ran = shell.run("%%grok\nhello")
    assert not ran.success
    lines = [line for line in ran.stdout.splitlines() if "HTTP" in line]
    assert len(lines) == 1, ran.stdout
    assert f"HTTP {status}" in lines[0] and said in lines[0] and hint.lower() in lines[0].lower()
    assert "Traceback" not in ran.stdout


def test_429_is_retried_honouring_retry_after(shell: Harness, fake) -> None:
    fake.script(Reply(status=429, retry_after=0.2), Reply(text="after the wait"))
    ran = shell.run("%grok hi")
    assert ran.success and "after the wait" in ran.stdout
    assert len(fake.requests) == 2
    assert fake.requests[1].started_at - fake.requests[0].started_at >= 0.2


def test_missing_key_is_reported_before_any_request(shell: Harness, fake, monkeypatch) -> None:
    monkeypatch.delenv("XAI_API_KEY")
    ran = shell.run("%grok hi")
    assert not ran.success and "set XAI_API_KEY" in ran.stdout
    assert fake.requests == []


@pytest.mark.parametrize(
    "reply, expected",
    [
        (Reply(text="partial answer here", malformed_after=1), "malformed event"),
        (Reply(text="partial answer here", stream_error="model overloaded"), "model overloaded"),
        (Reply(text="partial answer here", disconnect_after=1), "Re-run the cell"),
    ],
)
@pytest.mark.parametrize("api", ["responses", "chat"])
def test_stream_failures_keep_partial_text_and_explain(
    shell: Harness, fake, reply: Reply, expected: str, api: str
) -> None:
    fake.script(reply)
    ran = shell.run(f"%grok --api {api} hi", cell_id="z")
    assert not ran.success
    assert expected in ran.stdout and "Traceback" not in ran.stdout
    assert shell.magics.session.chats.get("default").turns == [], "failed turns are not kept"


def test_close_delimited_disconnect_is_detected_as_cut_off(shell: Harness, fake_factory, monkeypatch) -> None:
    server = fake_factory("xai", chunked=False)
    monkeypatch.setenv("XAI_API_KEY", CANARY)
    monkeypatch.setenv("GROK_BASE_URL", server.base_url)
    for api in ("responses", "chat"):
        server.script(Reply(text="a partial answer", disconnect_after=1))
        ran = shell.run(f"%grok --api {api} hi")
        assert not ran.success and "ended before the answer was complete" in ran.stdout


def test_stall_hits_the_read_timeout(shell: Harness, fake) -> None:
    shell.run("%config GrokMagics.timeout = 2")  # long enough for the first bytes on a busy machine
    fake.script(Reply(text="slow answer", stall_after=1, stall_seconds=30))
    ran = shell.run("%grok hi")
    assert not ran.success and "no data for 2 s" in ran.stdout
    assert fake.wait_for_disconnect(5)


@pytest.mark.timeout(30)
def test_connect_timeout_is_its_own_setting(shell: Harness, fake, monkeypatch) -> None:
    """A host that never accepts the connection fails after connect_timeout, not after the long read timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    queued = socket.create_connection(listener.getsockname())  # fills the accept queue: later SYNs go unanswered
    try:
        monkeypatch.setenv("GROK_BASE_URL", "http://127.0.0.1:%d/v1" % listener.getsockname()[1])
        shell.run("%config GrokMagics.connect_timeout = 0.3")
        shell.run("%config GrokMagics.timeout = 600")  # were it used for connecting, pytest's timeout would fire
        shell.run("%config GrokMagics.max_retries = 0")
        ran = shell.run("%grok hi")
        assert not ran.success
        assert "could not connect to http://127.0.0.1" in ran.stdout and "within 0.3 s" in ran.stdout
        assert "connect_timeout" in ran.stdout
    finally:
        queued.close()
        listener.close()


def test_incomplete_reply_is_kept_but_marked(shell: Harness, fake) -> None:
    shell.run("%config GrokMagics.display = 'markdown'")
    fake.script(Reply(text="cut short", incomplete="max_output_tokens"))
    ran = shell.run("%grok --max-tokens 5 hi")
    assert ran.success
    assert "Stopped early by the provider (max_output_tokens)" in ran.displays[-1]["data"]["text/markdown"]
    assert fake.requests[-1].body["max_output_tokens"] == 5


def test_error_colour_follows_ipython_colours_and_the_terminal(shell: Harness, fake, monkeypatch) -> None:
    """Red like IPython's own errors on a terminal; none under %colors NoColor, none into a file or pipe."""
    from grok_magics.errors import GrokError

    monkeypatch.delenv("XAI_API_KEY")
    piped = shell.run("%grok hi")
    assert "set XAI_API_KEY" in piped.stdout and "\x1b" not in piped.stdout
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)  # what a terminal would say
    (painted,) = GrokError("boom")._render_traceback_()
    assert painted.startswith("\x1b[") and "boom" in painted
    shell.run("%colors nocolor")  # IPython 9 spelling; 8.x takes NoColor, and both compare equal lowercased
    (plain,) = GrokError("boom")._render_traceback_()
    assert plain == "✖ boom"


# -- interrupt -------------------------------------------------------------------------------------


def test_interrupt_stops_the_stream_and_closes_the_connection(shell: Harness, fake) -> None:
    shell.run("%config GrokMagics.display = 'markdown'")
    fake.script(Reply(text="The beginning of a long answer", chunk=5, stall_after=2, stall_seconds=30))

    def partial() -> bool:
        return any("The b" in m["data"].get("text/markdown", "") for m in shell.publisher.messages)

    closed_before_final: list[bool] = []

    def on_publish(message: dict) -> None:  # the final answer is drawn while the ask still holds its stream
        if "grok_magics" in message["metadata"]:
            closed_before_final.append(fake.wait_for_disconnect(5))

    shell.publisher.on_publish = on_publish
    watch(partial, send_sigint, timeout=10)
    ran = shell.run("%%grok\ntell me a long story", cell_id="s")
    assert not ran.success and isinstance(ran.error, KeyboardInterrupt)
    assert ran.stdout.count("Interrupted") == 1 and "Traceback" not in ran.stdout
    assert "■ Interrupted — the partial answer above stays in the conversation." in ran.stdout
    final = ran.displays[-1]["data"]["text/markdown"]
    assert final.startswith("The b") and "partial answer · grok-4.3" in final and "Interrupted" not in final
    assert closed_before_final == [True], "the stream was not closed explicitly when the user interrupted"
    turns = shell.magics.session.chats.get("default").turns
    assert len(turns) == 1 and turns[0].interrupted  # documented: the partial answer stays in history
    fake.script(Reply(text="Next answer."))
    assert shell.run("%grok next").success


def test_interrupt_while_the_view_draws_still_closes_the_connection_at_once(shell: Harness, fake) -> None:
    """Ctrl-C often lands while our own code runs (drawing), not inside the SDK's read, which would close
    itself; the ask must then close the stream before it draws the final answer."""
    shell.run("%config GrokMagics.display = 'markdown'")
    fake.script(Reply(text="The beginning of a long answer", chunk=5, stall_after=3, stall_seconds=30))
    closed_before_final: list[bool] = []

    def on_publish(message: dict) -> None:
        if "grok_magics" in message["metadata"]:
            closed_before_final.append(fake.wait_for_disconnect(5))
        elif message["update"] and threading.current_thread() is threading.main_thread():
            send_sigint()  # arrives while the view is publishing its first partial answer

    shell.publisher.on_publish = on_publish
    ran = shell.run("%%grok\ntell me a long story")
    assert isinstance(ran.error, KeyboardInterrupt)
    assert closed_before_final == [True], "the stream stayed open until the ask was over"


# -- security --------------------------------------------------------------------------------------


def test_organization_and_project_from_the_environment_are_not_sent(shell: Harness, fake, monkeypatch) -> None:
    """The SDK would forward OPENAI_ORG_ID / OPENAI_PROJECT_ID to whatever host it talks to."""
    monkeypatch.setenv("OPENAI_ORG_ID", "org-should-stay-home")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-should-stay-home")
    for api in ("responses", "chat"):
        assert shell.run(f"%grok --api {api} hi").success
        headers = fake.requests[-1].headers
        assert "openai-organization" not in headers and "openai-project" not in headers, headers
        assert "should-stay-home" not in repr(headers)


def test_no_history_ask_leaves_the_chat_untouched(shell: Harness, fake) -> None:
    assert shell.run("%grok first", cell_id="a").success
    assert shell.run("%grok --no-history aside", cell_id="b").success
    assert user_texts(fake.requests[-1].body) == ["aside"]
    assert [t.user[0].text for t in shell.magics.session.chats.get("default").turns] == ["first"]
    assert shell.run("%grok third", cell_id="c").success
    assert user_texts(fake.requests[-1].body) == ["first", "third"]
    assert "aside" not in shell.run("%grok history").stdout


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_key_echoed_in_a_streamed_error_event_is_redacted(shell: Harness, fake, api: str) -> None:
    fake.script(Reply(text="partial", stream_error=f"upstream rejected key {CANARY} for this model"))
    ran = shell.run(f"%grok --api {api} hi")
    assert not ran.success and "upstream rejected key" in ran.stdout
    assert_no_canary(ran.everything)


def test_canary_key_never_appears_even_in_verbose_tracebacks(shell: Harness, fake) -> None:
    shell.run("%xmode Verbose")
    shell.run("%config GrokMagics.max_retries = 0")
    outputs = []
    fake.script(
        Reply(status=401, error_message=f"Incorrect API key provided: {CANARY}"),
        Reply(text="partial", malformed_after=1),
        Reply(text="partial", disconnect_after=1),
        Reply(status=500),
    )
    for _ in range(4):
        outputs.append(shell.run("%grok hi").everything)
    outputs.append(shell.run("%grok config").everything)
    outputs.append(shell.run("%grok --provider nope hi").everything)
    assert any("Incorrect API key provided" in o for o in outputs)
    assert_no_canary(*outputs)
