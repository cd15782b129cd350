"""Keep IPython's ``obj?`` help syntax away from prompts.

IPython reads any line ending in ``?`` as a help request, so ``%grok what is a p-value?`` would
show "Object not found" instead of asking. A cleanup transformer turns such lines into an explicit
``run_line_magic`` call before the help transformer can see them. Also: which cells ask Grok at all.
"""

from __future__ import annotations

import re

_ASK = re.compile(r"^(?P<indent>[ \t]*)%grok[ \t]+(?P<prompt>\S.*\?)[ \t]*$")


def protect_question_marks(lines: list[str]) -> list[str]:
    if not lines or lines[0].lstrip().startswith("%%"):
        return lines  # a cell magic's body is never parsed as Python
    out = []
    for line in lines:
        body = line.rstrip("\r\n")
        match = _ASK.match(body)
        if match is None:
            out.append(line)
            continue
        ending = line[len(body) :]
        out.append(f"{match['indent']}get_ipython().run_line_magic('grok', {match['prompt']!r}){ending}")
    return out


def trim_blank_lines(text: str) -> str:
    """The cell as written, minus the blank lines around it (indentation of the first line stays)."""
    lines = text.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


_CELL_MAGIC = re.compile(r"%%grok(?=\s|$)")
_LINE_MAGIC = re.compile(r"^\s*%grok(?=\s|$)", re.M)


def asks_grok(source: str) -> bool:
    """A cell the page pushes its context before (as src/logic.ts ``asksGrok`` decides): the cell magic on
    its first non-blank line, or a ``%grok`` line magic on any line."""
    first = next((line.strip() for line in source.split("\n") if line.strip()), "")
    return bool(_CELL_MAGIC.match(first) or _LINE_MAGIC.search(source))
