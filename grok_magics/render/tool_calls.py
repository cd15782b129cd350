"""Markdown for tool calls, searches and citations: collapsed in the saved answer, one line each while live.

Kept apart from the views so any view (and the saved Markdown) can use the same few functions. They give
blocks for ``sanitise.page``: what came from outside is never formatted into Markdown here unescaped.
"""

from __future__ import annotations

from typing import Any

from grok_magics.model.events import ToolCall, ToolResult
from grok_magics.model.reply import Reply
from grok_magics.privacy.redaction import redact
from grok_magics.render.markdown import pretty, rounded
from grok_magics.render.sanitise import (
    Block,
    Code,
    Markup,
    code_span,
    html_text,
    link,
    plain,
)

_SHORT = 80


def _short(text: str, limit: int = _SHORT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _arguments(call: ToolCall) -> str:
    """The arguments on one line, compact (``{"column": "rows"}``), floats rounded for the eye."""
    import json

    try:
        return json.dumps(_rounded_json(call.arguments), ensure_ascii=False, separators=(", ", ": "))
    except (ValueError, RecursionError):
        return call.arguments


def _rounded_json(text: str) -> Any:
    import json

    return rounded(json.loads(text))


def signature(call: ToolCall) -> str:
    return f"{call.name}({_short(_arguments(call))})"


def call_blocks(call: ToolCall, result: ToolResult | None) -> list[Block]:
    """One call and its result as a collapsed ``<details>`` block: the summary names the call (with its
    arguments, when they fit on the line), the expanded part shows the arguments once (only when the summary
    had to cut them) and the result, floats rounded for display; the model got every digit."""
    mark = "⚠" if result is None or result.error else "⚙"  # both in DejaVu Sans; emoji show as boxes on stock fonts
    outcome = "not run" if result is None else ("error" if result.error else "result")
    whole = " ".join(_arguments(call).split())
    cut = len(whole) > _SHORT
    label = f"{mark} {call.name}({'…' if cut else whole})" + ("" if outcome == "result" else f" — {outcome}")
    blocks: list[Block] = [Markup(f"<details><summary>{html_text(label)}</summary>")]
    if cut:
        blocks += [Markup("arguments"), Code("json", pretty(call.arguments, round_floats=True))]
    if result is not None:
        blocks += [Markup(outcome), Code("json", pretty(result.output, round_floats=True))]
    return [*blocks, Markup("</details>")]


def _calls(calls: list[ToolCall] | tuple[ToolCall, ...], results: Any) -> list[Block]:
    """Calls a per-round limit answered unrun are left out: ``limit_note`` sums them up in one line."""
    by_id = {r.call_id: r for r in results}
    shown = [(c, by_id.get(c.call_id)) for c in calls if not _limited(by_id.get(c.call_id))]
    return [block for call, result in shown for block in call_blocks(call, result)]


def _limited(result: ToolResult | None) -> bool:
    return result is not None and result.limited


def unrun_calls(reply: Reply) -> list[Block]:
    """Calls of the last response that never ran (interrupt, round limit), to follow its text."""
    ran = {r.call_id for r in reply.tool_results}
    return [block for c in reply.tool_calls if c.call_id not in ran for block in call_blocks(c, None)]


def final_blocks(reply: Reply, answer: Block | None = None) -> list[Block]:
    """Each tool round (what Grok said, then its calls, collapsed), then the answer; calls left unrun last."""
    blocks: list[Block] = []
    for done in reply.rounds:
        if done.text:
            blocks.append(done.text)
        blocks.extend(_calls(done.calls, done.results))
    if answer is not None:
        blocks.append(answer)
    if reply.tool_calls:  # the last response asked for tools that did not all run: interrupt or round limit
        blocks.extend(_calls(reply.tool_calls, reply.tool_results))
    return blocks


def plain_text(reply: Reply, answer: str | None = None) -> str:
    """The answer as plain text (the output's text/plain): what Grok said, a line per call, the sources.
    ``answer``: only this last part, as the live view's final output holds."""
    lines: list[str] = []
    calls: Any = [c for c in reply.tool_calls if c.call_id not in {r.call_id for r in reply.tool_results}]
    if answer is None:
        for done in reply.rounds:
            lines += [done.text] if done.text else []
            lines += [f"[tool] {signature(c)}" for c in done.calls]
        answer, calls = reply.text, reply.tool_calls
    lines += [answer] if answer else []
    lines += [f"[tool] {signature(c)}" for c in calls]
    lines += [f"{n}. {cite.title or cite.url} <{cite.url}>" for n, cite in enumerate(reply.citations, 1)]
    lines += [limit_words(reply)] if reply.round_limit is not None or reply.tool_limits else []
    return redact("\n\n".join(lines))


def live_blocks(reply: Reply) -> list[Block]:
    """The live view: one Markdown line per call and per search, then the text."""
    blocks: list[Block] = []
    for done in reply.rounds:
        if done.text:
            blocks.append(done.text)
        blocks.extend(_live_calls(done.calls, done.results))
    for search in reply.searches:
        where = "X" if search.kind == "x" else "the web"
        state = "Searched" if search.status == "completed" else "Searching"
        blocks.append(Markup(f"> {state} {where}" + (f": {plain(_short(search.query))}" if search.query else "")))
    if reply.text:
        blocks.append(reply.text)
    blocks.extend(_live_calls(reply.tool_calls, reply.tool_results))  # asked for after the text
    return blocks


def _live_calls(calls: Any, results: Any) -> list[Block]:
    by_id = {r.call_id: r for r in results}
    out: list[Block] = []
    for call in calls:
        result = by_id.get(call.call_id)
        if _limited(result):
            continue
        state = "…" if result is None else ("→ error" if result.error else "→ done")
        out.append(Markup(f"> ⚙ {code_span(signature(call))} {state}"))
    return out


def sources_markdown(reply: Reply) -> str:
    """Numbered links under the answer, one per cited URL, in the order they were first cited; titles are
    text, and a URL that is not http(s) or mailto is shown, not linked."""
    if not reply.citations:
        return ""
    lines = ["**Sources**", ""]
    for n, cite in enumerate(reply.citations, 1):
        lines.append(f"{n}. {link(cite.title, cite.url)}")
    return Markup("\n".join(lines))


def limit_words(reply: Reply) -> str:
    """The per-round limits reached and the round limit, as plain text (terminal, text/plain)."""
    notes = list(reply.tool_limits)
    if reply.round_limit is not None:
        wanted = ", ".join(dict.fromkeys(c.name for c in reply.tool_calls))
        notes.append(
            f"⚠ Stopped after {reply.round_limit} tool rounds: Grok still wanted to call {wanted}. "
            "Raise %config GrokMagics.max_tool_rounds to allow more."
        )
    return "\n\n".join(notes)


def limit_note(reply: Reply) -> str:
    words = limit_words(reply)
    return Markup(plain(words)) if words else ""


def tools_metadata(reply: Reply) -> dict[str, Any]:
    """What the output's metadata keeps about tools, searches and sources (saved in the notebook, so
    secrets are masked here too; metadata is data, never rendered, so it is not escaped)."""
    calls: list[dict[str, Any]] = []
    for done in reply.rounds:
        by_id = {r.call_id: r for r in done.results}
        calls.extend(
            {
                "name": c.name,
                "arguments": redact(c.arguments),
                "result": redact(by_id[c.call_id].output),
                "error": by_id[c.call_id].error,
            }
            for c in done.calls
            if c.call_id in by_id and not by_id[c.call_id].limited
        )
    meta: dict[str, Any] = {}
    if calls:
        meta["tool_calls"] = calls
    if reply.searches:
        meta["searches"] = [{"kind": s.kind, "query": redact(s.query), "status": s.status} for s in reply.searches]
    if reply.citations:
        meta["citations"] = [{"url": redact(c.url or ""), "title": redact(c.title or "")} for c in reply.citations]
    if reply.usage is not None and reply.usage.server_tools:
        meta["server_side_tools"] = reply.usage.server_tools
    return meta
