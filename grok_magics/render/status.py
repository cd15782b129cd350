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


def usage_words(reply: Reply, model: str = "grok-4.3") -> list[str]:
    usage = reply.usage
    if usage is None:
        tokens, _ = reply.output_tokens()
        return ([f"~{_n(tokens)} out"] if tokens else []) + (["no usage reported"] if reply.text else [])
    words = [f"{_n(usage.input)} in" + (f" ({_n(usage.cached)} cached)" if usage.cached else "")]
    words.append(f"{_n(usage.output)} out")
    if usage.reasoning:
        words.append(f"{_n(usage.reasoning)} reasoning")
    dollars, source = cost_of(usage, model)
    words.append("price unknown" if dollars is None else _money(dollars) + (" est." if source == "estimated" else ""))
    return words


def _waiting_words(reply: Reply) -> str:
    waiting = reply.waiting
    assert waiting is not None
    why = "rate limited" if waiting.status == 429 else f"server busy (HTTP {waiting.status})"
    when = f"retrying in {waiting.seconds:g} s" if waiting.seconds else "retrying shortly"
    return f"{why}, {when}"


def status_line(header: Header, reply: Reply, *, live: bool = False) -> str:
    words = [header.model, header.provider, header.api]
    if header.chat != "default":
        words.append(f"chat {header.chat}")
    if live and reply.waiting is not None:
        words.append(_waiting_words(reply))
    elif live:
        words.append("thinking…" if reply.first_token is None else "answering…")
    else:
        words.extend(usage_words(reply, header.model))
    if reply.ttft is not None:
        words.append(f"first token {reply.ttft:.2f} s")
    rate = reply.tokens_per_second()
    if rate is not None:
        words.append(f"{rate:.0f} tok/s")
    if header.note:
        words.append(header.note)
    return " · ".join(words)


_ENDINGS = {
    "length": "hit the output limit",
    "filter": "stopped by the provider's content filter",
    "provider-error": "stopped by an error at the provider",
    "cut-off": "cut off by the provider",
    "other": "ended without a known-good finish",
}


def outcome_note(reply: Reply) -> str:
    """How the answer ended, when it did not end normally: never a cut-short answer without a mark."""
    if reply.interrupted:
        return "■ Interrupted — the answer above is partial."
    if reply.error is not None:
        return "⚠ Failed — " + reply.error.message
    if reply.finish is not None and not reply.finish.complete:
        what = _ENDINGS.get(reply.finish.kind, _ENDINGS["other"])
        return f"⚠ Stopped early by the provider ({reply.finish.reason}): {what} — the answer above is cut short."
    return ""
