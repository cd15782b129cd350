"""Record and replay at the request seam: every request of an ask (each tool round too) is looked up
in the replay cassette, or sent live and, when recording, appended to the record cassette.

Kept apart from ``ask.py`` so the ask loop only asks "is there a recorded answer to this request?".
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Iterable, Protocol

from grok_magics.errors import ConfigError, GrokError
from grok_magics.model.events import Event
from grok_magics.model.request import Request
from grok_magics.providers.table import api_key_for
from grok_magics.wire import module_for

if TYPE_CHECKING:
    from grok_magics.teaching.cassette import Cassette


class Cassettes(Protocol):
    """What a tape reads of the kernel's books (``ask.Session``): each cassette file, loaded once."""

    def cassette(self, path: str) -> Cassette: ...


class TapeSettings(Protocol):
    """The settings a tape reads (``ask.Defaults`` holds them), named here so tape imports nothing of the engine."""

    @property
    def record(self) -> str: ...
    @property
    def replay(self) -> str: ...
    @property
    def replay_speed(self) -> float: ...
    @property
    def replay_fallthrough(self) -> bool: ...


def fingerprint_of(request: Request) -> Any:
    from grok_magics.teaching.cassette import fingerprint

    endpoint = request.endpoint
    body = module_for(endpoint.api).build(request)
    return fingerprint(endpoint.provider.name, endpoint.model, endpoint.api, body)


def _key_missing(request: Request) -> bool:
    try:
        api_key_for(request.endpoint.provider)
    except ConfigError:
        return True
    return False


@dataclass
class Tape:
    session: Cassettes
    defaults: TapeSettings
    uncapped_max_tokens: int | None = None  # a rehearsal recorded without the classroom cap still matches
    replayed: bool = False  # some answer of this ask came from the cassette
    _logs: dict[int, list[tuple[float, Event]]] = field(default_factory=dict)

    def find(self, request: Request) -> Iterable[Event] | None:
        """The recorded events of this request, or None to ask live; raises GrokError for a miss."""
        defaults = self.defaults
        if not defaults.replay:
            return None
        cassette = self.session.cassette(defaults.replay)
        print_ = fingerprint_of(request)
        found = cassette.find(print_)
        uncapped = replace(request, max_tokens=self.uncapped_max_tokens)
        if found is None and uncapped != request:
            found = cassette.find(fingerprint_of(uncapped))
        if found is None and (not defaults.replay_fallthrough or _key_missing(request)):
            raise self._miss(cassette, print_, request)
        if found is None:
            return None
        self.replayed = True
        return found.replay(defaults.replay_speed)

    def _miss(self, cassette: Any, print_: Any, request: Request) -> GrokError:
        defaults = self.defaults
        if defaults.replay_fallthrough:
            how = f"set {request.endpoint.provider.key_env} to ask live"
        else:
            how = "re-record it, or add --fallthrough to %grok replay (with a key set) to ask live"
        name = os.path.basename(defaults.replay)
        return GrokError(
            f"no recorded answer in {name}, so nothing was sent: {cassette.closest(print_)}. "
            f"{how[:1].upper()}{how[1:]}."
        )

    def recording(self, source: Iterable[Event], request: Request) -> Iterable[Event]:
        """Live events pass through, noted with their timing when a record cassette is on."""
        if not self.defaults.record:
            return source
        from grok_magics.teaching.cassette import timed

        log = self._logs[id(request)] = []
        return timed(source, time.monotonic(), log)

    def keep(self, request: Request) -> None:
        """The request's live answer finished well: append it to the record cassette."""
        log = self._logs.pop(id(request), None)
        if log is None:
            return
        from grok_magics.teaching.cassette import Recorder

        recorder = Recorder(self.defaults.record)
        recorder.start()
        recorder.save(fingerprint_of(request), log)
