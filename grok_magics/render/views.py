"""Three ways to show a streaming answer, one contract: ``start``, ``update`` per event, ``finish``.

Notebook views publish one display and update it in place; at the end the display becomes plain
Markdown, so the saved notebook reads well anywhere and never points at a dead widget.
"""

from __future__ import annotations

import contextvars
import html
import sys
import threading
import time
from typing import Any, Callable, Protocol, TextIO

from .. import __version__
from ..events import Event, ReasoningDelta, SearchProgress, TextDelta, ToolCall, ToolResult
from ..reply import Reply
from .markdown import close_fences, to_html
from .status import Header, outcome_note, status_line
from .tools import final_text, limit_note, live_text, signature, sources_markdown, tools_metadata

_LIVE_EVENTS = (TextDelta, ReasoningDelta, ToolCall, ToolResult, SearchProgress)

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
    text = final_text(reply)
    blocks = [close_fences(text)] if text else []
    blocks.extend(b for b in (sources_markdown(reply), limit_note(reply)) if b)
    note = outcome_note(reply)
    if note:
        blocks.append(f"**{note}**")
    blocks.append(f"<sub>{html.escape(status_line(header, reply))}</sub>")
    return "\n\n".join(blocks)


def final_plain(header: Header, reply: Reply) -> str:
    note = outcome_note(reply)
    extra = (sources_markdown(reply), limit_note(reply))
    return "\n\n".join(b for b in (reply.text, *extra, note, status_line(header, reply)) if b)


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
            **tools_metadata(reply),
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
        elif isinstance(event, ToolResult):
            call = next((c for c in reply.tool_calls if c.call_id == event.call_id), None)
            said = signature(call) if call is not None else event.name
            self.stream.write(f"\n[tool] {said} → {'error: ' if event.error else ''}{event.output[:200]}\n")
            self.stream.flush()
        elif isinstance(event, SearchProgress) and event.status == "completed":
            self.stream.write(f"[search {event.kind}] {event.query}\n")
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


class Refresher:
    """At most one refresh per interval, and a timer for text that arrived in between.

    Without the timer a pause in the stream would hide the last words until the next delta. The
    timer thread runs in a copy of the caller's context, so a display update lands in the cell that
    asked (ipykernel keeps the parent message in a context variable).
    """

    def __init__(self, interval: float, show: Callable[[Reply], None]) -> None:
        self.throttle = Throttle(interval)
        self.show = show
        self.lock = threading.Lock()
        self.timer: threading.Timer | None = None
        self.done = False

    def changed(self, reply: Reply) -> None:
        with self.lock:
            if self.throttle.due():
                self.show(reply)
            elif self.timer is None:
                context = contextvars.copy_context()
                self.timer = threading.Timer(self.throttle.interval, context.run, args=(self._flush, reply))
                self.timer.daemon = True
                self.timer.start()

    def _flush(self, reply: Reply) -> None:
        with self.lock:
            self.timer = None
            if not self.done:
                self.throttle.last = time.monotonic()
                self.show(reply)

    def stop(self) -> None:
        with self.lock:
            self.done = True
            if self.timer is not None:
                self.timer.cancel()


class MarkdownView:
    """Frontends without a widget manager: the display itself is updated with Markdown."""

    def __init__(self, interval: float = 0.1) -> None:
        self.refresher = Refresher(interval, self._show)
        self.header: Header | None = None
        self.handle: Any = None

    def start(self, header: Header) -> None:
        from IPython.display import display

        self.header = header
        self.handle = display({"text/markdown": "*Grok is thinking…*", "text/plain": "Grok is thinking…"},
                              raw=True, display_id=True)

    def update(self, reply: Reply, event: Event) -> None:
        if isinstance(event, _LIVE_EVENTS) and not isinstance(event, ReasoningDelta):
            self.refresher.changed(reply)

    def _show(self, reply: Reply) -> None:
        text = live_text(reply)
        self.handle.update({"text/markdown": close_fences(text + CURSOR), "text/plain": text}, raw=True)

    def finish(self, reply: Reply) -> None:
        assert self.header is not None
        self.refresher.stop()
        data, metadata = final_bundle(self.header, reply)
        self.handle.update(data, raw=True, metadata=metadata)


class WidgetView:
    """JupyterLab, Notebook 7, VS Code: live HTML in a widget, replaced by Markdown when done."""

    def __init__(self, interval: float = 0.1) -> None:
        self.refresher = Refresher(interval, self._show)
        self.header: Header | None = None
        self.handle: Any = None
        self.widgets: Any = None

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
        if isinstance(event, _LIVE_EVENTS):
            self.refresher.changed(reply)

    def _show(self, reply: Reply) -> None:
        assert self.header is not None
        _, thinking, body, status = self.widgets
        thinking.value = _thinking_html(reply.reasoning) if not reply.text else ""
        body.value = _body_html(live_text(reply) + CURSOR)
        status.value = _status_html(status_line(self.header, reply, live=True))

    def finish(self, reply: Reply) -> None:
        assert self.header is not None
        self.refresher.stop()
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
