"""The one line under every answer: who answered, what it cost, how fast."""

from __future__ import annotations

from dataclasses import dataclass

from ..reply import Reply
from ..usage import cost_of


@dataclass(frozen=True)
class Header:
    """What a view knows before the first event: labels, not secrets."""

    model: str
    provider: str
    api: str
    chat: str = "default"
    note: str = ""  # e.g. why the API differs from the one asked for


def _n(value: int) -> str:
    return f"{value:,}"


def _money(dollars: float) -> str:
    return f"${dollars:.4f}" if dollars < 1 else f"${dollars:,.2f}"


def usage_words(reply: Reply) -> list[str]:
    usage = reply.usage
    if usage is None:
        tokens, _ = reply.output_tokens()
        return [f"~{_n(tokens)} out"] if tokens else []
    words = [f"{_n(usage.input)} in" + (f" ({_n(usage.cached)} cached)" if usage.cached else "")]
    words.append(f"{_n(usage.output)} out")
    if usage.reasoning:
        words.append(f"{_n(usage.reasoning)} reasoning")
    if usage.server_tools:
        words.append(f"{_n(usage.server_tools)} server-side tool call" + ("s" if usage.server_tools > 1 else ""))
    exact = usage.cost_usd is not None
    words.append(_money(cost_of(usage)) + ("" if exact else " est."))
    return words


def status_line(header: Header, reply: Reply, *, live: bool = False) -> str:
    words = [header.model, header.provider, header.api]
    if header.chat != "default":
        words.append(f"chat {header.chat}")
    if live:
        words.append(reply.activity or ("thinking…" if reply.first_token is None else "answering…"))
    else:
        words.extend(usage_words(reply))
    if reply.ttft is not None:
        words.append(f"first token {reply.ttft:.2f} s")
    rate = reply.tokens_per_second()
    if rate is not None:
        words.append(f"{rate:.0f} tok/s")
    if header.note:
        words.append(header.note)
    return " · ".join(words)


def outcome_note(reply: Reply) -> str:
    """How the answer ended, when it did not end normally."""
    if reply.interrupted:
        return "■ Interrupted — the answer above is partial."
    if reply.error is not None:
        return "⚠ Failed — " + reply.error.message
    if reply.finish is not None and not reply.finish.complete:
        return f"⚠ Stopped early by the provider ({reply.finish.reason}) — the answer above may be cut short."
    return ""
