"""How many tokens a text is: exact from the provider's tokenizer where its row has one, else characters / 4.

One small seam (``Counter``) so that what needs exact counts — reduce packing rows into chunks that
fit the context window, the dry run, the context-window check and ``%grok map``'s cost pre-flight — asks
in one place. The tokenizer request passes the gate (``Gate.admit_free``: the key scan, since it carries
the same text a model request would) and costs nothing. Counts are cached by a hash of the model and the
text (the same prompt is not counted twice in a kernel); several texts are counted at once
(``count_many``: a few calls in flight, each with a short timeout, the whole bounded by ``deadline``).
If the tokenizer fails once (an old gateway, a network error, no key yet), the job goes on with the
estimate, and says so (``basis``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterable

from grok_magics.model.parts import TextPart, estimate_tokens
from grok_magics.model.request import Request
from grok_magics.providers.table import Endpoint

CALL_TIMEOUT = 5.0  # seconds one tokenizer call may take
DEADLINE = 10.0  # seconds a batch of counts may take in all; what is left is estimated
IN_FLIGHT = 4  # tokenizer calls at once
_CACHE: OrderedDict[str, int] = OrderedDict()  # sha256(tokenizer URL, model, text) -> tokens, for this process
_CACHE_SIZE = 4096
_LOCK = threading.Lock()


def _key(model: str, text: str) -> str:
    """``model`` is the endpoint's base URL and model id: another server may tokenize another way."""
    return hashlib.sha256(f"{model}\0{text}".encode("utf-8", "replace")).hexdigest()


def _cached(model: str, text: str) -> int | None:
    with _LOCK:
        return _CACHE.get(_key(model, text))


def _remember(model: str, text: str, tokens: int) -> None:
    with _LOCK:
        _CACHE[_key(model, text)] = tokens
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)


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

    @property
    def _model(self) -> str:
        return f"{self.endpoint.base_url} {self.endpoint.model}"

    @property
    def basis(self) -> str:
        """How the counts were made, in words for a status or dry-run line."""
        title = self.endpoint.provider.title.split(" (")[0].removesuffix(" API")
        if self.exact:
            return f"exact, from {title}'s tokenizer"
        if self.failed:
            return f"estimated, characters / 4: the tokenizer failed ({self.failed})"
        if not self.endpoint.provider.tokenize_path:
            return f"estimated, characters / 4: {title} offers no tokenizer"
        return "estimated, characters / 4"

    def cached(self, text: str) -> int:
        """The count already made for ``text``, else the estimate (no request)."""
        found = _cached(self._model, text) if self.exact else None
        return found if found is not None else estimate_tokens(text)

    def count_many(self, texts: Iterable[str], deadline: float = DEADLINE) -> None:
        """Count every text not yet cached: the first alone (a failing tokenizer is asked once), then a few
        at a time; texts not counted by the deadline stay estimates (and ``failed`` says so)."""
        todo = list(dict.fromkeys(t for t in texts if t and _cached(self._model, t) is None))
        if not todo or not self.exact:
            return
        self.count(todo[0])
        if len(todo) == 1 or not self.exact:
            return
        from concurrent.futures import ThreadPoolExecutor, wait

        pool = ThreadPoolExecutor(max_workers=IN_FLIGHT)
        started = time.monotonic()
        futures = [pool.submit(self.count, text) for text in todo[1:]]
        _, late = wait(futures, timeout=max(0.0, deadline - (time.monotonic() - started)))
        for future in late:
            future.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        if late and not self.failed:
            self.failed = f"{len(late)} of {len(todo)} texts not counted within {deadline:g} s"

    def count(self, text: str) -> int:
        if not self.exact:
            return estimate_tokens(text)
        found = _cached(self._model, text)
        if found is not None:
            return found
        try:
            tokens = self._tokenize(text)
            _remember(self._model, text, tokens)
            return tokens
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
        client = self.client
        if hasattr(client, "with_options"):  # bounded: a slow tokenizer must not hold the ask up
            client = client.with_options(timeout=CALL_TIMEOUT, max_retries=0)
        answer = client.post(
            self.endpoint.provider.tokenize_path, cast_to=object, body={"text": text, "model": self.endpoint.model}
        )
        tokens = answer.get("token_ids") if isinstance(answer, dict) else None
        if not isinstance(tokens, list):
            raise ValueError("the tokenizer answered without token_ids")
        return len(tokens)


def counter_for(session: Any, endpoint: Endpoint, transport: Any, gate: Any, enabled: bool = True) -> Counter:
    """A counter for ``endpoint``: exact where its row has a tokenizer and a key is set, else estimates (why,
    in ``basis``). ``session`` is the kernel's ``ask.Session`` (its SDK clients)."""
    counter = Counter(endpoint, None, gate, transport)
    if not enabled:
        counter.failed = "exact counts are off (GrokMagics.exact_tokens)"
        return counter
    if not endpoint.provider.tokenize_path:
        return counter
    try:
        counter.client = session.clients.get(endpoint, transport)
    except Exception as exc:  # no key yet: a dry run still works, with estimates
        counter.failed = str(exc).split(";")[0][:160]
    return counter


def _is_http(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] == "openai"
