"""Running one step in the user's namespace, and keeping what it did.

Not ``shell.run_cell``: that catches every exception (Ctrl-C included) and prints its own traceback,
while a step needs its error as a value to send back, Ctrl-C to stop the loop, and its result as an
object (a frame is summarised, never sent as a repr). So the code is IPython-transformed (``%magics``,
``!cmd``), compiled under its own file name (tracebacks show the step's lines), run with stdout, stderr
and displays captured, and its last expression evaluated. A per-step time limit sends SIGINT to the main
thread (as the ask guard's deadlines do), which wakes it from blocking calls; the step ends as if the
user had pressed Ctrl-C, but the loop goes on.
"""

from __future__ import annotations

import ast
import io
import linecache
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from grok_magics.context.notebook import strip_ansi, trim_middle
from grok_magics.privacy.redaction import redact

TABLE_MARK = "grok_magics_agent_table"  # metadata on a captured display whose object was a table


@dataclass
class StepOutcome:
    """What a step did. ``tables`` holds displayed tables as objects, referenced by the displays' metadata."""

    stdout: str = ""
    stderr: str = ""
    value: Any = None
    has_value: bool = False
    shown: tuple[dict[str, Any], dict[str, Any]] | None = None  # the value as the shell's display formatter shows it
    error: str = ""
    timed_out: bool = False
    interrupted: bool = False
    figures: list[bytes] = field(default_factory=list)  # PNG bytes of matplotlib figures the step left open
    displays: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)  # (data, metadata)
    tables: list[Any] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return bool(self.error) or self.timed_out or self.interrupted


class StepTimer:
    """SIGINT to the main thread after ``seconds``, unless the step ended first (checked under a lock)."""

    def __init__(self, seconds: float | None) -> None:
        self.fired = False
        self._done = False
        self._lock = threading.Lock()
        main = threading.current_thread() is threading.main_thread()
        self._timer = threading.Timer(seconds, self._fire) if seconds and main else None
        if self._timer is not None:
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # type: ignore[arg-type]

    def stop(self) -> None:
        with self._lock:
            self._done = True
        if self._timer is not None:
            self._timer.cancel()


def _split(tree: ast.Module) -> tuple[ast.Module, ast.Expression | None]:
    """The statements, and the last one when it is an expression (its value is the step's result)."""
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body.pop()
        return tree, ast.Expression(last.value)  # type: ignore[attr-defined]
    return tree, None


def _trimmed(error: BaseException, filename: str) -> str:
    """The traceback from the step's own frames down (the runner's frames are noise), trimmed, redacted."""
    frames = traceback.extract_tb(error.__traceback__)
    start = next((i for i, f in enumerate(frames) if f.filename == filename), 0)
    pieces = traceback.format_list(frames[start:])
    text = ("Traceback (most recent call last):\n" if pieces else "") + "".join(pieces)
    text += "".join(traceback.format_exception_only(type(error), error))
    return "\n".join(trim_middle(strip_ansi(redact(text)).rstrip("\n").splitlines()))


def _open_figures() -> set[int]:
    pyplot = sys.modules.get("matplotlib.pyplot")
    return set(pyplot.get_fignums()) if pyplot is not None else set()


def _take_figures(before: set[int]) -> list[bytes]:
    """New matplotlib figures as PNG, closed (the inline backend would show them again at the cell's end)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return []
    out: list[bytes] = []
    for number in pyplot.get_fignums():
        if number in before:
            continue
        figure = pyplot.figure(number)
        buffer = io.BytesIO()
        try:
            figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
            out.append(buffer.getvalue())
        except Exception:
            pass
        pyplot.close(figure)
    return out


def _keep_tables(formatter: Any, tables: list[Any]) -> Any:
    """For one step, the shell's display formatter keeps each displayed table as an object (its display's
    metadata says which), so it goes back as a budgeted context block instead of its repr. Returns the undo."""
    from grok_magics.context.tables import is_table

    inner = formatter.format

    def format(obj: Any, *args: Any, **kwargs: Any) -> Any:
        data, metadata = inner(obj, *args, **kwargs)
        if is_table(obj):
            tables.append(obj)
            metadata = {**(metadata or {}), TABLE_MARK: len(tables) - 1}
        return data, metadata

    formatter.format = format  # an instance attribute over the method; deleting it restores the method
    return lambda: formatter.__dict__.pop("format", None)


def run_step(shell: Any, code: str, number: int, seconds: float | None) -> StepOutcome:
    """Run ``code`` as step ``number`` in the shell's namespace; every failure is in the outcome, never raised."""
    from IPython.utils.capture import capture_output

    outcome = StepOutcome()
    filename = f"<grok agent step {number}>"
    source = shell.transform_cell(code) if shell is not None else code
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = shell.user_ns if shell is not None else {}
    before = _open_figures()
    began = time.monotonic()
    formatter = getattr(shell, "display_formatter", None)
    timer: StepTimer | None = None
    captured: Any = None
    try:
        with capture_output(display=True) as captured:
            undo = _keep_tables(formatter, outcome.tables) if formatter is not None else None
            try:
                timer = StepTimer(seconds)
                body, last = _split(ast.parse(source, filename))
                exec(compile(body, filename, "exec"), namespace)
                if last is not None:
                    outcome.value = eval(compile(last, filename, "eval"), namespace)
                    outcome.has_value = outcome.value is not None
            finally:
                if timer is not None:
                    timer.stop()
                if undo is not None:
                    undo()
    except KeyboardInterrupt:
        if timer is not None and timer.fired:
            outcome.timed_out = True
        else:
            outcome.interrupted = True
    except BaseException as exc:  # SystemExit too: a step that calls sys.exit fails, the kernel stays
        outcome.error = _trimmed(exc, filename)
    outcome.seconds = time.monotonic() - began
    if captured is not None:
        outcome.stdout, outcome.stderr = captured.stdout, captured.stderr
        outcome.displays = [(dict(o.data), dict(o.metadata or {})) for o in captured.outputs]
    outcome.figures = _take_figures(before)
    if outcome.has_value and shell is not None:
        namespace["_"] = outcome.value  # as a cell's result would be
        data, metadata = shell.display_formatter.format(outcome.value)
        outcome.shown = (data, metadata or {})
    return outcome
