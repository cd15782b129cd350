"""A row job's per-call overrides (model, provider, api, effort, system, temperature, max_tokens) are one value,
``model.overrides.Overrides``: built and checked where the user's keywords come in, then passed down whole.

So the checks here are about the doors and the far end: the value holds exactly the settings table's per-call
overrides, every verb through both doors puts them into every request it sends, a bad one is refused with the
table's line before anything is sent, and a keyword no row job knows is still refused.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import pandas as pd
import pytest
from conftest import Harness
from fake_grok import FakeGrok

import grok_magics
from grok_magics.errors import GrokError
from grok_magics.model.overrides import Overrides
from grok_magics.settings import OVERRIDES, pop_overrides

pytestmark = pytest.mark.timeout(120)

GIVEN = {"model": "grok-4.3-mini", "temperature": 0.25, "max_tokens": 77, "effort": "high", "system": "SYSMARK"}
LINE = '-m grok-4.3-mini --temperature 0.25 --max-tokens 77 --effort high --system "SYSMARK"'
TEXT = {
    "map": "Say {review}",
    "filter": "Defect? {review}",
    "reduce": "complaints in {review}",
    "topk": "the highest score in {review}",
}


def scored(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"review": [f"review {i}: score {i * 7 % 11}, {'broken' if i % 2 else 'fine'}" for i in range(n)]}
    )


def test_the_value_holds_exactly_the_tables_per_call_overrides_with_their_types() -> None:
    """The fields are spelled out for type checkers; the settings table decides what they are."""
    hints = typing.get_type_hints(Overrides)
    assert [f.name for f in dataclasses.fields(Overrides)] == [s.name for s in OVERRIDES]
    for s in OVERRIDES:
        assert hints[s.name] == (s.type | None), s.name
    assert Overrides().given() == dict.fromkeys((s.name for s in OVERRIDES), None)


def test_the_overrides_are_taken_out_of_the_keywords_and_the_rest_left_for_the_job() -> None:
    options: dict[str, Any] = {"temperature": 0.5, "concurrency": 3, "system": "s", "bogus": 1}
    assert pop_overrides(options) == Overrides(temperature=0.5, system="s")
    assert options == {"concurrency": 3, "bogus": 1}


@pytest.mark.parametrize("verb", ["map", "filter", "reduce", "topk"])
@pytest.mark.parametrize("door", ["python", "magic"])
def test_every_override_reaches_every_request_of_every_row_job(
    shell: Harness, grok: FakeGrok, verb: str, door: str
) -> None:
    df = scored(6)
    if door == "python":
        run = getattr(grok_magics, verb)
        extra = {"k": 2} if verb == "topk" else {}
        run(df, TEXT[verb], max_cost=5, confirm=True, progress=False, **extra, **GIVEN)
    else:
        shell.shell.user_ns["df"] = df
        k = " -k 2" if verb == "topk" else ""
        ran = shell.run(f"%%grok {verb} df{k} --max-cost 5 --yes {LINE}\n{TEXT[verb]}")
        assert ran.success, ran.everything
    bodies = [r.body for r in grok.api_requests]
    assert bodies
    for body in bodies:
        assert body["model"] == "grok-4.3-mini"
        assert body["temperature"] == 0.25
        assert body["max_output_tokens"] == 77
        assert body["reasoning"]["effort"] == "high"
        assert "SYSMARK" in repr(body.get("instructions")) + repr(body["input"][0])


@pytest.mark.parametrize("verb", ["map", "filter", "reduce", "topk"])
def test_a_bad_override_is_refused_with_the_tables_line_before_anything_is_sent(grok: FakeGrok, verb: str) -> None:
    with pytest.raises(GrokError, match=r"^max_tokens must be a positive number of tokens \(or None\), not -1$"):
        getattr(grok_magics, verb)(scored(4), TEXT[verb], max_tokens=-1, progress=False)
    assert grok.requests == []


@pytest.mark.parametrize("verb", ["map", "filter", "reduce", "topk"])
def test_a_keyword_no_row_job_knows_is_still_refused(grok: FakeGrok, verb: str) -> None:
    with pytest.raises(TypeError, match=r"got an unexpected keyword argument 'temprature'$"):
        getattr(grok_magics, verb)(scored(4), TEXT[verb], temprature=0.5, progress=False)
    assert grok.requests == []
