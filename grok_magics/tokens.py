"""How many tokens a text is: exact from the provider's tokenizer where its row has one, else characters / 4.

One small seam (``Counter``) so that what needs exact counts — reduce packing rows into chunks that
fit the context window, later the dry run — asks in one place. The tokenizer request passes the gate
(``Gate.admit_free``: the key scan, since it carries the same text a model request would) and costs
nothing. If the tokenizer fails once (an old gateway, a network error), the job goes on with the
estimate, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grok_magics.model.parts import TextPart, estimate_tokens
from grok_magics.model.request import Request
from grok_magics.providers.table import Endpoint


@dataclass
class Counter:
    """Counts for one job; ``exact`` says whether the counts came from the provider's tokenizer."""

    endpoint: Endpoint
    client: Any = None  # the sync SDK client (``Clients.get``), or None: estimates only
    gate: Any = None  # policy.Gate
    transport: Any = None  # client.Transport, for the one line a failure becomes
    failed: str = ""  # why the tokenizer is not used (any more)
    calls: int = field(default=0)

    @property
    def exact(self) -> bool:
        return bool(self.endpoint.provider.tokenize_path and self.client is not None and not self.failed)

    def count(self, text: str) -> int:
        if not self.exact:
            return estimate_tokens(text)
        try:
            return self._tokenize(text)
        except Exception as exc:  # any failure: estimates from here on, said once by the caller
            from grok_magics.errors import from_exception

            self.failed = (
                from_exception(exc, self.endpoint, self.transport).message if _is_http(exc) else str(exc)[:160]
            )
            return estimate_tokens(text)

    def _tokenize(self, text: str) -> int:
        if self.gate is not None:
            self.gate.admit_free(Request(endpoint=self.endpoint, user=(TextPart(text),)))
        self.calls += 1
        answer = self.client.post(
            self.endpoint.provider.tokenize_path, cast_to=object, body={"text": text, "model": self.endpoint.model}
        )
        tokens = answer.get("token_ids") if isinstance(answer, dict) else None
        if not isinstance(tokens, list):
            raise ValueError("the tokenizer answered without token_ids")
        return len(tokens)


def _is_http(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] == "openai"
