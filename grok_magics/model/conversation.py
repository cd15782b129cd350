"""Conversations held in this kernel's memory: named, per-cell replaceable, trimmed to a budget.

A notebook is read top to bottom, so a re-run cell takes its old place in the conversation (and
sees only what came before it) instead of appending a second copy at the end.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from grok_magics.model.parts import estimate_tokens
from grok_magics.model.request import Turn

CellKey = tuple[str, int]


def _new_cache_key() -> str:
    return f"grok-magics-{uuid.uuid4().hex}"


@dataclass
class Conversation:
    name: str
    turns: list[Turn] = field(default_factory=list)
    system: str | None = None  # None: use the configured default
    cache_key: str = field(default_factory=_new_cache_key)

    def position(self, key: CellKey | None) -> int | None:
        if key is None:
            return None
        for index, turn in enumerate(self.turns):
            if turn.key == key:
                return index
        return None

    def context_for(self, key: CellKey | None, budget: int, reserved: int = 0) -> tuple[Turn, ...]:
        """The turns a new ask sees: those before its own earlier run, newest kept within the budget."""
        index = self.position(key)
        earlier = self.turns if index is None else self.turns[:index]
        kept: list[Turn] = []
        spent = reserved
        for turn in reversed(earlier):
            spent += turn.tokens
            if spent > budget:
                break
            kept.append(turn)
        return tuple(reversed(kept))

    def record(self, turn: Turn) -> None:
        index = self.position(turn.key)
        if index is None:
            self.turns.append(turn)
        else:
            self.turns[index] = turn

    def forget(self, key: CellKey | None) -> None:
        index = self.position(key)
        if index is not None:
            del self.turns[index]

    def reset(self) -> None:
        self.turns.clear()
        self.cache_key = _new_cache_key()

    def tokens(self) -> int:
        return sum(t.tokens for t in self.turns)


class Chats:
    def __init__(self) -> None:
        self._by_name: dict[str, Conversation] = {}

    def get(self, name: str) -> Conversation:
        chat = self._by_name.get(name)
        if chat is None:
            chat = self._by_name[name] = Conversation(name)
        return chat

    def names(self) -> list[str]:
        return list(self._by_name)

    def forget_elsewhere(self, key: CellKey | None, keep: str) -> None:
        """A re-run cell that now talks to another chat leaves its old one."""
        if key is None:
            return
        for name, chat in self._by_name.items():
            if name != keep:
                chat.forget(key)

    def reset(self, name: str | None = None) -> None:
        if name is None:
            self._by_name.clear()
        elif name in self._by_name:
            self._by_name[name].reset()


def turn_tokens(prompt_tokens: int, answer: str, output_tokens: int | None, reasoning_tokens: int) -> int:
    """What replaying a turn will cost: provider counts where known, estimates elsewhere.

    ``prompt_tokens`` covers the whole user message (text, context blocks, images).
    """
    answer_tokens = output_tokens if output_tokens is not None else estimate_tokens(answer)
    return prompt_tokens + answer_tokens + reasoning_tokens
