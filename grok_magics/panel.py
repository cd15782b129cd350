"""What the page's chat panel shows and does, answered over the page channel (``grok_magics.page``).

The panel holds nothing of its own: every time it opens, or an answer ends (the kernel says so with a
``chats`` event), it asks the kernel for ``panel`` — each chat with its turns (prompt and answer, one line
each), tokens and cost, where a fork branched, and the classroom budget left — and its buttons ask the
kernel to ``reset``, ``fork`` or ``export`` a chat. Text goes to the page as plain strings (the page sets
``textContent``, never HTML), cut short, with key-shaped text masked.
"""

from __future__ import annotations

from typing import Any, Mapping

from grok_magics.errors import ConfigError
from grok_magics.model.parts import labels_of, text_of
from grok_magics.privacy.key_shapes import masked_for_display

LINE = 160  # characters of one prompt or answer line
METHODS = ("panel", "reset", "fork", "export")


def _line(text: str) -> str:
    """One line of a prompt or answer, as the panel may show it: key shapes and known secrets masked."""
    text = " ".join(masked_for_display(text).split())
    return text if len(text) <= LINE else text[: LINE - 1].rstrip() + "…"


def state(session: Any) -> dict[str, Any]:
    """Every chat of this kernel, and the budget."""
    ledger = session.ledger
    chats = []
    for name in session.chats.names():
        chat = session.chats.get(name)
        spent = ledger.chats.get(name)
        chats.append(
            {
                "name": name,
                "turns": [
                    {"prompt": _line(text_of(t.user) + " " + " ".join(labels_of(t.user))), "answer": _line(t.answer)}
                    for t in chat.turns
                ],
                "tokens": chat.tokens(),
                "cost": round(spent.cost, 6) if spent is not None else 0.0,
                "calls": spent.calls if spent is not None else 0,
                "fork_of": dict(session.forks[name]) if name in session.forks else None,
            }
        )
    caps = session.caps_now() if getattr(session, "caps_now", None) is not None else None
    cap = getattr(caps, "max_cost_usd", None)
    budget = None if cap is None else {"cap": cap, "spent": round(ledger.cost, 6), "left": round(cap - ledger.cost, 6)}
    return {"chats": chats, "spent": round(ledger.cost, 6), "budget": budget}


def act(session: Any, method: str, params: Mapping[str, Any]) -> Any:
    """One panel request; a refusal is a ``ConfigError`` whose message the page shows."""
    from grok_magics.engine.forks import fork

    name = str(params.get("chat") or "default")
    if method == "panel":
        return state(session)
    if method == "reset":
        session.restored.add(name)
        session.chats.reset(name)
        session.forget_data(name)
        session.forks.pop(name, None)
        return state(session)
    if method == "fork":
        at = params.get("at")
        fork(session, str(params.get("name") or ""), name, at=at if isinstance(at, int) else None)
        return state(session)
    if method == "export":
        from grok_magics.teaching.export import exchanges, to_markdown

        chat = session.chats.get(name)
        return {"name": f"grok-chat-{name}.md", "text": to_markdown(name, exchanges(chat.turns, session.notes))}
    raise ConfigError(f"unknown panel request {method!r}")
