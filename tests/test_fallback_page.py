"""The script shipped inside answers, where the page extension is absent (VS Code, exported HTML): in Chromium,
on a page shaped like an output area, it follows a streaming answer while the reader stays at the bottom,
leaves the reader where they scrolled, and follows again once they come back down.

The page extension's own following is proved in JupyterLab and Notebook 7 (``test_browser``); its rules are
unit-tested in ``src/__tests__/followlogic.test.ts``. This script runs that same code, compiled into the package
(``render/frontend.py`` joins it in).
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from conftest import wait_until
from test_browser import CHROMIUM, CHROMIUM_ARGS, check_browser

from grok_magics.render.frontend import script

PAGE = """<!doctype html><html><body style="margin:0;font:14px sans-serif">
<textarea id="editor">a cell being edited</textarea>
<div class="jp-OutputArea"><div class="grok-answer" id="answer"><p>Start of the answer.</p>
<p class="grok-live" id="live">the unfinished sentence…</p></div>
<div class="grok-status">streaming</div></div>
<div class="jp-OutputArea"><div class="jp-OutputArea-child"><script>{script}</script></div></div>
</body></html>"""

# the answer ends (its final status line drawn), then the cell runs again: the same output area, cleared
END = """() => { document.getElementById('live').remove();
  document.querySelector('.grok-status').outerHTML =
    '<div class="grok-status" style="margin-top:200px">grok-4.3 · 1.2 s</div>'; }"""
RERUN = """() => { const answer = document.getElementById('answer');
  answer.innerHTML = '<p>Start of the next answer.</p><p class="grok-live" id="live">…</p>';
  document.querySelector('.grok-status').outerHTML = '<div class="grok-status grok-live">streaming</div>'; }"""
GROW = """n => { const answer = document.getElementById('answer'), live = document.getElementById('live');
  for (let i = 0; i < n; i++) { const p = document.createElement('p');
    p.textContent = 'Another finished paragraph of the answer, long enough to take a line.';
    answer.insertBefore(p, live); } }"""


@pytest.fixture
def page() -> Iterator[Any]:
    check_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 800, "height": 600})
            tab.set_content(PAGE.replace("{script}", script()))
            yield tab
        finally:
            browser.close()


def edge_in_sight(page: Any) -> bool:
    bottom = page.evaluate("document.getElementById('live').getBoundingClientRect().bottom")
    return 0 <= bottom <= page.viewport_size["height"] + 1


def in_sight(page: Any, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    return box is not None and 0 <= box["y"] + box["height"] <= page.viewport_size["height"] + 1


def scroll_y(page: Any) -> float:
    return page.evaluate("window.scrollY")


def stream(page: Any, paragraphs: int) -> None:
    """Paragraphs arrive one at a time, each a frame apart, as a streaming answer's blocks do."""
    for _ in range(paragraphs):
        page.evaluate(GROW, 1)
        page.wait_for_timeout(16)


def test_the_answers_script_follows_the_stream_until_the_reader_scrolls_up(page: Any) -> None:
    assert page.locator(".jp-OutputArea-child").evaluate("e => e.style.display") == "none", "the carrier shows"
    stream(page, 60)
    wait_until(lambda: edge_in_sight(page), "the script to follow the live edge", 5)
    assert scroll_y(page) > 0

    # keys typed into an editor move its cursor, not the page: following goes on
    page.evaluate("document.getElementById('editor').focus({preventScroll: true})")
    for key in ("Home", "ArrowUp", "PageUp"):
        page.keyboard.press(key)
    stream(page, 10)
    wait_until(lambda: edge_in_sight(page), "following to go on while the reader types", 5)
    page.evaluate("document.activeElement.blur()")

    # the reader scrolls up in small steps (a trackpad) while the answer keeps coming: the view stays where
    # the reader puts it, though the edge is still near the fold after the first steps
    page.mouse.move(400, 300)
    for _ in range(8):
        page.mouse.wheel(0, -20)
        stream(page, 2)
    wait_until(lambda: not edge_in_sight(page), "the reader to scroll up", 5)
    page.wait_for_timeout(300)
    at = scroll_y(page)
    stream(page, 20)
    page.wait_for_timeout(300)
    assert scroll_y(page) == at, "the view dragged the reader back down"
    assert not edge_in_sight(page)

    # back down to the edge (End, once it has come to rest): following resumes as the answer keeps coming
    page.keyboard.press("End")
    wait_until(lambda: edge_in_sight(page), "the reader to reach the bottom", 5)
    at = scroll_y(page)
    stream(page, 30)
    wait_until(lambda: edge_in_sight(page) and scroll_y(page) > at, "following to resume at the bottom", 5)
    at = scroll_y(page)

    # the answer ends with the reader up in it; the cell runs again into the same output area: the new
    # answer is followed from its start
    page.evaluate(END)  # followed to its end: the reader sees how it ended
    wait_until(lambda: in_sight(page, ".grok-status"), "the final status line to come into sight", 5)
    page.mouse.wheel(0, -400)
    wait_until(lambda: scroll_y(page) < at, "the reader to scroll up", 5)
    page.evaluate(RERUN)
    stream(page, 60)
    wait_until(lambda: edge_in_sight(page), "the re-run's answer to be followed", 5)


def test_a_wheel_that_moves_nothing_does_not_stop_following(page: Any) -> None:
    """A short answer fits the window: the reader's idle wheel up moves nothing, so when the answer grows past
    the fold it is still followed (once, any wheel up stopped following for good)."""
    stream(page, 1)
    page.wait_for_timeout(300)  # the script has seen the answer streaming
    assert scroll_y(page) == 0 and edge_in_sight(page)
    page.mouse.move(400, 300)
    for _ in range(3):
        page.mouse.wheel(0, -120)
    page.wait_for_timeout(200)
    stream(page, 40)
    wait_until(lambda: edge_in_sight(page) and scroll_y(page) > 0, "the grown answer to be followed", 5)

    # a wheel up that does move the view still stops following
    page.mouse.wheel(0, -200)
    wait_until(lambda: not edge_in_sight(page), "the reader to scroll up", 5)
    at = scroll_y(page)
    stream(page, 20)
    page.wait_for_timeout(300)
    assert scroll_y(page) == at, "the view dragged the reader back down"


def test_the_script_shows_a_long_answer_whole_where_the_frontend_trims_outputs(page: Any) -> None:
    """JupyterLab shows 50 outputs of a cell and puts "Show more outputs" after them; an answer streams one output
    per block, so its end, live edge and status line would hide there. The page extension lifts the limit; where
    it is absent the script presses that line for the answer's own output area, and no other."""
    page.goto("about:blank")  # a page of its own: the script installs itself once per page
    page.set_content(
        PAGE.replace("{script}", "")
        + """<div class="jp-OutputArea" id="answer-area"><div class="jp-OutputArea-child"><script>"""
        + script()
        + """</script></div><div class="jp-OutputArea-child"><div class="jp-TrimmedOutputs" id="mine"
          onclick="this.dataset.pressed = 'yes'">Show more outputs</div></div></div>
        <div class="jp-OutputArea"><div class="jp-TrimmedOutputs" id="other"
          onclick="this.dataset.pressed = 'yes'">Show more outputs</div></div>"""
    )
    wait_until(lambda: page.evaluate("document.getElementById('mine').dataset.pressed") == "yes", "the press", 5)
    assert page.evaluate("document.getElementById('other').dataset.pressed") is None, "another cell's was pressed"


def test_an_exported_answers_code_blocks_get_copy(page: Any) -> None:
    """nbconvert's HTML writes code blocks as div.highlight > pre, with no <code>: they get Copy too (no Insert:
    an export has no notebook to insert into)."""
    page.goto("about:blank")
    page.set_content(
        """<div class="jp-OutputArea"><div class="jp-RenderedMarkdown"><p>Run this:</p>
        <div class="highlight"><pre><span>print</span>(1)</pre></div>
        <sub class="grok-status">grok-4.3 · xAI</sub></div>
        <div class="jp-OutputArea-child"><script>"""
        + script()
        + "</script></div></div>"
    )
    tools = page.locator(".highlight .grok-tools button")
    wait_until(lambda: tools.count() == 1, "Copy on the exported code block", 5)
    assert tools.inner_text() == "Copy"
