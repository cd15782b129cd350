"""Three ways to show a streaming answer, one contract: ``start``, ``update`` per event, ``finish``.

In a notebook the answer is a run of real ``text/markdown`` outputs: each finished block is sent
once and drawn by the frontend's own Markdown renderer (math, highlighting, tables: the final look),
and only the unfinished tail below it is updated in place. Whatever a save writes at any moment is
Markdown with the text so far, so an autosave or a crash never leaves a dead widget behind, and a
headless run keeps no widget state. Terminals get the text as it arrives.
"""

from __future__ import annotations

import contextvars
import sys
import threading
import time
from typing import Any, Callable, Protocol, TextIO

from grok_magics.model.events import (
    Event,
    ReasoningDelta,
    Retrying,
    SearchProgress,
    Started,
    TextDelta,
    ToolCall,
    ToolResult,
)
from grok_magics.model.reply import Reply
from grok_magics.privacy.redaction import redact, unfinished
from grok_magics.render import sanitise
from grok_magics.render.blocks import HeadingShift, hide_unfinished, split_finished, table_so_far
from grok_magics.render.markdown import close_fences, pretty
from grok_magics.render.results import unwrapped
from grok_magics.render.sanitise import Block, Code, Markup, Text, plain
from grok_magics.render.status import Header, outcome_note, status_line
from grok_magics.render.tool_calls import (
    call_blocks,
    final_blocks,
    limit_note,
    limit_words,
    live_blocks,
    plain_text,
    signature,
    sources_markdown,
    tools_metadata,
    unrun_calls,
)
from grok_magics.version import __version__

CURSOR = " ▍"
FRAME = 0.12  # about 8 renders a second; a render may send 2 messages (a finished block, the tail): ≤ 20 a second
FLUSH = 0.25  # text held back by the throttle is shown at the latest this long after it arrived
STATUS_STYLE = "color: var(--jp-ui-font-color2, #888); opacity: 0.85"


class View(Protocol):
    def start(self, header: Header) -> None: ...
    def update(self, reply: Reply, event: Event) -> None: ...
    def finish(self, reply: Reply) -> None: ...


class FrameLimiter:
    """Frontends choke on hundreds of updates a second; a person can't read them anyway.

    The clock is stamped when a render *ends*, and the interval stretches to twice the last render's
    duration, so a slow render can never make every delta trigger the next one.
    """

    def __init__(self, interval: float) -> None:
        self.base = interval
        self.interval = interval
        self.last = float("-inf")

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.interval

    def rendered(self, began: float) -> None:
        now = time.monotonic()
        self.last = now
        self.interval = max(self.base, 2 * (now - began))


class Coalescer:
    """Calls ``render`` at most once per frame. When the stream pauses, a timer renders what is still
    held back (``forced``), so a pause never hides the last words; while deltas keep coming the timer
    only re-arms. It runs in a copy of the caller's context (ipykernel routes outputs to the cell
    through context variables)."""

    def __init__(self, render: Callable[[bool], None], interval: float = FRAME, flush: float = FLUSH) -> None:
        self.render = render
        self.throttle = FrameLimiter(interval)
        self.flush_after = flush
        self.lock = threading.RLock()  # views append to their buffers under it, then poke
        self.timer: threading.Timer | None = None
        self.closed = False
        self.poked = 0.0

    def poke(self, now: bool = False) -> None:
        """Something new to show: render if a frame is due (``now``: regardless of the throttle)."""
        with self.lock:
            self.poked = time.monotonic()
            if now or self.throttle.due():
                self._render(False)
            if self.timer is None and not self.closed:
                self._arm(self.flush_after)

    def _arm(self, delay: float) -> None:
        context = contextvars.copy_context()
        self.timer = threading.Timer(delay, context.run, args=(self._flush,))
        self.timer.daemon = True
        self.timer.start()

    def _flush(self) -> None:
        with self.lock:
            self.timer = None
            if self.closed:
                return
            quiet = time.monotonic() - self.poked
            if quiet < self.throttle.base:  # still streaming: the next delta renders, check again later
                self._arm(self.flush_after)
            else:
                self._render(True)

    def _render(self, forced: bool) -> None:
        began = time.monotonic()
        self.render(forced)
        self.throttle.rendered(began)

    def close(self) -> None:
        """Stop the timer; after this returns no render runs again."""
        with self.lock:
            self.closed = True
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None


def status_html(line: str, live: bool = False) -> str:
    """The status line as HTML in the Markdown; the live one is styled by the front end's CSS (it is re-sent
    many times), the saved one carries its style, so it is dimmed wherever it is read."""
    if live:
        return Markup(f'<sub class="grok-status grok-live">{plain(line)}</sub>')
    return Markup(f'<sub class="grok-status" style="{STATUS_STYLE}">{plain(line)}</sub>')


def _ended_badly(reply: Reply) -> bool:
    return reply.error is not None or reply.interrupted


def final_status(header: Header, reply: Reply) -> str:
    """The status line; a failed or interrupted answer is marked partial (the reason is the error below)."""
    line = status_line(header, reply)
    return ("partial answer · " + line) if _ended_badly(reply) else line


def thought_blocks(reply: Reply, live: bool = False) -> list[Block]:
    """ "Thought for N s" as a collapsed ``<details>`` holding the reasoning summary, when there is one."""
    seconds = reply.thought_seconds()
    summary = reply.reasoning.strip()
    if seconds is None or not summary:
        return []
    took = f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    label = f"Thinking… {took}" if live else f"Thought for {took}"
    shown = summary[-600:] if live else summary
    return [Markup(f"<details{' open' if live else ''}><summary>{label}</summary>"), shown, Markup("</details>")]


def final_markdown(
    header: Header, reply: Reply, text: str | None = None, shift: HeadingShift | None = None, thought: bool = True
) -> str:
    """The saved answer (or its last part, ``text``): Markdown, the outcome if it ended early, the status line;
    one page through the sanitiser, since renderers read math and fences across its parts."""
    answer = reply.text if text is None else text
    said: Block | None = None
    if answer and header.fence:
        said = Code(header.fence, pretty(unwrapped(answer, header.unwrap)) if header.fence == "json" else answer)
    elif answer:
        said = Text(answer, shift.apply) if shift is not None else answer
    body = final_blocks(reply, said) if text is None else [*([said] if said else []), *unrun_calls(reply)]
    if shift is not None:  # what Grok said between tool rounds takes the same heading levels
        body = [Text(b, shift.apply) if type(b) is str else b for b in body]
    blocks = thought_blocks(reply) if thought else []
    blocks += [*body, sources_markdown(reply), limit_note(reply)]
    note = outcome_note(reply)
    if note and not _ended_badly(reply):  # failures and interrupts say it once, in the error line below
        blocks.append(Markup(f"**{plain(note)}**"))
    blocks.append(status_html(final_status(header, reply)))
    return sanitise.page(*(b for b in blocks if b))


def final_plain(header: Header, reply: Reply, text: str | None = None) -> str:
    note = outcome_note(reply) if not _ended_badly(reply) else ""
    return "\n\n".join(b for b in (plain_text(reply, text), note, final_status(header, reply)) if b)


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
            "thought_seconds": reply.thought_seconds(),
            "replayed": header.replayed,
            **tools_metadata(reply),
            **_saved_turn(header, reply),
            "usage": None
            if usage is None
            else {
                "input": usage.input,
                "cached": usage.cached,
                "output": usage.output,
                "reasoning": usage.reasoning,
            },
        }
    }


def _saved_turn(header: Header, reply: Reply) -> dict[str, Any]:
    """What rebuilds this answer's turn after a kernel restart (context/restore.py); only for kept answers."""
    if not header.turn or reply.error is not None or not reply.text:
        return {}
    return {"turn": {**header.turn, "answer": redact(reply.text)}}


def final_bundle(
    header: Header, reply: Reply, text: str | None = None, shift: HeadingShift | None = None, thought: bool = True
) -> tuple[dict[str, str], dict[str, Any]]:
    """What the last output becomes. With no text at all and a failure, nothing: the error line says it all."""
    if not (reply.text or reply.rounds or reply.tool_calls) and _ended_badly(reply):
        return {}, provenance(header, reply)
    data = {
        "text/markdown": final_markdown(header, reply, text, shift, thought),
        "text/plain": final_plain(header, reply, text),
    }
    return data, provenance(header, reply)


class TextView:
    """Terminal IPython, plain scripts, ``display='text'``: the text as it arrives, Markdown left as is.

    Writes are coalesced to about 20 a second (in a kernel each write is an iopub message).
    """

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out
        self.header: Header | None = None
        self.thinking_said = False
        self.buffer: list[str] = []
        self.coalescer = Coalescer(self._write, interval=0.06)  # under 20 writes a second

    @property
    def stream(self) -> TextIO:
        return self.out or sys.stdout

    def start(self, header: Header) -> None:
        self.header = header

    def update(self, reply: Reply, event: Event) -> None:
        if isinstance(event, TextDelta):
            if self.header is not None and self.header.unwrap:
                return  # JSON in our wrapper: shown whole at the end, as the user's schema describes it
            text = event.text
        elif isinstance(event, ReasoningDelta) and not self.thinking_said and not reply.text_length:
            self.thinking_said = True
            text = "(thinking…)\n"
        elif isinstance(event, Retrying):
            from grok_magics.render.status import live_state

            text = f"({live_state(reply)})\n"
        elif isinstance(event, ToolResult):
            call = next((c for c in reply.tool_calls if c.call_id == event.call_id), None)
            said = signature(call) if call is not None else event.name
            text = f"\n[tool] {said} → {'error: ' if event.error else ''}{event.output[:200]}\n"
        elif isinstance(event, SearchProgress) and event.status == "completed":
            text = f"[search {event.kind}] {event.query}\n"
        else:
            return
        with self.coalescer.lock:
            self.buffer.append(text)
            self.coalescer.poke()

    def _write(self, forced: bool = False) -> None:
        """Known secrets masked (a model may echo a key); the end of the text is held while it could be the
        first half of one, until the next piece says."""
        if self.buffer:
            text = "".join(self.buffer)
            cut = unfinished(text)
            self.buffer[:] = [text[cut:]] if cut < len(text) else []
            if cut:
                self.stream.write(redact(text[:cut]))
                self.stream.flush()

    def finish(self, reply: Reply) -> None:
        assert self.header is not None
        self.coalescer.close()
        held = pretty(unwrapped(reply.text, self.header.unwrap)) if self.header.unwrap and reply.text else ""
        lines = [redact("".join(self.buffer) + held), "" if not reply.text else "\n"]
        self.buffer.clear()
        note = outcome_note(reply)
        if note and not _ended_badly(reply):  # an error or interrupt is said once, by the error line
            lines.append(note + "\n")
        if limit_words(reply):
            lines.append(limit_words(reply) + "\n")
        if reply.text_length or not _ended_badly(reply):  # a bare status line over an error says nothing
            lines.append(f"[{final_status(self.header, reply)}]\n")
        self.stream.write("".join(lines))
        self.stream.flush()


class MarkdownView:
    """The display-handle fallback (``display='markdown'``): one display, updated in place with Markdown.

    Simpler than ``LiveView`` but it re-sends the whole answer on every update.
    """

    def __init__(self, interval: float = 0.1, headings: int = 4) -> None:
        self.coalescer = Coalescer(self._render, interval)
        self.header: Header | None = None
        self.handle: Any = None
        self.headings = headings
        self.reply: Reply | None = None

    def start(self, header: Header) -> None:
        from IPython.display import display

        self.header = header
        self.handle = display(
            {"text/markdown": "*Grok is thinking…*", "text/plain": "Grok is thinking…"}, raw=True, display_id=True
        )

    def update(self, reply: Reply, event: Event) -> None:
        if isinstance(event, Retrying) and self.header is not None and not reply.text_length:
            line = status_line(self.header, reply, live=True)  # "rate limited, retrying in 2 s…"
            self.handle.update({"text/markdown": f"*{plain(line)}*", "text/plain": line}, raw=True)
        elif isinstance(event, (TextDelta, ToolCall, ToolResult, SearchProgress)):
            with self.coalescer.lock:
                self.reply = reply
                self.coalescer.poke()

    def _render(self, forced: bool) -> None:
        """``forced``: the stream paused, so what is held back (an unclosed ``**``) is shown as it is."""
        assert self.reply is not None and self.header is not None
        shift = HeadingShift(self.headings)

        def finish(text: str) -> str:
            shifted = shift.apply(text, provisional=True)
            return close_fences(shifted) if forced else hide_unfinished(shifted)

        items = live_blocks(self.reply)
        in_table = False
        if items and type(items[-1]) is str and not forced:  # a table grows a whole row at a time
            items[-1], in_table = table_so_far(items[-1])
        blocks = [Text(b, finish) if type(b) is str else b for b in items]
        if self.header.fence:
            blocks, in_table = [Code(self.header.fence, self.reply.text)], False
        shown = sanitise.page(*blocks)
        if in_table:  # the cursor under the table, not in a row of it
            shown += "\n\n" + CURSOR.strip()
        elif not shown.endswith(("```", "~~~")):  # no cursor after a fence
            shown += CURSOR
        self.handle.update({"text/markdown": shown, "text/plain": redact(self.reply.text)}, raw=True)

    def finish(self, reply: Reply) -> None:
        assert self.header is not None
        self.coalescer.close()
        data, metadata = final_bundle(self.header, reply, shift=HeadingShift(self.headings))
        self.handle.update(data, raw=True, metadata=metadata)


class LiveView:
    """JupyterLab, Notebook 7, VS Code, Colab: finished blocks as Markdown outputs, a live tail below.

    Per update the work is proportional to the unfinished tail only; the tail is re-sent when enough
    new text arrived to pay for it (or the flush timer fires), so bytes grow linearly with the answer.
    """

    def __init__(self, headings: int = 4, tools: bool = True, interval: float = FRAME) -> None:
        self.shift = HeadingShift(headings)
        self.tools = tools
        self.header: Header | None = None
        self.handle: Any = None  # the display holding the unfinished tail
        self.pending: list[str] = []  # text that is not in a finished output yet
        self.pending_length = 0
        self.sent_length = -1  # pending_length when the tail was last sent
        self.committed_length = 0  # characters of the answer already in finished outputs
        self.thought_done = False
        self.rounds_seen = 0  # tool rounds: each starts its text from zero
        self.reply: Reply | None = None
        self.coalescer = Coalescer(self._render, interval)

    def start(self, header: Header) -> None:
        from IPython.display import display

        self.header = header
        if self.tools:
            from grok_magics.render.frontend import bundle

            display(bundle(), raw=True)
        self.reply = Reply()
        self.handle = self._open(self._tail(self.reply, ""))

    def update(self, reply: Reply, event: Event) -> None:
        if not isinstance(event, (TextDelta, ReasoningDelta, Started, Retrying, ToolCall, ToolResult, SearchProgress)):
            return
        with self.coalescer.lock:
            self.reply = reply
            if isinstance(event, Started) and len(reply.rounds) != self.rounds_seen:
                self.rounds_seen = len(reply.rounds)
                self.committed_length = 0
            first_text = False
            if isinstance(event, TextDelta):
                # the answer's first words are what the reader waits for: they skip the frame a "Started"
                # or "thinking" render just spent
                first_text = not self.pending_length and not self.committed_length and bool(event.text)
                if self.header is not None and self.header.fence and not self.pending and not self.committed_length:
                    self.pending.append(f"```{self.header.fence}\n")  # display only: closed at the end
                self.pending.append(event.text)
                self.pending_length += len(event.text)
            elif isinstance(event, ToolCall):  # the round's text is final: all of it becomes a block
                self._commit_pending()
            elif isinstance(event, ToolResult):
                call = next((c for c in reply.tool_calls if c.call_id == event.call_id), None)
                if call is not None:
                    self._commit(sanitise.page(*call_blocks(call, event)), f"[tool] {signature(call)}")
            self.coalescer.poke(now=first_text)

    def _commit_pending(self) -> None:
        text = "".join(self.pending)
        self.pending.clear()
        self.pending_length = 0
        self.sent_length = -1
        if text.strip():
            self._commit(sanitise.page(Text(text, self.shift.apply)), text.rstrip())
        self.committed_length += len(text)

    # -- rendering (under the coalescer's lock) ------------------------------------------------------
    def _render(self, forced: bool) -> None:
        reply = self.reply
        assert reply is not None
        if reply.first_token is not None and not self.thought_done:
            self.thought_done = True
            thought = thought_blocks(reply)
            if thought:
                self._commit(sanitise.page(*thought), "")
        tail = self._take_finished()
        if forced or self._worth_sending(tail):
            self._send_tail(reply, tail)

    def _take_finished(self) -> str:
        """Commit the finished blocks of the pending text as one output; return the unfinished rest."""
        text = "".join(self.pending)
        done = split_finished(text) if text else 0
        block, text = text[:done], text[done:]
        self.pending[:] = [text] if text else []
        self.pending_length = len(text)
        if block:
            self._commit(sanitise.page(Text(block, self.shift.apply)), redact(block.rstrip()))
            self.committed_length += len(block)  # finish shows the rest, even if Ctrl-C cut this short
        return text

    def _worth_sending(self, tail: str) -> bool:
        """Re-sending a tail of n characters is worth it once n/3 new ones arrived: bytes stay linear."""
        if self.handle is None or self.sent_length < 0:
            return True
        return (self.pending_length - self.sent_length) * 3 >= len(tail)

    def _commit(self, markdown: str, plain: str) -> None:
        """The current tail display becomes a finished block (rendered once); the next one opens lazily."""
        data = {"text/markdown": markdown, "text/plain": plain}
        if self.handle is None:
            self._open(data)
        else:
            self.handle.update(data, raw=True, metadata=self._part())
        self.handle = None

    def _send_tail(self, reply: Reply, tail: str) -> None:
        data = self._tail(reply, tail)
        if self.handle is None:
            self.handle = self._open(data)
        else:
            self.handle.update(data, raw=True, metadata=self._part())
        self.sent_length = self.pending_length

    def _open(self, data: dict[str, str], metadata: dict[str, Any] | None = None) -> Any:
        from IPython.display import display

        return display(data, raw=True, display_id=True, metadata=metadata or self._part())

    def _part(self) -> dict[str, Any]:
        """Blocks shown while streaming say whose they are (the page extension puts Copy/Insert on them);
        only the finished answer carries ``grok_magics`` provenance."""
        return {"grok_magics_part": {"chat": self.header.chat if self.header is not None else "default"}}

    def _tail(self, reply: Reply, tail: str) -> dict[str, str]:
        assert self.header is not None
        parts: list[Block] = []
        if reply.first_token is None:
            parts += thought_blocks(reply, live=True)
        if tail:
            shown, in_table = table_so_far(tail)  # a table grows a whole row at a time
            parts.append(Text(shown, self._below_table if in_table else self._held_back))
        line = status_line(self.header, reply, live=True)
        parts.append(status_html(line, live=True))
        # text/plain of the tail is a placeholder: the Markdown carries the text, and it is re-sent often
        return {"text/markdown": sanitise.page(*parts), "text/plain": "…" if tail else line}

    def _held_back(self, tail: str) -> str:
        shown = hide_unfinished(self.shift.apply(tail, provisional=True))
        return shown if shown.endswith(("```", "~~~")) else shown + CURSOR

    def _below_table(self, tail: str) -> str:
        """The cursor goes under a growing table, not into a row of it."""
        return self.shift.apply(tail, provisional=True) + "\n\n" + CURSOR.strip()

    def finish(self, reply: Reply) -> None:
        assert self.header is not None
        self.coalescer.close()
        self.reply = reply
        tail = reply.text[self.committed_length :]
        data, metadata = final_bundle(self.header, reply, tail, self.shift, thought=not self.thought_done)
        if self.handle is None:
            self._open(data, metadata)
        else:
            self.handle.update(data, raw=True, metadata=metadata)


def _auto_mode(shell: Any) -> str:
    """A kernel (any notebook frontend) gets the live Markdown view; a terminal gets text."""
    return "text" if getattr(shell, "kernel", None) is None else "live"


def in_notebook(mode: str, shell: Any) -> bool:
    """Whether what is shown goes to a notebook (Markdown outputs) rather than a terminal (text)."""
    return (_auto_mode(shell) if mode == "auto" else mode) != "text"


def make_view(mode: str, shell: Any, headings: int = 4) -> View:
    chosen = _auto_mode(shell) if mode == "auto" else mode
    if chosen in ("live", "widget"):
        from grok_magics.page import connected

        # a page with the extension draws the answer's buttons and follows it itself: the script that does this
        # elsewhere would only add ~12 KB to every answer saved in the notebook
        return LiveView(headings=headings, tools=not connected())
    if chosen == "markdown":
        return MarkdownView(headings=headings)
    return TextView()
