"""The two wire APIs. Each module has ``build(request) -> kwargs`` and ``events(stream) -> Iterator[Event]``."""

from __future__ import annotations

import functools
import json
from types import ModuleType
from typing import Any, Callable, Iterable, Iterator

from ..errors import Malformed


def readable(events: Callable[[Iterable[Any]], Iterator[Any]]) -> Callable[[Iterable[Any]], Iterator[Any]]:
    """A provider's odd field (a number where a list belongs) becomes one clear error, not an internal one.

    Only the reading of events is wrapped: views and history run outside this generator, so a bug of
    ours there still says so.
    """

    @functools.wraps(events)
    def wrapper(stream: Iterable[Any]) -> Iterator[Any]:
        try:
            yield from events(stream)
        except (json.JSONDecodeError, UnicodeError):
            raise  # their own, clearer messages
        except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
            raise Malformed(type(exc).__name__) from None

    return wrapper


def module_for(api: str) -> ModuleType:
    if api == "chat":
        from . import chat

        return chat
    from . import responses

    return responses
