"""Markdown as it streams: which top-level blocks are finished, what of the unfinished tail to show,
and headings moved below the notebook's own sections.

Finished blocks are sent to the frontend once, as real ``text/markdown`` outputs that its own
renderer draws (math, highlighting, tables: exactly as in the final answer); only the unfinished
tail is re-sent. Everything here works on the uncommitted text alone, so the cost of an update
does not grow with the length of the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from grok_magics.render.markdown import (
    block_parser,
    cell_count,
    close_fences,
    is_delimiter,
    is_row,
    may_become_delimiter,
)

_BLOCK_OPENERS = {
    "paragraph_open",
    "heading_open",
    "bullet_list_open",
    "ordered_list_open",
    "blockquote_open",
    "table_open",
    "fence",
    "code_block",
    "hr",
    "html_block",
}
_ATX = re.compile(r"^( {0,3})(#{1,6})(?=[ \t]|$)")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
HIDE_AT_MOST = 200  # an opener left unclosed this long is probably literal ("costs $5"): show it


def split_finished(text: str) -> int:
    """How many characters at the start of ``text`` are finished top-level blocks (0: none yet).

    A block is finished once the next top-level block has begun: nothing that arrives later can
    change it (a list only ends when an unindented block starts, an open fence runs to the end).
    """
    starts = [
        tok.map[0]
        for tok in block_parser(html=True).parse(text)
        if tok.level == 0 and tok.type in _BLOCK_OPENERS and tok.map is not None
    ]
    if len(starts) < 2:
        return 0
    lines = text.splitlines(keepends=True)
    return sum(len(line) for line in lines[: starts[-1]])


def hide_unfinished(text: str) -> str:
    """The tail as it may be shown: an open code fence is closed, and inline markup that has not closed
    yet (``**bold``, `` `code``, ``$x_``, ``[link``) is held back until it does."""
    closed = close_fences(text)
    if closed != text:
        return closed
    paragraph_start = text.rfind("\n\n") + 1
    cut = _unclosed_opener(text[paragraph_start:])
    if cut is None or len(text) - (paragraph_start + cut) > HIDE_AT_MOST:
        return text
    return text[: paragraph_start + cut].rstrip(" ")


def table_so_far(tail: str) -> tuple[str, bool]:
    """The raw tail as a table should stream: (what to show, whether it ends in a table).

    A header row is held back until its delimiter row has arrived (before that it is a line of pipes),
    then the table grows a whole row at a time: a row still arriving is held back. Works on the raw tail,
    since only it tells whether the last line is complete."""
    lines = tail.split("\n")
    complete, partial = lines[:-1], lines[-1]
    run = 0  # complete table-looking lines at the end
    while run < len(complete) and is_row(complete[-1 - run]):
        run += 1
    rows = complete[len(complete) - run :]
    in_table = run >= 2 and is_delimiter(rows[1], rows[0])
    held = 0  # lines to hold back, counting the partial one
    if in_table:  # a row still arriving waits, unless it already has all its cells ("| a | b |")
        whole = partial.rstrip().endswith("|") and cell_count(partial) == cell_count(rows[0])
        held = 1 if partial and not whole else 0
    elif run == 0 and partial and is_row(partial):
        held = 1  # perhaps a header row, still arriving
    elif run == 1 and (not partial or may_become_delimiter(partial)):
        held = 2  # a header row and its delimiter still arriving
    if not held:
        return tail, in_table
    cut = len("\n".join(lines[: len(lines) - held]))
    return tail[:cut].rstrip("\n"), in_table


def _unclosed_opener(paragraph: str) -> int | None:
    """Where the earliest still-open inline marker starts, or None when everything is closed."""
    stack: list[tuple[str, int]] = []
    i, n = 0, len(paragraph)
    while i < n:
        ch = paragraph[i]
        if ch == "\\":
            i += 2
            continue
        if stack and stack[-1][0][0] in "`$":  # inside code or math only the closer counts
            run = _run(paragraph, i, stack[-1][0][0])
            if run == stack[-1][0]:
                stack.pop()
            i += max(1, len(run))
            continue
        if ch in "`$*_~":
            run = _run(paragraph, i, ch)
            marker = run if ch in "`$" else run[:2]
            literal = ch == "~" and len(run) < 2  # "~5 min" means about, not strikethrough
            if literal or _is_bullet(paragraph, i, run) or (ch == "_" and _inside_word(paragraph, i, len(run))):
                i += len(run)
                continue
            if stack and stack[-1][0] == marker:
                stack.pop()
            elif i + len(run) < n and not paragraph[i + len(run)].isspace():
                stack.append((marker, i))
            i += len(run)
            continue
        if ch == "[":
            stack.append(("[", i))
        elif ch == "]" and stack and stack[-1][0] == "[":
            start = stack.pop()[1]
            if paragraph.startswith("(", i + 1):
                close = paragraph.find(")", i + 1)
                if close < 0:
                    return start
                i = close
        i += 1
    return stack[0][1] if stack else None


def _run(text: str, i: int, ch: str) -> str:
    j = i
    while j < len(text) and text[j] == ch:
        j += 1
    return text[i:j]


def _is_bullet(text: str, i: int, run: str) -> bool:
    line_start = text.rfind("\n", 0, i) + 1
    return run in ("*", "-", "+") and not text[line_start:i].strip() and text.startswith(" ", i + 1)


def _inside_word(text: str, i: int, length: int) -> bool:
    before = text[i - 1] if i > 0 else " "
    after = text[i + length] if i + length < len(text) else " "
    return before.isalnum() and after.isalnum()


@dataclass
class HeadingShift:
    """Moves the answer's headings so its top one sits at ``top`` (0: leave them): an answer's ``#``
    must not become a top-level section of the notebook's table of contents.

    The first heading of an answer fixes the offset; later ones keep their relative levels between
    ``top`` and h6 (a later, higher heading is clamped at ``top``).
    """

    top: int = 4
    offset: int | None = None

    def apply(self, block: str, provisional: bool = False) -> str:
        """Shift one block; ``provisional`` (the unfinished tail) never fixes the offset: "#" may become "##"."""
        if not self.top or "#" not in block and "\n" not in block:
            return block
        lines = block.split("\n")
        out: list[str] = []
        fence: str | None = None
        for index, line in enumerate(lines):
            fence = _fence_state(line, fence)
            if fence is not None:
                out.append(line)
                continue
            match = _ATX.match(line)
            if match:
                level = self._level(len(match.group(2)), provisional)
                out.append(match.group(1) + "#" * level + _strong(line[match.end() :], level))
            elif out and index > 0 and _SETEXT.match(line) and lines[index - 1].strip() and _plain(out[-1]):
                level = self._level(1 if line.strip()[0] == "=" else 2, provisional)
                out[-1] = "#" * level + _strong(" " + out[-1].strip(), level)
            else:
                out.append(line)
        return "\n".join(out)

    def _level(self, level: int, provisional: bool) -> int:
        offset = self.offset if self.offset is not None else max(0, self.top - level)
        if not provisional:
            self.offset = offset
        return max(self.top, min(6, level + offset))  # never above the top level, never below h6


_CLOSING = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
BODY_SIZE = 5  # JupyterLab draws h5 at body size and h6 below it: from here a heading's text is also bold


def _strong(content: str, level: int) -> str:
    """A heading's text, bold where the level alone would read as body text: bold is Markdown every renderer
    draws (live, saved, nbconvert, GitHub), where our CSS reaches only pages with the extension."""
    text = _CLOSING.sub("", content).strip()
    if level < BODY_SIZE or not text or "**" in text or "__" in text:  # bold of its own: as the model wrote it
        return content
    return f" **{text}**"


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _fence_state(line: str, fence: str | None) -> str | None:
    match = _FENCE.match(line)
    if match is None:
        return fence
    marker = match.group(1)
    if fence is None:
        return marker
    if marker[0] == fence[0] and len(marker) >= len(fence) and not line.strip()[len(marker) :].strip():
        return None
    return fence


def _plain(line: str) -> bool:
    """A line that a setext underline turns into a heading (not a list item, quote or heading already)."""
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith(("#", ">", "- ", "* ", "+ ", "|"))


def code_blocks(text: str) -> list[str]:
    """The fenced and indented code of an answer, in order (for ``%grok --code``)."""
    return [
        tok.content.rstrip("\n") for tok in block_parser(html=True).parse(text) if tok.type in ("fence", "code_block")
    ]
