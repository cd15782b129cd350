"""The one gate out: every request any feature sends is admitted here, just before it leaves.

Asks, their tool rounds, ``%grok fix``, replay fall-through and every ``%grok map`` row (live or
batch) meet at ``Gate.admit``, so a cap, an unpriced model under a budget or a key-shaped string
cannot be missed by a path added later; ``Gate.book`` is where every answer's cost lands (the
classroom ledger and ``%grok usage`` alike). ``settle`` checks what a caller *chose* (locked
settings, output tokens, temperature) once per ask or job, on the same rules for asks and maps.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping

from grok_magics.errors import ConfigError, OverCap, PolicyRefused, Refused
from grok_magics.model.events import Usage
from grok_magics.model.parts import (
    DataPart,
    ImagePart,
    TextPart,
    estimate_tokens,
    parts_tokens,
)
from grok_magics.model.request import Request
from grok_magics.model.usage import PriceTable, Tally
from grok_magics.privacy.key_shapes import key_refusal, key_shape
from grok_magics.providers.table import Endpoint, Provider
from grok_magics.teaching.caps import (
    Caps,
    Ledger,
    check_before_sending,
    check_locks,
    effective_max_tokens,
)

__all__ = ["Gate", "OverCap", "Refused", "carried", "check_locks", "refuse_keys", "settle"]


def settle(
    caps: Caps, endpoint: Endpoint, max_tokens: int | None, default_max_tokens: int | None, temperature: float | None
) -> int | None:
    """The output tokens to ask for; refuses what the classroom or the provider does not allow."""
    tokens = effective_max_tokens(caps, max_tokens)
    if max_tokens is None and default_max_tokens is not None:
        tokens = min(default_max_tokens, tokens or default_max_tokens)
    _check_limits(endpoint, tokens)
    _check_temperature(endpoint.provider, temperature)
    return tokens


def _check_limits(endpoint: Endpoint, max_tokens: int | None) -> None:
    limit = endpoint.provider.max_output_tokens
    if limit is not None and max_tokens is not None and max_tokens > limit:
        raise ConfigError(
            f"{endpoint.provider.title} caps output at {limit:,} tokens: use --max-tokens {limit} or less"
        )


def _check_temperature(provider: Provider, temperature: float | None) -> None:
    top = provider.temperature_max
    if temperature is not None and not (math.isfinite(temperature) and 0 <= temperature <= top):
        raise ConfigError(f"temperature must be a number from 0 to {top:g} on {provider.title}, not {temperature}")


def carried(request: Request) -> Iterator[tuple[str, str]]:
    """Every piece of text a request carries, named by where it came from.

    Earlier turns are not read again: they passed this gate when they were first sent. Image bytes are
    not text (base64 can spell anything by chance); their captions are.
    """
    yield "system prompt", request.system
    for part in request.user:
        if isinstance(part, TextPart):
            yield "prompt", part.text
        elif isinstance(part, DataPart):
            yield f"context block of {part.name}", part.text
        elif isinstance(part, ImagePart):
            yield "image caption", part.caption + (part.url or "")
    for done in request.rounds:
        for call in done.calls:
            yield f"arguments of the tool call {call.name}", call.arguments
        for result in done.results:
            yield f"result of the tool {result.name}", result.output
        for part in done.parts:
            if isinstance(part, ImagePart):
                yield "image caption", part.caption + (part.url or "")
            elif isinstance(part, (TextPart, DataPart)):
                yield "tool output", part.text
    for spec in request.tools:
        yield f"description of the tool {spec.name}", spec.description + json.dumps(spec.parameters)
    if request.output is not None and request.output.schema is not None:
        yield "output schema", json.dumps(request.output.schema)


def active_keys(provider: Provider, env: Mapping[str, str] | None = None) -> list[str]:
    """The key an ask to ``provider`` would use (if any): it counts as key-shaped wherever it turns up."""
    env = os.environ if env is None else env
    return [env.get(provider.key_env, "").strip()]


def refuse_key_in(text: str, where: str, provider: Provider, env: Mapping[str, str] | None = None) -> None:
    """Raise Refused when ``text`` looks like an API key (the active one above all), naming ``where`` it was."""
    label = key_shape(text, active_keys(provider, env))
    if label is not None:
        raise Refused(key_refusal(where, label))


def refuse_keys(request: Request, env: Mapping[str, str] | None = None) -> None:
    """Raise Refused when anything the request carries looks like an API key."""
    for where, text in carried(request):
        refuse_key_in(text, where, request.endpoint.provider, env)


def estimated_usage(request: Request, received: str) -> Usage:
    """Tokens as the dry run counts them (characters / 4, image tiles), for answers that came without usage."""
    tokens = estimate_tokens(request.system) + parts_tokens(request.user) + sum(t.tokens for t in request.history)
    for done in request.rounds:
        tokens += sum(estimate_tokens(c.arguments) for c in done.calls)
        tokens += sum(estimate_tokens(r.output) for r in done.results)
    return Usage(input=tokens, output=estimate_tokens(received))


@dataclass
class Gate:
    """One kernel's policy for outgoing requests, and the books they are counted in."""

    caps: Caps
    ledger: Ledger
    tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)
    prices: PriceTable = field(default_factory=dict)
    allow_key: bool = False
    tutored: bool = False  # the tutor shaped and checks these requests (what the 'hints' policy allows)

    def allow(self, what: str = "%grok map, filter, reduce and topk") -> None:
        """Refuse (PolicyRefused) what the notebook's AI policy does not allow: under 'off' everything, under
        'hints' everything the tutor does not answer. Asks call it before a cassette is read, row jobs before
        their first row, and ``admit`` again for every request."""
        from grok_magics.teaching.notebook_policy import policy_refusal

        policy = self.caps.policy
        if policy.mode == "off" or (policy.mode == "hints" and not self.tutored):
            raise PolicyRefused(policy_refusal(policy, what))

    def admit(self, request: Request, then: Callable[[], object] | None = None, now: float | None = None) -> None:
        """Refuse (OverCap, Refused) or count the request as sent: a failed call still counts as a call.

        ``then`` runs between the checks and the counting: what must work before anything can be sent (the
        client: a missing key stops there, uncounted)."""
        self.allow()
        try:
            check_before_sending(self.caps, self.ledger, now, request.endpoint.model, self.prices)
        except ConfigError as exc:
            raise OverCap(str(exc)) from None
        if not self.allow_key:
            refuse_keys(request)
        if then is not None:
            then()
        self.ledger.note_sent(now)

    def admit_free(self, request: Request) -> None:
        """A request that runs no model and costs nothing (the provider's tokenizer): the key scan only, since
        it carries the same text a model request would; no cap applies and no call is counted."""
        if self.caps.policy.mode == "off":
            self.allow()
        if not self.allow_key:
            refuse_keys(request)

    def book(self, chat: str, request: Request, usage: Usage | None, received: str, replayed: bool = False) -> None:
        """What one request cost: replays cost nothing; no usage reported means an estimate, marked as such."""
        endpoint = request.endpoint
        estimate = estimated_usage(request, received) if usage is None and received else None
        self.ledger.add(chat, usage, replayed, endpoint.model, self.prices, estimate)
        if replayed or (usage is None and not received):
            return
        tally = self.tallies.setdefault((endpoint.provider.name, endpoint.model), Tally())
        tally.add(usage, endpoint.model, self.prices)
