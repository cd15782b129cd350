"""One openai SDK client per endpoint and key, reused so follow-up cells skip the TLS handshake.

The SDK is imported here, on the first ask, never when the extension loads.
"""

from __future__ import annotations

import contextlib
import hashlib
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from .providers import Endpoint, api_key_for


@dataclass(frozen=True)
class Transport:
    """How patient to be: reasoning models can think for minutes before the first byte."""

    timeout: float = 900.0
    connect_timeout: float = 10.0
    max_retries: int = 2


def _fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


class Clients:
    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], Any] = {}

    def get(self, endpoint: Endpoint, transport: Transport) -> Any:
        """Raises ConfigError (before any request) when the key is missing."""
        provider = endpoint.provider
        key = api_key_for(provider)
        cache_key = (endpoint.base_url, provider.auth_header, _fingerprint(key), transport)
        client = self._cache.get(cache_key)
        if client is None:
            client = self._cache[cache_key] = _new_client(endpoint, key, transport)
        return client

    def close(self) -> None:
        for client in self._cache.values():
            try:
                client.close()
            except Exception:
                pass
        self._cache.clear()


def _new_client(endpoint: Endpoint, key: str, transport: Transport) -> Any:
    import openai

    # The SDK would forward OPENAI_ORG_ID / OPENAI_PROJECT_ID from the environment to any host.
    headers: dict[str, Any] = {"OpenAI-Organization": openai.Omit(), "OpenAI-Project": openai.Omit()}
    if endpoint.provider.auth_header != "authorization":
        headers[endpoint.provider.auth_header] = key
    return openai.OpenAI(
        api_key=key,
        base_url=endpoint.base_url,
        default_headers=headers,
        timeout=openai.Timeout(transport.timeout, connect=transport.connect_timeout),
        max_retries=transport.max_retries,
        http_client=openai.DefaultHttpxClient(event_hooks={"response": [_notice_refusal]}),
    )


RefusalListener = Callable[[int, "float | None"], None]
_refusals: ContextVar[RefusalListener | None] = ContextVar("grok_magics_refusals", default=None)


@contextlib.contextmanager
def refusals_to(listener: RefusalListener) -> Iterator[None]:
    """While the block runs, attempts the provider refuses (429, 5xx) are reported to ``listener``
    (status, Retry-After seconds), so the view can say "rate limited, retrying in 2 s" during SDK retries."""
    token = _refusals.set(listener)
    try:
        yield
    finally:
        _refusals.reset(token)


def _notice_refusal(response: Any) -> None:
    listener = _refusals.get()
    status = response.status_code
    if listener is not None and (status == 429 or status >= 500):
        listener(status, _seconds(response.headers.get("retry-after")))


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def per_request_headers(endpoint: Endpoint) -> dict[str, Any]:
    """Providers that take the key in their own header must not also get ``Authorization: Bearer``.

    The SDK only honours removing it per request (``extra_headers``), not in ``default_headers``.
    """
    if endpoint.provider.auth_header == "authorization":
        return {}
    import openai

    return {"Authorization": openai.Omit()}


def add_headers(kwargs: dict[str, Any], headers: dict[str, Any]) -> dict[str, Any]:
    if not headers:
        return kwargs
    return {**kwargs, "extra_headers": {**kwargs.get("extra_headers", {}), **headers}}


_BULKY = ("messages", "input")  # the conversation: the only argument that grows with every turn


def bypass_transform(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Send the conversation as ``extra_body``, which the SDK passes through untouched.

    For typed arguments the SDK walks every nested item on every call (``maybe_transform``): about
    350 ms per ask at 200 turns. Ours are already plain JSON, and ``extra_body`` wins over the empty
    stub left in the typed argument, so the bytes on the wire are the same.
    """
    bulky = {name: kwargs[name] for name in _BULKY if name in kwargs}
    if not bulky:
        return kwargs
    stubs = {name: [] for name in bulky}
    return {**kwargs, **stubs, "extra_body": {**kwargs.get("extra_body", {}), **bulky}}
