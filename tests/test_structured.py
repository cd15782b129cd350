"""Answers as Python objects: ``--json`` / ``--schema`` into variables and DataFrames, through a real shell.

What left the kernel is read from the fake server's recorded request (``response_format`` on Chat
Completions, ``text.format`` on Responses); what came back is what the test scripts.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import polars as pl
import pytest
from conftest import CANARY, Harness, assert_no_canary, user_texts
from fake_grok import Reply

APIS = ["responses", "chat"]
CITIES = [{"city": "Lyon", "pop": 522_000}, {"city": "Graz", "pop": 291_000}]

MODEL_CELL = """
from pydantic import BaseModel

class Verdict(BaseModel):
    label: str
    score: float

shorthand = [{"city": str, "pop": int}]
json_schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
"""


def sent_format(body: dict[str, Any]) -> dict[str, Any]:
    """The structured-output request of either API, in one shape: (type, name, schema)."""
    if "response_format" in body:
        fmt = body["response_format"]
        return {"type": fmt["type"], **fmt.get("json_schema", {})}
    return body["text"]["format"]


@pytest.fixture
def objects(shell: Harness) -> Harness:
    assert shell.run(MODEL_CELL).success
    return shell


@pytest.mark.parametrize("api", APIS)
def test_a_pydantic_schema_goes_out_strict_and_comes_back_as_a_model(objects: Harness, fake: Any, api: str) -> None:
    fake.script(Reply(text='{"label": "positive", "score": 0.93}', chunk=5))
    ran = objects.run(f"%%grok --api {api} --schema Verdict -o verdict\nHow does this review read?")
    assert ran.success, ran.stdout
    fmt = sent_format(fake.requests[-1].body)
    assert fmt["type"] == "json_schema" and fmt["name"] == "Verdict" and fmt["strict"] is True
    assert fmt["schema"]["additionalProperties"] is False and set(fmt["schema"]["required"]) == {"label", "score"}
    verdict = objects.shell.user_ns["verdict"]
    assert type(verdict).__name__ == "Verdict" and verdict.label == "positive" and verdict.score == 0.93


@pytest.mark.parametrize("api", APIS)
def test_shorthand_list_to_a_dataframe_pandas_and_polars(objects: Harness, fake: Any, api: str) -> None:
    fake.script(Reply(text=json.dumps({"items": CITIES})), Reply(text=json.dumps({"items": CITIES})))
    assert objects.run(f"%grok --api {api} --schema shorthand --to-df -o cities two cities?").success
    frame = objects.shell.user_ns["cities"]
    assert isinstance(frame, pd.DataFrame) and frame.to_dict("records") == CITIES
    assert sent_format(fake.requests[-1].body)["schema"]["properties"]["items"]["type"] == "array"
    assert objects.run(f"%grok --api {api} --schema shorthand --to-polars -o cities2 two cities?").success
    frame2 = objects.shell.user_ns["cities2"]
    assert isinstance(frame2, pl.DataFrame) and frame2.to_dicts() == CITIES


def test_a_json_schema_dict_and_plain_json(objects: Harness, fake: Any) -> None:
    fake.script(Reply(text='{"answer": 42}'), Reply(text='```json\n{"anything": [1, 2]}\n```'))
    assert objects.run("%grok --schema json_schema -o result what is six times seven?").success
    assert objects.shell.user_ns["result"] == {"answer": 42}
    assert objects.run("%grok --json -o loose give me some JSON").success
    assert sent_format(fake.requests[-1].body) == {"type": "json_object"}
    assert objects.shell.user_ns["loose"] == {"anything": [1, 2]}  # a fenced answer is read too


def test_a_mismatch_says_what_failed_keeps_the_raw_text_and_the_conversation(objects: Harness, fake: Any) -> None:
    objects.shell.user_ns["verdict"] = "before"
    fake.script(Reply(text='{"label": "positive"}'))
    ran = objects.run("%%grok --schema Verdict -o verdict\nHow does it read?", cell_id="v")
    assert not ran.success
    assert "does not match the schema" in ran.stdout and "score" in ran.stdout and "verdict_raw" in ran.stdout
    assert ran.stdout.count("does not match") == 1  # said once
    assert objects.shell.user_ns["verdict"] == "before", "a failed parse must not overwrite the variable"
    assert objects.shell.user_ns["verdict_raw"] == '{"label": "positive"}'
    assert ran.stdout.startswith('{"label": "positive"}')  # the answer stays on screen
    (turn,) = objects.magics.session.chats.get("default").turns
    assert turn.answer == '{"label": "positive"}'  # the model did answer: the conversation keeps it
    fake.script(Reply(text="Sure."))
    assert objects.run("%grok thanks").success
    assert user_texts(fake.requests[-1].body) == ["How does it read?", "thanks"]


def test_the_live_view_shows_json_growing_in_a_code_block_pretty_at_the_end(objects: Harness, fake: Any) -> None:
    objects.run("%config GrokMagics.display = 'markdown'")
    fake.script(Reply(text='{"label":"positive","score":0.5}', chunk=4, pace=0.02))
    assert objects.run("%grok --schema Verdict -o v rate it").success
    updates = [m["data"].get("text/markdown", "") for m in objects.publisher.messages if m["update"]]
    assert any(u.startswith("```json\n{") for u in updates[:-1]), updates
    final = updates[-1]
    assert final.startswith('```json\n{\n  "label": "positive",\n  "score": 0.5\n}\n```')


def markdowns(ran: Any) -> list[str]:
    return [m["data"]["text/markdown"] for m in ran.displays if "text/markdown" in m["data"]]


@pytest.mark.parametrize("flag", ["--to-df", "--to-polars"])
def test_a_frame_result_shows_its_name_shape_and_head(objects: Harness, fake: Any, flag: str) -> None:
    objects.run("%config GrokMagics.display = 'markdown'")
    fake.script(Reply(text=json.dumps({"items": CITIES})))
    ran = objects.run(f"%grok --schema shorthand {flag} -o totals two cities?")
    assert ran.success, ran.stdout
    kind = "polars DataFrame" if flag == "--to-polars" else "DataFrame"
    shown = markdowns(ran)[-1]
    assert shown.startswith(f"`totals` ← {kind}, 2 rows × 2 columns"), shown
    assert "| city | pop |" in shown and "| Lyon | 522000 |" in shown and "| Graz | 291000 |" in shown
    plain = ran.displays[-1]["data"]["text/plain"].splitlines()
    assert plain[0] == f"totals ← {kind}, 2 rows × 2 columns"
    assert [line.split() for line in plain[1:]] == [["city", "pop"], ["Lyon", "522000"], ["Graz", "291000"]]
    answer = markdowns(ran)[-2]
    assert answer.startswith('```json\n[\n  {\n    "city": "Lyon"') and '"items"' not in answer  # no wrapper


def test_in_a_terminal_the_json_is_the_users_shape_and_the_frame_shows_its_head(objects: Harness, fake: Any) -> None:
    """The text view streams text as it comes, but a wrapped JSON answer is shown whole at the end, unwrapped;
    what was made is described in text/plain (what a terminal prints), with the frame's head as text."""
    objects.run("%config GrokMagics.display = 'text'")
    fake.script(Reply(text=json.dumps({"items": CITIES}), chunk=5))
    ran = objects.run("%grok --schema shorthand --to-df -o totals two cities?")
    assert ran.success, ran.stdout
    assert '"items"' not in ran.stdout and json.loads(ran.stdout.split("\n[grok-4.3")[0]) == CITIES, ran.stdout
    plain = ran.displays[-1]["data"]["text/plain"]
    assert plain.startswith("totals ← DataFrame, 2 rows × 2 columns\ncity") and "Lyon  522000" in plain, plain


def test_a_frame_without_a_name_is_shown_and_says_how_to_keep_it(objects: Harness, fake: Any) -> None:
    rows = [{"city": f"c{i}", "pop": i} for i in range(8)]
    fake.script(Reply(text=json.dumps({"items": rows})))
    ran = objects.run("%grok --schema shorthand --to-df eight cities?")
    assert ran.success, ran.stdout
    shown = markdowns(ran)[-1]
    assert shown.startswith("DataFrame, 8 rows × 2 columns (add -o NAME to keep it)")
    assert "| c4 | 4 |" in shown and "c5" not in shown and "first 5 of 8 rows" in shown


def test_json_without_out_shows_the_users_shape_not_our_wrapper(objects: Harness, fake: Any) -> None:
    objects.run("%config GrokMagics.display = 'markdown'")
    fake.script(Reply(text=json.dumps({"items": CITIES})), Reply(text='{"items": 3}'))
    ran = objects.run("%grok --schema shorthand two cities?")
    assert ran.success and not [m for m in markdowns(ran) if "←" in m]  # nothing made, nothing announced
    final = markdowns(ran)[-1]
    assert final.startswith('```json\n[\n  {\n    "city": "Lyon",') and '"items"' not in final
    ran = objects.run("%grok --json give me JSON")  # --json: the user's own object, even with an "items" key
    assert ran.success and markdowns(ran)[-1].startswith('```json\n{\n  "items": 3\n}')


def test_hostile_cells_stay_text_in_the_frame_head(objects: Harness, fake: Any) -> None:
    hostile = [
        {"city": "<img src=x onerror=alert(1)>", "pop": 1},
        {"city": "[click](javascript:alert(1)) | a | b", "pop": 2},
        {"city": CANARY, "pop": 3},
    ]
    objects.run("%config GrokMagics.display = 'markdown'")
    fake.script(Reply(text=json.dumps({"items": hostile})))
    ran = objects.run("%grok --schema shorthand --to-df -o t cities?")
    assert ran.success, ran.stdout
    shown = markdowns(ran)[-1]
    assert "<img" not in shown and "](javascript" not in shown and "&#124; a &#124; b" in shown
    assert_no_canary(*markdowns(ran), ran.displays[-1]["data"]["text/plain"])


def test_refused_where_the_provider_has_no_json_mode_and_when_options_clash(
    objects: Harness, fake_factory: Any, monkeypatch: Any
) -> None:
    gateway = fake_factory("aigateway")
    monkeypatch.setenv("AIGATEWAY_API_KEY", CANARY)
    monkeypatch.setenv("GROK_BASE_URL", gateway.base_url)
    ran = objects.run("%grok --provider aigateway --schema Verdict -o v rate it")
    assert not ran.success and "JSON mode — no" in ran.stdout and gateway.requests == []
    for line, said in (
        ("--json --schema Verdict", "use one of them"),
        ("--to-df", "add --schema"),
        ("--schema Nope", "no such variable"),
    ):
        ran = objects.run(f"%grok {line} -o v rate it")
        assert not ran.success and said in ran.stdout, ran.stdout
    assert gateway.requests == [] and fake_factory  # nothing reached any server
    assert_no_canary(ran.everything)


def test_dry_run_shows_the_format_and_sends_nothing(objects: Harness, fake: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("XAI_API_KEY")
    ran = objects.run("%grok --dry-run --schema Verdict rate it")
    assert ran.success and '"json_schema"' in ran.stdout and "Verdict" in ran.stdout
    assert fake.requests == []
