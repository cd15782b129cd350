"""Bad input, as a user meets it: each case is one line that says what failed and what to do — never
"internal error … please report it", never a hang, never a lost answer — and what was kept is kept.

Structured answers nested past Python's recursion limit or holding NaN/Infinity, a map row of either,
--to-polars on mixed types, decompression bombs and IPython Images holding a missing file's name,
hostile cassettes. Real InteractiveShell, the fake Grok server over loopback.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import Harness, assert_no_canary, user_texts
from fake_grok import Reply

pytestmark = pytest.mark.timeout(90)

DEEP = '{"a": ' + "[" * 5000 + "]" * 5000 + "}"  # past Python's recursion limit: json.loads raises RecursionError
SHALLOW_DEEP = '{"a": ' + "[" * 900 + "]" * 900 + "}"  # readable, but too deep for pydantic to dump back

SCHEMAS = """
from pydantic import BaseModel, field_validator

class Verdict(BaseModel):
    label: str
    score: float

class Picky(BaseModel):
    label: str

    @field_validator("label")
    @classmethod
    def known(cls, value):
        return {"ok": "OK"}[value]  # a KeyError for any other label: the user's own validator has a bug

nested = {"a": list}
"""


def whole(text: str) -> Reply:
    """The answer in one delta: a 10,000-character answer need not stream character by character."""
    return Reply(text=text, chunk=max(1, len(text)), pace=0.0)


def one_clear_line(ran: Any, *said: str) -> str:
    """The cell failed with one line holding ``said``, and nothing of an internal error or a traceback."""
    assert not ran.success
    message = str(ran.error)
    for part in said:
        assert part in message, message
    assert "\n" not in message and "internal error" not in message and "please report" not in message, message
    assert "Traceback" not in ran.stdout + ran.stderr
    assert_no_canary(ran.everything)
    return message


@pytest.fixture
def md(shell: Harness) -> Harness:
    """Markdown display: the final view pretty-prints a structured answer, as in Jupyter."""
    assert shell.run(SCHEMAS).success
    shell.run("%config GrokMagics.display = 'markdown'")
    return shell


def last_markdown(ran: Any, answer: bool = False) -> str:
    """The last Markdown shown; ``answer``: the answer's, above the line saying what ``-o`` made."""
    shown = [m["data"]["text/markdown"] for m in ran.displays if "text/markdown" in m["data"]]
    return [m for m in shown if " ← " not in m.split("\n")[0]][-1] if answer else shown[-1]


# -- --json / --schema answers ---------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--json", "--schema Verdict"])
def test_a_deeply_nested_answer_is_shown_kept_and_stored_raw(md: Harness, fake: Any, option: str) -> None:
    fake.script(whole(DEEP))
    ran = md.run(f"%grok {option} -o v nest it", cell_id="deep")
    one_clear_line(ran, "nests deeper than Python's JSON reader can follow", "v_raw")
    assert "`" * 3 + "json\n" + DEEP in last_markdown(ran)  # the paid answer is on screen, as text
    ns = md.shell.user_ns
    assert ns["v_raw"] == DEEP and "v" not in ns
    (turn,) = md.magics.session.chats.get("default").turns
    assert turn.answer == DEEP  # the model did answer: the conversation keeps it
    fake.script(Reply(text='{"label": "ok", "score": 1}'))
    assert md.run("%grok --schema Verdict -o v again, flat").success
    assert ns["v"].label == "ok" and user_texts(fake.requests[-1].body) == ["nest it", "again, flat"]


def test_an_answer_deep_but_readable_is_stored_and_shown(md: Harness, fake: Any) -> None:
    fake.script(whole(SHALLOW_DEEP))
    ran = md.run("%grok --json -o v nest it a bit")
    assert ran.success, ran.everything
    assert md.shell.user_ns["v"]["a"] == json.loads(SHALLOW_DEEP)["a"]
    assert "`" * 3 + "json\n" in last_markdown(ran, answer=True)
    assert last_markdown(ran) == "`v` ← dict with 1 key"  # and what was made, under it


def test_an_answer_too_deep_to_dump_back_or_a_validator_that_raises_is_a_mismatch(md: Harness, fake: Any) -> None:
    fake.script(whole(SHALLOW_DEEP), whole('{"label": "surprise"}'), whole('{"label": "ok"}'))
    ran = md.run("%grok --schema nested -o v nest it")
    one_clear_line(ran, "the answer could not be checked against the schema (ValueError", "v_raw")
    assert md.shell.user_ns["v_raw"] == SHALLOW_DEEP
    ran = md.run("%grok --schema Picky -o p label it")
    one_clear_line(ran, "the answer could not be checked against the schema (KeyError: 'surprise')", "p_raw")
    assert md.run("%grok --schema Picky -o p label it well").success
    assert md.shell.user_ns["p"].label == "OK"


@pytest.mark.parametrize(
    "answer, holds",
    [
        ('{"label": "x", "score": NaN}', "NaN"),
        ('{"label": "x", "score": Infinity}', "Infinity"),
        ('{"label": "x", "score": -Infinity}', "-Infinity"),
        ('{"label": "x", "score": 1e999}', "1e999"),
    ],
)
@pytest.mark.parametrize("option", ["--json", "--schema Verdict"])
def test_nan_and_infinity_are_a_mismatch_not_a_value(
    md: Harness, fake: Any, option: str, answer: str, holds: str
) -> None:
    fake.script(whole(answer))
    ran = md.run(f"%grok {option} -o v score it")
    one_clear_line(ran, "not strict JSON", f"holds {holds}", "v_raw")
    assert md.shell.user_ns["v_raw"] == answer and "v" not in md.shell.user_ns
    assert len(md.magics.session.chats.get("default").turns) == 1


def test_a_second_mismatch_replaces_the_raw_text_of_the_first(md: Harness, fake: Any) -> None:
    fake.script(whole('{"label": "first"}'), whole('{"label": "second"}'), whole('{"label": "ok", "score": 2}'))
    assert not md.run("%grok --schema Verdict -o v rate it").success
    assert md.shell.user_ns["v_raw"] == '{"label": "first"}'
    ran = md.run("%grok --schema Verdict -o v rate it again")
    one_clear_line(ran, "does not match the schema", "v_raw")
    assert md.shell.user_ns["v_raw"] == '{"label": "second"}', "VAR_raw must hold the latest mismatch"
    assert md.run("%grok --schema Verdict -o v and now?").success
    assert md.shell.user_ns["v"].score == 2


def test_to_polars_on_mixed_types_is_one_line_and_keeps_the_raw_text(md: Harness, fake: Any) -> None:
    answer = '{"items": [{"a": 1}, {"a": [1, 2]}]}'
    md.shell.user_ns["rows"] = [{"a": object}]
    fake.script(whole(answer))
    ran = md.run("%grok --schema rows --to-polars -o frame two rows")
    one_clear_line(ran, "--to-polars: polars cannot make a frame of these records", "--to-df", "frame_raw")
    assert md.shell.user_ns["frame_raw"] == answer and "frame" not in md.shell.user_ns
    fake.script(whole(answer))
    assert md.run("%grok --schema rows --to-df -o frame as pandas then").success
    assert isinstance(md.shell.user_ns["frame"], pd.DataFrame)


# -- map rows ---------------------------------------------------------------------------------------


@pytest.fixture
def map_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROK_MAGICS_CACHE_DIR", str(tmp_path / "map-cache"))


def test_a_bad_map_row_is_that_rows_error_and_the_job_goes_on(shell: Harness, fake: Any, map_cache: None) -> None:
    assert shell.run(SCHEMAS).success
    shell.shell.user_ns["df"] = pd.DataFrame({"x": range(5)})
    fake.script(whole('{"a": [1]}'), whole(DEEP), whole('{"a": [NaN]}'), whole(SHALLOW_DEEP), whole('{"a": [5]}'))
    ran = shell.run("%%grok map df --schema nested --concurrency 1 -o out\nRow {x}")
    assert ran.success, ran.everything
    assert "internal error" not in ran.everything and "Traceback" not in ran.stdout + ran.stderr
    out = shell.shell.user_ns["out"]
    assert len(fake.api_requests) == 5  # every row was sent: one bad answer did not stop the job
    assert out["a"][0] == [1] and out["a"][4] == [5]
    errors = out["grok_error"].tolist()
    assert errors[0] is None and errors[4] is None
    assert "nests deeper than Python's JSON reader can follow" in errors[1]
    assert "not strict JSON" in errors[2] and "NaN" in errors[2]
    assert "could not be checked against the schema" in errors[3]
    assert "2 done, 3 failed (see column grok_error)" in ran.stdout
    fake.script(whole('{"label": "ok"}'), whole('{"label": "surprise"}'))
    shell.shell.user_ns["two"] = pd.DataFrame({"x": range(2)})
    ran = shell.run("%%grok map two --schema Picky --concurrency 1 -o picked\nRow {x}")
    assert ran.success, ran.everything
    assert shell.shell.user_ns["picked"]["label"].tolist() == ["OK", None]
    assert "(KeyError: 'surprise')" in shell.shell.user_ns["picked"]["grok_error"][1]


def test_provider_json_nested_too_deep_is_one_line_in_asks_and_map_rows(
    shell: Harness, fake: Any, map_cache: None
) -> None:
    nest = "[" * 5000 + "]" * 5000
    fake.script(Reply(raw_events=['{"choices":[{"index":0,"delta":{"content":"hi"}}],"x":' + nest + "}"]))
    one_clear_line(shell.run("%grok --api chat hi"), "the provider sent JSON nested too deeply to read")
    shell.run("%config GrokMagics.max_retries = 0")
    fake.script(Reply(status=500, raw_body='{"error": ' + nest + "}"))
    one_clear_line(shell.run("%grok --api chat hi again"), "HTTP 500", "server error")
    shell.shell.user_ns["df"] = pd.DataFrame({"x": range(3)})
    deep_body = Reply(status=200, raw_body='{"x": ' + nest + "}", raw_content_type="application/json")
    fake.script(Reply(text="one"), deep_body, Reply(text="three"))
    ran = shell.run("%%grok map df --concurrency 1 --api chat -o out\nRow {x}")
    assert ran.success, ran.everything
    out = shell.shell.user_ns["out"]
    assert out["grok"].tolist() == ["one", None, "three"]
    assert "the provider sent JSON nested too deeply to read" in out["grok_error"][1]


def test_tool_arguments_nested_too_deep_are_an_error_the_model_reads(md: Harness, fake: Any) -> None:
    md.run("def echo(value: list) -> str:\n    'Echo.'\n    return 'ran'")
    deep = {"name": "echo", "arguments": '{"value": ' + "[" * 5000 + "]" * 5000 + "}", "id": "d"}
    fake.script(Reply(text="", tool_calls=[deep]), Reply(text="It was too deep."))
    ran = md.run("%%grok --tools echo\necho it")
    assert ran.success, ran.everything
    sent = [i for i in fake.requests[1].body["input"] if i.get("type") == "function_call_output"]
    assert json.loads(sent[0]["output"]) == {"error": "arguments nest too deeply to read; send flat JSON"}
    assert "It was too deep." in last_markdown(ran)


# -- images ----------------------------------------------------------------------------------------


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size: all Pillow needs to refuse it as a decompression bomb before decoding."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_in_one_line(shell: Harness, fake: Any, tmp_path: Path) -> None:
    from PIL import Image

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(40_000, 40_000))
    limit = f"{2 * Image.MAX_IMAGE_PIXELS:,} pixels"
    ran = shell.run(f"%grok --image {bomb} what is this?")
    one_clear_line(ran, f"image {bomb}", "1,600,000,000 pixels", limit, "decompression-bomb", "nothing was sent")
    shell.shell.user_ns["raw"] = bomb.read_bytes()
    one_clear_line(shell.run("%grok --image raw what is this?"), "image raw", limit)
    assert fake.requests == []
    assert shell.run("%grok still fine without it?").success


def test_ipython_images_holding_a_missing_name_or_a_local_url(shell: Harness, fake: Any) -> None:
    shell.run(
        "from IPython.display import Image\nplot = Image('missing.png')\n"
        "local = Image(url='file:///tmp/cat.png')\nremote = Image(url='https://example.com/cat.png')"
    )
    one_clear_line(shell.run("%grok what is {plot}?"), "image plot", "'missing.png'", "check the path")
    one_clear_line(shell.run("%grok what is {local}?"), "image local", "not an http(s) URL", "never fetches URLs")
    assert fake.requests == []
    assert shell.run("%grok what is {remote}?").success  # an http(s) URL goes to the provider, which fetches it
    assert "https://example.com/cat.png" in json.dumps(fake.requests[-1].body)


# -- cassettes --------------------------------------------------------------------------------------


@pytest.fixture
def cassette(shell: Harness, fake: Any, tmp_path: Path) -> Path:
    """One exchange recorded against the fake server; the tests edit it as a shared file could be."""
    fake.script(Reply(text="Recorded answer.", chunk=4, pace=0.01))
    path = tmp_path / "shared.cassette.jsonl"
    assert shell.run(f"%grok record {path}").success
    assert shell.run("%grok A recorded question").success
    shell.run("%grok record off")
    shell.run("%grok reset --all")
    return path


def edited(path: Path, change: Any) -> int:
    """Apply ``change`` to the first event line it accepts; the line's number (1-based)."""
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        record = json.loads(line)
        if record.get("kind") == "event":
            new = change(record)
            if new is not None:
                lines[number - 1] = new if isinstance(new, str) else json.dumps(new)
                path.write_text("\n".join(lines) + "\n")
                return number
    raise AssertionError("no event line to edit")


def text_delta(set_to: dict[str, Any]) -> Any:
    return lambda r: {**r, **set_to} if r["type"] == "TextDelta" else None


def usage(set_to: dict[str, Any]) -> Any:
    return lambda r: {**r, "data": {**r["data"], **set_to}} if r["type"] == "Usage" else None


@pytest.mark.parametrize(
    "change, said",
    [
        (
            lambda r: (
                json.dumps(r).replace(f'"t": {json.dumps(r["t"])}', '"t": Infinity')
                if r["type"] == "TextDelta"
                else None
            ),
            "the time 't' must be a finite number of seconds, 0 or more, not Infinity",
        ),
        (text_delta({"t": -1}), "the time 't' must be a finite number of seconds, 0 or more, not -1"),
        (
            lambda r: {**r, "data": {"text": 12345}} if r["type"] == "TextDelta" else None,
            "TextDelta.text must be a string, not 12345",
        ),
        (usage({"input": "lots"}), 'Usage.input must be a whole number, not "lots"'),
        (usage({"cost_usd": "free"}), 'Usage.cost_usd must be a finite number or null, not "free"'),
    ],
)
def test_a_hostile_cassette_is_refused_with_its_line_number(
    shell: Harness, fake: Any, cassette: Path, monkeypatch: pytest.MonkeyPatch, change: Any, said: str
) -> None:
    number = edited(cassette, change)
    fake.stop()
    monkeypatch.delenv("XAI_API_KEY")
    ran = shell.run(f"%grok replay {cassette}")
    one_clear_line(ran, f"{cassette}, line {number}: {said}", "fix or re-record that line")


def test_a_cassette_line_nested_too_deep_or_a_request_of_the_wrong_shape(
    shell: Harness, fake: Any, cassette: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.stop()
    monkeypatch.delenv("XAI_API_KEY")
    number = edited(cassette, lambda r: "[" * 5000 + "]" * 5000)
    one_clear_line(shell.run(f"%grok replay {cassette}"), f"line {number}: not JSON")
    lines = cassette.read_text().splitlines()
    lines[1] = json.dumps({**json.loads(lines[1]), "options": [1]})  # line 1 is the header, 2 the request
    cassette.write_text("\n".join(lines) + "\n")
    one_clear_line(shell.run(f"%grok replay {cassette}"), "line 2: the request's 'options' must be an object")


def test_a_huge_pause_in_a_cassette_is_capped(
    shell: Harness, fake: Any, cassette: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grok_magics.teaching.cassette import MAX_PAUSE, Cassette

    edited(cassette, lambda r: {**r, "t": 1e9} if r["type"] == "TextDelta" else None)
    fake.stop()
    monkeypatch.delenv("XAI_API_KEY")
    (exchange,) = Cassette.load(cassette).exchanges.values()
    offsets = [offset for offset, _ in exchange.events]
    assert max(b - a for a, b in zip([0.0, *offsets], offsets)) <= MAX_PAUSE
    assert shell.run(f"%grok replay {cassette} --speed 100").success  # uncapped: 10^7 s; the test's timeout is 90 s
    ran = shell.run("%grok A recorded question")
    assert ran.success and "Recorded answer." in ran.stdout
