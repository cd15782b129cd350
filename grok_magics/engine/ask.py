"""One ask, end to end: cell → request → events → view → history.

The magics decide *what* the user asked; this module decides how that becomes a request, drives
the stream into a view and records the outcome. It raises nothing from the SDK: failures end up
in ``Reply.error`` as one-line ``GrokError`` values.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable, Iterable, Mapping, MutableMapping

from grok_magics.context import ContextSettings, build
from grok_magics.engine.guard import AskGuard, DeadlineExceeded
from grok_magics.engine.policy import Gate, active_keys, refuse_keys, settle
from grok_magics.errors import (
    ConfigError,
    GrokError,
    deadline_error,
    from_exception,
    headers_timeout,
)
from grok_magics.model.choices import DEFAULT_SYSTEM
from grok_magics.model.conversation import CellKey, Chats, Conversation, turn_tokens
from grok_magics.model.events import Activity, Ended, Event, Failed, Interrupted, Note, Retrying, RoundLimitReached
from grok_magics.model.options import Options
from grok_magics.model.parts import ImagePart, estimate_tokens, image_tokens, parts_tokens, text_of
from grok_magics.model.reply import Reply
from grok_magics.model.request import Request, Round, Turn
from grok_magics.model.usage import NO_PRICES, PriceTable, Tally
from grok_magics.privacy.key_shapes import KeyMasker
from grok_magics.providers.client import (
    RESPONDED,
    Clients,
    Transport,
    add_headers,
    per_request_headers,
    retryable,
)
from grok_magics.providers.table import (
    PROVIDERS,
    Endpoint,
    Provider,
    choose_provider,
    resolve,
)
from grok_magics.render import Header, View, make_view
from grok_magics.structured.output import store, wanted
from grok_magics.teaching.caps import Caps, Ledger, check_locks
from grok_magics.teaching.tape import Tape
from grok_magics.wire import module_for

ToolLimits = tuple[int, int]  # per round: tool calls that run, bytes of results sent back


@dataclass(frozen=True)
class Defaults:
    """The configured settings (GrokMagics traitlets); options override them per call."""

    provider: str = ""
    model: str = ""
    effort: str = ""  # "": the provider's default ("low" where the row sends one by default)
    api: str = ""
    system: str = DEFAULT_SYSTEM
    temperature: float | None = None
    max_tokens: int | None = None
    history_tokens: int = 100_000
    display: str = "auto"
    headings: int = 4  # level of an answer's top heading; 0 keeps the model's
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
    max_tool_rounds: int = 8
    prices: PriceTable = field(default_factory=dict)  # the user's own prices per model id (GrokMagics.prices)
    max_tool_calls: int = 20  # calls of one response that run; the rest are answered with an error
    max_tool_result_bytes: int = 200_000  # UTF-8 bytes of tool results one round may send back
    batch_deadline: float = 3600.0  # seconds %grok map --batch waits before it returns, collectable later
    # -- notebook context and restore (issue 19)
    context_above_tokens: int = 4_000  # budget of the --context above block
    restore: bool = True  # the first ask in an empty chat rebuilds it from the answers saved above
    exact_tokens: bool = True  # dry run, window check, map pre-flight: the provider's tokenizer where it has one

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Defaults:
        """From the settings table's values (``grok_magics.settings``): a field named like a setting takes its
        value (a list as a tuple); the transport, the classroom caps and the price table are built from theirs."""
        from grok_magics.model.usage import parse_prices

        own = {f.name for f in fields(cls)}
        given: dict[str, Any] = {
            name: tuple(v) if isinstance(v, list) else v for name, v in values.items() if name in own
        }
        given["transport"] = Transport(
            values["timeout"], values["connect_timeout"], values["max_retries"], values["deadline"]
        )
        given["caps"] = Caps(
            values["max_cost_usd"], values["max_output_tokens"], values["max_calls_per_hour"], tuple(values["lock"])
        )
        given["prices"] = parse_prices(values["prices"])
        return cls(**given)


@dataclass
class Session:
    """Everything one kernel remembers between cells."""

    chats: Chats = field(default_factory=Chats)
    clients: Clients = field(default_factory=Clients)
    tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger)
    notes: dict[int, tuple[Turn, Any]] = field(default_factory=dict)  # id(turn) -> (turn, export.Meta)
    tapes: dict[str, Any] = field(default_factory=dict)  # path -> (mtime, Cassette)
    chat_tools: dict[str, list[str]] = field(default_factory=dict)  # %grok tools add: per chat, by name
    chat_frames: dict[str, list[str]] = field(default_factory=dict)  # frames the data toolset read, per chat
    chat_hidden: dict[str, list[str]] = field(default_factory=dict)  # --exclude globs stick to their chat
    restored: set[str] = field(default_factory=set)  # chats restored (or reset) once: never restored again
    forks: dict[str, dict[str, Any]] = field(default_factory=dict)  # fork name -> {"chat": origin, "turns": n}
    caps_now: Callable[[], Caps] | None = None  # the classroom caps as set now (for the page's chat panel)
    tutor_steps: dict[tuple[str, str], int] = field(default_factory=dict)  # classroom: hint-ladder rung per chat

    def cassette(self, path: str) -> Any:
        """The cassette at ``path``, re-read when the file changed (e.g. it is being recorded into)."""
        from grok_magics.errors import CassetteError
        from grok_magics.teaching.cassette import Cassette

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

    def forget_data(self, chat: str | None) -> None:
        """``%grok reset``: the frames and exclusions a conversation collected go with it."""
        for table in (self.chat_frames, self.chat_hidden):
            if chat is None:
                table.clear()
            else:
                table.pop(chat, None)

    def tally(self, provider: str, model: str) -> Tally:
        return self.tallies.setdefault((provider, model), Tally())

    def gate(self, defaults: Defaults, allow_key: bool = False, tutored: bool = False) -> Gate:
        """The one gate out, with this kernel's books: asks and maps share the ledger and the tallies."""
        return Gate(defaults.caps, self.ledger, self.tallies, defaults.prices, allow_key, tutored)


def endpoint_for(options: Options, defaults: Defaults, env: Mapping[str, str] | None = None) -> Endpoint:
    """Options beat settings beat the environment beat the provider's own defaults."""
    env = os.environ if env is None else env
    provider = choose_provider(options.provider, defaults.provider, env)
    api = options.api or defaults.api or None
    return resolve(provider, model=options.model, configured_model=defaults.model, api=api, env=env)


def effort_for(chosen: str, provider: Provider) -> str:
    """The effort to send, or "" for none: "default" sends none; unset sends the row's default, if any."""
    if chosen == "default":
        return ""
    if not chosen:
        return "low" if provider.sends_effort_by_default else ""
    return chosen


def check_text(text: str, where: str) -> None:
    """Text that cannot be encoded would fail deep inside the SDK; say so here, in one line."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError(
            f"the {where} holds a character that is not valid Unicode (a lone surrogate at position {exc.start}); "
            "remove it and re-run"
        ) from None


def data_masker(options: Options, provider: Provider) -> KeyMasker:
    """Key-shaped text in data is masked where data becomes text (blocks, tool results); ``--allow-key``
    sends it as it is."""
    return KeyMasker(active_keys(provider), enabled=not options.allow_key)


def _system_for(options: Options, chat: Conversation, defaults: Defaults) -> str:
    if options.system is not None:
        return options.system
    return chat.system if chat.system is not None else defaults.system


def context_window(endpoint: Endpoint, defaults: Defaults) -> int:
    return defaults.context_window or endpoint.provider.context_window


def images_refused(endpoint: Endpoint) -> str:
    provider = endpoint.provider
    if provider.images:
        return ""
    takers = ", ".join(p.name for p in PROVIDERS.values() if p.images)
    why = f" ({provider.images_refusal})" if provider.images_refusal else ""
    return f"{provider.title} takes no images{why}; nothing was sent. Use --provider with one of {takers}"


def _context_settings(
    options: Options,
    defaults: Defaults,
    endpoint: Endpoint,
    used: int,
    data_tools: bool = False,
    masker: KeyMasker | None = None,
) -> ContextSettings:
    """With the data toolset on, tables go as schema only: answers come from the tools, not from rows."""
    from grok_magics.context.tables import Privacy

    privacy = Privacy(
        schema_only=options.schema_only or data_tools,
        exclude=options.exclude,
        redact=defaults.redact_columns,
        mask_keys=masker,
    )
    return ContextSettings(
        budget=options.budget or defaults.context_tokens,
        room=context_window(endpoint, defaults) - used,
        privacy=privacy,
        image_max_side=defaults.image_max_side,
        images_refused=images_refused(endpoint),
    )


EXACT_FROM = 0.5  # share of the window an estimate must reach before the tokenizer is asked (one call)


def _exact_when_close(
    session: Session,
    defaults: Defaults,
    options: Options,
    endpoint: Endpoint,
    system: str,
    user: tuple[Any, ...],
    estimated: int,
) -> int | None:
    """The prompt's exact size from the provider's tokenizer, asked only when the estimate comes near the
    window (so an ordinary ask costs no extra call); None: no tokenizer, no key, or it failed."""
    if not defaults.exact_tokens or not endpoint.provider.tokenize_path:
        return None
    if estimated < context_window(endpoint, defaults) * EXACT_FROM:
        return None
    from grok_magics.tokens import counter_for

    counter = counter_for(session, endpoint, defaults.transport, session.gate(defaults, options.allow_key))
    texts = [system] + [p.text if not isinstance(p, ImagePart) else p.caption for p in user]
    counter.count_many(texts)
    if not counter.exact:
        return None
    images = sum(image_tokens(p) for p in user if isinstance(p, ImagePart))
    return sum(counter.cached(t) for t in texts) + images


def _check_fits(endpoint: Endpoint, defaults: Defaults, reserved: int, exact: bool = False) -> int:
    """Tokens left for earlier turns; a prompt that alone overflows the window is refused here."""
    window = context_window(endpoint, defaults)
    if reserved > window:
        size = (
            f"{reserved:,} tokens (exact, from the provider's tokenizer, with the output cap)"
            if exact
            else f"~{reserved:,} tokens"
        )
        raise ConfigError(
            f"this prompt is {size}, over the {window:,}-token context window of "
            f"{endpoint.provider.title}; nothing was sent. Shrink it: --budget N, --schema-only, --exclude COLS, "
            "fewer or smaller images, a shorter prompt (or raise %config GrokMagics.context_window)"
        )
    return window - reserved


def _check_history_images(endpoint: Endpoint, history: tuple[Turn, ...]) -> None:
    """Earlier turns replay their images too, so a provider without vision cannot take this chat."""
    refused = images_refused(endpoint)
    if refused and any(isinstance(part, ImagePart) for turn in history for part in turn.user):
        raise ConfigError(
            f"{refused}; earlier turns of this chat carry images: use --new, --no-history or another --chat"
        )


def prepare(
    session: Session,
    defaults: Defaults,
    options: Options,
    prompt: str,
    namespace: MutableMapping[str, Any],
    cell_key: CellKey | None,
    preamble: str = "",
    page: Any = None,
    above: Any = None,
) -> tuple[Request, Conversation]:
    """Everything that can fail before a request is sent fails here (ConfigError).

    A dry run changes nothing: ``--new`` and ``--system`` only shape what it shows. ``page``: what the
    notebook page pushed before this cell ran (``grok_magics.page.Context``), for ``--output``.
    """
    caps = defaults.caps
    check_locks(caps, {name: getattr(options, name) for name in caps.locked})
    endpoint = endpoint_for(options, defaults)
    temperature = options.temperature if options.temperature is not None else defaults.temperature
    max_tokens = settle(caps, endpoint, options.max_tokens, defaults.max_tokens, temperature)
    chat = session.chats.get(options.chat or "default")
    fresh = options.new and options.dry_run
    if options.new and not options.dry_run:  # afresh: no turns, and no persona from an earlier --system
        chat.reset()
        chat.system = None
    system = (
        options.system
        if options.system is not None
        else (defaults.system if fresh else _system_for(options, chat, defaults))
    )
    if options.system is not None and not options.no_history and not options.dry_run:
        chat.system = options.system  # --system sticks to the chat, like a persona
    used = estimate_tokens(system) + estimate_tokens(preamble + prompt) + (max_tokens or 0)
    data_tools = "data" in (*session.chat_tools.get(chat.name, ()), *(options.tools or ()))
    masker = data_masker(options, endpoint.provider)
    settings = _context_settings(options, defaults, endpoint, used, data_tools, masker)
    data, attachments = options.data, None
    if options.output:
        from grok_magics.context.outputs import attach_outputs

        privacy = settings.privacy
        cells = {str(c.get("id")): c for c in page.above} if page is not None else {}
        attached = attach_outputs(
            options.output,
            page.outputs if page is not None else {},
            namespace,
            settings.budget * 4,
            bool(privacy.schema_only or privacy.exclude or privacy.redact),
            cells,
        )
        preamble = "\n\n".join(p for p in (preamble, attached.preamble) if p)
        data, attachments = (*data, *attached.data), attached.images
    built = build(prompt, namespace, settings, data, options.image, preamble, attachments)
    user = built.parts
    above_notes: tuple[str, ...] = ()
    if above is not None:  # --context above: the notebook's cells (context/above.py)
        user, above_notes = _with_above(user, above, namespace, settings, defaults, masker)
    for text, where in ((text_of(user), "prompt"), (system, "system prompt")):
        check_text(text, where)
    reserved = estimate_tokens(system) + parts_tokens(user)
    exact = _exact_when_close(session, defaults, options, endpoint, system, user, reserved + (max_tokens or 0))
    over = (exact or 0) + (max_tokens or 0) - context_window(endpoint, defaults)
    if exact is not None and over > 0 and exact > reserved and settings.room is not None:
        # the estimate under-counted: shrink the blocks by what the exact count says is too much, count again
        settings = replace(settings, room=settings.room - over - (exact - reserved) // 10)
        built = build(prompt, namespace, settings, data, options.image, preamble, attachments)
        user = built.parts
        if above is not None:
            user, above_notes = _with_above(user, above, namespace, settings, defaults, masker)
        reserved = estimate_tokens(system) + parts_tokens(user)
        exact = _exact_when_close(session, defaults, options, endpoint, system, user, reserved + (max_tokens or 0))
    reserved = exact if exact is not None else reserved
    room = _check_fits(endpoint, defaults, reserved + (max_tokens or 0), exact is not None)
    budget = min(defaults.history_tokens, room + reserved)
    history = () if options.no_history or fresh else chat.context_for(cell_key, budget, reserved)
    _check_history_images(endpoint, history)
    request = Request(
        endpoint=endpoint,
        user=user,
        system=system,
        history=history,
        effort=effort_for(options.effort or defaults.effort, endpoint.provider),
        temperature=temperature,
        max_tokens=max_tokens,
        cache_key="" if options.no_history else chat.cache_key,
        notes=built.notes + above_notes + ((masker.note("the data blocks"),) if masker.count else ()),
    )
    return request, chat


def _with_above(
    user: tuple[Any, ...],
    above: Any,
    namespace: Mapping[str, Any],
    settings: ContextSettings,
    defaults: Defaults,
    masker: KeyMasker,
) -> tuple[tuple[Any, ...], tuple[str, ...]]:
    """The cells above as one block after the prompt's own blocks (and their images, when asked)."""
    from grok_magics.context.above import build_above

    block = build_above(
        above, namespace, settings.privacy, defaults.context_above_tokens, masker, settings.image_max_side
    )
    if block.images and settings.images_refused:
        raise ConfigError(settings.images_refused)
    parts = (*user, *((block.part,) if block.part is not None else ()), *block.images)
    return parts, tuple(block.notes)


def with_tools(
    session: Session,
    options: Options,
    prompt: str,
    namespace: Mapping[str, Any],
    request: Request,
    chat: str,
    redact: tuple[str, ...] = (),
    masker: KeyMasker | None = None,
) -> tuple[Request, dict[str, Any]]:
    """Tools and searches for this ask, refused before sending where the provider has none."""
    names = list(dict.fromkeys([*session.chat_tools.get(chat, []), *(options.tools or ())]))
    search = options.search or ()
    if not names and not search:
        return request, {}
    endpoint = request.endpoint
    provider = endpoint.provider
    if names and not provider.tools:
        raise ConfigError(
            f'{provider.title} does not offer tool calling (its model card: "Tool calling — no"): '
            "drop --tools or use another --provider"
        )
    if search and not provider.server_search:
        raise ConfigError(
            f"--search is not available on {provider.title}: web and X search are xAI server-side "
            "tools; use --provider xai"
        )
    if search and endpoint.api != "responses":
        raise ConfigError("--search runs on the Responses API: drop --api chat")
    toolbox = _toolbox(session, options, prompt, namespace, names, chat, redact, masker)
    specs = tuple(t.spec for t in toolbox.values())
    return replace(request, tools=specs, search=tuple(search)), toolbox


def _toolbox(
    session: Session,
    options: Options,
    prompt: str,
    namespace: Mapping[str, Any],
    names: list[str],
    chat: str,
    redact: tuple[str, ...],
    masker: KeyMasker | None = None,
) -> dict[str, Any]:
    from grok_magics.errors import ToolError
    from grok_magics.tools.functions import resolve

    found: list[Any] = []
    try:
        if "data" in names:
            found.extend(_data_tools(session, options, prompt, namespace, chat, redact, masker))
        found.extend(resolve([n for n in names if n != "data"], namespace))
    except ToolError as exc:
        raise ConfigError(str(exc)) from None
    return {t.name: t for t in found}


def _data_tools(
    session: Session,
    options: Options,
    prompt: str,
    namespace: Mapping[str, Any],
    chat: str,
    redact: tuple[str, ...],
    masker: KeyMasker | None = None,
) -> list[Any]:
    """Frames from the prompt's ``{name}`` references and ``--data``, and those this chat used before.

    Excluded and redacted columns do not exist for the tools."""
    from grok_magics.context.references import referenced_names
    from grok_magics.tools.data import DataToolset, frames_for

    wanted = [*referenced_names(prompt), *(options.data or ()), *session.chat_frames.get(chat, [])]
    frames = frames_for(namespace, dict.fromkeys(wanted))
    if not frames:
        raise ConfigError("--tools data needs a DataFrame: name it in the prompt as {df} or pass --data df")
    missing = [n for n in options.data or () if n not in frames]
    if missing:
        raise ConfigError(f"--data {missing[0]}: no DataFrame called {missing[0]} in the notebook")
    hide = list(dict.fromkeys([*session.chat_hidden.get(chat, []), *(options.exclude or ())]))
    if not options.no_history:
        session.chat_frames[chat] = list(dict.fromkeys([*session.chat_frames.get(chat, []), *frames]))
        session.chat_hidden[chat] = hide  # a follow-up without --exclude must not see what this ask hid
    return DataToolset(frames, hide=[*hide, *redact], mask=masker).tools()


def header_for(request: Request, chat: str, prices: PriceTable = NO_PRICES) -> Header:
    endpoint = request.endpoint
    note = " · ".join(n for n in (endpoint.api_note, *request.notes) if n)
    return Header(
        model=endpoint.model,
        provider=endpoint.provider.name,
        api=endpoint.api,
        chat=chat,
        note=note,
        title=short_title(endpoint.provider.title),
        prices=prices,
    )


def short_title(title: str) -> str:
    """ "xAI API" → "xAI", "Amazon Bedrock (bedrock-mantle)" → "Amazon Bedrock": a name for the status line."""
    return title.split(" (")[0].removesuffix(" API")


def _close(stream: Any) -> None:
    """Closing mid-stream drops the connection, which is how the provider learns to stop generating."""
    close = getattr(stream, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            pass


def _retrying(status: int, retry_after: float | None, said: bool | None, attempt: int, max_retries: int) -> bool:
    """Whether the SDK will retry this response (its rule: the server's x-should-retry if it said, else
    408/409/429/5xx; Retry-After up to 2 min)."""
    will = retryable(status) if said is None else said
    return will and attempt <= max_retries and (retry_after is None or retry_after <= 120)


def empty_answer(request: Request, reply: Reply) -> GrokError:
    endpoint = request.endpoint
    reason = reply.finish.reason if reply.finish is not None else "none"
    return GrokError(
        f"{endpoint.model} on {endpoint.provider.title}: the provider returned an empty answer (finish reason: "
        f"{reason}). Re-run the cell; if it repeats, raise --max-tokens or try another --effort."
    )


@dataclass(frozen=True)
class Books:
    """Where an ask's requests are admitted and counted: the gate, the chat they are booked to, and whether
    the first request already passed (it is checked before the view opens, so a refusal shows no answer)."""

    gate: Gate
    chat: str
    first_admitted: bool = False


def stream_round(
    request: Request,
    connect: Callable[[], Any],
    view: View,
    reply: Reply,
    transport: Transport,
    guard: AskGuard,
    tape: Tape | None = None,
    recorded: Iterable[Event] | None = None,
    books: Books | None = None,
    admitted: bool = False,
) -> None:
    """One request and its stream: events go into ``reply`` and the view as they arrive.

    ``recorded`` (or the tape's answer for this request) replays; otherwise the request passes the gate
    (unless ``admitted`` already) and goes live, and every HTTP response it gets is reported here:
    headers arrived (the header deadline stops), or the SDK will retry after a wait (the view says
    "rate limited, retrying in N s"). Live or replayed, what the request cost is booked at the end.
    """
    wire = module_for(request.endpoint.api)
    stream = None
    live = False
    sent = replayed = False
    attempts = 0
    usages_before = len(reply.round_usages)

    def responded(status: int, retry_after: float | None, said: bool | None) -> None:
        nonlocal attempts
        attempts += 1
        if status < 300:
            guard.opened()
        elif _retrying(status, retry_after, said, attempts, transport.max_retries):
            guard.wait_for_headers_again(retry_after or 0.0)
            event = Retrying(status, retry_after)
            reply.add(event)
            view.update(reply, event)

    token = RESPONDED.set(responded)
    try:
        source = recorded if recorded is not None else (tape.find(request) if tape is not None else None)
        replayed = source is not None
        if source is None and books is not None and not admitted:
            books.gate.admit(request, connect)
        if source is None:
            sent = True
            kwargs = add_headers(wire.build(request), per_request_headers(request.endpoint))
            stream = wire.open_stream(connect(), kwargs)
            source = wire.events(stream)
            live = True
            if tape is not None:
                source = tape.recording(source, request)
        for event in source:
            reply.add(event)
            view.update(reply, event)
    except DeadlineExceeded as exc:
        timed_out = headers_timeout if exc.what == "headers" else None
        reply.add(
            Failed(
                timed_out(request.endpoint, transport.timeout)
                if timed_out is not None
                else deadline_error(request.endpoint, transport.deadline)
            )
        )
    except KeyboardInterrupt:
        reply.add(Interrupted())
        guard.caught()
    except ConfigError as exc:  # the gate refused this request (a cap, a key): nothing was sent
        reply.add(Failed(GrokError(str(exc))))
    except Exception as exc:  # SDK, transport and protocol failures all become one line
        reply.add(
            Failed(
                from_exception(
                    exc, request.endpoint, transport, mid_stream=stream is not None, retries=max(attempts - 1, 0)
                )
            )
        )
    finally:
        RESPONDED.reset(token)
        _close(stream)
    if books is not None and (sent or replayed):
        usage = reply.round_usages[-1] if len(reply.round_usages) > usages_before else None
        received = reply.text + "".join(call.arguments for call in reply.tool_calls)
        books.gate.book(books.chat, request, usage, received, replayed=not sent)
    if live and tape is not None and reply.error is None and not reply.interrupted:
        tape.keep(request)


def _run_tools(
    request: Request,
    reply: Reply,
    view: View,
    toolbox: Mapping[str, Any],
    confirm: Callable[[str], bool | None] | None,
    limits: ToolLimits = (20, 200_000),
    masker: KeyMasker | None = None,
) -> Round | None:
    """Run the round's calls in order; None when the user interrupted (between or during a call).

    Within ``limits`` (calls run, bytes of results kept); every call past them is answered with an
    error the model can read, and the final view says so in one line (``Reply.tool_limits``). Key-shaped
    text in results is masked (``masker``) before it is shown, counted against the byte budget or sent back."""
    from grok_magics.tools.functions import RoundLimits, ask_user, run_call

    bounds = RoundLimits(*limits)
    asked = len(reply.tool_calls)
    try:
        for index, call in enumerate(reply.tool_calls):
            if not bounds.runs(index):
                break
            reply.add(Activity(f"running {call.name}…"))
            view.update(reply, call)
            result = bounds.kept(run_call(call, toolbox, confirm or ask_user, masker))
            reply.add(result)
            view.update(reply, result)
    except KeyboardInterrupt:
        reply.add(Interrupted())
        return None
    for call in reply.tool_calls[bounds.max_calls :]:  # not shown one by one: the note below sums them up
        reply.add(bounds.refused(call, asked))
    for note in bounds.notes(asked):
        reply.add(Note(note, tool_limit=True))
    return reply.tool_round(request)


def run(
    request: Request,
    connect: Callable[[], Any],
    view: View,
    header: Header,
    transport: Transport,
    guard: AskGuard | None = None,
    toolbox: Mapping[str, Any] | None = None,
    max_rounds: int = 8,
    confirm: Callable[[str], bool | None] | None = None,
    tape: Tape | None = None,
    recorded: Iterable[Event] | None = None,
    books: Books | None = None,
    masker: KeyMasker | None = None,
    tool_limits: ToolLimits = (20, 200_000),
) -> Reply:
    """Ask; while the model calls tools, run them and ask again with their results, up to ``max_rounds``.

    ``connect`` gives the SDK client when a request goes live; ``recorded`` replays the first request.
    Under ``guard``, a second Ctrl-C cannot cut the ending (final view, history) short. With ``books``,
    every live request (each tool round too) passes the gate and every request is booked.
    """
    guard = guard if guard is not None else AskGuard(None, None)
    reply = Reply()
    view.start(header)
    try:
        while True:
            first = not reply.rounds
            stream_round(
                request,
                connect,
                view,
                reply,
                transport,
                guard,
                tape,
                recorded,
                books,
                admitted=first and books is not None and books.first_admitted,
            )
            recorded = None
            if reply.error is not None or reply.interrupted or not reply.tool_calls or not reply.complete:
                break
            if len(reply.rounds) >= max_rounds:
                reply.add(RoundLimitReached(max_rounds))
                break
            done = _run_tools(request, reply, view, toolbox or {}, confirm, tool_limits, masker)
            if done is None:
                break
            reply.add(done)
            request = replace(request, rounds=request.rounds + (done,))
            guard.wait_for_headers_again(0.0)  # the next request gets its own header deadline
    finally:
        guard.end()
    if masker is not None and masker.count:
        reply.add(Note(masker.note("tool results")))
    reply.add(Ended(time.monotonic()))
    if (
        reply.error is None
        and not reply.interrupted
        and not reply.text.strip()
        and not reply.rounds
        and not reply.tool_calls
    ):
        reply.add(Failed(empty_answer(request, reply)))
    view.finish(reply)
    return reply


def conclude(
    chat: Conversation, request: Request, reply: Reply, cell_key: CellKey | None, one_shot: bool
) -> Turn | None:
    """Keep what the user saw: complete, cut-short and interrupted answers stay; a failure adds nothing
    (and a failed re-run leaves the cell's earlier good turn where it was)."""
    if one_shot:
        return None
    if reply.error is not None or not (reply.text or reply.rounds):
        return None
    provider = request.endpoint.provider
    unanswered = bool(reply.tool_calls)  # calls left unrun (round limit, interrupt) must not be replayed
    keep = request.endpoint.api == "responses" and provider.encrypted_reasoning and not unanswered
    items = reply.items if keep else ()
    usage = reply.usage
    output = usage.output if usage is not None and reply.complete else None
    reasoning = usage.reasoning if usage is not None and items else 0
    answer = reply.text or ("(stopped: tool round limit)" if reply.round_limit else "(interrupted)")
    rounds = tuple(reply.rounds)
    round_tokens = sum(
        estimate_tokens(c.arguments) + estimate_tokens(r.output)
        for done in rounds
        for c, r in zip(done.calls, done.results)
    )
    turn = Turn(
        user=request.user,
        answer=answer,
        key=cell_key,
        items=items,
        items_provider=provider.name if items else "",
        tokens=turn_tokens(parts_tokens(request.user), answer, output, reasoning) + round_tokens,
        interrupted=reply.interrupted,
        rounds=rounds,
    )
    chat.record(turn)
    return turn


def dry_run(session: Session, defaults: Defaults, options: Options, request: Request, shell: Any) -> None:
    """What ``--dry-run`` shows instead of sending (an ask and an agent cell alike): never a key, and exact
    token counts where the provider has a tokenizer (one batch, cached, bounded)."""
    from grok_magics.render.dry_run import Counting, Preview
    from grok_magics.render.views import in_notebook
    from grok_magics.tokens import counter_for

    if not options.allow_key:
        refuse_keys(request)  # the preview would show the key, and the notebook keep it
    gate = session.gate(defaults, options.allow_key)
    counter = counter_for(session, request.endpoint, defaults.transport, gate, defaults.exact_tokens)
    preview = Preview(request)
    counter.count_many(preview.texts())
    preview.show(in_notebook(defaults.display, shell), Counting(counter.cached, counter.basis))


def _turn_record(request: Request, forked_from: Mapping[str, Any] | None) -> dict[str, Any]:
    """The saved record never holds a key, even under --allow-key: key-shaped text is masked."""
    from grok_magics.context.restore import record

    provider = request.endpoint.provider
    mask = KeyMasker(active_keys(provider))
    encrypted = request.endpoint.api == "responses" and provider.encrypted_reasoning
    return record(request.user, mask, encrypted, forked_from)


def replayed_header(header: Header) -> Header:
    """The status line's cost says "$0 (replayed; recorded at $…)": the one mention, no second note."""
    return replace(header, replayed=True)


def remember_turn(
    session: Session, turn: Turn | None, header: Header, reply: Reply, source: str, replayed: bool
) -> None:
    if turn is None:
        return
    from grok_magics.teaching.export import Meta

    session.notes[id(turn)] = (
        turn,
        Meta(
            chat=header.chat,
            model=header.model,
            provider=header.provider,
            api=header.api,
            source=source,
            usage=reply.usage,
            finish=reply.finish.reason if reply.finish else None,
            replayed=replayed,
            response_id=reply.response_id,
        ),
    )


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
    page: Any = None,
    above: Any = None,
    notes: tuple[str, ...] = (),
    forked_from: Mapping[str, Any] | None = None,
) -> Reply:
    request, chat = prepare(session, defaults, options, prompt, namespace, cell_key, preamble, page, above)
    request = replace(request, notes=(*notes, *request.notes))
    # classroom: the notebook's policy, checked by the gate before a cassette is read; 'hints' brings the tutor
    tutor = None
    if defaults.caps.policy.mode == "hints":
        from grok_magics.engine.tutoring import tutor_for

        tutor = tutor_for(session, options, page, chat, request.system)
    session.gate(defaults, options.allow_key, tutored=tutor is not None).allow("asks")
    if tutor is not None:
        request = tutor.shape(request)
    structure = wanted(options, namespace, request.endpoint)
    if structure is not None:
        request = replace(request, output=structure.output)
    if options.dry_run:  # no client (so no key), no request, no turn
        dry_run(session, defaults, options, request, shell)
        return Reply()
    masker = data_masker(options, request.endpoint.provider)
    request, toolbox = with_tools(
        session, options, prompt, namespace, request, chat.name, defaults.redact_columns, masker
    )
    header = header_for(request, chat.name, defaults.prices)
    if not options.no_history:  # the answer's metadata keeps what rebuilds its turn (context/restore.py)
        header = replace(header, turn=_turn_record(request, forked_from))
    if structure is not None:  # the JSON as the user's schema describes it, without our "items" wrapper
        header = replace(header, fence="json", unwrap=structure.schema.wrapper if structure.schema is not None else "")
    if tutor is not None:
        header = tutor.header(header)
    tape = Tape(session, defaults, options.max_tokens or defaults.max_tokens)
    recorded = tape.find(request)  # a cassette miss is refused here, before anything is shown

    def connect() -> Any:
        return session.clients.get(request.endpoint, defaults.transport)  # a missing key stops us here

    books = Books(
        session.gate(defaults, options.allow_key, tutored=tutor is not None), chat.name, first_admitted=recorded is None
    )
    if recorded is None:  # live: the gate first, so a refused call sends nothing and shows no answer
        books.gate.admit(request, connect)
    shown_view = make_view(defaults.display, shell, defaults.headings)
    view = shown_view
    if tutor is not None:  # a tutor answer is shown only once checked: nothing streams
        from grok_magics.engine.tutoring import HeldView

        view = HeldView()
    transport = defaults.transport
    had_turn = not options.no_history and chat.position(cell_key) is not None
    with AskGuard(transport.timeout, transport.deadline) as guard:  # a second Ctrl-C waits for the ending
        reply = run(
            request,
            connect,
            view,
            replayed_header(header) if tape.replayed else header,
            transport,
            guard,
            toolbox,
            defaults.max_tool_rounds,
            tape=tape,
            recorded=recorded,
            books=books,
            masker=masker,
            tool_limits=(defaults.max_tool_calls, defaults.max_tool_result_bytes),
        )
        if tutor is not None:
            from grok_magics.engine.tutoring import climbed, release

            shown_header = replayed_header(header) if tape.replayed else header

            def again(firmer: Request) -> Reply:
                if not guard.resume():  # Ctrl-C while the first draft ended: ask no more
                    stopped = Reply()
                    stopped.add(Interrupted())
                    return stopped
                retry = Books(books.gate, chat.name)
                return run(firmer, connect, view, shown_header, transport, guard, tape=tape, books=retry)

            reply = tutor.checked(request, reply, again)
            release(shown_view, shown_header, reply)
            climbed(session, tutor, reply)
        forking = forked_from is not None  # a fork leaves the chat it came from intact
        if not options.no_history and not forking and reply.error is None and (reply.text or reply.rounds):
            session.chats.forget_elsewhere(cell_key, keep=chat.name)
        turn = conclude(chat, request, reply, cell_key, options.no_history)
        remember_turn(session, turn, header, reply, source, replayed=tape.replayed)
        if structure is not None and reply.error is None and not reply.interrupted:
            try:
                made = store(structure, options, reply.text, namespace)  # the turn is kept either way
                if options.out or options.to_df or options.to_polars:  # say what was made: name, kind, shape, head
                    from grok_magics.render.results import show_result

                    show_result(options.out, made)
            except GrokError as exc:
                reply.add(Failed(exc))
        elif options.out and reply.text and reply.error is None:
            namespace[options.out] = reply.text
        if reply.error is not None and had_turn and turn is None:
            reply.add(
                Failed(
                    GrokError(
                        f"{reply.error.message} This cell's earlier answer stays in the conversation.",
                        reply.error.status,
                    )
                )
            )
    return reply
