"""Markdown for tool calls, searches and citations: collapsed in the saved answer, one line each while live.

Kept apart from the views so any view (and the saved Markdown) can use the same few functions.
"""

from __future__ import annotations

import html
from typing import Any

from ..events import ToolCall, ToolResult
from ..reply import Reply
from .markdown import fenced, inert, pretty

_SHORT = 80


def _short(text: str, limit: int = _SHORT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def signature(call: ToolCall) -> str:
    return f"{call.name}({_short(call.arguments)})"


def call_markdown(call: ToolCall, result: ToolResult | None) -> str:
    """One call and its result as a collapsed ``<details>`` block (the summary line is escaped HTML)."""
    mark = "⚠" if result is None or result.error else "⚙"  # both in DejaVu Sans; emoji show as boxes on stock fonts
    outcome = "not run" if result is None else ("error" if result.error else "result")
    body = [f"arguments\n\n{fenced('json', pretty(call.arguments))}"]
    if result is not None:
        body.append(f"{outcome}\n\n{fenced('json', pretty(result.output))}")
    label = f"{mark} {signature(call)}" + ("" if outcome == "result" else f" — {outcome}")
    summary = html.escape(label, quote=False)
    return f"<details><summary>{summary}</summary>\n\n" + "\n\n".join(body) + "\n\n</details>"


def _calls(calls: list[ToolCall] | tuple[ToolCall, ...], results: Any) -> list[str]:
    """Calls a per-round limit answered unrun are left out: ``limit_note`` sums them up in one line."""
    by_id = {r.call_id: r for r in results}
    return [call_markdown(c, by_id.get(c.call_id)) for c in calls if not _limited(by_id.get(c.call_id))]


def _limited(result: ToolResult | None) -> bool:
    return result is not None and result.limited


def unrun_calls(reply: Reply) -> str:
    """Calls of the last response that never ran (interrupt, round limit), to follow its text."""
    ran = {r.call_id for r in reply.tool_results}
    return "".join("\n\n" + call_markdown(c, None) for c in reply.tool_calls if c.call_id not in ran)


def final_text(reply: Reply) -> str:
    """Each tool round (what Grok said, then its calls, collapsed), then the answer; calls left unrun last."""
    blocks: list[str] = []
    for done in reply.rounds:
        if done.text:
            blocks.append(inert(done.text))
        blocks.extend(_calls(done.calls, done.results))
    if reply.text:
        blocks.append(inert(reply.text))
    if reply.tool_calls:  # the last response asked for tools that did not all run: interrupt or round limit
        blocks.extend(_calls(reply.tool_calls, reply.tool_results))
    return "\n\n".join(blocks)


def live_text(reply: Reply) -> str:
    """The live view: one Markdown line per call (raw HTML is not rendered while streaming), then the text."""
    lines: list[str] = []
    for done in reply.rounds:
        if done.text:
            lines.append(done.text)
        lines.extend(_live_calls(done.calls, done.results))
    for search in reply.searches:
        where = "X" if search.kind == "x" else "the web"
        state = "Searched" if search.status == "completed" else "Searching"
        lines.append(f"> {state} {where}" + (f": {_short(search.query)}" if search.query else ""))
    if reply.text:
        lines.append(reply.text)
    lines.extend(_live_calls(reply.tool_calls, reply.tool_results))  # asked for after the text
    return "\n\n".join(lines)


def _live_calls(calls: Any, results: Any) -> list[str]:
    by_id = {r.call_id: r for r in results}
    out = []
    for call in calls:
        result = by_id.get(call.call_id)
        if _limited(result):
            continue
        state = "…" if result is None else ("→ error" if result.error else "→ done")
        out.append(f"> ⚙ `{signature(call).replace('`', '')}` {state}")
    return out


def sources_markdown(reply: Reply) -> str:
    """Numbered links under the answer, one per cited URL, in the order they were first cited."""
    if not reply.citations:
        return ""
    lines = ["**Sources**", ""]
    for n, cite in enumerate(reply.citations, 1):
        title = (cite.title or cite.url).replace("[", "(").replace("]", ")")
        lines.append(f"{n}. [{title}](<{cite.url}>)")
    return "\n".join(lines)


def limit_note(reply: Reply) -> str:
    notes = list(reply.tool_limits)
    if reply.round_limit is not None:
        wanted = ", ".join(dict.fromkeys(c.name for c in reply.tool_calls))
        notes.append(f"⚠ Stopped after {reply.round_limit} tool rounds: Grok still wanted to call {wanted}. "
                     "Raise %config GrokMagics.max_tool_rounds to allow more.")
    return "\n\n".join(notes)


def tools_metadata(reply: Reply) -> dict[str, Any]:
    """What the output's metadata keeps about tools, searches and sources."""
    calls = []
    for done in reply.rounds:
        by_id = {r.call_id: r for r in done.results}
        calls.extend({"name": c.name, "arguments": c.arguments, "result": by_id[c.call_id].output,
                      "error": by_id[c.call_id].error} for c in done.calls
                     if c.call_id in by_id and not by_id[c.call_id].limited)
    meta: dict[str, Any] = {}
    if calls:
        meta["tool_calls"] = calls
    if reply.searches:
        meta["searches"] = [{"kind": s.kind, "query": s.query, "status": s.status} for s in reply.searches]
    if reply.citations:
        meta["citations"] = [{"url": c.url, "title": c.title} for c in reply.citations]
    if reply.usage is not None and reply.usage.server_tools:
        meta["server_side_tools"] = reply.usage.server_tools
    return meta
