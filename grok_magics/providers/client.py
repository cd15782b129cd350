"""One openai SDK client per endpoint and key, reused so follow-up cells skip the TLS handshake.

The SDK is imported here, on the first ask, never when the extension loads.
"""

from __future__ import annotations

import hashlib
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable

from grok_magics.privacy.redaction import origin, redact, remember_url
from grok_magics.providers.table import Endpoint, api_key_for

# Every header any row sends a key in; none of them may follow a redirect to another origin.
AUTH_HEADERS = ("authorization", "api-key", "x-api-key")

# Told about every HTTP response of the current ask (status, Retry-After seconds or None, and the
# server's own say on retrying: x-should-retry as True/False, or None), so the ask can show "rate
# limited, retrying in N s" while the SDK waits, and knows when headers arrived.
RESPONDED: ContextVar[Callable[[int, "float | None", "bool | None"], None] | None] = ContextVar(
    "grok_responded", default=None
)


@dataclass(frozen=True)
class Transport:
    """How patient to be: reasoning models can think for minutes before the first byte."""

    timeout: float = 900.0
    connect_timeout: float = 10.0
    max_retries: int = 2
    deadline: float = 3600.0  # the whole ask, retries and keep-alives included


def _fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


class Clients:
    """One live client per (base URL, auth header); a new key or timeout replaces it and closes the old pool."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], tuple[tuple[Any, ...], Any]] = {}

    def get(self, endpoint: Endpoint, transport: Transport) -> Any:
        """Raises ConfigError (before any request) when the key is missing."""
        provider = endpoint.provider
        remember_url(endpoint.base_url)
        slot = (endpoint.base_url, provider.auth_header)
        signature = (
            _fingerprint(api_key_for(provider)),
            transport.timeout,
            transport.connect_timeout,
            transport.max_retries,
        )
        cached = self._cache.get(slot)
        if cached is not None and cached[0] == signature:
            return cached[1]
        if cached is not None:
            _close_quietly(cached[1])
        client = _new_client(endpoint, api_key_for(provider), transport)
        self._cache[slot] = (signature, client)
        return client

    def __len__(self) -> int:
        return len(self._cache)

    def close(self) -> None:
        for _, client in self._cache.values():
            _close_quietly(client)
        self._cache.clear()


def _close_quietly(client: Any) -> None:
    try:
        client.close()
    except Exception:
        pass


def keep_keys_home(base_url: str) -> Callable[[Any], None]:
    """An httpx request hook: a request to any origin but the base URL's carries no key.

    httpx drops ``Authorization`` on a cross-origin redirect but keeps every other header, so
    Azure's ``api-key`` would follow a redirect anywhere. The hook runs for each hop of a redirect.
    """
    home = origin(base_url)

    def hook(request: Any) -> None:
        if origin(str(request.url)) != home:
            for name in AUTH_HEADERS:
                request.headers.pop(name, None)

    return hook


def _responded(response: Any) -> None:
    status = response.status_code
    if retryable(status) and refused_for_good(status, response.read().decode("utf-8", "replace")):
        response.headers["x-should-retry"] = "false"  # the SDK obeys this header before its own rule
    listener = RESPONDED.get()
    if listener is None:
        return
    try:
        wait: float | None = float(response.headers.get("retry-after", ""))
    except ValueError:
        wait = None
    said = response.headers.get("x-should-retry")
    listener(status, wait, {"true": True, "false": False}.get(said or ""))


def retryable(status: int) -> bool:
    """What the SDK tries again (unless the server says otherwise)."""
    return status in (408, 409, 429) or status >= 500


def refused_for_good(status: int, body: str) -> bool:
    """A class gateway's refusal (a spent budget is a 429 in some LiteLLM releases) stays a refusal: trying
    again only makes the student wait for the same answer."""
    from grok_magics.teaching.gateway import gateway_refusal

    return status >= 400 and gateway_refusal(body, "") is not None


class _Redacting(logging.Filter):
    """The HTTP stack logs request URLs (credentials included) at INFO; show them masked, like everything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(str(a)) if "://" in str(a) else a for a in record.args)
        if record.exc_info and not record.exc_text:  # formatters use this text as it is
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


_REDACTING = _Redacting()
_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "openai._base_client")


def _redact_logs() -> None:
    for name in _LOGGERS:
        logging.getLogger(name).addFilter(_REDACTING)  # a no-op when already there


def _new_client(endpoint: Endpoint, key: str, transport: Transport) -> Any:
    import openai

    _redact_logs()

    # The SDK would forward OPENAI_ORG_ID / OPENAI_PROJECT_ID from the environment to any host.
    headers: dict[str, Any] = {"OpenAI-Organization": openai.Omit(), "OpenAI-Project": openai.Omit()}
    if endpoint.provider.auth_header != "authorization":
        headers[endpoint.provider.auth_header] = key
    http_client = openai.DefaultHttpxClient(
        event_hooks={"request": [keep_keys_home(endpoint.base_url)], "response": [_responded]}
    )
    return openai.OpenAI(
        api_key=key,
        base_url=endpoint.base_url,
        default_headers=headers,
        timeout=openai.Timeout(transport.timeout, connect=transport.connect_timeout),
        max_retries=transport.max_retries,
        http_client=http_client,
    )


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
