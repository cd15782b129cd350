"""Privacy rules on every path that turns data into text: context blocks, the dry run, the data toolset's
results (sent and shown) and %grok map rows.

`redact_columns` and `--exclude` cover index levels (MultiIndex levels too) as they cover columns; key-shaped
values in data are masked with a one-line note, and `--allow-key` sends them as they are. Frames are big enough
(20,000 rows) that the block is built from the seeded sample, so sampled rows are checked, not only the head.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd
import polars as pl
import pytest
from conftest import CANARY, Harness, assert_no_canary
from fake_grok import Reply

from grok_magics.privacy.key_shapes import MASK

pytestmark = pytest.mark.timeout(120)

ROWS = 20_000
SSN = re.compile(r"\d{3}-\d{2}-\d{4}")
XAI_LIKE = "xai-" + "k3Y9" * 10  # key-shaped, but not the active key
AWS_LIKE = "AKIAIOSFODNN7EXAMPLE"
LONG_KEY = "sk-" + "a1B2" * 20  # 83 characters: longer than a cell, so a cut would keep 37 of them
KEYS_IN_DATA = (XAI_LIKE, AWS_LIKE, LONG_KEY)


@pytest.fixture
def fake(fake):  # large prompts are echoed back: no need to pace them like a real answer
    fake.pace = 0.0
    return fake


def ssns(n: int = ROWS) -> list[str]:
    out = []
    for i in range(n):
        s = f"{123_000_000 + i * 7:09d}"
        out.append(f"{s[:3]}-{s[3:5]}-{s[5:]}")
    return out


def people(index: str = "ssn") -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "name": [f"person {i}" for i in range(ROWS)],
            "amount": [float((i * 37) % 1000) for i in range(ROWS)],
            "region": [("north", "south", "east", "west")[i % 4] for i in range(ROWS)],
            "ssn": ssns(),
        }
    )
    if index == "multi":
        return frame.set_index(["region", "ssn"])
    return frame.set_index("ssn")


def with_keys() -> pd.DataFrame:
    notes = [XAI_LIKE, AWS_LIKE, LONG_KEY, CANARY, "nothing secret here"]
    return pd.DataFrame({"note": [notes[i % 5] for i in range(ROWS)], "amount": [float(i) for i in range(ROWS)]})


def sent(fake: Any) -> str:
    return json.dumps([r.body for r in fake.requests])


def assert_no_ssn(*texts: Any) -> None:
    for text in texts:
        found = SSN.search(str(text))
        assert found is None, f"an SSN left the kernel: {found.group(0)}"


def assert_no_key_in_data(*texts: Any) -> None:
    for text in texts:
        for key in (*KEYS_IN_DATA, CANARY):
            assert key[:20] not in str(text) and key[-20:] not in str(text), f"a key in the data got out: {key[:6]}…"


def block_of(body: dict[str, Any]) -> str:
    items = body["messages"] if "messages" in body else body["input"]
    content = [item for item in items if item.get("role") == "user"][-1]["content"]
    [block] = [p["text"] for p in content if p.get("text", "").startswith("<data ")]
    return block


def redact_or_exclude(shell: Harness, how: str) -> str:
    """The option to put on the ask line: redaction is a setting, exclusion an option."""
    if how == "redact":
        assert shell.run("%config GrokMagics.redact_columns = ['*SSN*']").success
        return ""
    return " --exclude ssn"


# -- context blocks and the dry run ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["redact", "exclude"])
def test_an_index_named_like_a_hidden_column_is_hidden_in_blocks_and_the_dry_run(
    shell: Harness, fake, how: str
) -> None:
    shell.shell.user_ns["people"] = people()
    option = redact_or_exclude(shell, how)
    assert shell.run(f"%%grok{option}\nWho is in {{people}}?").success
    block = block_of(fake.requests[-1].body)
    assert_no_ssn(sent(fake))
    assert "seeded random sample of 10,000 of 20,000 rows" in block and "5 random rows (seed 0):" in block
    if how == "redact":
        assert "| (index: ssn) | name | amount | region |" in block
        assert block.count("| [redacted] | person ") == 10  # 5 head rows and 5 sampled rows
    else:
        assert "(index" not in block and "1 excluded index level" in block
        assert "| name | amount | region |" in block
    dry = shell.run(f"%%grok --dry-run{option}\nWho is in {{people}}?")
    assert dry.success and "Dry run" in dry.stdout and "person 0" in dry.stdout
    assert_no_ssn(dry.stdout)


@pytest.mark.parametrize("how", ["redact", "exclude"])
def test_a_multiindex_level_is_hidden_and_the_other_levels_stay(shell: Harness, fake, how: str) -> None:
    shell.shell.user_ns["people"] = people("multi")
    option = redact_or_exclude(shell, how)
    assert shell.run(f"%%grok{option}\nWho is in {{people}}?").success
    block = block_of(fake.requests[-1].body)
    assert_no_ssn(sent(fake))
    if how == "redact":
        assert "| (index: region, ssn) | name | amount |" in block
        assert "| (north, [redacted]) | person 0 |" in block
    else:
        assert "| (index: region) | name | amount |" in block and "| north | person 0 |" in block
        assert "1 excluded index level" in block


@pytest.mark.parametrize("how", ["redact", "exclude"])
def test_a_polars_key_column_is_hidden(shell: Harness, fake, how: str) -> None:
    shell.shell.user_ns["people"] = pl.from_pandas(people().reset_index())
    option = redact_or_exclude(shell, how)
    assert shell.run(f"%%grok{option}\nWho is in {{people}}?").success
    assert_no_ssn(sent(fake))
    block = block_of(fake.requests[-1].body)
    assert ("values redacted" in block) == (how == "redact") and "person 0" in block


def test_key_shaped_values_in_a_frame_are_masked_with_a_note(shell: Harness, fake) -> None:
    shell.shell.user_ns["notes"] = with_keys()
    shell.run("%config GrokMagics.display = 'markdown'")
    ran = shell.run("%%grok\nWhat do the notes in {notes} say?")
    assert ran.success, ran.error
    body = sent(fake)
    assert_no_key_in_data(body, ran.everything)
    block = block_of(fake.requests[-1].body)
    assert MASK in block and "nothing secret here" in block
    assert "5 random rows (seed 0):" in block
    status = ran.displays[-1]["data"]["text/markdown"]
    assert re.search(r"\d+ key-shaped values in the data blocks masked", status), status[-400:]
    dry = shell.run("%%grok --dry-run\nWhat do the notes in {notes} say?")
    shown = dry.displays[-1]["data"]  # a notebook's dry run is Markdown, with the text version beside it
    assert dry.success and re.search(r"Note: \d+ key-shaped values in the data blocks masked", shown["text/plain"])
    assert re.search(
        r"Note: \d+ key-shaped values in the data blocks masked", shown["text/markdown"].split("<details")[0]
    )
    assert_no_key_in_data(dry.everything)


def test_the_active_key_is_masked_even_when_it_has_no_known_shape(shell: Harness, fake_factory, monkeypatch) -> None:
    """An Azure key is 32 hex characters, which no shape matches: the key in use is masked as itself."""
    azure_key = "3f9a0c7e" * 4
    azure = fake_factory("azure", key=azure_key, pace=0.0)
    monkeypatch.setenv("AZURE_AI_API_KEY", azure_key)
    monkeypatch.setenv("GROK_BASE_URL", azure.base_url)
    shell.shell.user_ns["config_rows"] = pd.DataFrame({"setting": ["key", "region"], "value": [azure_key, "eu"]})
    ran = shell.run("%grok --provider azure what is in {config_rows}?")
    assert ran.success, ran.error
    body = json.dumps(azure.requests[-1].body)
    assert azure_key not in body and MASK in body and "| region | eu |" in body


def test_allow_key_sends_data_as_it_is(shell: Harness, fake) -> None:
    frame = with_keys()
    frame = frame[frame["note"] != CANARY]  # the canary must never show anywhere; the others are not secrets
    shell.shell.user_ns["notes"] = frame
    ran = shell.run("%%grok --allow-key\nWhat do the notes in {notes} say?")
    assert ran.success, ran.error
    block = block_of(fake.requests[-1].body)
    assert XAI_LIKE in block and AWS_LIKE in block and MASK not in block
    assert "masked" not in ran.everything


# -- the data toolset -------------------------------------------------------------------------------------------


def tool_outputs(body: dict[str, Any]) -> dict[str, str]:
    if "messages" in body:
        return {m["tool_call_id"]: m["content"] for m in body["messages"] if m["role"] == "tool"}
    return {i["call_id"]: i["output"] for i in body["input"] if i.get("type") == "function_call_output"}


def shown(ran: Any) -> str:
    """Everything the notebook would keep: the displayed Markdown and plain text, and the tool metadata."""
    return json.dumps([d["data"] for d in ran.displays] + [d["metadata"] for d in ran.displays])


@pytest.mark.parametrize("index", ["ssn", "multi", "polars"])
@pytest.mark.parametrize("how", ["redact", "exclude"])
def test_data_tools_never_return_a_hidden_index_or_key_column(shell: Harness, fake, how: str, index: str) -> None:
    frame = people("multi" if index == "multi" else "ssn")
    shell.shell.user_ns["people"] = pl.from_pandas(frame.reset_index()) if index == "polars" else frame
    shell.run("%config GrokMagics.display = 'markdown'")
    option = redact_or_exclude(shell, how)
    fake.script(
        Reply(
            text="",
            tool_calls=[
                {"name": "top_rows", "arguments": {"frame": "people", "by": "amount", "n": 20}, "id": "top"},
                {
                    "name": "top_rows",
                    "arguments": {"frame": "people", "by": "amount", "columns": ["name"]},
                    "id": "named",
                },
                {"name": "value_counts", "arguments": {"frame": "people", "column": "ssn"}, "id": "counts"},
                {
                    "name": "aggregate",
                    "arguments": {"frame": "people", "function": "count", "group_by": ["ssn"]},
                    "id": "grouped",
                },
                {"name": "describe", "arguments": {"frame": "people"}, "id": "describe"},
                {"name": "list_frames", "arguments": {}, "id": "list"},
            ],
        ),
        Reply(text="done"),
    )
    ran = shell.run(f"%%grok --tools data{option}\nWho paid most in {{people}}?")
    assert ran.success, ran.error
    outputs = tool_outputs(fake.requests[1].body)
    top = json.loads(outputs["top"])
    assert len(top["data"]) == 20 and "ssn" not in top["columns"]
    if index == "multi":
        assert set(top["index"]) <= {"north", "south", "east", "west"}  # the region level stays
    else:
        assert all(isinstance(i, int) for i in top["index"])  # no hidden level: row numbers only
    for name in ("counts", "grouped"):
        assert "has no column 'ssn'" in json.loads(outputs[name])["error"], name
    assert "ssn" not in outputs["describe"] + outputs["list"]
    assert_no_ssn(sent(fake), shown(ran))


def test_key_shaped_values_in_tool_results_are_masked_where_sent_and_shown(shell: Harness, fake) -> None:
    shell.shell.user_ns["notes"] = with_keys()
    shell.run("%config GrokMagics.display = 'markdown'")
    fake.script(
        Reply(
            text="",
            tool_calls=[
                {"name": "top_rows", "arguments": {"frame": "notes", "by": "amount", "n": 20}, "id": "top"},
                {"name": "value_counts", "arguments": {"frame": "notes", "column": "note"}, "id": "counts"},
            ],
        ),
        Reply(text="done"),
    )
    ran = shell.run("%%grok --tools data\nWhat do the notes in {notes} say?")
    assert ran.success, ran.error
    outputs = tool_outputs(fake.requests[1].body)
    assert MASK in outputs["top"] and "nothing secret here" in outputs["top"]
    assert json.loads(outputs["counts"])["distinct"] == 5
    assert_no_key_in_data(sent(fake), shown(ran), ran.everything)
    final = ran.displays[-1]["data"]["text/markdown"]
    assert MASK in final  # the shown result says what happened to the value
    assert re.search(r"\d+ key-shaped values in tool results masked", final), final[-400:]


def test_a_key_returned_by_the_users_own_tool_is_masked_too(shell: Harness, fake) -> None:
    assert shell.run(f'def read_config() -> str:\n    "The service settings."\n    return "token = {XAI_LIKE}"').success
    shell.run("%config GrokMagics.display = 'markdown'")
    fake.script(Reply(text="", tool_calls=[{"name": "read_config", "arguments": {}, "id": "r"}]), Reply(text="done"))
    ran = shell.run("%%grok --tools read_config\nWhich token is configured?")
    assert ran.success, ran.error
    assert tool_outputs(fake.requests[1].body)["r"] == f"token = {MASK}"
    assert_no_key_in_data(sent(fake), shown(ran))
    assert "1 key-shaped value in tool results masked" in ran.displays[-1]["data"]["text/markdown"]


def test_allow_key_keeps_tool_results_as_they_are(shell: Harness, fake) -> None:
    frame = with_keys()
    shell.shell.user_ns["notes"] = frame[frame["note"] != CANARY]
    fake.script(
        Reply(
            text="",
            tool_calls=[{"name": "value_counts", "arguments": {"frame": "notes", "column": "note"}, "id": "counts"}],
        ),
        Reply(text="done"),
    )
    ran = shell.run("%%grok --tools data --allow-key\nWhat do the notes in {notes} say?")
    assert ran.success, ran.error
    output = tool_outputs(fake.requests[1].body)["counts"]
    assert XAI_LIKE in output and AWS_LIKE in output and MASK not in output
    assert "masked" not in ran.everything


def test_the_saved_notebook_keeps_no_hidden_index_and_no_key(fake, tmp_path, monkeypatch) -> None:
    """The same through a real kernel: what nbclient saves holds neither the SSNs nor the keys."""
    import nbformat
    from kernels import run_notebook

    fake.script(
        Reply(
            text="",
            tool_calls=[
                {"name": "top_rows", "arguments": {"frame": "people", "by": "amount", "n": 20}, "id": "p"},
                {"name": "top_rows", "arguments": {"frame": "notes", "by": "amount", "n": 20}, "id": "n"},
            ],
        ),
        Reply(text="done"),
    )
    setup = (
        "import pandas as pd\n"  # the SSNs are made in the kernel: the cell's source holds none
        "ssn = [f'{s[:3]}-{s[3:5]}-{s[5:]}' for s in (f'{123000000 + i * 7:09d}' for i in range(40))]\n"
        "people = pd.DataFrame({'ssn': ssn, 'amount': [float(i) for i in range(40)]}).set_index('ssn')\n"
        f"notes = pd.DataFrame({{'note': [{XAI_LIKE!r}, {AWS_LIKE!r}, {LONG_KEY!r}, 'plain'] * 10, "
        "'amount': [float(i) for i in range(40)]})"
    )
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("%load_ext grok_magics"),
            nbformat.v4.new_code_cell(setup),
            nbformat.v4.new_code_cell("%config GrokMagics.redact_columns = ['*ssn*']"),
            nbformat.v4.new_code_cell("%%grok --tools data\nWho paid most in {people}, and what do {notes} say?"),
        ]
    )
    monkeypatch.delenv("GROK_MAGICS_AUTOLOAD")
    run_notebook(nb, tmp_path)
    saved = nbformat.writes(nb)
    errors = [o for cell in nb.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    assert "top_rows(" in saved and MASK in saved and "key-shaped values in tool results masked" in saved
    outputs = json.dumps([cell.get("outputs", []) for cell in nb.cells])  # the setup cell's source has the keys
    assert_no_ssn(saved, sent(fake))
    assert_no_key_in_data(outputs, sent(fake))
    assert_no_canary(saved)


# -- %grok map --------------------------------------------------------------------------------------------------


def test_map_refuses_a_template_reading_a_redacted_column(shell: Harness, fake) -> None:
    shell.shell.user_ns["people"] = people().reset_index().head(30)
    assert shell.run("%config GrokMagics.redact_columns = ['*SSN*']").success
    ran = shell.run("%%grok map people --yes\nIs {ssn} a valid number for {name}?")
    assert not ran.success and fake.requests == []
    assert "the template reads {ssn}, a column %config GrokMagics.redact_columns hides; nothing was sent" in str(
        ran.error
    )
    assert_no_ssn(ran.everything)


def test_map_never_reads_the_index_and_masks_keys_in_rows(shell: Harness, fake) -> None:
    shell.shell.user_ns["people"] = people().head(10)
    ran = shell.run("%%grok map people --yes --no-cache\nSay hello to {name}.")
    assert ran.success, ran.error
    assert len(fake.api_requests) == 10
    assert_no_ssn(sent(fake))
    shell.shell.user_ns["notes"] = with_keys().head(10)
    ran = shell.run("%%grok map notes --yes --no-cache\nSummarise: {note}")
    assert ran.success, ran.error
    prompts = sent(fake)
    assert len(fake.api_requests) == 20 and prompts.count(MASK) == 8  # 4 of every 5 notes hold a key
    said = [line for line in ran.stdout.splitlines() if line.startswith("grok map")]  # not the frame it returns
    assert_no_key_in_data(prompts, said)
    assert "grok map: 4 key-shaped values in the rows masked before sending." in ran.stdout  # 4 distinct


def test_a_key_at_the_edge_of_a_cut_tool_result_leaks_no_part_of_it(shell: Harness, fake) -> None:
    """Results are cut at 8,000 characters; the mask runs first, so the cut cannot keep a key's first characters."""
    from grok_magics.tools.data import MAX_RESULT_CHARS

    head = json.dumps({"distinct": 2, "counts": [["", 2], [LONG_KEY, 1]]}, ensure_ascii=False)
    before_key = head.index(LONG_KEY)  # where the key starts when the filler is empty
    filler = "x" * (MAX_RESULT_CHARS - 12 - before_key)  # the cut lands 12 characters into the key
    shell.shell.user_ns["blobs"] = pd.DataFrame({"blob": [filler, filler, LONG_KEY], "n": [1, 2, 3]})
    fake.script(
        Reply(
            text="", tool_calls=[{"name": "value_counts", "arguments": {"frame": "blobs", "column": "blob"}, "id": "v"}]
        ),
        Reply(text="done"),
    )
    ran = shell.run("%%grok --tools data\nWhat is in {blobs}?")
    assert ran.success, ran.error
    output = tool_outputs(fake.requests[1].body)["v"]
    assert MASK in output and LONG_KEY[:12] not in output
    assert LONG_KEY[:12] not in sent(fake) + shown(ran)
