"""What both wire modules share: posting a JSON body through the SDK and reading its stream safely."""

from __future__ import annotations

import functools
import json
from typing import Any, Callable, Iterable, Iterator

from grok_magics.errors import Malformed


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


def post_args(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(body, options) for the SDK's ``post`` from ``build``'s kwargs: ``extra_headers`` become options.

    ``create(**kwargs)`` would walk the whole body through the SDK's request transformation (about
    350 ms per ask at 200 turns); ours is JSON already, so it is sent as it is.
    """
    body = dict(kwargs)
    headers = body.pop("extra_headers", None)
    return body, ({"headers": headers} if headers else {})


def post_stream(client: Any, path: str, kwargs: dict[str, Any]) -> Any:
    """POST and stream the server's events as dicts; the SDK still does auth, retries and status errors."""
    import openai

    body, options = post_args(kwargs)
    return client.post(path, body=body, options=options, cast_to=object, stream=True, stream_cls=openai.Stream[object])
