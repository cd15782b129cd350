"""Text that looks like an API key is not sent to a model.

A key pasted into a prompt (or typed after ``%grok key``) would be sent to the provider, land in
the answer, the conversation and the saved notebook. So the magic refuses such text before any
request, unless the user says ``--allow-key`` (e.g. to ask about a revoked test key).
"""

from __future__ import annotations

import re
from typing import Iterable

# Random-looking: at least one digit somewhere in the run, so hyphenated prose never matches.
_RUN = r"(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]"

# Shapes of the keys this tool's rows use, plus common cloud ones; long enough to avoid prose.
_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an xAI key (xai-…)", re.compile(rf"\bxai-{_RUN}{{20,}}")),
    ("an AIgateway key (sk-aig-…)", re.compile(rf"\bsk-aig-{_RUN}{{16,}}")),
    ("an OpenAI-style key (sk-…)", re.compile(rf"\bsk-{_RUN}{{20,}}")),
    ("a Bedrock API key", re.compile(r"\b(ABSK[A-Za-z0-9+/=]{24,}|bedrock-api-key-[A-Za-z0-9+/=._-]{20,})")),
    ("an AWS access key", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
)


def key_shape(text: str, known_keys: Iterable[str] = ()) -> str | None:
    """What kind of key ``text`` seems to hold, or None. Never returns the key itself."""
    for key in known_keys:
        if len(key) >= 8 and key in text:
            return "the active provider's API key"
    for label, pattern in _SHAPES:
        if pattern.search(text):
            return label
    return None


def refusal(where: str, label: str) -> str:
    return (
        f"the {where} contains something shaped like {label}; nothing was sent. Remove it (to set a key, run "
        "%grok key alone: it asks in a password box), or add --allow-key if it is not a secret."
    )
