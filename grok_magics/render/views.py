"""Three ways to show a streaming answer, one contract: ``start``, ``update`` per event, ``finish``.

Notebook views publish one display and update it in place; at the end the display becomes plain
Markdown, so the saved notebook reads well anywhere and never points at a dead widget.
"""

from __future__ import annotations

import html
import sys
import threading
import time
from typing import Any, Protocol, TextIO

from .. import __version__
from ..events import Event, ReasoningDelta, TextDelta, Waiting
from ..reply import Reply
from .markdown import close_fences, inert, to_html
from .status import Header, outcome_note, status_line

CURSOR = " ▍"


class View(Protocol):
    def start(self, header: Header) -> None: ...
    def update(self, reply: Reply, event: Event) -> None: ...
    def finish(self, reply: Reply) -> None: ...


class Throttle:
    """Frontends choke on hundreds of updates a second; a person can't read them anyway."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last = 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            return True
        return False


def final_markdown(header: Header, reply: Reply) -> str:
    blocks = [close_fences(inert(reply.text))] if reply.text else []
    note = outcome_note(reply)
    if note:
        blocks.append(f"**{html.escape(note, quote=False)}**")
    blocks.append(f"<sub>{html.escape(status_line(header, reply))}</sub>")
    return "\n\n".join(blocks)


def final_plain(header: Header, reply: Reply) -> str:
    note = outcome_note(reply)
    return "\n\n".join(b for b in (reply.text, note, status_line(header, reply)) if b)


def provenance(header: Header, reply: Reply) -> dict[str, Any]:
    usage = reply.usage
    return {
        "grok_magics": {
            "version": __version__,
            "model": header.model,
            "provider": header.provider,
            "api": header.api,
            "chat": header.chat,
            "response_id": reply.response_id,
            "finish": reply.finish.reason if reply.finish else None,
            "interrupted": reply.interrupted,
            "failed": reply.error is not None,
            "usage": None if usage is None else {
                "input": usage.input,
                "cached": usage.cached,
                "output": usage.output,
                "reasoning": usage.reasoning,
            },
        }
    }


def final_bundle(header: Header, reply: Reply) -> tuple[dict[str, str], dict[str, Any]]:
    data = {"text/markdown": final_markdown(header, reply), "text/plain": final_plain(header, reply)}
    return data, provenance(header, reply)


class TextView:
    """Terminal IPython and plain scripts: deltas straight to stdout."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out
        self.header: Header | None = None
        self.thinking_said = False

    @property
    def stream(self) -> TextIO:
        return self.out or sys.stdout

    def start(self, header: Header) -> None:
        self.header = header

    def update(self, reply: Reply, event: Event) -> None:
        if isinstance(event, TextDelta):
            self.stream.write(event.text)
            self.stream.flush()
        elif isinstance(event, ReasoningDelta) and not self.thinking_said and not reply.text:
            self.thinking_said = True
            self.stream.write("(thinking…)\n")
            self.stream.flush()
        elif isinstance(event, Waiting) and self.header is not None:
            self.stream.write(f"({status_line(self.header, reply, live=True)})\n")
            self.stream.flush()

    def finish(self, reply: Reply) -> None:
        assert self.header is not None
        lines = ["" if not reply.text else "\n"]
        note = outcome_note(reply)
        if note and reply.error is None:
            lines.append(note + "\n")
        lines.append(f"[{status_line(self.header, reply)}]\n")
        self.stream.write("".join(lines))
        self.stream.flush()


class MarkdownView:
    """Frontends without a widget manager: the display itself is updated with Markdown."""

    def __init__(self, interval: float = 0.1) -> None:
        self.throttle = Throttle(interval)
        self.header: Header | None = None
        self.handle: Any = None

    def start(self, header: Header) -> None:
        from IPython.display import display

        self.header = header
        self.handle = display({"text/markdown": "*Grok is thinking…*", "text/plain": "Grok is thinking…"},
                              raw=True, display_id=True)

    def update(self, reply: Reply, event: Event) -> None:
        if isinstance(event, Waiting) and self.header is not None:
            line = status_line(self.header, reply, live=True)
            self.handle.update({"text/markdown": f"*{html.escape(line)}*", "text/plain": line}, raw=True)
        elif isinstance(event, TextDelta) and self.throttle.due():
            text = close_fences(inert(reply.text) + CURSOR)
            self.handle.update({"text/markdown": text, "text/plain": reply.text}, raw=True)

    def finish(self, reply: Reply) -> None:
        assert self.header is not None
        data, metadata = final_bundle(self.header, reply)
        self.handle.update(data, raw=True, metadata=metadata)


class WidgetView:
    """JupyterLab, Notebook 7, VS Code: live HTML in a widget, replaced by Markdown when done.

    Text that arrives between refreshes is flushed by a timer, so a pause in the stream never
    leaves the last words unshown (ipywidgets may be updated from another thread; displays may not).
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.throttle = Throttle(interval)
        self.header: Header | None = None
        self.handle: Any = None
        self.widgets: Any = None
        self.lock = threading.Lock()
        self.timer: threading.Timer | None = None
        self.done = False

    def start(self, header: Header) -> None:
        import ipywidgets as w
        from IPython.display import display

        self.header = header
        thinking = w.HTML(value=_thinking_html(""))
        body = w.HTML(value="")
        status = w.HTML(value=_status_html(status_line(header, Reply(), live=True)))
        box = w.VBox([thinking, body, status])
        box.add_class("grok-live")
        self.widgets = (box, thinking, body, status)
        bundle = dict(box._repr_mimebundle_())
        bundle["text/plain"] = "Grok is answering… (a live view; the final answer replaces it)"
        self.handle = display(bundle, raw=True, display_id=True)

    def update(self, reply: Reply, event: Event) -> None:
        if isinstance(event, Waiting):
            with self.lock:
                self._show(reply, live=True)
            return
        if not isinstance(event, (TextDelta, ReasoningDelta)):
            return
        with self.lock:
            if self.throttle.due():
                self._show(reply, live=True)
            elif self.timer is None:
                self.timer = threading.Timer(self.throttle.interval, self._flush, args=(reply,))
                self.timer.daemon = True
                self.timer.start()

    def _flush(self, reply: Reply) -> None:
        with self.lock:
            self.timer = None
            if not self.done:
                self.throttle.last = time.monotonic()
                self._show(reply, live=True)

    def _show(self, reply: Reply, live: bool) -> None:
        assert self.header is not None
        _, thinking, body, status = self.widgets
        thinking.value = _thinking_html(reply.reasoning) if not reply.text else ""
        body.value = _body_html(reply.text + (CURSOR if live else ""))
        status.value = _status_html(status_line(self.header, reply, live=live))

    def finish(self, reply: Reply) -> None:
        assert self.header is not None
        with self.lock:
            self.done = True
            if self.timer is not None:
                self.timer.cancel()
        data, metadata = final_bundle(self.header, reply)
        self.handle.update(data, raw=True, metadata=metadata)
        for widget in self.widgets:
            widget.close()


def _body_html(text: str) -> str:
    return f'<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown grok-answer">{to_html(text)}</div>' if text else ""


def _thinking_html(reasoning: str) -> str:
    tail = reasoning[-300:]
    shown = html.escape(("…" if len(reasoning) > 300 else "") + tail)
    return (
        '<div class="grok-thinking" style="color: var(--jp-ui-font-color2, #777); font-style: italic">'
        f"Grok is thinking…{' ' + shown if shown else ''}</div>"
    )


def _status_html(line: str) -> str:
    return (
        '<div class="grok-status" style="color: var(--jp-ui-font-color2, #777); font-size: 85%">'
        f"{html.escape(line)}</div>"
    )


def _auto_mode(shell: Any) -> str:
    if getattr(shell, "kernel", None) is None:
        return "text"
    if "google.colab" in sys.modules:  # Colab needs a custom widget manager switched on for ipywidgets 8
        return "markdown"
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return "markdown"
    return "widget"


def make_view(mode: str, shell: Any) -> View:
    chosen = _auto_mode(shell) if mode == "auto" else mode
    if chosen == "widget":
        return WidgetView()
    if chosen == "markdown":
        return MarkdownView()
    return TextView()
