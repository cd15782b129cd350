"""Agent cells with the page, in JupyterLab 4 and Notebook 7 (real Chromium): each step Grok proposes
becomes a tagged code cell below the agent cell, approved with its Run / Skip / Stop buttons, given the
outputs the step made; a skipped step leaves no cell; the saved notebook holds the steps; Run All in a
fresh kernel reproduces the outputs without a single request to Grok.

One short story per frontend; the servers, Chromium and helpers are test_browser.py's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
import test_browser
from conftest import assert_no_canary, wait_until
from fake_grok import Reply
from test_browser import (
    ARTIFACTS,
    Lab,
    cell,
    make_notebook,
    open_notebook,
    run,
    source_of,
    wait_finished,
    write_and_run,
)

lab, browser, page, fake = test_browser.lab, test_browser.browser, test_browser.page, test_browser.fake  # fixtures

pytestmark = pytest.mark.timeout(300)

DOCS = Path(__file__).parent.parent / "docs"
SETUP = (
    "%load_ext grok_magics\n%config GrokMagics.display = 'markdown'\n"
    "import pandas as pd\n"
    "sales = pd.DataFrame({'month': ['2024-01', '2024-02', '2024-03', '2024-04'], "
    "'revenue': [100.0, 120.0, 980.0, 110.0]})"
)
AGENT = "%%grok --agent\nPlot revenue by month in {sales} and tell me what is odd."
TOTALS = "by_month = sales.groupby('month').revenue.sum()\nprint('months:', len(by_month))\nby_month"
RISKY = "import os\nos.remove('sales.csv')"
PLOT = "ax = by_month.plot(kind='bar', title='Revenue by month')"
FINAL = "March is odd: 980 against about 110 in the other months."


def step(code: str, purpose: str, call_id: str) -> dict[str, Any]:
    return {"name": "run_python", "arguments": {"code": code, "purpose": purpose}, "id": call_id}


def bar(page: Any, index: int) -> Any:
    return cell(page, index).locator(".grok-agent-bar")


def click(page: Any, index: int, decision: str, purpose: str) -> None:
    """Click a step's button; the bar (of that step: the next one may take its place) goes."""
    step_bar = bar(page, index).filter(has_text=purpose)
    step_bar.wait_for()
    step_bar.locator(f"button.grok-agent-{decision}").click()
    step_bar.wait_for(state="detached")


def cell_count(page: Any) -> int:
    return page.locator(".jp-Notebook .jp-Cell").count()


def step_outputs(page: Any, index: int) -> Any:
    return cell(page, index).locator(".jp-OutputArea-output")


def run_all_in_a_new_kernel(page: Any) -> None:
    page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:restart-run-all'); }")  # asks first
    page.locator(".jp-Dialog .jp-mod-accept").click()


def test_agent_steps_as_cells_approved_on_the_page(fake: Any, lab: Lab, page: Any) -> None:
    kind = lab.kind
    fake.script(
        Reply(text="First the monthly totals.", tool_calls=[step(TOTALS, "monthly totals", "c1")]),
        Reply(text="", tool_calls=[step(RISKY, "tidy up", "c2")]),
        Reply(text="Now the chart.", tool_calls=[step(PLOT, "bar chart", "c3")]),
        Reply(text=FINAL),
    )
    path = make_notebook(lab.root, f"agent-{kind}.ipynb", SETUP, AGENT)
    open_notebook(page, lab, path.name)
    run(page, 0)
    wait_finished(page, 0, 1)
    run(page, 1)

    # step 1: a real code cell below the agent cell, with the buttons; Run gives it the step's outputs
    bar(page, 2).wait_for()
    assert source_of(page, 2) == TOTALS
    assert "monthly totals" in bar(page, 2).inner_text()
    click(page, 2, "run", "monthly totals")
    step_outputs(page, 2).filter(has_text="months: 4").first.wait_for()
    step_outputs(page, 2).filter(has_text="2024-03").first.wait_for()
    # step 2 is flagged (it deletes a file); Skip leaves no cell and nothing ran
    bar(page, 3).wait_for()
    assert "⚠" in bar(page, 3).inner_text() and "grok-agent-flagged" in bar(page, 3).get_attribute("class")
    click(page, 3, "skip", "tidy up")
    wait_until(lambda: RISKY not in page.locator(".jp-Notebook").inner_text(), "the skipped step's cell to go")
    # step 3: the chart, in its own cell
    bar(page, 3).filter(has_text="bar chart").wait_for()
    assert source_of(page, 3) == PLOT
    cell(page, 3).scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"agent-steps-{kind}.png"))  # docs/agent-steps-lab.png comes from here
    click(page, 3, "run", "bar chart")
    cell(page, 3).locator(".jp-OutputArea-output img").first.wait_for()
    cell(page, 1).locator(".jp-OutputArea").filter(has_text="March is odd").wait_for()
    wait_finished(page, 1, 2)
    # one cell per step that ran, no more (the last is the empty cell Shift+Enter added below the agent cell)
    assert cell_count(page) == 5 and source_of(page, 4) == "", "one cell per step that ran, no more"
    sent = [json.dumps(r.body) for r in fake.requests]
    assert len(sent) == 4
    assert "not run: the user skipped this step" in sent[2] and "months: 4" in sent[1]
    agent_text = cell(page, 1).locator(".jp-OutputArea").inner_text()
    assert "Step 1 · monthly totals → its cell below" in agent_text
    assert "Step 2: skipped (you, on the page)" in agent_text and "Step 3: ran" in agent_text
    cell(page, 1).scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"agent-steps-{kind}-done.png"))

    # the saved notebook is the record: tagged step cells with their outputs, the decisions in the metadata
    cell(page, 0).locator(".jp-InputPrompt").click()
    page.keyboard.press("Control+s")
    wait_until(lambda: "grok-agent-step" in path.read_text(), "the step cells on disk")
    saved = nbformat.read(path, as_version=4)
    steps = [c for c in saved.cells if "grok-agent-step" in c.metadata.get("tags", [])]
    assert [c.source for c in steps] == [TOTALS, PLOT]
    agent_id = saved.cells[1].id
    assert [c.metadata["grok_magics_agent_step"]["step"] for c in steps] == [1, 3]
    assert all(c.metadata["grok_magics_agent_step"]["agent_cell"] == agent_id for c in steps)
    assert any(o.get("output_type") == "execute_result" for o in steps[0].outputs)
    assert any("image/png" in o.get("data", {}) for o in steps[1].outputs)
    decisions = next(
        o.metadata["grok_magics_agent"] for o in saved.cells[1].outputs if "grok_magics_agent" in o.get("metadata", {})
    )
    assert decisions["approval"] == "confirm"
    assert [(s["decision"], s["by"], s["status"]) for s in decisions["steps"]] == [
        ("run", "you, on the page", "ran"),
        ("skip", "you, on the page", "skipped"),
        ("run", "you, on the page", "ran"),
    ]
    assert_no_canary(path.read_text())

    # Run All in a new kernel: the agent cell leaves its steps be, the step cells run; Grok is not asked
    run_all_in_a_new_kernel(page)
    wait_finished(page, 3, 4)
    cell(page, 1).locator(".jp-OutputArea").filter(has_text="Nothing was sent to Grok").wait_for()
    agent_text = cell(page, 1).locator(".jp-OutputArea").inner_text()
    assert FINAL in agent_text and "the answer above is the one saved with them" in agent_text, agent_text
    cell(page, 1).scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"agent-steps-{kind}-run-all.png"))
    step_outputs(page, 2).filter(has_text="months: 4").first.wait_for()
    cell(page, 3).locator(".jp-OutputArea-output img").first.wait_for()
    assert len(fake.requests) == 4, "Run All asked Grok again"
    assert cell_count(page) == 5 and bar(page, 2).count() == 0

    # --rerun asks again and replaces the step cells; Stop on a step removes its cell and ends the agent
    fake.script(Reply(text="", tool_calls=[step("print('again')", "once more", "c9")]))
    editor = cell(page, 1).locator(".jp-InputArea-editor")
    editor.click()
    page.keyboard.press("Control+Home")
    page.keyboard.press("End")
    page.keyboard.type(" --rerun")
    page.keyboard.press("Shift+Enter")
    click(page, 2, "stop", "once more")
    cell(page, 1).locator(".jp-OutputArea").filter(has_text="Stopped: stopped at your request").wait_for()
    assert cell_count(page) == 3 and "by_month" not in page.locator(".jp-Notebook").inner_text()
    assert len(fake.requests) == 5

    # Ctrl-C (Interrupt) while a step waits for its buttons: the step's cell goes, the agent says it stopped
    fake.script(Reply(text="", tool_calls=[step("print('never')", "waits", "c10")]))
    run(page, 1)
    bar(page, 2).filter(has_text="waits").wait_for()
    page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:interrupt-kernel'); }")
    bar(page, 2).filter(has_text="waits").wait_for(state="detached")
    cell(page, 1).locator(".jp-OutputArea").filter(has_text="nterrupted").first.wait_for()
    wait_until(lambda: cell_count(page) == 3, "the unanswered step's cell to go")
    assert "never" not in page.locator(".jp-Notebook").inner_text()
    cell(page, 1).scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"agent-steps-{kind}-interrupted.png"))
    run(page, 0)  # the kernel lived through it (an interrupt during an await must not reach the event loop)
    wait_finished(page, 0, 7)

    # `risky` approval on the page: an unflagged step becomes its cell and runs with no buttons; a flagged one
    # still waits for them
    write_and_run(page, 2, "%config GrokMagics.agent_approval = 'risky'")
    wait_finished(page, 2, 8)
    fake.script(
        Reply(text="", tool_calls=[step(TOTALS, "monthly totals", "r1")]),
        Reply(text="", tool_calls=[step(RISKY, "tidy up", "r2")]),
        Reply(text=FINAL),
    )
    run(page, 1)  # still --rerun: the earlier steps go, these come
    step_outputs(page, 2).filter(has_text="months: 4").first.wait_for()
    assert source_of(page, 2) == TOTALS
    bar(page, 3).filter(has_text="tidy up").wait_for()
    assert bar(page, 2).count() == 0, "an unflagged step asked under risky approval"
    click(page, 3, "skip", "tidy up")
    cell(page, 1).locator(".jp-OutputArea").filter(has_text="March is odd").wait_for()
    agent_text = cell(page, 1).locator(".jp-OutputArea").inner_text()
    assert "risky mode: nothing flagged" in agent_text and "Step 2: skipped (you, on the page)" in agent_text
    assert RISKY not in page.locator(".jp-Notebook").inner_text()

    # `auto` approval on the page: every step becomes its cell and runs, no buttons; the answer says who approved
    write_and_run(page, 4, "%config GrokMagics.agent_approval = 'auto'")
    wait_finished(page, 4, 10)
    fake.script(
        Reply(text="", tool_calls=[step(TOTALS, "monthly totals", "a1")]),
        Reply(text="", tool_calls=[step("print('peak:', by_month.idxmax())", "the peak", "a2")]),
        Reply(text=FINAL),
    )
    run(page, 1)
    step_outputs(page, 3).filter(has_text="peak: 2024-03").first.wait_for()
    cell(page, 1).locator(".jp-OutputArea").filter(has_text="March is odd").wait_for()
    assert page.locator(".grok-agent-bar").count() == 0, "a step asked under auto approval"
    assert [source_of(page, 2), source_of(page, 3)] == [TOTALS, "print('peak:', by_month.idxmax())"]
    assert cell(page, 1).locator(".jp-OutputArea").inner_text().count("approved (auto)") == 2
