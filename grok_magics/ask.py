"""One ask, end to end: cell → request → events → view → history.

The magics decide *what* the user asked; this module decides how that becomes a request, drives
the stream into a view and records the outcome. It raises nothing from the SDK: failures end up
in ``Reply.error`` as one-line ``GrokError`` values.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, MutableMapping

from .caps import Caps, Ledger, check_before_sending, check_locks, effective_max_tokens
from .chat import CellKey, Chats, Conversation, turn_tokens
from .choices import DEFAULT_SYSTEM
from .client import Clients, Transport, add_headers, bypass_transform, per_request_headers
from .context import ContextSettings, build
from .errors import GrokError, from_exception
from .events import Event
from .options import Options
from .parts import ImagePart, estimate_tokens, parts_tokens
from .providers import PROVIDERS, ConfigError, Endpoint, api_key_for, choose_provider, resolve
from .render import Header, View, make_view
from .reply import Reply
from .request import Request, Turn
from .usage import Tally
from .wire import module_for


@dataclass(frozen=True)
class Defaults:
    """The configured settings (GrokMagics traitlets); options override them per call."""

    provider: str = ""
    model: str = ""
    effort: str = "low"
    api: str = ""
    system: str = DEFAULT_SYSTEM
    temperature: float | None = None
    max_tokens: int | None = None
    history_tokens: int = 100_000
    display: str = "auto"
    transport: Transport = Transport()
    caps: Caps = Caps()
    record: str = ""  # cassette file that live exchanges are appended to
    replay: str = ""  # cassette file that answers matching requests
    replay_speed: float = 1.0  # 0: no pauses
    replay_fallthrough: bool = False  # ask the provider live when the cassette has no match
    context_tokens: int = 2_000
    redact_columns: tuple[str, ...] = ()
    image_max_side: int = 2048
    context_window: int | None = None  # None: the provider row's


@dataclass
class Session:
    """Everything one kernel remembers between cells."""

    chats: Chats = field(default_factory=Chats)
    clients: Clients = field(default_factory=Clients)
    tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger)
    notes: dict[int, tuple[Turn, Any]] = field(default_factory=dict)  # id(turn) -> (turn, export.Meta)
    tapes: dict[str, Any] = field(default_factory=dict)  # path -> (mtime, Cassette)

    def cassette(self, path: str) -> Any:
        """The cassette at ``path``, re-read when the file changed (e.g. it is being recorded into)."""
        from .cassette import Cassette, CassetteError

        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            mtime = None
        cached = self.tapes.get(path)
        if cached is None or cached[0] != mtime:
            try:
                cached = self.tapes[path] = (mtime, Cassette.load(path))
            except CassetteError as exc:
                raise ConfigError(str(exc)) from None
        return cached[1]

    def tally(self, provider: str, model: str) -> Tally:
        return self.tallies.setdefault((provider, model), Tally())


def endpoint_for(options: Options, defaults: Defaults, env: Mapping[str, str] | None = None) -> Endpoint:
    """Options beat settings beat the environment beat the provider's own defaults."""
    env = os.environ if env is None else env
    provider = choose_provider(options.provider, defaults.provider, env)
    api = options.api or defaults.api or None
    return resolve(provider, model=options.model, configured_model=defaults.model, api=api, env=env)


def _check_limits(endpoint: Endpoint, max_tokens: int | None) -> None:
    limit = endpoint.provider.max_output_tokens
    if limit is not None and max_tokens is not None and max_tokens > limit:
        raise ConfigError(
            f"{endpoint.provider.title} caps output at {limit:,} tokens: use --max-tokens {limit} or less"
        )


def _system_for(options: Options, chat: Conversation, defaults: Defaults) -> str:
    if options.system is not None:
        return options.system
    return chat.system if chat.system is not None else defaults.system


def context_window(endpoint: Endpoint, defaults: Defaults) -> int:
    return defaults.context_window or endpoint.provider.context_window


def _images_refused(endpoint: Endpoint) -> str:
    provider = endpoint.provider
    if provider.images:
        return ""
    takers = ", ".join(p.name for p in PROVIDERS.values() if p.images)
    why = f" ({provider.images_refusal})" if provider.images_refusal else ""
    return f"{provider.title} takes no images{why}; nothing was sent. Use --provider with one of {takers}"


def _context_settings(options: Options, defaults: Defaults, endpoint: Endpoint, used: int) -> ContextSettings:
    from .context.frames import Privacy

    privacy = Privacy(schema_only=options.schema_only, exclude=options.exclude, redact=defaults.redact_columns)
    return ContextSettings(
        budget=options.budget or defaults.context_tokens,
        room=context_window(endpoint, defaults) - used,
        privacy=privacy,
        image_max_side=defaults.image_max_side,
        images_refused=_images_refused(endpoint),
    )


def _check_fits(endpoint: Endpoint, defaults: Defaults, reserved: int) -> int:
    """Tokens left for earlier turns; a prompt that alone overflows the window is refused here."""
    window = context_window(endpoint, defaults)
    if reserved > window:
        raise ConfigError(
            f"this prompt is ~{reserved:,} tokens, over the {window:,}-token context window of "
            f"{endpoint.provider.title}; nothing was sent. Shrink it: --budget N, --schema-only, --exclude COLS, "
            "fewer or smaller images, a shorter prompt (or raise %config GrokMagics.context_window)"
        )
    return window - reserved


def _check_history_images(endpoint: Endpoint, history: tuple[Turn, ...]) -> None:
    """Earlier turns replay their images too, so a provider without vision cannot take this chat."""
    refused = _images_refused(endpoint)
    if refused and any(isinstance(part, ImagePart) for turn in history for part in turn.user):
        raise ConfigError(f"{refused}; earlier turns of this chat carry images: use --new, --no-history or "
                          "another --chat")


def prepare(
    session: Session, defaults: Defaults, options: Options, prompt: str, namespace: MutableMapping[str, Any],
    cell_key: CellKey | None, preamble: str = "",
) -> tuple[Request, Conversation]:
    """Everything that can fail before a request is sent fails here (ConfigError).

    A dry run changes nothing: ``--new`` and ``--system`` only shape what it shows.
    """
    caps = defaults.caps
    check_locks(caps, {name: getattr(options, name) for name in caps.locked})
    endpoint = endpoint_for(options, defaults)
    max_tokens = effective_max_tokens(caps, options.max_tokens)
    if options.max_tokens is None and defaults.max_tokens is not None:
        max_tokens = min(defaults.max_tokens, max_tokens or defaults.max_tokens)
    _check_limits(endpoint, max_tokens)
    chat = session.chats.get(options.chat or "default")
    fresh = options.new and options.dry_run
    if options.new and not options.dry_run:
        chat.reset()
    system = options.system if options.system is not None else (
        defaults.system if fresh else _system_for(options, chat, defaults))
    if options.system is not None and not options.no_history and not options.dry_run:
        chat.system = options.system  # --system sticks to the chat, like a persona
    used = estimate_tokens(system) + estimate_tokens(preamble + prompt) + (max_tokens or 0)
    built = build(prompt, namespace, _context_settings(options, defaults, endpoint, used), options.data,
                  options.image, preamble)
    user = built.parts
    reserved = estimate_tokens(system) + parts_tokens(user)
    room = _check_fits(endpoint, defaults, reserved + (max_tokens or 0))
    budget = min(defaults.history_tokens, room + reserved)
    history = () if options.no_history or fresh else chat.context_for(cell_key, budget, reserved)
    _check_history_images(endpoint, history)
    request = Request(
        endpoint=endpoint,
        user=user,
        system=system,
        history=history,
        effort=options.effort or defaults.effort,
        temperature=options.temperature if options.temperature is not None else defaults.temperature,
        max_tokens=max_tokens,
        cache_key="" if options.no_history else chat.cache_key,
        notes=built.notes,
    )
    return request, chat


def header_for(request: Request, chat: str) -> Header:
    endpoint = request.endpoint
    note = " · ".join(n for n in (endpoint.api_note, *request.notes) if n)
    return Header(model=endpoint.model, provider=endpoint.provider.name, api=endpoint.api, chat=chat, note=note)


def _close(stream: Any) -> None:
    """Closing mid-stream drops the connection, which is how the provider learns to stop generating."""
    close = getattr(stream, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            pass


def run(
    request: Request, client: Any, view: View, header: Header, transport: Transport,
    source: Iterable[Event] | None = None, log: list[tuple[float, Event]] | None = None,
) -> Reply:
    """Stream from the provider (or from ``source``, a replay) into the view; ``log`` collects timed events."""
    wire = module_for(request.endpoint.api)
    reply = Reply()
    view.start(header)
    stream = None
    try:
        if source is None:
            kwargs = bypass_transform(add_headers(wire.build(request), per_request_headers(request.endpoint)))
            stream = wire.open_stream(client, kwargs)
            source = wire.events(stream)
        if log is not None:
            from .cassette import timed

            source = timed(source, reply.started, log)
        for event in source:
            reply.add(event)
            view.update(reply, event)
    except KeyboardInterrupt:
        reply.interrupted = True
    except Exception as exc:  # SDK, transport and protocol failures all become one line
        reply.error = from_exception(exc, request.endpoint, transport, mid_stream=stream is not None)
    finally:
        _close(stream)
        reply.ended = time.monotonic()
    view.finish(reply)
    return reply


def conclude(
    chat: Conversation, request: Request, reply: Reply, cell_key: CellKey | None, one_shot: bool
) -> Turn | None:
    """Keep what the user saw: complete, cut-short and interrupted answers stay; failures leave no turn."""
    if one_shot:
        return None
    if reply.error is not None or not reply.text:
        chat.forget(cell_key)
        return None
    provider = request.endpoint.provider
    items = reply.items if request.endpoint.api == "responses" and provider.encrypted_reasoning else ()
    usage = reply.usage
    output = usage.output if usage is not None and reply.complete else None
    reasoning = usage.reasoning if usage is not None and items else 0
    turn = Turn(
        user=request.user,
        answer=reply.text,
        key=cell_key,
        items=items,
        items_provider=provider.name if items else "",
        tokens=turn_tokens(parts_tokens(request.user), reply.text, output, reasoning),
        interrupted=reply.interrupted,
    )
    chat.record(turn)
    return turn


def fingerprint_of(request: Request) -> Any:
    from .cassette import fingerprint

    endpoint = request.endpoint
    body = module_for(endpoint.api).build(request)
    return fingerprint(endpoint.provider.name, endpoint.model, endpoint.api, body)


def _replayed(header: Header) -> Header:
    return replace(header, note=" · ".join(n for n in (header.note, "replayed") if n))


def _miss(defaults: Defaults, cassette: Any, print_: Any, request: Request) -> GrokError:
    if defaults.replay_fallthrough:
        how = f"set {request.endpoint.provider.key_env} to ask live"
    else:
        how = "re-record it, or add --fallthrough to %grok replay (with a key set) to ask live"
    name = os.path.basename(defaults.replay)
    return GrokError(f"no recorded answer in {name}, so nothing was sent: {cassette.closest(print_)}. "
                     f"{how[:1].upper()}{how[1:]}.")


def _key_missing(request: Request) -> bool:
    try:
        api_key_for(request.endpoint.provider)
    except ConfigError:
        return True
    return False


def _note(session: Session, turn: Turn | None, header: Header, reply: Reply, source: str, replayed: bool) -> None:
    if turn is None:
        return
    from .export import Meta

    session.notes[id(turn)] = (turn, Meta(
        chat=header.chat, model=header.model, provider=header.provider, api=header.api, source=source,
        usage=reply.usage, finish=reply.finish.reason if reply.finish else None, replayed=replayed,
        response_id=reply.response_id,
    ))


def _recorded(session: Session, defaults: Defaults, request: Request, print_: Any, uncapped: Request) -> Any:
    """The cassette's answer to this request; None when not replaying or when falling through to live.

    A classroom output cap is sent as max tokens; a rehearsal recorded without that cap still matches.
    """
    if not defaults.replay:
        return None
    cassette = session.cassette(defaults.replay)
    found = cassette.find(print_)
    if found is None and uncapped != request:
        found = cassette.find(fingerprint_of(uncapped))
    if found is None and (not defaults.replay_fallthrough or _key_missing(request)):
        raise _miss(defaults, cassette, print_, request)
    return found


def _live(session: Session, defaults: Defaults, request: Request, header: Header, shell: Any, print_: Any) -> Reply:
    """Ask the provider; caps are checked first, so a refused call sends nothing."""
    check_before_sending(defaults.caps, session.ledger)
    client = session.clients.get(request.endpoint, defaults.transport)  # a missing key stops us here
    view = make_view(defaults.display, shell)
    log: list[tuple[float, Event]] | None = [] if defaults.record else None
    session.ledger.note_sent()
    reply = run(request, client, view, header, defaults.transport, log=log)
    if log is not None and reply.error is None and not reply.interrupted:
        from .cassette import Recorder

        recorder = Recorder(defaults.record)
        recorder.start()
        recorder.save(print_, log)
    if reply.usage is not None:
        session.tally(request.endpoint.provider.name, request.endpoint.model).add(reply.usage)
    return reply


def ask(
    session: Session,
    defaults: Defaults,
    options: Options,
    prompt: str,
    namespace: MutableMapping[str, Any],
    cell_key: CellKey | None,
    shell: Any,
    source: str = "",
    preamble: str = "",
) -> Reply:
    request, chat = prepare(session, defaults, options, prompt, namespace, cell_key, preamble)
    if options.dry_run:  # no client (so no key), no request, no turn
        from .preview import preview_text

        print(preview_text(request))
        return Reply()
    header = header_for(request, chat.name)
    print_ = fingerprint_of(request) if defaults.replay or defaults.record else None
    uncapped = replace(request, max_tokens=options.max_tokens or defaults.max_tokens)
    found = _recorded(session, defaults, request, print_, uncapped)
    if found is not None:  # no client, no key, no network
        view = make_view(defaults.display, shell)
        reply = run(request, None, view, _replayed(header), defaults.transport,
                    source=found.replay(defaults.replay_speed))
    else:
        reply = _live(session, defaults, request, header, shell, print_)
    session.ledger.add(chat.name, reply.usage, replayed=found is not None)
    if not options.no_history:
        session.chats.forget_elsewhere(cell_key, keep=chat.name)
    turn = conclude(chat, request, reply, cell_key, options.no_history)
    _note(session, turn, header, reply, source, replayed=found is not None)
    if options.out and reply.text and reply.error is None:
        namespace[options.out] = reply.text
    return reply
