"""Notebook context for ``%grok fix``: the most recent failing cell and its traceback.

The failure is captured by a ``post_run_cell`` hook, from the cell's own ``ExecutionResult``,
rather than reconstructed later from ``In``/``sys.last_value``: that is what avoids the usual
off-by-one (sending the cell before the failing one, or the ``%grok fix`` line itself).
The traceback is rebuilt without local variables (never ``%xmode Verbose``), ANSI colours
stripped, keys redacted and long tracebacks trimmed in the middle.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from typing import Any

from grok_magics.privacy.redaction import redact

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_OWN_CELL = re.compile(r"^\s*%%?grok\b")
HEAD_LINES = 15
TAIL_LINES = 40


@dataclass(frozen=True)
class Failure:
    source: str
    count: int | None
    error: BaseException | None
    shown: str = ""  # the traceback as the page showed it (a failure this kernel did not see itself)


def failure_of(result: Any) -> Failure | None:
    """The failure a finished cell left, if any (``%grok`` cells' own errors do not count)."""
    error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
    info = getattr(result, "info", None)
    source = getattr(info, "raw_cell", None)
    if error is None or not isinstance(source, str) or _OWN_CELL.match(source):
        return None
    return Failure(source=source, count=getattr(result, "execution_count", None), error=error)


def _internal(filename: str) -> bool:
    return filename.replace("\\", "/").endswith(("IPython/core/interactiveshell.py", "IPython/core/async_helpers.py"))


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def cut_middle(text: str, limit: int, said: str = "characters trimmed") -> str:
    """``text`` within about ``limit`` characters, its middle cut and the cut said: the head and the tail of
    a cell, an output or a prompt say the most."""
    if len(text) <= limit:
        return text
    half = max(limit // 2 - 20, 10)
    return f"{text[:half]}\n… {len(text) - 2 * half:,} {said} …\n{text[-half:]}"


def trim_middle(lines: list[str], head: int = HEAD_LINES, tail: int = TAIL_LINES) -> list[str]:
    if len(lines) <= head + tail + 1:
        return lines
    cut = len(lines) - head - tail
    return lines[:head] + [f"… {cut} traceback lines trimmed …"] + lines[-tail:]


def _readable(filename: str) -> str:
    """``Cell In[5]`` for notebook cells (as IPython prints them), library paths from their package down.

    The raw names hold the kernel's process id and this machine's folders: noise to the model, private,
    and different on every run (a replayed ``%grok fix`` must send the same text).
    """
    try:
        from IPython import get_ipython

        shell = get_ipython()
        named = shell.compile.format_code_name(filename) if shell is not None else None
    except Exception:
        named = None
    if named:
        return " ".join(named)
    normal = filename.replace("\\", "/")
    for marker in ("/site-packages/", "/dist-packages/", "/lib/python"):
        if marker in normal:
            tail = normal.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker == "/lib/python" and "/" in tail else tail
    return normal


def traceback_text(error: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not _internal(f.filename)]
    for frame in frames:
        frame.filename = _readable(frame.filename)
    pieces = traceback.format_list(frames) if frames else []
    text = ("Traceback (most recent call last):\n" if pieces else "") + "".join(pieces)
    text += "".join(traceback.format_exception_only(type(error), error))
    lines = strip_ansi(redact(text)).rstrip("\n").splitlines()
    return "\n".join(trim_middle(lines))


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def fix_prompt(failure: Failure) -> str:
    """Literal text (never reference-expanded): the failing cell and its error, and what to answer."""
    label = f"In [{failure.count}]" if failure.count is not None else "the cell"
    error = failure.shown or (traceback_text(failure.error) if failure.error is not None else "")
    code_fence, error_fence = _fence(failure.source), _fence(error)
    return (
        "This notebook cell failed. Say briefly what caused the error, then give the corrected cell "
        "in one ```python block.\n\n"
        f"The failing cell ({label}):\n{code_fence}python\n{failure.source.rstrip()}\n{code_fence}\n\n"
        f"The error:\n{error_fence}text\n{error}\n{error_fence}"
    )


NO_FAILURE = "No cell has failed in this kernel yet, so there is nothing to fix; nothing was sent."


def page_failure(context: Any) -> Failure | None:
    """The cell right above the asking one, when the page shows it ending in an error (``Ask Grok``)."""
    above = getattr(context, "above", ())
    cell = above[0] if above else None
    if not cell or cell.get("cell_type") != "code" or _OWN_CELL.match(str(cell.get("source", ""))):
        return None
    error = next((o for o in cell.get("outputs") or () if o.get("output_type") == "error"), None)
    if error is None:
        return None
    lines = [str(line) for line in error.get("traceback") or ()] or [f"{error.get('ename')}: {error.get('evalue')}"]
    shown = "\n".join(strip_ansi(redact("\n".join(lines))).rstrip("\n").splitlines())
    count = cell.get("execution_count")
    return Failure(
        source=str(cell.get("source", "")),
        count=count if isinstance(count, int) else None,
        error=None,
        shown="\n".join(trim_middle(shown.splitlines())),
    )
