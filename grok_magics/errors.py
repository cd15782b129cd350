"""Failures as one line a person can act on: what failed, the provider's own words, what to do.

Exceptions from the SDK and the transport never reach IPython's traceback printer: their frames
hold request headers, and ``%xmode Verbose`` would print them. ``GrokError`` renders as one line.
"""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING

from .secrets import redact

if TYPE_CHECKING:
    from .client import Transport
    from .providers import Endpoint

_RED = "\x1b[31m"
_RESET = "\x1b[0m"


def _red(text: str) -> str:
    """Red the way IPython paints its own errors: not under ``%colors NoColor``, and not into a file or pipe."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is None or str(getattr(shell, "colors", "nocolor")).lower() == "nocolor":
        return text
    in_kernel = getattr(shell, "kernel", None) is not None  # frontends render ANSI; a kernel's stdout is no tty
    if not in_kernel and not _is_tty(sys.stdout):
        return text
    return f"{_RED}{text}{_RESET}"


def _is_tty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed
        return False


class GrokError(Exception):
    """Shown by IPython as its one-line message, never with a traceback."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.message = one_line(redact(message))
        self.status = status
        self.line = "✖ " + self.message  # how the cell's error output shows it: once, one line
        super().__init__(self.message)

    def shown_as(self, line: str) -> "GrokError":
        """The same error, shown as ``line`` (the outcome sentence the views share)."""
        self.line = one_line(redact(line), 600)
        return self

    def _render_traceback_(self) -> list[str]:
        return [_red(self.line)]


class GrokInterrupted(KeyboardInterrupt):
    """Still a KeyboardInterrupt (so Run All stops), but without a traceback: one line, said once."""

    def __init__(self, line: str = "■ Interrupted.") -> None:
        super().__init__(line)
        self.line = line

    def _render_traceback_(self) -> list[str]:
        return [_red(self.line)]


class StreamError(Exception):
    """The provider said, inside the stream, that the reply failed."""


class StreamCut(Exception):
    """The stream ended without the provider's end-of-reply marker: the connection was cut."""


def one_line(text: str, limit: int = 400) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _public_url(url: str) -> str:
    return re.sub(r"//[^/@]*@", "//", url)


def provider_message(body: str) -> str:
    """The provider's own words from an error body, in any of the shapes providers use."""
    try:
        data = json.loads(body)
    except ValueError:
        return one_line(body, 200)
    if isinstance(data, dict):
        error = data.get("error", data.get("message", ""))
        if isinstance(error, dict):
            error = error.get("message") or error.get("code") or ""
        if isinstance(error, str) and error:
            return error
        if isinstance(data.get("code"), str):
            return data["code"]
    return one_line(body, 200)


_HINTS: dict[int, str] = {
    400: "check the options you passed (--effort, --max-tokens, --temperature)",
    401: "set a valid {key_env}",
    402: "add credits or check billing for this account",
    403: "this key has no access to {model}; check its permissions or region",
    404: "check the model id ({model}) and the base URL ({base_url})",
    408: "re-run the cell",
    413: "the prompt is too large; shorten it or %grok reset",
    422: "check the options you passed",
    429: "rate limited; wait a moment and re-run (retries: %config GrokMagics.max_retries)",
}


def hint_for(status: int, endpoint: "Endpoint") -> str:
    if status >= 500:
        return "the provider had a server error; re-run in a moment"
    template = _HINTS.get(status, "")
    return template.format(
        key_env=endpoint.provider.key_env, model=endpoint.model, base_url=_public_url(endpoint.base_url)
    )


def http_error(status: int, body: str, endpoint: "Endpoint", retry_after: str | None = None) -> GrokError:
    said = provider_message(body)
    wait = f" (Retry-After: {retry_after}s)" if retry_after else ""
    hint = hint_for(status, endpoint)
    where = f"{endpoint.model} on {endpoint.provider.title}"
    return GrokError(f"{where}: HTTP {status}{wait} — {said or 'no message'}. {hint[:1].upper()}{hint[1:]}.", status)


def _is_connect_timeout(exc: BaseException) -> bool:
    """httpx and httpx2 both name it ConnectTimeout; the SDK wraps it in APITimeoutError."""
    return any(type(e).__name__ == "ConnectTimeout" for e in (exc, exc.__cause__, exc.__context__) if e is not None)


def from_exception(exc: BaseException, endpoint: "Endpoint", transport: "Transport",
                   mid_stream: bool = False) -> GrokError:
    """Map anything the SDK or transport raised to one actionable line."""
    if isinstance(exc, GrokError):
        return exc
    import openai

    where = f"{endpoint.model} on {endpoint.provider.title}"
    dropped = f"{where}: the connection dropped mid-answer ({type(exc.__cause__ or exc).__name__}). Re-run the cell."
    if isinstance(exc, openai.APIStatusError):
        response = exc.response
        return http_error(response.status_code, response.text, endpoint, response.headers.get("retry-after"))
    if _is_connect_timeout(exc):
        return GrokError(
            f"{where}: could not connect to {_public_url(endpoint.base_url)} within {transport.connect_timeout:g} s. "
            "Check the network, or raise %config GrokMagics.connect_timeout."
        )
    if isinstance(exc, openai.APITimeoutError) or type(exc).__name__.endswith("Timeout"):
        return GrokError(
            f"{where}: no data for {transport.timeout:g} s. Re-run the cell, or raise %config GrokMagics.timeout."
        )
    if isinstance(exc, openai.APIConnectionError) and mid_stream:
        return GrokError(dropped)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return GrokError(
            f"{where}: could not connect to {_public_url(endpoint.base_url)} ({one_line(str(cause), 120)}). "
            "Check the network, or the base URL (GROK_BASE_URL)."
        )
    if isinstance(exc, openai.APIError):  # an error event inside the stream
        body = exc.body
        said = provider_message(json.dumps(body)) if isinstance(body, dict) else str(exc.message or exc)
        return GrokError(f"{where}: the provider reported an error mid-answer — {said}. Re-run the cell.")
    if isinstance(exc, StreamError):
        return GrokError(f"{where}: the provider reported an error mid-answer — {exc}. Re-run the cell.")
    if isinstance(exc, StreamCut):
        return GrokError(f"{where}: the stream ended before the answer was complete. Re-run the cell.")
    if isinstance(exc, json.JSONDecodeError):
        return GrokError(f"{where}: the provider sent a malformed event mid-answer. Re-run the cell.")
    if type(exc).__module__.split(".")[0] in {"httpx", "httpx2", "httpcore", "httpcore2"}:
        return GrokError(dropped)
    return GrokError(
        f"{where}: unexpected {type(exc).__name__}: {exc}. Re-run the cell; if it persists, please report it."
    )
