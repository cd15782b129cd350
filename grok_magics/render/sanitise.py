"""The one gate for text from outside (the model, the web, a provider, a cassette) on its way to a page.

Answers are Markdown that someone else renders: JupyterLab, VS Code, nbconvert (mistune), GitHub. Each
parses Markdown a little differently, some lift math out before parsing, and some pass raw HTML through
unsanitised (nbconvert's HTML; JupyterLab for outputs made in the session). So what we emit is made safe
*whatever* reads it, not safe for the parser we think will read it:

- Outside kept code blocks no ``<`` that could start a tag survives: it becomes ``&lt;`` in text and
  ``< `` in math (TeX ignores the space; MathJax still draws ``a<b``). A code span holding a tag or a link
  opener is written as ``<code>`` with entities, which reads the same and stays text however another
  parser pairs the backticks.
- Every ``](`` and ``]:`` (links, images, reference definitions) is followed by an http(s) or mailto URL,
  or its ``(``/``:`` becomes an entity: the same character, never syntax. Autolinks become ``[url](url)``.
  Escapes and markup we write are entities, not backslashes (mistune's bare-URL links eat a backslash).
- URLs we write ourselves (citations) are percent-encoded: no ``>``, ``"`` or ``)`` can end them early.
- Where JupyterLab's math pass is about (a ``$`` and a ``"`` in the page), quotes are entities: it puts
  math back into the HTML unescaped for quotes, so math lifted out of an image's alt would end it.
- Fenced code keeps its text where every renderer surely reads the same block (see ``_fences``); other
  fences with a tag or a link in them show their text escaped.
- Known secrets are masked (``secrets.redact``) on the same pass; a table cut off before its delimiter row
  gets one (``close_table``), so a cut-short answer never ends in a line of raw pipes.

``page`` judges one output as a whole (answer, reasoning, tool calls, sources, status line), because
renderers pair math and fences across those parts. The scan is linear in the text, and skipped for pages
with no ``<``, ``](`` or ``]:`` from outside. ``tests/test_gate_in.py`` holds a case for each rule.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import Callable, Union

from grok_magics.privacy.redaction import redact
from grok_magics.render.markdown import block_parser, close_fences, close_table

_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")  # what a backslash escapes in CommonMark
_TAG_CHAR = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ/!?")  # after "<": a tag could start
_SPECIAL = re.compile(r"[\\`$<\]]")
_TICKS = re.compile(r"`+")
_SCHEME = re.compile(r"(?:https?://|mailto:)", re.IGNORECASE)
_AUTOLINK = re.compile(r"<((?:https?://|mailto:)[^\s<>]*)>", re.IGNORECASE)
_MATH_TAG = re.compile(r"<(?=[A-Za-z/!?])")
_MATH_LINK = re.compile(r"\](?=[(:])")
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_URL_SAFE = "-._~:/?#@!&*+,;=%"  # kept as they are; anything else ("$" too: math) is percent-encoded
# Markup characters as entities, not backslash escapes: mistune's bare-URL links swallow a backslash, and
# an entity is never syntax to any parser.
_ENTITIES = {c: f"&#{ord(c)};" for c in "\\`*_[]|$~"} | {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
# plain text keeps "$", "*", "_", "|" and "~" as they are ("$0.01", "max_tokens"): they can make emphasis or
# math, never a tag or a link
_PLAIN = str.maketrans({c: e for c, e in _ENTITIES.items() if c not in "$*_|~"})
_CODE = str.maketrans(_ENTITIES)
_NOT_SYNTAX = {"(": "&#40;", ":": "&#58;"}
_ORDINAL = re.compile(r"^(\d+)([.)])")  # "1. x" would be a list item
_PEEK = 256  # how much of a link destination is read to find its scheme
_DISPLAY_OPEN = re.compile(r"\$\$|\\\\\[|\\begin\{")  # math that nbconvert finds across blocks
_JL_OPEN = re.compile(r"\$|\\\\[(\[]|\\begin\{")  # a math opener to JupyterLab
_DISPLAY_CLOSE = re.compile(r"\$\$|\\\\\]|\\end\{")
_DANGER = re.compile(r"<[A-Za-z/!?]|\][(:]")  # what the scan would change: a tag, a link
_ALONE = re.compile(r"(`{3,}|~{3,})[\w+#.-]*[ \t]*$")  # a fence opening line every renderer reads alike
_FENCE_LIKE = re.compile(r"^((?:[ \t>]|[-+*][ \t]|\d{1,9}[.)][ \t])*)(?=`{3}|~{3})")
_HARMLESS = re.compile(r"[\w .,:/+=@#%(){}-]+")  # inline code with nothing to escape
_LOOK_BACK = 100  # lines a fence's paragraph is searched for math openers
_MATH_REACH = 1000  # an inline $...$ longer than this is not math


# --------------------------------------------------------------------------- the public functions


class Markup(str):
    """Markdown we write ourselves (our own tags and labels; any outside string in it already went through
    ``plain``, ``html_text``, ``link`` or ``code_span``): kept as it is."""


@dataclass(frozen=True)
class Code:
    """A code block of outside text (tool arguments and results, a JSON answer)."""

    lang: str
    text: str


@dataclass(frozen=True)
class Text:
    """Outside Markdown with a last step for its made-safe text (the heading shift, the held-back tail)."""

    markdown: str
    then: Callable[[str], str] | None = None


Block = Union[str, Markup, Code, Text]


def markdown(text: str) -> str:
    """Markdown from outside, as it may be shown: secrets masked, raw HTML inert outside code, only
    http(s) and mailto links; code, math, tables, headings and emphasis keep working."""
    return page(text)


def page(*blocks: Block) -> str:
    """One Markdown output made of blocks (joined by blank lines), made safe as a whole: renderers pair
    math and fences across blocks, so the blocks are judged together, not one by one."""
    parts = [part for part in map(_part, blocks) if part[1]]
    if not parts:
        return ""
    joined = "\n\n".join(text for _, text, _ in parts)
    quotes = '"' in joined and _JL_OPEN.search(joined) is not None
    outside = [text for kind, text, _ in parts if kind != "ours"]
    if not quotes and not any("<" in t or "](" in t or "]:" in t for t in outside):
        return "\n\n".join(then(text) if then else text for _, text, then in parts)
    lines = joined.split("\n")
    fences = "```" in joined or "~~~" in joined
    kept, escaped = _fences(lines, joined) if fences else (frozenset(), frozenset())
    shown, n = [], 0
    for kind, text, then in parts:
        state, out = _State(quotes), []
        for line in text.split("\n"):
            if kind == "ours" or n in kept:
                out.append(line)
            else:
                out.append(_line(line if n in escaped or not fences else _defuse(line), state))
            n += 1
        n += 1  # the blank line between blocks
        safe = "\n".join(out)
        shown.append(then(safe) if then else safe)
    return "\n\n".join(shown)


def _part(block: Block) -> tuple[str, str, Callable[[str], str] | None]:
    """(kind, text, last step): outside text masked, line endings as parsers count them, fences closed."""
    if isinstance(block, Markup):
        return "ours", str(block).strip("\n"), None
    if isinstance(block, Code):
        return "code", _code_block(block.lang, _lines(block.text)), None
    text, then = (block.markdown, block.then) if isinstance(block, Text) else (block, None)
    return "outside", close_table(close_fences(_lines(redact(text))).strip("\n").rstrip()), then


def _lines(text: str) -> str:
    """A lone CR ends a line for every Markdown parser: lines must be counted as they count them."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def plain(text: str) -> str:
    """A string that is text, not Markdown (a page title, a search query, a status or error line): one line,
    shown literally wherever Markdown is rendered, with no markup of its own."""
    escaped = " ".join(redact(text).split()).translate(_PLAIN)
    if escaped[:1] in ("#", "+", "-", "="):  # would start a heading or a list
        return "\\" + escaped
    return _ORDINAL.sub(r"\1\\\2", escaped, count=1)


def html_text(text: str) -> str:
    """A string as the text of HTML we write ourselves (a ``<summary>``, where Markdown is off)."""
    return html.escape(redact(text), quote=False)


def href(url: str) -> str | None:
    """``url`` as a Markdown link destination that nothing can break out of, or None when it is not an
    http(s) or mailto URL."""
    url = redact(url).strip()
    if not _SCHEME.match(url) or any(ord(c) < 32 or c == "\x7f" for c in url):
        return None
    from urllib.parse import quote

    return quote(url, safe=_URL_SAFE).replace("&", "&amp;")


def link(title: str, url: str) -> str:
    """A numbered source, say: a link when the URL may be one, else the title and the URL as text."""
    target = href(url)
    label = plain(" ".join((title or url).split()))
    if target is None:
        return label + (f" ({plain(url)})" if title else "")
    return f"[{label}]({target})"


def _code_block(lang: str, text: str) -> str:
    """A fenced code block whose fence nothing inside can close; the text verbatim, secrets masked."""
    text = redact(text)
    longest = max((len(run) for run in _TICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def code_span(text: str) -> str:
    """Inline code that is code in every renderer (a chat name, a call signature): backticks around
    harmless text, else ``<code>`` with every character that could mean something as an entity."""
    text = redact(" ".join(text.split()))
    if _HARMLESS.fullmatch(text):
        return f"`{text}`"
    return _html_code(text)


# --------------------------------------------------------------------------- the scan


class _State:
    """What carries from one line to the next: an open ``$$`` display; whether quotes become entities."""

    __slots__ = ("display", "quotes", "closers")

    def __init__(self, quotes: bool) -> None:
        self.display = False
        self.closers: tuple[str, list[int]] | None = None  # this line's inline math closers
        # JupyterLab puts math back into the HTML with "&<>" escaped but not quotes; where math landed in
        # an attribute (an image's alt, a title, a code block's language), a quote in it would end it
        self.quotes = quotes


def _fences(lines: list[str], text: str) -> tuple[frozenset[int], frozenset[int]]:
    r"""Which fenced code lines keep their text, and which are code whose text is escaped.

    A fence with nothing to escape keeps its text, however it is read. One holding a tag or a link keeps
    it only where every renderer surely reads the same code block: renderers disagree on fences nested in
    lists and quotes, and math is lifted out before Markdown is parsed by passes that know nothing of
    fences (JupyterLab pairs ``$``, ``$$``, ``\\(`` up to a blank line; nbconvert pairs ``$$``, ``\\[``,
    ``\begin{}`` anywhere and reads all between as one paragraph). A pair reaching into or across a fence
    turns its lines, and the lines of every later fence, into Markdown. So such a fence must stand alone
    (top level, first column, blank lines around it), no nbconvert pair may reach it, and every fence
    before it must be read alike too; otherwise its text is escaped (``&lt;`` shows in the code).
    """
    kept: set[int] = set()
    escaped: set[int] = set()
    opens = [n for n, line in enumerate(lines) if _DISPLAY_OPEN.search(line)]
    closes = [n for n, line in enumerate(lines) if _DISPLAY_CLOSE.search(line)]
    agreed = True  # every fence so far is read the same way by every renderer
    for token in block_parser(html=False).parse(text):  # our output holds no HTML block
        if token.type != "fence" or not token.map:
            continue
        start, end = token.map
        body = lines[start:end]
        bounded = (start == 0 or not lines[start - 1].strip()) and (end >= len(lines) or not lines[end].strip())
        reached = bool(opens) and opens[0] < start and bool(closes) and closes[-1] >= start
        alike = bounded and _ALONE.match(body[0]) is not None and not reached  # first column: top level
        danger = any(_DANGER.search(line) for line in body) or (
            any('"' in line for line in body) and _math_reaches(lines, start)
        )
        if not danger or (alike and agreed):
            kept.update(range(start, end))
        else:
            escaped.update(range(start, end))
        agreed = agreed and alike
    return frozenset(kept), frozenset(escaped)


def _math_reaches(lines: list[str], start: int) -> bool:
    """Whether JupyterLab's math pass could open a pair before this fence's text (in the lines since the
    last blank one, or on its opening line) and carry the fence's quotes into an attribute. Looking back
    is bounded (beyond it: assume it could), so many fences in one paragraph stay linear."""
    for n in range(start, max(-1, start - _LOOK_BACK), -1):
        if n != start and not lines[n].strip():
            return False
        if _JL_OPEN.search(lines[n]):
            return True
    return start >= _LOOK_BACK


def _defuse(line: str) -> str:
    """A line outside fences never opens one in any renderer (its first fence character is escaped), so
    no renderer's fence can swallow, or end inside, a kept one."""
    match = _FENCE_LIKE.match(line)
    return line if match is None else line[: match.end(1)] + "\\" + line[match.end(1) :]


def _line(line: str, state: _State) -> str:
    out: list[str] = []
    i, n = 0, len(line)
    if state.display:
        close = _display_close(line, 0)
        if close < 0:
            return _math(line).replace('"', "&quot;") if state.quotes else _math(line)
        out.append(_math(line[:close]) + "$$")
        i = close + 2
        state.display = False
    ticks: dict[int, list[int]] | None = None
    while i < n:
        match = _SPECIAL.search(line, i)
        if match is None:
            out.append(line[i:])
            break
        j = match.start()
        out.append(line[i:j])
        ch = line[j]
        if ch == "\\":
            i = _escape(line, j, out)
        elif ch == "`":
            if ticks is None:
                ticks = _tick_runs(line)
            i = _code(line, j, ticks, out, state.quotes)
        elif ch == "$":
            i = _dollar(line, j, state, out)
        elif ch == "<":
            i = _angle(line, j, out)
        else:  # "]"
            i = _bracket(line, j, out)
    done = "".join(out)
    return done.replace('"', "&quot;") if state.quotes else done


def _escape(line: str, j: int, out: list[str]) -> int:
    """A backslash escape is kept, except before "<", "[" and "]", which become entities: mistune's
    bare-URL links swallow the backslash, and the character would be live again."""
    nxt = line[j + 1 : j + 2]
    if nxt in ("<", "[", "]"):
        out.append(_ENTITIES[nxt])
    elif nxt and nxt in _PUNCT:
        out.append(line[j : j + 2])
    else:
        out.append("\\")
        return j + 1
    return j + 2


def _tick_runs(line: str) -> dict[int, list[int]]:
    """Start of every backtick run, by length: a span's closer is found with one bisect, not a rescan."""
    runs: dict[int, list[int]] = {}
    for run in _TICKS.finditer(line):
        runs.setdefault(len(run.group()), []).append(run.start())
    return runs


def _code(line: str, j: int, ticks: dict[int, list[int]], out: list[str], quotes: bool) -> int:
    """A code span: kept as it is unless it holds a tag, a link or (with math about) a quote; then it is
    written as ``<code>`` with entities, which is safe however another parser pairs the backticks."""
    end = j
    while end < len(line) and line[end] == "`":
        end += 1
    length = end - j
    starts = ticks.get(length, [])
    k = bisect_right(starts, j)  # runs are maximal: the next one of this length starts after ``end``
    if k == len(starts):  # no closer on this line: the backticks are text
        out.append(line[j:end])
        return end
    close = starts[k]
    content = line[end:close]
    convert = _needs_html(content) or (quotes and '"' in content)
    out.append(_html_code(_strip_one(content)) if convert else line[j : close + length])
    return close + length


def _needs_html(content: str) -> bool:
    return "](" in content or "]:" in content or _MATH_TAG.search(content) is not None


def _strip_one(content: str) -> str:
    if len(content) >= 2 and content[0] == " " and content[-1] == " " and content.strip():
        return content[1:-1]
    return content


def _html_code(content: str) -> str:
    """Inline code as HTML whose characters are entities or escaped: text in every reading, even where
    another parser pairs the backticks differently."""
    return "<code>" + content.translate(_CODE) + "</code>"


def _math(segment: str) -> str:
    """Math keeps its TeX: a space after "<" (ignored by TeX) means no tag, a space after "]" no link."""
    return _MATH_LINK.sub("] ", _MATH_TAG.sub("< ", segment))


def _display_close(line: str, start: int) -> int:
    i = line.find("$$", start)
    while i > 0 and line[i - 1] == "\\":
        i = line.find("$$", i + 2)
    return i


def _dollar(line: str, j: int, state: _State, out: list[str]) -> int:
    if line.startswith("$$", j):
        close = _display_close(line, j + 2)
        if close < 0:
            state.display = True
            out.append("$$" + _math(line[j + 2 :]))
            return len(line)
        out.append("$$" + _math(line[j + 2 : close]) + "$$")
        return close + 2
    close = _inline_close(line, j, state)
    if close < 0:
        out.append("$")
        return j + 1
    out.append("$" + _math(line[j + 1 : close]) + "$")
    return close + 1


def _inline_close(line: str, j: int, state: _State) -> int:
    """Pandoc's rule: ``$`` then no space, closed by a ``$`` after no space and before no digit (and
    within reach). The closers of a line are found once: a line of many ``$`` stays linear."""
    if j + 1 >= len(line) or line[j + 1].isspace() or line[j + 1] == "$":
        return -1
    if state.closers is None or state.closers[0] is not line:
        state.closers = (
            line,
            [
                k
                for k in range(1, len(line))
                if line[k] == "$"
                and line[k - 1] != "\\"
                and not line[k - 1].isspace()
                and not line[k + 1 : k + 2].isdigit()
            ],
        )
    closers = state.closers[1]
    k = bisect_right(closers, j)
    return closers[k] if k < len(closers) and closers[k] - j < _MATH_REACH else -1


def _angle(line: str, j: int, out: list[str]) -> int:
    auto = _AUTOLINK.match(line, j)
    if auto is not None and not line[j - 1 : j] == "\\":  # "\\[" would open math for nbconvert
        url = auto.group(1)
        target = href(url)
        if target is not None:
            out.append(f"[{plain(url)}]({target})")
            return auto.end()
    if j + 1 < len(line) and line[j + 1] in _TAG_CHAR:
        out.append("&lt;")
    else:
        out.append("<")
    return j + 1


def _bracket(line: str, j: int, out: list[str]) -> int:
    """``](`` and ``]:``: kept only before an allowed URL; otherwise the ``(`` or ``:`` is escaped."""
    after = line[j + 1 : j + 2]
    if after not in ("(", ":"):
        out.append("]")
        return j + 1
    start = j + 2
    while start < len(line) and line[start] in " \t":
        start += 1
    if line.startswith("<", start):  # an angle-bracket destination: rewritten plainly, encoded
        close = line.find(">", start + 1, start + _PEEK * 16)
        inner = line[start + 1 : close] if close > 0 else ""
        target = href(_decode(inner)) if close > 0 and "<" not in inner else None
        if target is not None:
            out.append("]" + after + line[j + 2 : start] + target)
            return close + 1
    elif start < len(line) and _allowed(line[start : start + _PEEK]):
        out.append("]" + after + line[j + 2 : start])  # the destination itself is scanned as text next
        return start
    out.append("]" + _NOT_SYNTAX[after])  # an entity: the same character, but never link syntax
    return j + 2


def _decode(raw: str) -> str:
    """A destination as the renderer will read it: backslash escapes and entities resolved."""
    return html.unescape(_ESCAPED.sub(r"\1", raw))


def _allowed(peek: str) -> bool:
    raw = re.split(r"[\s)]", peek, maxsplit=1)[0]
    return _SCHEME.match(_decode(raw)) is not None
