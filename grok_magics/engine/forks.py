"""A fork: a new named chat that starts from another as it stood at one of its answers.

One function, shared by ``--fork``, ``%grok fork`` and the page's chat panel, so the three cannot drift:
the origin keeps every turn (turns are immutable and shared, never copied or changed), the fork takes the
origin's system prompt and tools, and the session remembers where it branched — saved with the fork's
answers, so a restart rebuilds it (``context/restore.py``).
"""

from __future__ import annotations

from typing import Any, Sequence

from grok_magics.errors import ConfigError


def fork(session: Any, name: str, origin: str, turns: Sequence[Any] | None = None, at: int | None = None) -> int:
    """Make chat ``name`` from ``origin``'s ``turns`` (default: its first ``at`` turns, or all); returns how many."""
    chats = session.chats
    if not name or name == origin:
        raise ConfigError("a fork needs a new chat name, not the one it starts from")
    if chats.get(name).turns:
        raise ConfigError(f"a chat called {name!r} already exists; pick another name, or %grok reset --chat {name}")
    source = chats.get(origin).turns
    if turns is None:
        at = len(source) if at is None else at
        if not 0 <= at <= len(source):
            raise ConfigError(f"chat {origin!r} has {len(source)} answer(s), so it cannot be forked at {at}")
        turns = source[:at]
    target = chats.get(name)
    target.turns[:] = list(turns)
    target.system = chats.get(origin).system
    session.forks[name] = {"chat": origin, "turns": len(turns)}
    session.chat_tools.setdefault(name, list(session.chat_tools.get(origin, [])))
    session.restored.add(name)
    return len(turns)
