"""The two wire APIs. Each module has ``build(request) -> kwargs`` and ``events(stream) -> Iterator[Event]``."""

from __future__ import annotations

from types import ModuleType


def module_for(api: str) -> ModuleType:
    if api == "chat":
        from . import chat

        return chat
    from . import responses

    return responses
