"""Text that looks like an API key is not sent to a model.

A key pasted into a prompt (or typed after ``%grok key``) would be sent to the provider, land in
the answer, the conversation and the saved notebook. So the magic refuses such text before any
request, unless the user says ``--allow-key`` (e.g. to ask about a revoked test key). A key inside
*data* (a cell of a frame, a tool's result, a map row) is masked instead, where the data becomes
text (``mask_keys``, ``KeyMasker``): the user did not type it, and one bad row must not stop an analysis.
"""

from __future__ import annotations

import hashlib
import re
from typing import Callable, Iterable, Iterator

from grok_magics.privacy.redaction import redact

# Random-looking: at least one digit somewhere in the run, so hyphenated prose never matches.
_RUN = r"(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]"

# Shapes of the keys this tool's rows use, plus common cloud ones; long enough to avoid prose. Each shape
# starts with one of its literal prefixes: the regex runs only on text holding one (a substring test is a
# fast scan), so a 10 MB prompt with no key costs milliseconds, not a second.
_SHAPES: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    ("an xAI key (xai-…)", ("xai-",), re.compile(rf"\bxai-{_RUN}{{20,}}")),
    ("an AIgateway key (sk-aig-…)", ("sk-aig-",), re.compile(rf"\bsk-aig-{_RUN}{{16,}}")),
    ("an OpenAI-style key (sk-…)", ("sk-",), re.compile(rf"\bsk-{_RUN}{{20,}}")),
    (
        "a Bedrock API key",
        ("ABSK", "bedrock-api-key-"),
        re.compile(r"\b(ABSK[A-Za-z0-9+/=]{24,}|bedrock-api-key-[A-Za-z0-9+/=._-]{20,})"),
    ),
    ("an AWS access key", ("AKIA", "ASIA"), re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
)


def _shapes_in(text: str) -> Iterator[tuple[str, re.Pattern[str]]]:
    """The shapes whose prefix ``text`` holds: only these can match."""
    for label, prefixes, pattern in _SHAPES:
        if any(prefix in text for prefix in prefixes):
            yield label, pattern


def key_shape(text: str, known_keys: Iterable[str] = ()) -> str | None:
    """What kind of key ``text`` seems to hold, or None. Never returns the key itself."""
    for key in known_keys:
        if len(key) >= 8 and key in text:
            return "the active provider's API key"
    for label, pattern in _shapes_in(text):
        if pattern.search(text):
            return label
    return None


def key_refusal(where: str, label: str) -> str:
    return (
        f"the {where} contains something shaped like {label}; nothing was sent. Remove it (to set a key, run "
        "%grok key alone: it asks in a password box), or add --allow-key if it is not a secret."
    )


MASK = "[key masked]"


def mask_keys(text: str, known_keys: Iterable[str] = (), found: Callable[[str], None] | None = None) -> tuple[str, int]:
    """``text`` with every key-shaped run (and the active key itself) replaced by ``MASK``; how many were.

    Data is not the user's own words: a key in a cell is masked where the cell becomes text, not refused,
    so one bad row does not stop an analysis. Masking before any cut matters: a cut key is still a secret.
    ``found`` hears each masked run (to count distinct ones).
    """
    count = 0
    for key in known_keys:
        if len(key) >= 8 and key in text:
            count += text.count(key)
            text = text.replace(key, MASK)
            if found is not None:
                found(key)

    def masked(match: re.Match[str]) -> str:
        if found is not None:
            found(match.group(0))
        return MASK

    for _, pattern in _shapes_in(text):
        text, n = pattern.subn(masked, text)
        count += n
    return text, count


def masked_for_display(text: str) -> str:
    """Text shown again from memory (a panel line, a turn restored from a notebook): every key shape, and every
    secret this kernel knows, masked. Such text is not scanned again on its way out, so it is masked here."""
    return redact(mask_keys(text)[0])


class KeyMasker:
    """Masks key-shaped text in data for one ask and counts the distinct values it masked, for a one-line note.

    ``enabled=False`` (``--allow-key``) passes text through untouched. What it masked is kept as short hashes,
    and the keys it knows never show, not even in its ``repr``.
    """

    def __init__(self, known_keys: Iterable[str] = (), enabled: bool = True) -> None:
        self._known = tuple(k for k in known_keys if len(k) >= 8)
        self._seen: set[str] = set()
        self.enabled = enabled

    @property
    def count(self) -> int:
        """Distinct key-shaped values masked so far (a key in 500 rows is one)."""
        return len(self._seen)

    def _found(self, text: str) -> None:
        self._seen.add(hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16])

    def __call__(self, text: str) -> str:
        if not self.enabled:
            return text
        return mask_keys(text, self._known, self._found)[0]

    def __repr__(self) -> str:
        return f"KeyMasker(enabled={self.enabled}, count={self.count})"

    def note(self, where: str = "the data") -> str:
        """One line for the ask's status (empty when nothing was masked)."""
        n = self.count
        if not n:
            return ""
        return f"{n} key-shaped value{'s' if n > 1 else ''} in {where} masked"
