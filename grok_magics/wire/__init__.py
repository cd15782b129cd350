"""The two wire APIs. Each module has ``build(request) -> kwargs`` and ``events(stream) -> Iterator[Event]``.

The SDK carries the request (auth, retries, timeouts, status errors, SSE); its events reach us as the
JSON the server sent, plain dicts, not SDK models: building the models for the Responses event union
cost about 0.8 s of CPU on a kernel's first ask, and a provider's odd field is easier to judge in JSON.
"""

from __future__ import annotations

from types import ModuleType


def module_for(api: str) -> ModuleType:
    if api == "chat":
        from grok_magics.wire import chat_completions as chat

        return chat
    from grok_magics.wire import responses

    return responses
