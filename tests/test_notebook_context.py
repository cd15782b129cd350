"""Conversations that know the notebook (issue 19): the cells above as context, chats rebuilt from the
answers saved in the notebook, forks, and exact token counts — driven as a user does, against the fake server."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import CANARY, Harness, assert_no_canary
from fake_grok import Reply

from grok_magics.page import Bridge, Context

pytestmark = pytest.mark.timeout(180)


def _with_page(shell: Harness, cell_id: str, above: tuple[Any, ...]) -> None:
    """The context the page would have pushed before cell ``cell_id`` ran (in-process: no comm)."""
    bridge = getattr(shell.shell, "_grok_page", None) or Bridge(shell.shell, manager=None)
    bridge.pushed[cell_id] = Context(cell_id, {"path": "n.ipynb"}, above, {})
    shell.shell._grok_page = bridge


def strings(value: Any) -> str:
    """Every string a request body carries, joined: what left the kernel, readable."""
    if isinstance(value, str):
        return value + "\n"
    if isinstance(value, dict):
        return "".join(strings(v) for v in value.values())
    if isinstance(value, list):
        return "".join(strings(v) for v in value)
    return ""


def sent(fake: Any) -> str:
    return strings(fake.requests[-1].body)


def test_context_above_from_history_is_opt_in_budgeted_and_says_where_it_came_from(shell: Harness, fake: Any) -> None:
    shell.run("x = 41\nprint('x is', x)")
    shell.run("x + 1")
    shell.run("# grok-skip\nsecret_plan = 'do not send me'")
    shell.run("1 / 0")
    fake.script(Reply(text="Plain."), Reply(text="With context."))
    ran = shell.run("%%grok\nWhy did it fail?")
    assert ran.success, ran.everything
    assert "x is" not in sent(fake), "context was sent unasked"
    ran = shell.run("%%grok --context above\nWhy did it fail?")
    assert ran.success, ran.everything
    body = sent(fake)
    assert "kernel's history" in body and "print('x is', x)" in body and "42" in body
    assert "ZeroDivisionError" in body and "do not send me" not in body
    assert body.index("1 / 0") < body.index("x + 1"), "newest first"
    assert "Plain." in body, "the earlier exchange is the conversation, not a cell above"
    assert "%%grok" not in body.split("<notebook", 1)[1]
    assert "tagged grok-skip left out" in ran.everything


def test_context_above_n_and_the_budget_cut_older_cells(shell: Harness, fake: Any) -> None:
    for n in range(6):
        shell.run(f"cell_{n} = {n}  # " + "pad " * 400)
    fake.script(Reply(text="a"), Reply(text="b"))
    assert shell.run("%%grok --context above:2\nWhat is here?").success
    body = sent(fake)
    assert "cell_5" in body and "cell_4" in body and "cell_3" not in body
    shell.run("%config GrokMagics.context_above_tokens = 700")
    assert shell.run("%%grok --context above\nAnd now?").success
    body = sent(fake)
    assert "cell_5" in body and "cell_0" not in body and "characters trimmed" in body


def test_context_above_from_the_page_with_tags_pins_unsaved_edits_and_privacy(shell: Harness, fake: Any) -> None:
    import pandas as pd

    shell.shell.user_ns["Out"][3] = pd.DataFrame({"name": ["Ann"], "ssn": ["123-45-6789"]})
    shell.run("%config GrokMagics.redact_columns = ['ssn']")
    above = (
        {
            "id": "c5",
            "cell_type": "code",
            "source": "plt.plot(empty)  # edited, not run",
            "execution_count": None,
            "outputs": [],
        },
        {
            "id": "c4",
            "cell_type": "code",
            "source": "import os\nos.environ['X'] = '" + CANARY + "'",
            "execution_count": 4,
            "outputs": [],
        },
        {
            "id": "c3",
            "cell_type": "code",
            "source": "people",
            "execution_count": 3,
            "outputs": [
                {
                    "output_type": "execute_result",
                    "execution_count": 3,
                    "mimes": ["text/plain", "text/html"],
                    "text": "  name  ssn\n0  Ann  123-45-6789",
                }
            ],
        },
        {"id": "c2", "cell_type": "markdown", "source": "private notes", "tags": ["grok-skip"]},
        {
            "id": "c1",
            "cell_type": "code",
            "source": "DATA = load('sales.csv')",
            "tags": ["grok-pin"],
            "execution_count": 1,
            "outputs": [{"output_type": "stream", "text": "loaded 10 rows\n"}],
        },
    )
    _with_page(shell, "q", above)
    fake.script(Reply(text="ok"))
    ran = shell.run("%%grok --context above:1\nWhy is the chart empty?", cell_id="q")
    assert ran.success, ran.everything
    body = sent(fake)
    assert "notebook page" in body and "edited, not run" in body  # the live notebook, unsaved edit included
    assert "sales.csv" in body and "loaded 10 rows" in body  # pinned: in, although beyond above:1
    assert "private notes" not in body and "people" not in body
    # all cells: the key is masked, the redacted column never leaves
    _with_page(shell, "q2", above)
    fake.script(Reply(text="ok"))
    ran = shell.run("%%grok --context above\nAnd now?", cell_id="q2")
    assert ran.success, ran.everything
    body = sent(fake)
    assert "Ann" in body and "123-45-6789" not in body and "private notes" not in body
    assert_no_canary(body, ran.everything)
    assert "key-shaped value in the data blocks masked" in ran.everything


def test_context_above_dry_run_and_the_setting(shell: Harness, fake: Any) -> None:
    shell.run("answer = 6 * 7")
    shell.run("%config GrokMagics.context = 'above'")
    ran = shell.run("%%grok --dry-run\nWhat is answer?")
    assert ran.success and "answer = 6 * 7" in ran.stdout and "kernel's history" in ran.stdout
    ran = shell.run("%%grok --dry-run --context none\nWhat is answer?")
    assert "answer = 6 * 7" not in ran.stdout
    assert not fake.requests
    shell.run("%config GrokMagics.context = 'below'")  # %config logs the refusal; the setting stays
    assert shell.magics.context == "above"


def test_the_notebook_block_passes_the_one_gate_out(shell: Harness, fake: Any) -> None:
    """The block is a context block the gate reads (``carried``): a key in it that got past the masker is
    refused by ``Gate.admit`` like a key anywhere else in a request."""
    from dataclasses import replace

    from grok_magics.context.above import from_history, parse_spec
    from grok_magics.engine.ask import prepare
    from grok_magics.engine.policy import carried
    from grok_magics.errors import Refused
    from grok_magics.magics.options import Options
    from grok_magics.model.parts import DataPart

    magics = shell.magics
    above = from_history(parse_spec("above"), ["", "a = 1", "%%grok"], {}, 2, None)
    request, _ = prepare(magics.session, magics.defaults(), Options(), "hi", {}, None, above=above)
    blocks = [text for where, text in carried(request) if where == "context block of notebook"]
    assert len(blocks) == 1 and "a = 1" in blocks[0]
    block = next(p for p in request.user if isinstance(p, DataPart))
    leaked = replace(request, user=(*request.user[:-1], replace(block, text=block.text + CANARY)))
    with pytest.raises(Refused):
        magics.session.gate(magics.defaults()).admit(leaked)
    assert not fake.requests
