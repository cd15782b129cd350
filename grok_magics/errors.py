"""Every exception a user can meet, and failures turned into one line a person can act on: what failed,
the provider's own words, what to do.

Exceptions from the SDK and the transport never reach IPython's traceback printer: their frames
hold request headers, and ``%xmode Verbose`` would print them. ``GrokError`` renders as one line.

    GrokError                  what a cell ends with: one line (the magics turn every error below into it)
    ├── GrokDebugError         an internal error, with its redacted traceback, under GrokMagics.debug
    └── PageUnavailable        a feature that needs the notebook page, where none answers
    GrokInterrupted            (a KeyboardInterrupt) the ■ line of an interrupted ask
    ConfigError                something that cannot work, found before anything is sent
    ├── SettingError           a setting's value its rule refuses (%config, a flag, the environment, Python)
    ├── ContextError           a reference, table or image that cannot be sent
    │   └── ImageError
    └── Refused                the gate out refused a request (a key in it)
        └── OverCap            a classroom cap refused it: no later request may go either
            └── PolicyRefused  the notebook's AI policy (off, or hints for a row job) refused it
    SchemaError                a schema we cannot use, or an answer that does not match it
    CassetteError              a cassette that cannot be read (file and line)
    ToolError                  a tool name or definition that cannot work
    DataError                  a data-tool argument that does not fit the data (the model reads it)
    StreamError, Malformed, StreamCut   what a stream did wrong; always turned into a GrokError
"""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING

from grok_magics.privacy.redaction import mask_url, origin, redact

if TYPE_CHECKING:
    from grok_magics.providers.client import Transport
    from grok_magics.providers.table import Endpoint

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


class GrokDebugError(GrokError):
    """Debug mode: a traceback formatted without frame locals and redacted, then the one line."""

    def __init__(self, message: str, traceback_text: str) -> None:
        super().__init__(message)
        self.traceback_text = redact(traceback_text)

    def _render_traceback_(self) -> list[str]:
        return [*self.traceback_text.rstrip("\n").split("\n"), *super()._render_traceback_()]


class GrokInterrupted(KeyboardInterrupt):
    """Still a KeyboardInterrupt (so Run All stops), but without a traceback: one line, said once."""

    def __init__(self, line: str = "■ Interrupted.") -> None:
        super().__init__(line)
        self.line = line

    def _render_traceback_(self) -> list[str]:
        return [_red(self.line)]


class StreamError(Exception):
    """The provider said, inside the stream, that the reply failed."""


class Malformed(Exception):
    """The provider sent an event whose fields are not what the API defines (a number for a list, say)."""


class StreamCut(Exception):
    """The stream ended without the provider's end-of-reply marker: the connection was cut."""


class ConfigError(ValueError):
    """A setting that cannot work; the message says which one and how to fix it."""


class SettingError(ConfigError):
    """One line from the settings table: the setting, what it must be, the value given."""


class ContextError(ConfigError):
    """A reference, table or image that cannot be sent; raised before any request leaves the kernel."""


class ImageError(ContextError):
    """An image that cannot be sent; the message says which and why, in one line."""


class Refused(ConfigError):
    """A request the gate did not let out; nothing was sent."""


class OverCap(Refused):
    """A classroom cap (budget, calls per hour, unknown price) refused it: no later request may go either."""


class PolicyRefused(OverCap):
    pass


class SchemaError(ValueError):
    """A schema we cannot use, or an answer that does not match it; the message is one line."""


class CassetteError(ValueError):
    """The cassette cannot be read; the message names the file and line."""


class ToolError(ValueError):
    """A tool name or definition that cannot work; the message says which and what to do."""


class DataError(ValueError):
    """A tool argument that does not fit the data; the model reads the message and can try again."""


class PageUnavailable(GrokError):
    """A feature that needs the notebook page, used where no page answers."""


def one_line(text: str, limit: int = 600) -> str:
    """Whitespace folded; a long text is cut in the middle, because the advice is at the end."""
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    head = (limit - 3) * 2 // 3
    tail = limit - 3 - head
    return f"{text[:head].rstrip()} … {text[-tail:].lstrip()}"


def _public_url(url: str) -> str:
    return mask_url(url)


# Patterns stay strings (``re`` compiles and caches them on first use): %load_ext must stay light.
_TITLE = r"<title[^>]*>(.*?)</title>"
_H1 = r"<h1[^>]*>(.*?)</h1>"
_TAG = r"<[^>]*>"


def _from_html(body: str) -> str | None:
    """An HTML error page (a proxy's 502, say) is its title, never the page."""
    import html

    if not re.match(r"\s*<(!doctype|html|head|body|\?xml)", body, re.IGNORECASE):
        return None
    match = re.search(_TITLE, body, re.I | re.S) or re.search(_H1, body, re.I | re.S)
    text = html.unescape(re.sub(_TAG, " ", match.group(1))) if match else ""
    return f"an HTML page: {one_line(text, 120)}" if text.strip() else "an HTML page"


def _from_json(data: object) -> str | None:
    if not isinstance(data, dict):
        return None
    error = data.get("error", "")
    message = data.get("message", "")
    if isinstance(error, dict):
        error = error.get("message") or error.get("code") or ""
    parts = [p for p in (error, message) if isinstance(p, str) and p.strip()]
    if parts:  # {"error": "Not Found", "message": "Cannot POST /v1/responses"}: both say something
        return " — ".join(dict.fromkeys(parts))
    detail = data.get("detail")
    if isinstance(detail, str) and detail:
        return detail
    return data["code"] if isinstance(data.get("code"), str) else None


def _from_sse(body: str) -> str | None:
    """Some servers answer errors as SSE (``data: {"error": …}`` then ``data: [DONE]``)."""
    for line in body.splitlines():
        if line.startswith("data:"):
            payload = line[5:].strip()
            try:
                said = _from_json(json.loads(payload))
            except (ValueError, RecursionError):
                continue
            if said:
                return said
    return None


def provider_message(body: str) -> str:
    """The provider's own words from an error body, in any of the shapes providers use; inert text."""
    body = body.strip()
    if not body:
        return ""
    try:
        said = _from_json(json.loads(body))
    except (ValueError, RecursionError):  # not JSON, or nested past what Python reads: shown as text
        said = _from_html(body) or _from_sse(body)
    if said is None:
        said = body
    return one_line(said, 300).rstrip(". ")  # shown as text; the saved Markdown escapes it


_HINTS: dict[int, str] = {
    400: "check the options you passed (--effort, --max-tokens, --temperature)",
    402: "add credits or check billing for this account",
    403: "this key has no access to {model}: check its permissions or region, or use another key "
    "(%grok key --new, or set {key_env})",
    404: "check the model id ({model}) and the base URL ({base_url})",
    408: "re-run the cell",
    413: "the prompt is too large; shorten it or %grok reset",
    422: "check the options you passed",
    429: "rate limited; wait a moment and re-run (retries: %config GrokMagics.max_retries, now {retries})",
}

# What the provider's words reveal about the cause beats what the status code suggests.
_CAUSES: tuple[tuple[str, str], ...] = (  # most specific first; matched case-insensitively
    (r"reasoning_effort|reasoning\.effort|unsupportedparams|unsupported param|prompt_cache_key", "param"),
    (r"cannot (post|get)|no route|unknown (url|path|endpoint)|not found: post|unrecognized request url", "endpoint"),
    # LiteLLM's proxy answers a key it cannot look up with "No connected db." (HTTP 400)
    (r"api[ _-]?key|unauthori[sz]ed|authenticat|invalid[ _-]?(token|credential)|no connected db", "key"),
    (r"\bmodel\b", "model"),
)


def _cause(status: int, said: str, endpoint: "Endpoint") -> str:
    for pattern, cause in _CAUSES:
        if re.search(pattern, said, re.IGNORECASE):
            return cause
    if status == 404 and endpoint.api == "responses" and not said.lower().startswith("the model"):
        return "endpoint"
    return ""


def _key_hint(endpoint: "Endpoint") -> str:
    """With a key already set, ``%grok key`` alone only says so: the way to replace it is ``--new``."""
    import os

    key_env = endpoint.provider.key_env
    if os.environ.get(key_env, "").strip():
        return f"the key in {key_env} was refused: type a valid one with %grok key --new (or set {key_env})"
    return f"set a valid {key_env} (or run %grok key)"


def hint_for(status: int, endpoint: "Endpoint", said: str = "", retries: int = 0, advice: str = "") -> str:
    """What to do, by cause; ``advice`` (a caller's own, e.g. map's retry option) replaces it for 429 and 5xx,
    and ``retries`` says how often the request was already tried again."""
    base_url = _public_url(endpoint.base_url)
    if advice and (status == 429 or status >= 500):
        return advice
    cause = _cause(status, said, endpoint) if status in (400, 401, 403, 404, 405, 422) else ""
    if cause == "endpoint" and endpoint.api == "responses":
        return f"this server has no Responses API at {base_url}; add --api chat (or %config GrokMagics.api = 'chat')"
    if cause == "endpoint":
        return f"check the base URL ({base_url}): the server has no {endpoint.api} endpoint there"
    if cause == "key" or (status == 401 and not cause):
        return _key_hint(endpoint)
    if cause == "model":
        return f"check the model id ({endpoint.model}): pass -m MODEL or %config GrokMagics.model"
    if cause == "param":
        return "this server rejects a parameter: leave it out (--effort default) or set it on the server"
    if status >= 500:
        tried = f" (tried {retries + 1} times)" if retries else ""
        return f"the provider had a server error{tried}; re-run in a moment"
    template = _HINTS.get(status, "")
    return template.format(key_env=endpoint.provider.key_env, model=endpoint.model, base_url=base_url, retries=retries)


def _sentence(text: str) -> str:
    text = text.strip().rstrip(".")
    return f"{text[:1].upper()}{text[1:]}." if text else ""


def http_error(
    status: int,
    body: str,
    endpoint: "Endpoint",
    retry_after: str | None = None,
    redirected_to: str = "",
    retries: int = 0,
    advice: str = "",
) -> GrokError:
    said = provider_message(body)
    wait = f" (Retry-After: {retry_after}s)" if retry_after else ""
    where = f"{endpoint.model} on {endpoint.provider.title}"
    if redirected_to:
        return GrokError(
            f"{where}: the server redirected to another origin ({_public_url(redirected_to)}), which answered "
            f"HTTP {status}; the key was not sent there. If you trust that address, make it the base URL.",
            status,
        )
    from grok_magics.teaching.gateway import gateway_refusal  # classroom: a class gateway's refusals

    refused = gateway_refusal(body, endpoint.model) if 400 <= status < 500 else None
    if refused is not None:
        return GrokError(f"{_sentence(refused)} ({where}: HTTP {status} — {said or 'no message'})", status)
    hint = hint_for(status, endpoint, said, retries, advice)
    return GrokError(f"{where}: HTTP {status}{wait} — {said or 'no message'}. {_sentence(hint)}", status)


def _redirect_target(response: object, endpoint: "Endpoint") -> str:
    """The URL of the last hop when a redirect left the base URL's origin, else ''."""

    history = getattr(response, "history", None) or ()
    request = getattr(response, "request", None)
    if not history or request is None:
        return ""
    url = str(request.url)
    return url if origin(url) != origin(endpoint.base_url) else ""


def _base_url_source(endpoint: "Endpoint") -> str:
    import os

    if os.environ.get("GROK_BASE_URL", "").strip():
        return "GROK_BASE_URL"
    if endpoint.provider.base_url_env:
        return endpoint.provider.base_url_env
    if endpoint.provider.region_env:
        return f"{endpoint.provider.region_env}, or GROK_BASE_URL"
    return "GROK_BASE_URL"


def headers_timeout(endpoint: "Endpoint", timeout: float) -> GrokError:
    return GrokError(
        f"{endpoint.model} on {endpoint.provider.title}: no response from the server within {timeout:g} s "
        "(retries included). Re-run the cell, or raise %config GrokMagics.timeout."
    )


def deadline_error(endpoint: "Endpoint", deadline: float) -> GrokError:
    return GrokError(
        f"{endpoint.model} on {endpoint.provider.title}: the answer took longer than {deadline:g} s and was "
        "stopped. Re-run the cell, or raise %config GrokMagics.deadline."
    )


def _body_text(response: object) -> str:
    try:
        return str(getattr(response, "text", "") or "")
    except Exception:  # a body that is not text in its declared encoding
        return ""


def _is_connect_timeout(exc: BaseException) -> bool:
    """httpx and httpx2 both name it ConnectTimeout; the SDK wraps it in APITimeoutError."""
    return any(type(e).__name__ == "ConnectTimeout" for e in (exc, exc.__cause__, exc.__context__) if e is not None)


def from_exception(
    exc: BaseException,
    endpoint: "Endpoint",
    transport: "Transport",
    mid_stream: bool = False,
    advice: str = "",
    retries: int | None = None,
) -> GrokError:
    """Map anything the SDK or transport raised to one actionable line.

    ``retries``: how often the request was tried again before this (the SDK's ``max_retries`` for asks);
    ``advice`` replaces the hint for 429 and 5xx where the caller retries on its own terms (map)."""
    if isinstance(exc, GrokError):
        return exc
    import openai

    where = f"{endpoint.model} on {endpoint.provider.title}"
    dropped = f"{where}: the connection dropped mid-answer ({type(exc.__cause__ or exc).__name__}). Re-run the cell."
    if isinstance(exc, openai.APIStatusError):
        response = exc.response
        status = response.status_code
        retried = transport.max_retries if retries is None else retries
        retried = retried if status in (408, 409, 429) or status >= 500 else 0  # the SDK retries only these
        return http_error(
            status,
            _body_text(response),
            endpoint,
            response.headers.get("retry-after"),
            _redirect_target(response, endpoint),
            retried,
            advice,
        )
    if _is_connect_timeout(exc):
        return GrokError(
            f"{where}: could not connect to {_public_url(endpoint.base_url)} within {transport.connect_timeout:g} s. "
            "Check the network, or raise %config GrokMagics.connect_timeout."
        )
    if isinstance(exc, openai.APITimeoutError) or type(exc).__name__.endswith("Timeout"):
        if not mid_stream:
            return headers_timeout(endpoint, transport.timeout)
        return GrokError(
            f"{where}: no data for {transport.timeout:g} s. Re-run the cell, or raise %config GrokMagics.timeout."
        )
    if isinstance(exc, openai.APIConnectionError) and mid_stream:
        return GrokError(dropped)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return GrokError(
            f"{where}: could not connect to {_public_url(endpoint.base_url)} ({one_line(str(cause), 120)}). "
            f"Check the network, or the base URL ({_base_url_source(endpoint)})."
        )
    if isinstance(exc, openai.APIError):  # an error event inside the stream
        body = exc.body
        said = provider_message(json.dumps(body) if isinstance(body, dict) else str(exc.message or exc))
        return GrokError(f"{where}: the provider reported an error mid-answer — {said}. Re-run the cell.")
    if isinstance(exc, StreamError):
        return GrokError(
            f"{where}: the provider reported an error mid-answer — {provider_message(str(exc))}. Re-run the cell."
        )
    if isinstance(exc, UnicodeDecodeError):
        return GrokError(f"{where}: the provider sent bytes that are not UTF-8 mid-answer. Re-run the cell.")
    if isinstance(exc, UnicodeEncodeError):
        return GrokError(
            f"{where}: the request holds text that is not valid Unicode (a lone surrogate?); remove it and re-run."
        )
    if isinstance(exc, StreamCut):
        return GrokError(f"{where}: the stream ended before the answer was complete. Re-run the cell.")
    if isinstance(exc, Malformed):
        return GrokError(
            f"{where}: the provider sent an event that could not be read ({exc}) mid-answer. Re-run the cell."
        )
    if isinstance(exc, json.JSONDecodeError):
        return GrokError(f"{where}: the provider sent a malformed event mid-answer. Re-run the cell.")
    if isinstance(exc, RecursionError):  # the SDK's JSON reader on an answer nested past Python's limit
        return GrokError(f"{where}: the provider sent JSON nested too deeply to read. Re-run the cell.")
    if type(exc).__module__.split(".")[0] in {"httpx", "httpx2", "httpcore", "httpcore2"}:
        return GrokError(dropped)
    return GrokError(
        f"{where}: unexpected {type(exc).__name__}: {exc}. Re-run the cell; if it persists, please report it."
    )
