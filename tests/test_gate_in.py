"""One gate in: text from outside (answers, reasoning summaries, citations, tool calls, error bodies,
cassettes) never becomes live HTML — in the notebook's outputs, the saved notebook, its nbconvert HTML,
or any export — and files are safe (``%grok export`` never silently replaces a file; the dry run masks
URL credentials).

What a browser would act on is found with an HTML parser, not by looking for substrings: escaped text
legitimately holds "&lt;script". Markdown is rendered as three renderers read it: nbconvert (mistune, raw
HTML passed through), CommonMark (markdown-it with raw HTML on) and JupyterLab (math lifted out first,
put back with only ``&<>`` escaped, then Markdown with raw HTML on, as for trusted outputs).
"""

from __future__ import annotations

import json
import re
import threading
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable

import nbformat
import pytest
from conftest import Harness, assert_no_canary, watch
from fake_grok import Reply
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grok_magics.render.sanitise import Code, Markup, link, markdown, page, plain


def hostile(tag: str) -> str:
    """What a model, a web page or a shared cassette could say: a script, an event handler, a javascript:
    link, and URLs with ``"`` and ``>`` meant to end their markup early."""
    return (
        f'Say <script>alert("{tag}-s")</script> and <img src=x onerror=alert("{tag}-i")>. '
        f'See [docs](javascript:alert("{tag}-j")), [go](https://x.test/{tag}"onmouseover="alert(1)) '
        f'and <https://x.test/{tag}>b">.'
    )


def visible_marks(tag: str) -> list[str]:
    """What of ``hostile(tag)`` must still be read, as text."""
    return [
        f'<script>alert("{tag}-s")</script>',
        f'<img src=x onerror=alert("{tag}-i")>',
        f'[docs](javascript:alert("{tag}-j"))',
    ]


# -- reading HTML the way a browser acts on it ------------------------------------------------------------

_ACTIVE_TAGS = {
    "script",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "svg",
    "math",
    "style",
    "base",
    "form",
    "meta",
    "link",
    "template",
    "noscript",
    "textarea",
    "select",
    "option",
}
_URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background", "srcset"}
_SAFE_URL = re.compile(r"(?i)(https?://|mailto:|#)")


class LiveHTML(HTMLParser):
    """Elements and attributes a browser would act on, and the text a reader sees. ``scope``: only inside
    this element (nbconvert's page keeps its own scripts in <head>); ``ours``: the project's own script,
    which is allowed (it is the front end's Copy/Insert script, shipped in the package)."""

    def __init__(self, scope: str | None = None, ours: str = "") -> None:
        super().__init__(convert_charrefs=True)
        self.scope, self.ours = scope, ours
        self.depth = 0 if scope else 1
        self.live: list[str] = []
        self.text: list[str] = []
        self.script: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == self.scope:
            self.depth += 1
        if not self.depth:
            return
        if tag == "script":
            self.script = []
        elif tag in _ACTIVE_TAGS:
            self.live.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name in ("srcdoc", "style") and tag != "sub":
                self.live.append(f"<{tag} {name}=...>")
            if name in _URL_ATTRS and value is not None and not _SAFE_URL.match(re.sub(r"[\x00-\x20]", "", value)):
                self.live.append(f"<{tag} {name}={value!r}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "script":
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self.script is not None:
            body, self.script = "".join(self.script), None
            if not self.ours or body.strip() != self.ours.strip():
                self.live.append(f"<script>{body[:60]}")
        if tag == self.scope and self.depth:
            self.depth -= 1

    def close(self) -> None:
        super().close()
        if self.script is not None:  # a script never closed is live all the same
            self.live.append("<script>" + "".join(self.script)[:60])
            self.script = None

    def handle_data(self, data: str) -> None:
        if self.script is not None:
            self.script.append(data)
        elif self.depth:
            self.text.append(data)

    def handle_comment(self, data: str) -> None:
        if self.depth:
            self.live.append("<!--comment-->")  # conditional comments and friends: nothing of ours writes one

    def handle_pi(self, data: str) -> None:
        if self.depth:
            self.live.append("<?pi>")


def read(html: str, scope: str | None = None, ours: str = "") -> LiveHTML:
    parser = LiveHTML(scope, ours)
    parser.feed(html)
    parser.close()
    return parser


def assert_inert(html: str, where: str, scope: str | None = None, ours: str = "") -> str:
    """No live element or attribute in ``html``; returns the text a reader sees."""
    seen = read(html, scope, ours)
    assert not seen.live, f"live HTML in {where}: {seen.live}"
    return "".join(seen.text)


# -- three renderers ---------------------------------------------------------------------------------


def nbconvert_html(text: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(text)


def commonmark_html(text: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(text)


_MATH_TOKENS = re.compile(
    r"(\$\$?|\\(?:begin|end)\{[a-z]*\*?\}|\\[{}$]|[{}]|(?:\n\s*)+|@@\d+@@|\\\\(?:\(|\)|\[|\]))", re.IGNORECASE
)


def jupyterlab_html(text: str) -> str:
    """JupyterLab's order of work: math delimiters are paired on the raw source (not through a blank line;
    ``$`` in one-line code spans ignored) and lifted out, the rest is rendered with raw HTML on (trusted
    outputs), and the math goes back into the HTML with only ``&<>`` escaped."""
    hidden = re.sub(
        r"(^|[^\\])(`+)([^\n]*?[^`\n])\2(?!`)", lambda m: m.group(0).replace("$", "\x00"), text, flags=re.MULTILINE
    )
    pieces = _MATH_TOKENS.split(hidden)
    math: list[str] = []
    start: int | None = None
    end = ""
    for i in range(1, len(pieces), 2):
        piece = pieces[i]
        if start is not None:
            if piece == end:
                math.append("".join(pieces[start : i + 1]))
                pieces[start : i + 1] = [f"@@{len(math) - 1}@@"] + [""] * (i - start)
                start = None
            elif re.search(r"\n.*\n", piece):
                start = None
        elif piece in ("$", "$$"):
            start, end = i, piece
        elif piece in ("\\\\(", "\\\\["):
            start, end = i, "\\\\)" if piece.endswith("(") else "\\\\]"
        elif piece[1:6] == "begin":
            start, end = i, "\\end" + piece[6:]
    html = commonmark_html("".join(pieces).replace("\x00", "$"))
    escape = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
    return re.sub(r"@@(\d+)@@", lambda m: "".join(escape.get(c, c) for c in math[int(m.group(1))]), html)


RENDERERS: dict[str, Callable[[str], str]] = {
    "nbconvert": nbconvert_html,
    "commonmark": commonmark_html,
    "jupyterlab": jupyterlab_html,
}


def assert_markdown_inert(text: str, where: str) -> str:
    """``text`` read by every renderer: nothing live; returns what nbconvert's reader sees."""
    seen = ""
    for name, render in RENDERERS.items():
        shown = assert_inert(render(text), f"{where} ({name})")
        seen = seen or shown
    return seen


# -- the sanitiser on its own -----------------------------------------------------------------------


def test_hostile_markdown_stays_text_and_legit_markdown_still_renders() -> None:
    answer = "\n\n".join(
        [
            "## Result",
            hostile("ans"),
            "**Bold**, *em* and `<b>code</b>`; a < b and 2 > 1.",
            "| col | val |\n|---|---|\n| <b>x</b> | $a<b$ |",
            "$$\\sum_{i<n} x_i$$",
            "```html\n<script>kept as code</script>\n```",
            "[site](https://example.org/a_(b)) and <https://example.org/auto>.",
        ]
    )
    out = markdown(answer)
    for name, render in RENDERERS.items():
        html = render(out)
        text = assert_inert(html, name)
        for mark in visible_marks("ans"):
            assert mark in text, (name, mark)
        assert "<strong>Bold</strong>" in html and "<em>em</em>" in html and "<table>" in html
        assert "&lt;b&gt;code&lt;/b&gt;" in html  # inline code keeps its text
        assert 'href="https://example.org/auto"' in html and "example.org/a_" in html
        assert re.search(r"kept.{0,80}as.{0,80}code", html)  # (nbconvert highlights it: spans between)
    assert "$a< b$" in out and "$$\\sum_{i< n} x_i$$" in out  # math stays TeX: MathJax draws a<b
    assert "```html\n<script>kept as code</script>\n```" in out  # a fence alone keeps its text verbatim
    assert "## Result" in out and "a < b and 2 > 1" in out


def test_citation_links_cannot_be_broken_out_of() -> None:
    for url in ('https://x.test/a>b"c d(e)<script>alert(1)</script>', "https://x.test/)](javascript:alert(1))"):
        html = nbconvert_html(link('<img src=x onerror=alert("t")> ]( title', url))
        assert_inert(html, url)
        anchors = re.findall(r'<a href="([^"]*)"', html)
        assert len(anchors) == 1 and anchors[0].startswith("https://x.test/") and "<" not in anchors[0]
    for url in ("javascript:alert(1)", " JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>", "x.html"):
        html = nbconvert_html(link("title", url))
        assert "<a " not in html and url.strip() in assert_inert(html, url)  # shown, not linked


def test_plain_text_has_no_markup_of_its_own() -> None:
    said = '<b>x</b> [a](javascript:alert(1)) `c` # not a heading \\ "q"'
    for text in (said, "# heading?", "1. not a list"):
        for name, render in RENDERERS.items():
            html = render(plain(text))
            assert text in assert_inert(html, name), (name, html)
            assert not re.search(r"<(h1|ol|code|a)\b", html), (name, html)


# Each of these goes live in at least one renderer when the rule named with it is taken out of the
# sanitiser (checked by hand, one rule at a time), or went through the gate this replaces.
BYPASSES = {
    "a javascript: link": "[docs](javascript:alert(1))",
    "a reference definition": "[a]: javascript:alert(1)\n\n[x][a]",
    "an entity-encoded scheme": "[a](&#106;avascript:alert(1))",
    "an angle-bracket destination": "[a](<javascript:alert(1)>) ![i](<data:image/svg+xml,x>)",
    "an image source": "![i](javascript:alert(1)) ![j](data:image/svg+xml,<svg onload=alert(1)>)",
    "backtick runs of different lengths": "``<script>alert(1)</script>`",
    "an escaped backtick": "\\`<img src=x onerror=alert(1)>`",
    "a code span over two lines": "`a\nb` <img src=x onerror=alert(1)> `c`",
    "a code span holding a link opener": "[a `x\ny` ](javascript:alert(1)) `z`",
    "an escaped bracket after a bare URL": "[a http://x\\](javascript:alert(1))",
    "an escaped < after a bare URL": "\t\\\\1. \\\\]\nhttps://x.ai\\<script>alert(1)</script>```",
    "an autolink after backslashes": (
        '  \\([x]: ![a](javascript:x)\\end{x}x$x`\\\\<http://a.b/"onx=1>}<div>\n\n```\n'
        'x$\\\\(<http://a.b/"onx=1>\\\\]<script>alert(1)</script>\\['
    ),
    "a fence JupyterLab's inline math reaches": "text $x\n```\n$ <img src=x onerror=alert(1)>\n```",
    "a fence nbconvert's display math reaches": "$$ a\n\n```\n$$ <img src=x onerror=alert(1)>\n```\n",
    "a fence after a fence read two ways": "x $a\n```\n$\n```\n\n```\n<img src=x onerror=alert(1)>\n```",
    "quotes carried by math into an attribute": '![$x" onerror="alert(1)$](https://x.test/i.png)',
    "math in a fence's language": 'a\n\n```$\n" onmouseover=alert(1) x="\n$\n```\n',
    "lone CRs shifting line numbers": "a\rb\rc\n```\n\n```\n<img src=x onerror=alert(1)>\nz\n\n",
}


@pytest.mark.parametrize("case", BYPASSES)
def test_known_bypasses_stay_text(case: str) -> None:
    assert_markdown_inert(markdown(BYPASSES[case]), case)


FRAGMENTS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    "<a href=javascript:x>",
    "<b>",
    "</details>",
    "<!--",
    "<?",
    "<![CDATA[",
    "<x:y>",
    '<https://x.test/"onx=1>',
    "<javascript:alert(1)>",
    "`",
    "``",
    "```",
    "~~~",
    "```js",
    "```x`",
    "\\",
    "\\\\",
    "$",
    "$$",
    "$x",
    "x$",
    "\\\\(",
    "\\\\)",
    "\\\\[",
    "\\\\]",
    "\\begin{x}",
    "\\end{x}",
    "[",
    "]",
    "(",
    ")",
    "](",
    "]:",
    "[x]",
    "[x]: ",
    "![",
    "[a](<javascript:x>)",
    "![a](javascript:x)",
    '[a](https://x.test "t")',
    "javascript:alert(1)",
    "java",
    "script:",
    "&#106;",
    "&lt;",
    "&#60;script&#62;",
    "javascript&colon;",
    "https://x.test",
    "http://",
    "mailto:",
    "!",
    "*",
    "_",
    "#",
    "|",
    "|---|",
    "=",
    "{",
    "}",
    "~",
    "'",
    '"',
    ":",
    " ",
    "  ",
    "    ",
    "\t",
    "a",
    "x",
    "\u00a0",
    "\n",
    "\n",
    "\n\n",
    "\r",
    "\r\n",
    "\n- ",
    "\n1. ",
    "\n> ",
    "\n> > ",
    "\n    ",
    "\n  ",
    "\n===",
    "\n---",
    "\n```\n",
    "\n\n```\n",
    "\n```\n\n",
    "\n> ```\n",
    "\n- ```\n",
    "\n   ```\n",
    "\n    ```\n",
    "\n\n```html\n<b>x</b>\n```\n\n",
]
pieces = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=30).map("".join)
blocks = st.lists(
    st.one_of(
        pieces,
        st.builds(Code, st.sampled_from(["json", ""]), pieces),
        pieces.map(lambda t: [Markup("<details><summary>Thought</summary>"), t, Markup("</details>")]),
        pieces.map(lambda t: Markup(f'<sub class="grok-status">{plain(t)}</sub>')),
    ),
    min_size=1,
    max_size=5,
)


@settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(text=pieces, parts=blocks)
def test_no_renderer_finds_live_html_in_anything_the_gate_lets_out(text: str, parts: list[Any]) -> None:
    """Differential: whatever the pieces, and however answers, code blocks, reasoning and status lines share
    a page, nbconvert, CommonMark and JupyterLab find nothing live in what the sanitiser gives."""
    assert_markdown_inert(markdown(text), repr(text))
    flat = [b for part in parts for b in (part if isinstance(part, list) else [part])]
    assert_markdown_inert(page(*flat), repr(flat))


# -- the channels, as a user meets them: a real kernel, nbclient, nbconvert, exports ------------------


def hostile_cassette(shell: Harness, fake: Any, path: Path) -> None:
    """A cassette someone shared: recorded from a benign exchange, then edited to say hostile things in its
    answer, its reasoning summary and its citations."""
    fake.script(Reply(text="A benign answer."))
    assert shell.run(f"%grok record {path}").success
    assert shell.run("%grok --chat lesson Tell me about gates").success
    assert "Recording stopped" in shell.run("%grok record off").stdout
    edited: list[dict[str, Any]] = []
    for line in map(json.loads, path.read_text().splitlines()):
        if line.get("type") != "TextDelta":
            edited.append(line)
        elif not any(e.get("type") == "TextDelta" for e in edited):  # the first delta says it all; the rest go
            edited += [
                {**line, "type": "ReasoningDelta", "data": {"text": hostile("tape-think")}},
                {**line, "data": {"text": hostile("tape")}},
                {
                    **line,
                    "type": "Citation",
                    "data": {"url": 'javascript:alert("tape-url")', "title": hostile("tape-cite")},
                },
            ]
    assert any(e.get("type") == "TextDelta" for e in edited)
    path.write_text("\n".join(json.dumps(line) for line in edited) + "\n")


def markdown_sent(client: Any) -> list[str]:
    """Every text/markdown payload the kernel sent the frontend: finished blocks and every live tail."""
    with client.lock:
        messages = [m for _, _, m in client.log_messages]
    return [
        m["content"]["data"]["text/markdown"]
        for m in messages
        if m["msg_type"] in ("display_data", "update_display_data") and "text/markdown" in m["content"]["data"]
    ]


@pytest.mark.timeout(300)
def test_hostile_text_on_every_channel_stays_text_in_the_notebook_its_html_and_every_export(
    shell: Harness, fake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kernels import notebook, run_notebook
    from nbconvert import HTMLExporter

    from grok_magics.render.frontend import script

    hostile_cassette(shell, fake, tmp_path / "lesson.jsonl")
    fake.clear()
    fake.script(
        Reply(text="", tool_calls=[{"name": "lookup", "arguments": {"q": hostile("arg")}, "id": "t1"}]),
        Reply(text=hostile("ans"), reasoning=hostile("think")),
        Reply(
            text="Found it [1][2][3].",
            searches=[{"type": "web_search", "query": hostile("query")}],
            citations=[
                {"url": 'javascript:alert("cite-url")', "title": hostile("cite")},
                {"url": 'https://x.test/a>b"c<script>alert("cite-gt")</script>', "title": "gt"},
                {"url": "https://ok.test/page", "title": "A fine page"},
            ],
        ),
        Reply(text=hostile("md")),
        Reply(status=400, error_message=hostile("err")),
    )
    nb = notebook(
        "%load_ext grok_magics",
        f"found = {hostile('tool')!r}\ndef lookup(q: str) -> str:\n    '''Look it up.'''\n    return found",
        "%%grok --tools lookup\nUse the tool.",
        "%%grok --search web\nSearch it.",
        "%config GrokMagics.display = 'markdown'\n%grok Summarise <img src=x onerror=alert(\"prompt\")> please",
        "%config GrokMagics.display = 'auto'\n%grok replay lesson.jsonl",
        "%grok --chat lesson Tell me about gates",
        "%grok replay off",
        "%grok export out.ipynb\n%grok export out.md\n%grok export out.json\n%grok export lesson.md --chat lesson",
        "%grok fail now",
    )
    nb.cells[-1].metadata["tags"] = ["raises-exception"]
    client = run_notebook(nb, tmp_path, timeout=180)
    assert len(fake.requests) == 5, [r.path for r in fake.requests]  # the replayed ask sent nothing
    errors = [(n, o) for n, c in enumerate(nb.cells) for o in c.get("outputs", []) if o.output_type == "error"]
    assert [n for n, _ in errors] == [len(nb.cells) - 1], errors

    # what the frontend was sent, live and final: every Markdown payload, by every renderer
    sent = markdown_sent(client)
    assert any("Thinking" in m or "Thought for" in m for m in sent) and any("grok-live" in m for m in sent)
    for n, payload in enumerate(sent):
        assert_markdown_inert(payload, f"display message {n}")

    # the saved notebook, and its nbconvert HTML
    saved = nbformat.writes(nb)
    assert_no_canary(saved)
    html, _ = HTMLExporter().from_notebook_node(nbformat.reads(saved, as_version=4))
    shown = assert_inert(html, "the saved notebook's nbconvert HTML", scope="main", ours=script())
    for tag in ("ans", "think", "md", "tape", "tape-think", "tool", "err"):
        for mark in visible_marks(tag):
            assert mark in shown or json.dumps(mark)[1:-1] in shown, (tag, mark)
    assert 'alert(\\"arg-s\\")' in shown  # the call's arguments, as JSON in a code block
    for said in (hostile("cite").split(" See")[0], 'javascript:alert("cite-url")', 'javascript:alert("tape-url")'):
        assert said in shown, said  # titles and refused URLs are shown as text
    assert 'href="https://ok.test/page"' in html and 'href="https://x.test/a%3Eb%22c%3Cscript%3E' in html

    # every export: the notebook through nbconvert, the Markdown pages through every renderer
    exported = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    html, _ = HTMLExporter().from_notebook_node(exported)
    shown = assert_inert(html, "out.ipynb's nbconvert HTML", scope="main")
    for tag in ("ans", "md"):
        for mark in visible_marks(tag):
            assert mark in shown, (tag, mark)
    assert '<img src=x onerror=alert("prompt")>' in shown  # the prompt as asked, as text
    for name in ("out.md", "lesson.md"):
        text = (tmp_path / name).read_text()
        assert_no_canary(text)
        shown = assert_markdown_inert(text, name)
        for tag in ("ans", "md") if name == "out.md" else ("tape",):
            for mark in visible_marks(tag):
                assert mark in shown, (name, tag, mark)
    data = json.loads((tmp_path / "out.json").read_text())  # data, never rendered: the text as it was said
    assert hostile("ans") in [e["answer"] for e in data["exchanges"]]


# -- files are safe --------------------------------------------------------------------------------


def test_export_never_replaces_a_file_unless_forced(shell: Harness, fake: Any, tmp_path: Path) -> None:
    fake.script(Reply(text="First."), Reply(text="Second."))
    assert shell.run("%grok one").success
    mine = tmp_path / "analysis.ipynb"
    mine.write_text("my own notebook")
    for name in ("analysis.ipynb", "notes.md", "chat.json"):
        (tmp_path / name).write_text("my own notebook")
        ran = shell.run(f"%grok export {tmp_path / name}")
        assert not ran.success
        said = str(ran.error)
        assert "already exists" in said and "--force" in said and "\n" not in said
        assert "Traceback" not in ran.stdout + ran.stderr
        assert (tmp_path / name).read_text() == "my own notebook"
    assert shell.run("%grok two").success
    ran = shell.run(f"%grok export {mine} --force")
    assert ran.success and "Exported chat 'default' (2 exchange(s))" in ran.stdout
    assert "Second." in nbformat.read(mine, as_version=4).cells[-1].source
    fresh = tmp_path / "new" / "chat.md"
    assert shell.run(f"%grok export {fresh}").success and "Second." in fresh.read_text()


def test_dry_run_masks_credentials_in_the_base_url(shell: Harness, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cretpassw0rd"
    port = fake.origin.rsplit(":", 1)[1]
    monkeypatch.setenv("GROK_BASE_URL", f"http://user:{secret}@127.0.0.1:{port}/v1")
    ran = shell.run("%grok --dry-run What would you send?")
    assert ran.success, ran.everything
    assert f"POST http://***@127.0.0.1:{port}/v1/responses" in ran.stdout
    assert secret not in ran.everything
    assert not fake.api_requests  # a dry run sends nothing
    assert_no_canary(ran.everything)


@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_a_key_echoed_by_the_model_is_masked_in_the_terminal_even_split_across_pieces(
    shell: Harness, fake: Any, chunk: int
) -> None:
    """The terminal view writes text as it streams: a key arriving in pieces is held back and masked whole."""
    from conftest import CANARY

    fake.script(Reply(text=f"Your key is {CANARY} and more text after it.", chunk=chunk))
    ran = shell.run("%grok what is my key?")
    assert ran.success, ran.everything
    assert "Your key is" in ran.stdout and "more text after it." in ran.stdout
    assert_no_canary(ran.stdout, ran.stderr)
    assert CANARY[:12] not in ran.stdout  # not even its first half


def _published(shell: Harness) -> str:
    """Every display message so far, data and metadata (the saved notebook keeps both)."""
    return "\n".join(str(m) for m in shell.publisher.messages)


@pytest.mark.parametrize("display", ["live", "markdown"])
def test_a_key_the_model_echoes_never_shows_half_arrived_in_a_notebook_view(
    shell: Harness, fake: Any, display: str
) -> None:
    """The notebook views re-draw the text as it streams: while a key is arriving (the stream paused in its
    middle, so the view draws) the part that arrived is masked too, not only the whole key."""
    from conftest import CANARY

    shell.run(f"%config GrokMagics.display = '{display}'")
    text = f"Your key is {CANARY} and more text after it.\n\nA second paragraph (the first is kept as it is)."
    chunk = 4
    mid_key = (text.index(CANARY) + len(CANARY) // 2) // chunk
    gate = threading.Event()
    fake.script(Reply(text=text, chunk=chunk, gate_after=mid_key, gate=gate, pace=0.005))
    # the stream pauses mid-key; the view draws what arrived (the key's first part, masked or not)
    drawn = re.compile(r"Your key is (\*\*\*|xai-)")
    seen = watch(lambda: drawn.search(_published(shell)) is not None, gate.set, timeout=15)
    ran = shell.run("%grok what is my key?")
    assert ran.success and seen.is_set(), ran.everything
    shown = _published(shell)
    assert "more text after it." in shown and "A second paragraph" in shown and "***" in shown
    assert CANARY[: len("xai-") + 2] not in shown, "the key or its first half reached the page"


def test_an_answer_interrupted_mid_key_keeps_the_half_key_masked(shell: Harness, fake: Any) -> None:
    from conftest import CANARY, send_sigint

    shell.run("%config GrokMagics.display = 'live'")
    text = f"Your key is {CANARY} and more text after it."
    gate = threading.Event()
    fake.script(Reply(text=text, chunk=4, gate_after=(text.index(CANARY) + 20) // 4, gate=gate, gate_seconds=30))
    watch(lambda: "Your key is" in _published(shell), send_sigint, timeout=15)
    ran = shell.run("%grok what is my key?")
    gate.set()
    assert "Interrupted" in ran.everything + _published(shell)
    final = ran.displays[-1]["data"]["text/markdown"]
    assert "Your key is ***" in final
    assert CANARY[: len("xai-") + 2] not in _published(shell) + ran.everything
    assert shell.magics.session.chats.get("default").turns[-1].interrupted
