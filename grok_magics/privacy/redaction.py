"""A last line of defence: any text we show passes through ``redact`` first.

Keys are handed to the HTTP client and never formatted into messages on purpose; this catches
the accidental case (a provider echoing a key back in an error body, say). Credentials written
into a base URL (``http://user:KEY@host``) count as keys too, and URLs are shown masked.
"""

from __future__ import annotations

import re

_seen: set[str] = set()
_MASK = "***"
_USERINFO = r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@"  # compiled on first use: loading stays light


def remember(secret: str) -> None:
    if len(secret) >= 8:
        _seen.add(secret)


def remember_url(url: str) -> None:
    """The user and password parts of a URL are secrets wherever they later show up."""
    from urllib.parse import unquote, urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return
    for piece in (parts.username, parts.password):
        if piece:
            remember(piece)
            remember(unquote(piece))


def mask_url(url: str) -> str:
    """``http://user:KEY@host/v1`` → ``http://***@host/v1``: the URL stays recognisable, the secret does not."""
    return re.sub(_USERINFO, lambda m: f"{m['scheme']}{_MASK}@", url)


_CUT_SHOWN = 6  # a text ending in this much of a secret (an answer interrupted mid-key) ends masked


def redact(text: str) -> str:
    """``text`` with every known secret masked, also one cut off at its end (a view re-drawn as text streams
    shows ``***`` while a key arrives, never its first half; an answer interrupted mid-key keeps the mask)."""
    for secret in _seen:
        if secret in text:
            text = text.replace(secret, _MASK)
    cut = unfinished(text)
    if len(text) - cut >= _CUT_SHOWN:
        text = text[:cut] + _MASK
    return mask_url(text)


def unfinished(text: str) -> int:
    """Where a known secret may be starting at the end of ``text`` (else its length): text streamed in pieces
    is written only up to there, so a secret split across two pieces is masked whole, never half shown."""
    if not _seen:
        return len(text)
    for start in range(max(0, len(text) - max(len(s) for s in _seen) + 1), len(text)):
        tail = text[start:]
        if any(secret.startswith(tail) for secret in _seen):
            return start
    return len(text)


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port: where a key may be sent is decided by this."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or default
