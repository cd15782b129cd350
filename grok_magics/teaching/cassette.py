"""Cassettes: what Grok said, per request, so a lesson can be replayed offline with no key.

A cassette is JSON lines (one header line, then per exchange one ``request`` line and one ``event``
line per stream event), so it reads and diffs like text. Requests are matched by a fingerprint of
what would leave the kernel (provider, model, wire API and the request JSON) minus what is secret
or random (headers, prompt-cache keys); images and other binary data are reduced to a sha256, so
a cassette never holds them and survives a kernel restart (replay is by content, not by order).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import time
import types
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator, cast

from grok_magics.errors import CassetteError
from grok_magics.model.events import WIRE_EVENTS, Event

VERSION = 1
MAX_PAUSE = 10.0  # seconds: the longest pause replay keeps between two events (cassettes are shared files)
_VOLATILE = frozenset({"extra_headers", "extra_query", "prompt_cache_key", "stream", "stream_options"})
_DATA_URL_MIN = 64  # shorter "data:" strings are ordinary text


# --------------------------------------------------------------------------- fingerprints


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(value: Any) -> Any:
    """JSON-ready, stable form: bytes and data URLs by content hash, dataclasses by their fields."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _digest(bytes(value))
    if isinstance(value, str):
        if value.startswith("data:") and len(value) >= _DATA_URL_MIN:
            return _digest(value.encode())
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"type": type(value).__name__, **fields}
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return repr(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _line(record: dict[str, Any]) -> str:
    """One cassette line, keys in the order written (kind and id first), so it reads left to right."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Fingerprint:
    """What identifies a request, and the readable parts a mismatch message compares."""

    key: str
    provider: str
    model: str
    api: str
    prompt: str
    options: dict[str, Any]
    history: str  # hash of everything sent before this prompt (system prompt, earlier turns)
    turns: int

    def describe(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "api": self.api,
            "prompt": self.prompt,
            "options": self.options,
            "history": self.history,
            "turns": self.turns,
        }


def _split_conversation(body: dict[str, Any]) -> tuple[list[Any], Any]:
    items = body.get("messages", body.get("input", []))
    if not isinstance(items, list) or not items:
        return [], items
    return items[:-1], items[-1]


def _prompt_text(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else message
    if isinstance(content, str):
        return content
    texts = []
    for part in content or ():
        if isinstance(part, dict):
            text = part.get("text")
            texts.append(text if isinstance(text, str) else f"[{part.get('type', 'part')}]")
    return "\n".join(texts)


def fingerprint(provider: str, model: str, api: str, body: dict[str, Any]) -> Fingerprint:
    """``body`` is what the wire module built; nothing secret or random takes part in the key."""
    kept = {k: v for k, v in body.items() if k not in _VOLATILE}
    earlier, last = _split_conversation(kept)
    options = {k: canonical(v) for k, v in kept.items() if k not in ("messages", "input", "model")}
    whole = {"provider": provider, "model": model, "api": api, "body": canonical(kept)}
    return Fingerprint(
        key=hashlib.sha256(_dumps(whole).encode()).hexdigest()[:32],
        provider=provider,
        model=model,
        api=api,
        prompt=_prompt_text(canonical(last)),
        options=options,
        history=hashlib.sha256(_dumps(canonical(earlier)).encode()).hexdigest()[:16],
        turns=sum(1 for m in earlier if isinstance(m, dict) and m.get("role") == "user"),
    )


# --------------------------------------------------------------------------- events as JSON


def event_to_json(event: Event) -> dict[str, Any]:
    """Generic, so new event types and new fields round-trip without touching this module."""
    return {"type": type(event).__name__, "data": canonical(dataclasses.asdict(event))}


def event_from_json(record: dict[str, Any]) -> Event | None:
    """The event a cassette line holds; None for a type this version does not know. ``CassetteError``
    (without a place: the caller adds it) when a field does not hold what the event type says."""
    cls = WIRE_EVENTS.get(str(record.get("type", "")))
    if not isinstance(cls, type) or not dataclasses.is_dataclass(cls):
        return None  # an event type this version does not know
    data = record.get("data") or {}
    if not isinstance(data, dict):
        raise CassetteError(f"the {cls.__name__} event's 'data' must be an object")
    hints = _hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            value = data[f.name]
            if not _fits(value, hints[f.name]):
                raise CassetteError(f"{cls.__name__}.{f.name} must be {_describe(hints[f.name])}, not {_brief(value)}")
            kwargs[f.name] = tuple(value) if isinstance(value, list) and str(f.type).startswith("tuple") else value
    return cast(Event, cls(**kwargs))


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value is what an event field's annotation says (the types events use)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args))
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    return True  # a type no event uses yet: the event's own code decides


_NAMES = {
    str: "a string",
    int: "a whole number",
    float: "a finite number",
    bool: "true or false",
    dict: "an object",
    type(None): "null",
}


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if typing.get_origin(hint) is tuple:
        return "a list whose items are each " + _describe(typing.get_args(hint)[0])
    return _NAMES.get(typing.get_origin(hint) or hint) or str(hint).replace("typing.", "")


def _offset(value: Any) -> float | None:
    """An event's recorded time in seconds since its request, if it is one (finite, not negative)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    return float(value)


_REQUEST_FIELDS: dict[str, type] = {
    "prompt": str,
    "provider": str,
    "model": str,
    "api": str,
    "history": str,
    "options": dict,
    "turns": int,
}


# --------------------------------------------------------------------------- the file


@dataclass
class RecordedExchange:
    request: dict[str, Any]
    events: list[tuple[float, Event]] = field(default_factory=list)  # (replay offset, event)
    recorded_at: float = 0.0  # the last event's offset as recorded

    def add(self, recorded: float, event: Event) -> None:
        """Keep an event; no pause before it is longer than ``MAX_PAUSE``, whatever the file says."""
        last = self.events[-1][0] if self.events else 0.0
        self.events.append((last + min(max(recorded - self.recorded_at, 0.0), MAX_PAUSE), event))
        self.recorded_at = recorded

    def replay(self, speed: float) -> Iterator[Event]:
        """The recorded events at their recorded offsets (``speed`` 0: as fast as possible)."""
        start = time.monotonic()
        for offset, event in self.events:
            if speed > 0:
                delay = start + offset / speed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield event


class Cassette:
    def __init__(self, path: str | Path, exchanges: dict[str, RecordedExchange] | None = None) -> None:
        self.path = Path(path)
        self.exchanges: dict[str, RecordedExchange] = exchanges or {}

    @classmethod
    def load(cls, path: str | Path) -> Cassette:
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise CassetteError(f"cannot read the cassette {path}: {exc.strerror or exc}") from None
        exchanges: dict[str, RecordedExchange] = {}
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                raise CassetteError(f"{path}, line {number}: not JSON; is this a grok-magics cassette?") from None
            try:
                _read_line(record, exchanges)
            except CassetteError as exc:
                raise CassetteError(f"{path}, line {number}: {exc}; fix or re-record that line") from None
        return cls(path, exchanges)

    def find(self, print_: Fingerprint) -> RecordedExchange | None:
        return self.exchanges.get(print_.key)

    def closest(self, print_: Fingerprint) -> str:
        """One sentence: the recorded prompt nearest to this one, and what differs."""
        if not self.exchanges:
            return f"{self.path.name} holds no recorded exchanges"
        recorded = [e.request for e in self.exchanges.values()]

        def similarity(r: dict[str, Any]) -> float:
            score = difflib.SequenceMatcher(None, str(r.get("prompt", "")), print_.prompt).ratio()
            return score + sum(r.get(k) == getattr(print_, k) for k in ("provider", "model", "api", "history")) / 10

        best = max(recorded, key=similarity)
        return f"closest recorded prompt {_clip(str(best.get('prompt', '')))!r} differs in {differences(best, print_)}"


def _read_line(record: Any, exchanges: dict[str, RecordedExchange]) -> None:
    """One parsed line into ``exchanges``: a request opens an exchange, an event joins its request's."""
    kind = record.get("kind") if isinstance(record, dict) else None
    key = record.get("id") if isinstance(record, dict) else None
    if kind == "request" and isinstance(key, str):
        for name, kind_of in _REQUEST_FIELDS.items():
            value = record.get(name)
            if value is not None and (not isinstance(value, kind_of) or isinstance(value, bool)):
                raise CassetteError(f"the request's {name!r} must be {_describe(kind_of)}, not {_brief(value)}")
        exchanges[key] = RecordedExchange(record)  # a later recording of the same request wins
    elif kind == "event" and isinstance(key, str) and key in exchanges:
        offset = _offset(record.get("t", 0.0))
        if offset is None:
            raise CassetteError(
                f"the time 't' must be a finite number of seconds, 0 or more, not {_brief(record.get('t'))}"
            )
        event = event_from_json(record)
        if event is not None:
            exchanges[key].add(offset, event)


def differences(recorded: dict[str, Any], wanted: Fingerprint, limit: int = 3) -> str:
    out = []
    was = str(recorded.get("prompt", ""))
    if was != wanted.prompt:
        out.append(f"the prompt ({_around_change(was, wanted.prompt)})")
    for name in ("provider", "model", "api"):
        if recorded.get(name) != getattr(wanted, name):
            out.append(f"{name} (recorded {recorded.get(name)}, now {getattr(wanted, name)})")
    options = recorded.get("options") or {}
    if recorded.get("api") == wanted.api:  # another API names every option differently
        for name in sorted(set(options) | set(wanted.options)):
            if options.get(name) != wanted.options.get(name):
                out.append(f"{name} (recorded {_brief(options.get(name))}, now {_brief(wanted.options.get(name))})")
    if recorded.get("history") != wanted.history:
        out.append(
            f"the system prompt or earlier turns (recorded after {recorded.get('turns', '?')} turn(s), now after "
            f"{wanted.turns}: run the cells in the recorded order)"
        )
    if not out:
        return "nothing visible (was the cassette edited?)"
    more = f" and {len(out) - limit} more" if len(out) > limit else ""
    return ", ".join(out[:limit]) + more


def _around_change(was: str, now: str, width: int = 40) -> str:
    """Both texts near their first difference, so a one-character change is visible."""
    first = next((i for i, (a, b) in enumerate(zip(was, now)) if a != b), min(len(was), len(now)))
    start = max(0, first - width // 3)

    def window(text: str) -> str:
        piece = text[start : start + width]
        return ("…" if start else "") + piece + ("…" if start + width < len(text) else "")

    return f"recorded {window(was)!r}, now {window(now)!r}"


def _clip(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _brief(value: Any) -> str:
    if value is None:
        return "unset"
    try:
        return _clip(_dumps(value), 40)
    except (ValueError, TypeError, RecursionError):
        return type(value).__name__


class Recorder:
    """Appends exchanges to a cassette file as they finish (so a crash loses at most the current one)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def start(self) -> None:
        """Create the file with its header line if it does not exist; an existing cassette is extended."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists() or self.path.stat().st_size == 0:
            from grok_magics.version import __version__

            header = {"kind": "cassette", "version": VERSION, "recorded_with": f"grok-magics {__version__}"}
            self.path.write_text(_line(header) + "\n", encoding="utf-8")

    def save(self, print_: Fingerprint, timed: Iterable[tuple[float, Event]]) -> None:
        lines = [_line({"kind": "request", "id": print_.key, **print_.describe()})]
        for offset, event in timed:
            lines.append(_line({"kind": "event", "id": print_.key, "t": round(offset, 4), **event_to_json(event)}))
        from grok_magics.privacy.redaction import (
            redact,  # a key the model echoed back must not reach the file either
        )

        with self.path.open("a", encoding="utf-8") as out:
            out.write(redact("\n".join(lines)) + "\n")


def timed(events: Iterable[Event], start: float, log: list[tuple[float, Event]]) -> Iterator[Event]:
    """Pass events through, noting when each arrived (seconds since ``start``)."""
    for event in events:
        log.append((time.monotonic() - start, event))
        yield event
