"""The one line under every answer (who answered, what it cost, how fast) and the live status words."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from grok_magics.model.events import Usage
from grok_magics.model.reply import Reply
from grok_magics.model.usage import NO_PRICES, PriceTable, cost_of, money


@dataclass(frozen=True)
class Header:
    """What a view knows before the first event: labels, not secrets."""

    model: str
    provider: str
    api: str
    chat: str = "default"
    note: str = ""  # e.g. why the API differs from the one asked for
    title: str = ""  # the provider as a person names it ("xAI", "Amazon Bedrock"); empty: ``provider``
    fence: str = ""  # show the answer as a code block in this language (structured output: "json")
    unwrap: str = ""  # a JSON answer's internal wrapper key ("items"), left out of what is shown
    replayed: bool = False  # answered from a cassette (the note says so too)
    prices: PriceTable = field(default_factory=dict)  # the user's own prices (GrokMagics.prices)
    turn: Mapping[str, Any] = field(default_factory=dict)  # saved with the answer, to rebuild it (context/restore)


def _n(value: int) -> str:
    return f"{value:,}"


def cost_words(usage: Usage | None, model: str, table: PriceTable = NO_PRICES, replayed: bool = False) -> str:
    """What an answer cost, one phrase: the provider's own figure, a list-price estimate (``~``), "price
    unknown"; a replayed answer cost nothing, and says what its recording cost, so no two figures disagree."""
    dollars, source = cost_of(usage, model, table) if usage is not None else (None, "unknown")
    shown = "price unknown" if dollars is None else ("~" if source == "estimated" else "") + money(dollars)
    if not replayed:
        return shown
    return "$0 (replayed)" if dollars is None else f"$0 (replayed; recorded at {shown})"


def usage_words(
    reply: Reply, model: str = "grok-4.3", table: PriceTable = NO_PRICES, replayed: bool = False
) -> list[str]:
    """Tokens in → out (what a newcomer can read), then the cost (``cost_words``)."""
    usage = reply.usage
    if usage is None:
        tokens, _ = reply.output_tokens()
        words = [f"~{_n(tokens)} tokens out"] if tokens else []
        if replayed:
            return words + [cost_words(None, model, table, replayed)]
        return words + (["no usage reported"] if reply.text else [])
    cached = f" ({_n(usage.cached)} cached)" if usage.cached else ""
    reasoning = f" + {_n(usage.reasoning)} reasoning" if usage.reasoning else ""
    words = [f"{_n(usage.input)}{cached} → {_n(usage.output)}{reasoning} tokens"]
    if usage.server_tools:
        words.append(f"{_n(usage.server_tools)} server-side tool call" + ("s" if usage.server_tools > 1 else ""))
    words.append(cost_words(usage, model, table, replayed))
    return words


def _speed_words(reply: Reply) -> list[str]:
    words = []
    if reply.ttft is not None:
        words.append(f"{reply.ttft:.1f} s to first token")
    rate = reply.tokens_per_second()
    if rate is not None:
        words.append(f"{rate:.0f} tok/s")
    return words


def live_state(reply: Reply, now: float | None = None) -> str:
    """What is happening right now, in words: connecting, thinking (for how long), writing."""
    now = time.monotonic() if now is None else now
    if reply.first_token is not None:
        return "writing…"
    retry = reply.retrying
    if retry is not None:
        why = "rate limited" if retry.status == 429 else f"provider error (HTTP {retry.status})"
        return f"{why}, retrying in {retry.wait:g} s…" if retry.wait is not None else f"{why}, retrying…"
    if reply.reasoning_started is not None or reply.response_id:
        return f"thinking… {now - reply.started:.0f} s"
    return "connecting…"


def status_line(header: Header, reply: Reply, *, live: bool = False) -> str:
    """``grok-4.3 · xAI · 79 → 4,343 tokens · $0.011 · 1.2 s to first token · 85 tok/s``.

    Wire-API names stay out (they are in ``%grok config`` and the output's metadata) unless the
    API differs from the one asked for, which ``header.note`` explains.
    """
    words = [header.model, header.title or header.provider]
    if header.chat != "default":
        words.append(f"chat {header.chat}")
    if live:
        words.append(reply.activity or live_state(reply))
        if header.replayed:
            words.append("replayed")
    else:
        words.extend(usage_words(reply, header.model, header.prices, header.replayed))
    words.extend(_speed_words(reply))
    if header.note:
        words.append(header.note)
    words.extend(reply.notes)
    return " · ".join(words)


_ENDINGS = {
    "length": "hit the output limit",
    "filter": "stopped by the provider's content filter",
    "provider-error": "stopped by an error at the provider",
    "cut-off": "cut off by the provider",
    "other": "ended without a known-good finish",
}


def outcome_note(reply: Reply) -> str:
    """How the answer ended, when it did not end normally: the one sentence every view shows once."""
    if reply.interrupted:
        if not reply.text_length:
            return "■ Interrupted before any answer arrived."
        return "■ Interrupted — the partial answer above stays in the conversation."
    if reply.error is not None:
        return "⚠ Failed — " + reply.error.message
    if reply.finish is not None and not reply.finish.complete:
        what = _ENDINGS.get(reply.finish.kind, _ENDINGS["other"])
        return f"⚠ Stopped early by the provider ({reply.finish.reason}): {what} — the answer above is cut short."
    return ""
