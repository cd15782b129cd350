"""A notebook's AI policy: ``off`` (no asks), ``hints`` (asks go through the tutor) or ``full``.

It can be set in three places, and the strictest one wins (off beats hints beats full), so no place
can loosen what another set: a hub's environment (``GROK_MAGICS_POLICY``) binds every notebook of
the hub, a handed-out notebook's metadata (``metadata.grok.policy``) binds wherever it is opened, and
``%config GrokMagics.policy`` (or a config file) can only tighten them. The notebook's metadata may
also pin the model and the effort, and cap the output tokens of every call.

None of this binds a student who controls the kernel (they can edit the metadata or the environment):
the binding switch is the gateway that holds the key (docs/classroom.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from grok_magics.errors import ConfigError

MODES = ("off", "hints", "full")
ENV = "GROK_MAGICS_POLICY"
METADATA = "metadata.grok.policy"
_STRICTNESS = {"off": 0, "hints": 1, "full": 2}


@dataclass(frozen=True)
class Policy:
    mode: str = "full"
    source: str = "default"
    model: str = ""
    effort: str = ""
    max_output_tokens: int | None = None

    def describe(self) -> str:
        pins = [f"model {self.model}" if self.model else "", f"effort {self.effort}" if self.effort else ""]
        if self.max_output_tokens is not None:
            pins.append(f"at most {self.max_output_tokens:,} output tokens")
        pinned = ", ".join(p for p in pins if p)
        return self.mode + (f" ({pinned})" if pinned else "")


FULL = Policy()


def parse_mode(value: str, where: str) -> str:
    mode = value.strip().lower()
    if mode not in MODES:
        raise ConfigError(f"{where} = {value!r} is not one of {', '.join(MODES)}")
    return mode


def from_metadata(metadata: Mapping[str, Any] | None, source: str = f"notebook metadata ({METADATA})") -> Policy | None:
    """The policy a notebook's metadata sets, or None when it sets none.

    ``{"grok": {"policy": "hints", "model": "grok-4.3", "effort": "low", "max_output_tokens": 800}}``;
    ``"policy": {"mode": "hints", ...}`` is read too. A value that cannot be read turns AI off (fails
    closed), and the source says why."""
    grok = (metadata or {}).get("grok")
    if not isinstance(grok, Mapping) or grok.get("policy") in (None, ""):
        return None
    fields: Mapping[str, Any] = grok
    raw = grok.get("policy")
    if isinstance(raw, Mapping):
        fields, raw = raw, raw.get("mode")
    try:
        mode = parse_mode(str(raw), METADATA)
        tokens = fields.get("max_output_tokens")
        if tokens is not None and (not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1):
            raise ConfigError(f"metadata.grok.max_output_tokens = {tokens!r} is not a positive whole number")
    except ConfigError as exc:
        return Policy("off", f"{source}, unreadable: {exc}; fix the notebook's metadata")
    return Policy(mode, source, str(fields.get("model") or ""), str(fields.get("effort") or ""), tokens)


def from_env(env: Mapping[str, str]) -> Policy | None:
    text = env.get(ENV, "").strip()
    if not text:
        return None
    try:
        return Policy(parse_mode(text, ENV), f"environment, {ENV}")
    except ConfigError as exc:
        return Policy("off", f"environment, unreadable: {exc}; fix or unset it")


def strictest(*policies: Policy | None) -> Policy:
    """The strictest mode wins; on a tie, the earlier source names it. Pins (model, effort, tokens) come from
    every policy that sets them, the smallest token cap winning."""
    found = [p for p in policies if p is not None]
    if not found:
        return FULL
    winner = min(found, key=lambda p: _STRICTNESS[p.mode])
    model = next((p.model for p in found if p.model), "")
    effort = next((p.effort for p in found if p.effort), "")
    caps = [p.max_output_tokens for p in found if p.max_output_tokens is not None]
    return Policy(winner.mode, winner.source, model, effort, min(caps) if caps else None)


def policy_refusal(policy: Policy, what: str = "asks") -> str:
    """The one line an ask (or a row job) meets when the policy does not allow it."""
    if policy.mode == "off":
        return (
            f"AI is off in this notebook: policy 'off', set by {policy.source}; nothing was sent. "
            "Ask your teacher if you think it should be on"
        )
    return (
        f"the policy is 'hints' (set by {policy.source}): only %%grok asks, answered by the tutor, are allowed "
        f"(not {what}); nothing was sent"
    )
