"""Teaching mode: record against the fake server, replay with no server and no key; export; caps and locks."""

from __future__ import annotations

import atexit
import contextlib
import json
import re
import socket
import time
from pathlib import Path
from typing import Any, Iterator

import nbformat
import pytest
from conftest import CANARY, Harness, RecordingPublisher, assert_no_canary, user_texts
from fake_grok import Reply
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from grok_magics.teaching.cassette import Cassette, canonical, fingerprint

CONCEPT = "A **p-value** is how surprising the data would be if the null hypothesis were true."
FOLLOW_UP = "Example: 58 heads in 100 fair tosses gives p = 0.13, not surprising enough to doubt the coin."


def dead_url() -> str:
    """A loopback URL nobody listens on: any request that tried would fail the test loudly."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def go_offline(fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.stop()
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    monkeypatch.setenv("GROK_BASE_URL", dead_url())


SEEN: list[tuple[float, str]] = []  # every text delta a view was handed, with its arrival time


@pytest.fixture(autouse=True)
def seen_deltas(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Watch the text deltas at the view's door: the chunking and pacing a replay must reproduce (the text
    view itself coalesces its writes, so stdout would not show them)."""
    from grok_magics.model.events import TextDelta
    from grok_magics.render import views

    original = views.TextView.update

    def update(self: Any, reply: Any, event: Any) -> None:
        if isinstance(event, TextDelta):
            SEEN.append((time.monotonic(), event.text))
        original(self, reply, event)

    monkeypatch.setattr(views.TextView, "update", update)
    SEEN.clear()
    yield
    SEEN.clear()


def lesson(shell: Harness, speed: str | None = None) -> list[list[tuple[float, str]]]:
    """The two asks of a tiny lesson; returns the timed text deltas of each."""
    out = []
    for cell in ("%%grok\nExplain a p-value.", "%%grok\nNow a worked example."):
        start = len(SEEN)
        ran = shell.run(cell, cell_id=cell[-12:])
        assert ran.success, ran.everything
        out.append(SEEN[start:])
    return out


def gaps(writes: list[tuple[float, str]]) -> float:
    return writes[-1][0] - writes[0][0]


@pytest.fixture
def recorded(shell: Harness, fake, tmp_path: Path) -> tuple[Path, list[list[tuple[float, str]]]]:
    """A cassette of the lesson, recorded against the fake server (chunks of 6 characters, 50 ms apart)."""
    fake.script(Reply(text=CONCEPT, chunk=6, pace=0.05), Reply(text=FOLLOW_UP, chunk=6, pace=0.05))
    path = tmp_path / "lesson.cassette.jsonl"
    assert shell.run(f"%grok record {path}").success
    live = lesson(shell)
    assert "Recording stopped" in shell.run("%grok record off").stdout
    assert len(fake.requests) == 2
    shell.run("%grok reset --all")
    return path, live


# -- record and replay -------------------------------------------------------------------------------


def test_replay_offline_gives_the_same_text_chunking_and_pacing(shell: Harness, fake, recorded, monkeypatch) -> None:
    path, live = recorded
    go_offline(fake, monkeypatch)
    said = shell.run(f"%grok replay {path}").stdout
    assert "2 recorded exchange(s)" in said and "no key or network" in said
    replayed = lesson(shell)
    for was, now in zip(live, replayed):
        assert [t for _, t in now] == [t for _, t in was]  # same text, same chunks
        assert gaps(now) >= 0.5 * gaps(was), "replay ran faster than half the recorded pacing"
    assert "".join(t for _, t in replayed[0]) == CONCEPT
    assert "$0 (replayed; recorded at $" in shell.last_stdout.getvalue().splitlines()[-1]  # the status line says so
    history = shell.run("%grok history").stdout
    assert "Explain a p-value." in history and "worked example" in history


def test_fast_replay_skips_the_pauses(shell: Harness, fake, recorded, monkeypatch) -> None:
    path, live = recorded
    go_offline(fake, monkeypatch)
    assert shell.run(f"%grok replay {path} --speed fast").success
    fast = lesson(shell)
    for was, now in zip(live, fast):
        assert [t for _, t in now] == [t for _, t in was]
        assert gaps(now) < 0.25 * gaps(was)


def test_a_request_with_no_match_names_the_closest_prompt_and_what_differs(shell, fake, recorded, monkeypatch) -> None:
    path, _ = recorded
    go_offline(fake, monkeypatch)
    shell.run(f"%grok replay {path}")
    ran = shell.run("%%grok\nExplain a p value.")
    assert not ran.success
    message = str(ran.error)
    assert message.startswith("no recorded answer in lesson.cassette.jsonl, so nothing was sent: ")
    assert (
        "closest recorded prompt 'Explain a p-value.' differs in the prompt (recorded 'Explain a p-value.', "
        "now 'Explain a p value.')" in message
    )
    assert message.endswith("Re-record it, or add --fallthrough to %grok replay (with a key set) to ask live.")
    assert "\n" not in message and "…" not in message  # short enough to read whole
    ran = shell.run("%%grok --effort high\nExplain a p-value.")
    assert 'differs in reasoning (recorded {"effort":"low"}, now {"effort":"high"})' in str(ran.error)
    ran = shell.run("%%grok\nNow a worked example.")  # asked out of order: the history differs
    assert "the system prompt or earlier turns (recorded after 1 turn(s), now after 0" in str(ran.error)
    ran = shell.run("%%grok --api chat -m grok-4.3-latest --temperature 0.5\nExplain a p-value, now please.")
    message = str(ran.error)
    assert "recorded '…ain a p-value.', now '…ain a p-value, now please.'" in message
    assert "model (recorded grok-4.3, now grok-4.3-latest), api (recorded responses, now chat). Re-record" in message


def test_fallthrough_asks_live_only_with_a_key(shell: Harness, fake, recorded, monkeypatch) -> None:
    path, _ = recorded
    shell.run(f"%grok replay {path} --fallthrough")
    fake.script(Reply(text="live answer"))
    ran = shell.run("%grok Something never recorded")
    assert ran.success and "live answer" in ran.stdout and len(fake.requests) == 3
    monkeypatch.delenv("XAI_API_KEY")
    ran = shell.run("%grok Something else never recorded")
    assert not ran.success and "Set XAI_API_KEY to ask live" in str(ran.error) and len(fake.requests) == 3


def test_a_miss_with_a_key_set_and_no_fallthrough_sends_nothing(shell: Harness, fake, recorded) -> None:
    """A teacher's machine holds a key: a student's changed prompt must not be paid for behind a replay."""
    path, _ = recorded
    shell.run(f"%grok replay {path}")
    ran = shell.run("%grok A prompt the rehearsal never had")
    assert not ran.success and "no recorded answer" in str(ran.error) and len(fake.requests) == 2


def test_replay_with_fallthrough_and_record_extends_the_cassette(shell, fake, recorded, monkeypatch) -> None:
    path, _ = recorded
    shell.run(f"%grok record {path}")
    shell.run(f"%grok replay {path} --fallthrough --speed fast")
    fake.script(Reply(text="a new answer"))
    assert shell.run("%grok A question the rehearsal missed").success
    shell.run("%grok record off")
    shell.run("%grok reset")
    go_offline(fake, monkeypatch)
    ran = shell.run("%grok A question the rehearsal missed")
    assert ran.success and "a new answer" in ran.stdout and len(fake.requests) == 3
    assert len(Cassette.load(path).exchanges) == 3


def test_interrupting_a_replay_keeps_the_partial_answer(shell, fake, recorded, monkeypatch) -> None:
    from conftest import send_sigint, watch

    path, _ = recorded
    go_offline(fake, monkeypatch)
    shell.run(f"%grok replay {path} --speed 0.05")  # 20x slower than recorded
    seen = watch(lambda: "p-value" in "".join(t for _, t in shell.last_stdout.writes), send_sigint, timeout=30)
    ran = shell.run("%%grok\nExplain a p-value.")
    assert seen.is_set() and isinstance(ran.error, KeyboardInterrupt)
    assert "Interrupted" in ran.stdout and CONCEPT not in ran.stdout
    assert "(interrupted)" in shell.run("%grok history").stdout


def test_a_key_the_model_echoes_is_masked_in_the_cassette_and_exports(shell, fake, tmp_path: Path) -> None:
    path = tmp_path / "echo.jsonl"
    fake.script(Reply(text=f"Your key is {CANARY}, right?", chunk=200))
    shell.run(f"%grok record {path}")
    shell.run("%grok what is my key?")
    shell.run(f"%grok export {tmp_path / 'echo.md'}")
    assert "Your key is ***, right?" in path.read_text()
    assert_no_canary(path.read_text(), (tmp_path / "echo.md").read_text())


def test_cassette_is_readable_json_lines_without_secrets_or_random_keys(shell, fake, recorded) -> None:
    path, _ = recorded
    text = path.read_text()
    assert_no_canary(text)
    records = [json.loads(line) for line in text.splitlines()]
    assert records[0]["kind"] == "cassette"
    requests = [r for r in records if r["kind"] == "request"]
    assert [r["prompt"] for r in requests] == ["Explain a p-value.", "Now a worked example."]
    cache_key = fake.requests[0].body["prompt_cache_key"]
    assert cache_key not in text and "authorization" not in text.lower()
    events = [r for r in records if r["kind"] == "event"]
    assert {e["type"] for e in events} >= {"Started", "TextDelta", "Usage", "Finished"}
    assert all(e["t"] >= 0 for e in events)


def test_recording_on_chat_replays_on_chat(shell: Harness, fake, tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "chat.jsonl"
    fake.script(Reply(text="chat answer", chunk=3))
    shell.run(f"%grok record {path}")
    assert shell.run("%grok --api chat hello there").success
    shell.run("%grok record off")
    shell.run("%grok reset")
    go_offline(fake, monkeypatch)
    shell.run(f"%grok replay {path} --speed 2")
    ran = shell.run("%grok --api chat hello there")
    assert ran.success and "chat answer" in ran.stdout
    assert "grok-4.3 · xAI · " in ran.stdout and "· $0 (replayed; recorded at $" in ran.stdout


def test_env_variable_turns_replay_on_for_the_whole_class(shell, fake, recorded, monkeypatch) -> None:
    path, live = recorded
    go_offline(fake, monkeypatch)
    monkeypatch.setenv("GROK_MAGICS_REPLAY", str(path))
    monkeypatch.setenv("GROK_MAGICS_REPLAY_SPEED", "fast")
    with fresh_shell() as student:
        replayed = lesson(student)
        assert "".join(t for _, t in replayed[1]) == FOLLOW_UP
        assert (
            f"replay          {path}, speed fast  (environment, GROK_MAGICS_REPLAY)"
            in student.run("%grok config").stdout
        )


def test_fingerprint_hashes_images_and_bytes_and_ignores_cache_keys() -> None:
    image = "data:image/png;base64," + "iVBORw0KGgo" * 40
    other = "data:image/png;base64," + "AAAAAAAAAAA" * 40

    def body(url: str, cache: str) -> dict[str, Any]:
        content = [{"type": "input_text", "text": "What does this show?"}, {"type": "input_image", "image_url": url}]
        return {
            "model": "grok-4.3",
            "input": [{"role": "user", "content": content}],
            "prompt_cache_key": cache,
            "stream": True,
            "reasoning": {"effort": "low"},
        }

    a, b, c = (
        fingerprint("xai", "grok-4.3", "responses", body(u, k))
        for u, k in ((image, "grok-magics-1"), (image, "grok-magics-2"), (other, "grok-magics-1"))
    )
    assert a.key == b.key and a.key != c.key
    assert a.prompt == "What does this show?\n[input_image]"
    assert "iVBORw0KGgo" not in json.dumps(canonical(body(image, "k")))
    assert "iVBORw0KGgo" not in json.dumps(a.describe())

    from dataclasses import dataclass

    @dataclass(frozen=True)
    class FuturePart:  # a part type this module has never heard of
        name: str
        data: bytes

    assert canonical(FuturePart("fig", b"\x89PNG")) == {
        "type": "FuturePart",
        "name": "fig",
        "data": "sha256:" + __import__("hashlib").sha256(b"\x89PNG").hexdigest(),
    }


def test_unknown_event_types_and_new_fields_round_trip(tmp_path: Path) -> None:
    from grok_magics.model.events import Finished
    from grok_magics.teaching.cassette import event_from_json, event_to_json

    finished = Finished(reason="stop", complete=True, items=({"type": "message", "content": [1, 2]},))
    assert event_from_json(event_to_json(finished)) == finished
    assert event_from_json({"type": "SomethingNew", "data": {}}) is None
    record = event_to_json(finished)
    record["data"]["kind"] = "complete"  # a field a later version adds is ignored, not fatal
    assert event_from_json(record) == finished
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    with pytest.raises(ValueError, match="line 1: not JSON"):
        Cassette.load(bad)


def test_subcommand_words_stay_prompts_when_they_read_like_prompts(shell: Harness, fake) -> None:
    ran = shell.run("%grok export this table to csv please")
    assert ran.success and user_texts(fake.requests[-1].body)[-1] == "export this table to csv please"
    assert "needs a file name" in str(shell.run("%grok record").error)
    assert "speed" in str(shell.run("%grok replay x.jsonl --speed 0").error)


# -- export -------------------------------------------------------------------------------------------


def test_export_notebook_markdown_and_json(shell: Harness, fake, tmp_path: Path) -> None:
    fake.script(Reply(text="First answer with `code`."), Reply(text="Second answer."), Reply(text="Other chat."))
    assert shell.run("%%grok --effort medium\nWhat is {{braces}}?", cell_id="c1").success
    assert shell.run("%grok And a follow-up?", cell_id="c2").success
    assert shell.run("%grok --chat side aside", cell_id="c3").success

    said = shell.run(f"%grok export {tmp_path / 'chat.ipynb'}").stdout
    assert "2 exchange(s)" in said
    nb = nbformat.read(tmp_path / "chat.ipynb", as_version=4)
    nbformat.validate(nb)
    kinds = [c.cell_type for c in nb.cells]
    assert kinds == ["markdown", "code", "markdown", "markdown", "markdown"]
    assert nb.cells[1].source == "%%grok --effort medium\nWhat is {{braces}}?"  # the original cell
    assert "First answer with `code`." in nb.cells[2].source
    assert nb.cells[2].metadata["grok_magics"]["model"] == "grok-4.3"
    assert nb.cells[2].metadata["grok_magics"]["usage"]["output"] > 0
    assert "**You (2):**\n\nAnd a follow-up?" in nb.cells[3].source

    shell.run(f"%grok export {tmp_path / 'chat.md'}")
    md = (tmp_path / "chat.md").read_text()
    assert md.startswith("# Chat `default`")
    assert "```python\n%%grok --effort medium\nWhat is {{braces}}?\n```" in md
    assert "## 2. You\n\n> And a follow-up?" in md and "### Grok\n\nSecond answer." in md
    assert "<sub>grok-4.3 · xai · responses · " in md

    shell.run(f"%grok export {tmp_path / 'side.json'} --chat side")
    data = json.loads((tmp_path / "side.json").read_text())
    assert data["chat"] == "side" and [e["answer"] for e in data["exchanges"]] == ["Other chat."]
    assert data["exchanges"][0]["provenance"]["provider"] == "xai"
    assert_no_canary(md, (tmp_path / "chat.ipynb").read_text(), json.dumps(data))


def test_export_names_attached_parts_of_any_type(tmp_path: Path) -> None:
    from dataclasses import dataclass

    from grok_magics.model.parts import TextPart
    from grok_magics.model.request import Turn
    from grok_magics.teaching import export

    @dataclass(frozen=True)
    class DataPart:  # the shape issue 6's parts take: read generically, by field name
        name: str
        kind: str
        shape: tuple[int, int]
        text: str

    turn = Turn(
        user=(TextPart("What is odd about {sales}?"), DataPart("sales", "DataFrame", (3, 2), "| a | b |")),
        answer="Row 2.",
    )
    items = export.exchanges([turn], {})
    assert items[0].attached == ("DataPart: name sales, kind DataFrame, shape (3, 2)",)
    md = export.to_markdown("default", items)
    assert "*Attached:*\n\n- DataPart: name sales" in md and "provenance not recorded" in md
    nb = export.to_notebook("default", items)
    assert "*Attached:*\n\n- DataPart" in nb.cells[1].source


def test_export_nests_answer_headings_shows_the_command_typed_and_attachments_one_a_line(
    shell: Harness, fake, tmp_path: Path
) -> None:
    import pandas as pd
    from PIL import Image

    shell.shell.user_ns.update(
        sales=pd.DataFrame({"region": ["N", "S"], "rows": [3, 4]}), photo=Image.new("RGB", (8, 8))
    )
    fake.script(Reply(text="# Summary\n\nTwo regions.\n\n## Observations\n\nNorth is smaller."))
    assert shell.run("%grok compare {sales} with {photo}").success
    shell.run("result = {'a': 1}['missing']")
    fake.script(Reply(text="Use .get."))
    assert shell.run("%grok fix").success
    assert shell.run(f"%grok export {tmp_path / 'chat.md'}").success
    md = (tmp_path / "chat.md").read_text()
    assert "\n#### Summary\n" in md and "\n##### **Observations**\n" in md and "\n# Summary" not in md
    assert "- data sales: pandas.DataFrame, 2 rows × 2 columns\n- image photo: PNG 8×8" in md
    assert "%grok fix" in md and "This notebook cell failed" not in md  # the command, not our prompt
    assert shell.run(f"%grok export {tmp_path / 'chat.ipynb'}").success
    cells = nbformat.read(tmp_path / "chat.ipynb", as_version=4).cells
    assert any(c.cell_type == "code" and c.source == "%grok fix" for c in cells)
    assert any("\n#### Summary" in c.source for c in cells) and not any("\n# Summary" in c.source for c in cells)


def test_export_refuses_unknown_formats_and_empty_chats(shell: Harness, fake, tmp_path: Path) -> None:
    ran = shell.run(f"%grok export {tmp_path / 'x.ipynb'}")
    assert not ran.success and "no exchanges to export" in str(ran.error)
    shell.run("%grok hi")
    ran = shell.run(f"%grok export {tmp_path / 'x.docx'}")
    assert not ran.success and "ending in .ipynb, .md, .json" in str(ran.error)


def test_export_follows_reruns(shell: Harness, fake, tmp_path: Path) -> None:
    fake.script(Reply(text="old"), Reply(text="new"))
    shell.run("%%grok\nq", cell_id="same")
    shell.run("%%grok\nq", cell_id="same")
    shell.run(f"%grok export {tmp_path / 'c.json'}")
    assert [e["answer"] for e in json.loads((tmp_path / "c.json").read_text())["exchanges"]] == ["new"]


# -- caps and locks -----------------------------------------------------------------------------------


def test_output_cap_is_the_default_and_refuses_more(shell: Harness, fake) -> None:
    shell.run("%config GrokMagics.max_output_tokens = 300")
    assert shell.run("%grok hi").success
    assert fake.requests[-1].body["max_output_tokens"] == 300
    ran = shell.run("%grok --max-tokens 301 hi")
    assert not ran.success and "over this classroom's cap of 300" in str(ran.error) and len(fake.requests) == 1
    assert shell.run("%grok --max-tokens 100 hi").success and fake.requests[-1].body["max_output_tokens"] == 100


def test_calls_per_hour_cap_refuses_before_sending(shell: Harness, fake) -> None:
    shell.run("%config GrokMagics.max_calls_per_hour = 2")
    assert shell.run("%grok one").success and shell.run("%grok two").success
    ran = shell.run("%grok three")
    assert not ran.success and "2 of 2 calls this hour used: nothing was sent" in str(ran.error)
    assert len(fake.requests) == 2
    assert "calls this hour: 2 of 2" in shell.run("%grok usage").stdout


def test_cost_cap_refuses_once_spent_and_usage_shows_the_ledger(shell: Harness, fake) -> None:
    shell.run("%config GrokMagics.max_cost_usd = 0.0001")
    fake.script(Reply(text="x" * 200))  # ~51 output tokens: more than $0.0001 at list prices
    assert shell.run("%grok --chat lab spend").success
    ran = shell.run("%grok again")
    assert not ran.success and "budget of $0.0001 is spent" in str(ran.error) and len(fake.requests) == 1
    usage = shell.run("%grok usage").stdout
    assert "chat lab: 1 call(s)" in usage and "budget: $0.00 of $0.0001 left" in usage


def test_replayed_answers_cost_nothing_and_pass_the_caps(shell, fake, recorded, monkeypatch) -> None:
    path, _ = recorded
    go_offline(fake, monkeypatch)
    shell.run("%config GrokMagics.max_output_tokens = 1000")  # not set when the rehearsal was recorded
    shell.run("%config GrokMagics.max_calls_per_hour = 1")
    shell.run("%config GrokMagics.max_cost_usd = 0.0")
    shell.run(f"%grok replay {path} --speed fast")
    lesson(shell)  # asserts each ask succeeded
    usage = shell.run("%grok usage").stdout  # the two recording calls used up both caps; replays still ran
    assert "chat default: 2 call(s), 2 replayed" in usage and "calls this hour: 2 of 1" in usage
    assert "budget: $0.00 of $0.00 left" in usage


@contextlib.contextmanager
def fresh_shell(config: Config | None = None) -> Iterator[Harness]:
    """Like the `shell` fixture, but started with settings, as a teacher's config file would give them."""
    InteractiveShell.clear_instance()
    config = config or Config()
    config.HistoryManager.hist_file = ":memory:"
    sh = InteractiveShell.instance(config=config)
    sh.display_pub = RecordingPublisher(shell=sh)
    sh.run_line_magic("load_ext", "grok_magics")
    try:
        yield Harness(sh, sh.display_pub)
    finally:
        sh.run_line_magic("unload_ext", "grok_magics")
        atexit.unregister(sh.atexit_operations)
        InteractiveShell.clear_instance()


def test_lock_from_a_config_file_pins_settings_against_magic_options(fake) -> None:
    config = Config()
    config.GrokMagics.lock = ["model", "effort", "system"]
    config.GrokMagics.effort = "high"
    with fresh_shell(config) as sh:
        for line, flag in (
            ("%grok --effort none hi", "--effort"),
            ("%grok -m grok-4.3-latest hi", "--model"),
            ("%grok --system 'be a pirate' hi", "--system"),
        ):
            ran = sh.run(line)
            assert not ran.success and f"{flag} is locked in this classroom" in str(ran.error)
        assert not fake.requests
        assert sh.run("%grok --chat other --temperature 0.2 hi").success
        assert fake.requests[-1].body["reasoning"] == {"effort": "high"}
        shown = sh.run("%grok config").stdout
        assert "locked          model, effort, system  (config file)" in shown
        sh.run("%config GrokMagics.max_output_tokens = 500")
        assert "max output      500 tokens per call  (%config in this session)" in sh.run("%grok config").stdout


def test_lock_and_caps_from_the_environment(fake, monkeypatch) -> None:
    monkeypatch.setenv("GROK_MAGICS_LOCK", "provider,model")
    monkeypatch.setenv("GROK_MAGICS_MAX_CALLS_PER_HOUR", "5")
    with fresh_shell() as sh:
        ran = sh.run("%grok --provider bedrock hi")
        assert not ran.success and "--provider is locked" in str(ran.error)
        shown = sh.run("%grok config").stdout
        assert "locked          provider, model  (environment, GROK_MAGICS_LOCK)" in shown
        assert "max calls       5 per hour  (environment, GROK_MAGICS_MAX_CALLS_PER_HOUR)" in shown
    monkeypatch.setenv("GROK_MAGICS_MAX_COST_USD", "lots")
    with fresh_shell() as sh:
        ran = sh.run("%grok hi")
        assert not ran.success and "GROK_MAGICS_MAX_COST_USD='lots' is not a valid float" in str(ran.error)
    assert len(fake.requests) == 0


def test_no_canary_anywhere_in_teaching_outputs(shell: Harness, fake, recorded, tmp_path: Path) -> None:
    path, _ = recorded
    shell.run(f"%grok replay {path}")
    lesson(shell)
    outputs = [
        shell.run(line).everything
        for line in (
            "%xmode Verbose",
            "%grok config",
            "%grok usage",
            f"%grok export {tmp_path / 'e.ipynb'}",
            "%grok replay missing.jsonl",
            "%grok never recorded",
        )
    ]
    assert_no_canary(*outputs, path.read_text(), (tmp_path / "e.ipynb").read_text())
    exported = nbformat.read(tmp_path / "e.ipynb", as_version=4)
    assert "2 of them replayed from a cassette" in exported.cells[0].source
    assert exported.cells[2].metadata["grok_magics"]["replayed"] is True
    assert "$0 (replayed; recorded at $" in exported.cells[2].source  # the one cost story, in exports too
    usage = outputs[2]
    assert "No requests yet" not in usage and "2 answer(s) replayed from a cassette: $0 (recorded at $" in usage


# -- real kernels: a restart, and the teaching notebook -------------------------------------------------


_STATUS = re.compile(r'\n*<sub class="grok-status"[^>]*>(.*?)</sub>\s*$', re.S)


def answers(nb: Any) -> list[str]:
    """The saved answer of every ask (its Markdown outputs, joined, minus the status line)."""
    from kernels import answer_of

    return [
        _STATUS.sub("", answer_of(cell)).strip()
        for cell in nb.cells
        if cell.cell_type == "code" and _STATUS.search(answer_of(cell))
    ]


def status_lines(nb: Any) -> list[str]:
    from kernels import answer_of

    found = (_STATUS.search(answer_of(cell)) for cell in nb.cells if cell.cell_type == "code")
    return [m.group(1) for m in found if m]


@pytest.mark.timeout(240)
def test_replay_after_a_kernel_restart_matches_by_content(fake, tmp_path: Path, monkeypatch) -> None:
    from kernels import notebook, run_notebook

    fake.script(Reply(text=CONCEPT, chunk=6), Reply(text=FOLLOW_UP, chunk=6))
    asks = ("%%grok\nExplain a p-value.", "%%grok\nNow a worked example.")
    first = notebook("%load_ext grok_magics", "%grok record lesson.jsonl", *asks)
    run_notebook(first, tmp_path)
    assert answers(first) == [CONCEPT, FOLLOW_UP]
    go_offline(fake, monkeypatch)
    second = notebook("%load_ext grok_magics", "%grok replay lesson.jsonl --speed fast", *asks)
    run_notebook(second, tmp_path)  # a new kernel: nothing in memory, new cache keys, new cell ids
    assert answers(second) == [CONCEPT, FOLLOW_UP]
    assert all("$0 (replayed; recorded at $" in line for line in status_lines(second))
    saved = [
        o.metadata["grok_magics"]
        for c in second.cells
        for o in c.get("outputs", [])
        if "grok_magics" in o.get("metadata", {})
    ]
    assert len(saved) == 2 and all(m["replayed"] for m in saved)  # the saved output's provenance says so too
    assert_no_canary(nbformat.writes(first), nbformat.writes(second), (tmp_path / "lesson.jsonl").read_text())


@pytest.mark.timeout(240)
def test_teaching_notebook_runs_from_its_cassette_with_no_key_and_no_network(tmp_path: Path, monkeypatch) -> None:
    from kernels import run_notebook

    here = Path(__file__).parent.parent / "notebooks"
    nb = nbformat.read(here / "teaching-demo.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), "ship it clean"
    assert "not Grok's" in nb.cells[0].source and "fake" in nb.cells[0].source  # says so plainly
    monkeypatch.setenv("GROK_BASE_URL", dead_url())  # no key is set (conftest), and nothing listens here
    before = {p.name for p in here.iterdir()}
    run_notebook(nb, here)
    assert {p.name for p in here.iterdir()} == before, "running the demo must not write next to it"
    said = answers(nb)
    assert len(said) == 4 and all(a.startswith("*[Fake reply, scripted for this demo") for a in said)
    assert all("$0 (replayed; recorded at $" in line for line in status_lines(nb))
    saved = nbformat.writes(nb)
    assert "chat default: nothing sent, 4 replayed at $0 (recorded at $" in saved and "No requests yet" not in saved
    assert "Nothing sent to a provider yet; 4 answer(s) replayed from a cassette: $0 (recorded at $" in saved


@pytest.mark.timeout(240)
def test_a_teachers_kernel_config_file_sets_caps_and_locks(fake, tmp_path: Path, monkeypatch) -> None:
    from kernels import notebook, run_notebook

    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_kernel_config.py").write_text(
        'c.GrokMagics.lock = ["model", "effort"]\nc.GrokMagics.max_output_tokens = 200\n'
    )
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    nb = notebook("%load_ext grok_magics", "%grok config", "%grok --effort high hi", "%grok hi")
    run_notebook(nb, tmp_path, allow_errors=True)
    shown = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert "locked          model, effort  (config file)" in shown
    assert "max output      200 tokens per call  (config file)" in shown
    assert "--effort is locked in this classroom" in nbformat.writes(nb)
    assert len(fake.requests) == 1 and fake.requests[0].body["max_output_tokens"] == 200


def test_calls_age_out_of_the_hourly_window() -> None:
    from grok_magics.errors import ConfigError
    from grok_magics.teaching.caps import Caps, Ledger, check_before_sending

    caps, ledger = Caps(max_calls_per_hour=2), Ledger()
    ledger.note_sent(now=100.0)
    ledger.note_sent(now=1000.0)
    with pytest.raises(ConfigError, match="try again in about 1 min"):
        check_before_sending(caps, ledger, now=3650.0)
    check_before_sending(caps, ledger, now=3700.0)  # the first call is over an hour old
    assert ledger.calls_in_last_hour(now=3700.0) == 1
