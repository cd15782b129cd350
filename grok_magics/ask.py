"""One ask, end to end: cell → request → events → view → history.

The magics decide *what* the user asked; this module decides how that becomes a request, drives
the stream into a view and records the outcome. It raises nothing from the SDK: failures end up
in ``Reply.error`` as one-line ``GrokError`` values.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, MutableMapping

from .chat import CellKey, Chats, Conversation, turn_tokens
from .choices import DEFAULT_SYSTEM
from .client import Clients, Transport, add_headers, per_request_headers
from .context import expand
from .errors import from_exception
from .options import Options
from .parts import estimate_tokens, text_of
from .providers import ConfigError, Endpoint, choose_provider, resolve
from .render import Header, View, make_view
from .reply import Reply
from .request import Request, Round, Turn
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
    max_tool_rounds: int = 8


@dataclass
class Session:
    """Everything one kernel remembers between cells."""

    chats: Chats = field(default_factory=Chats)
    clients: Clients = field(default_factory=Clients)
    tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)
    chat_tools: dict[str, list[str]] = field(default_factory=dict)  # %grok tools add: per chat, by name
    chat_frames: dict[str, list[str]] = field(default_factory=dict)  # frames the data toolset read, per chat
    chat_hidden: dict[str, list[str]] = field(default_factory=dict)  # --exclude globs stick to their chat

    def forget_data(self, chat: str | None) -> None:
        """``%grok reset``: the frames and exclusions a conversation collected go with it."""
        for table in (self.chat_frames, self.chat_hidden):
            if chat is None:
                table.clear()
            else:
                table.pop(chat, None)

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


def prepare(
    session: Session, defaults: Defaults, options: Options, prompt: str, namespace: MutableMapping[str, Any],
    cell_key: CellKey | None,
) -> tuple[Request, Conversation]:
    """Everything that can fail before a request is sent fails here (ConfigError)."""
    endpoint = endpoint_for(options, defaults)
    max_tokens = options.max_tokens or defaults.max_tokens
    _check_limits(endpoint, max_tokens)
    chat = session.chats.get(options.chat or "default")
    if options.new:
        chat.reset()
    system = _system_for(options, chat, defaults)
    if options.system is not None and not options.no_history:
        chat.system = options.system  # --system sticks to the chat, like a persona
    user = expand(prompt, namespace)
    reserved = estimate_tokens(system) + estimate_tokens(text_of(user))
    history = () if options.no_history else chat.context_for(cell_key, defaults.history_tokens, reserved)
    request = Request(
        endpoint=endpoint,
        user=user,
        system=system,
        history=history,
        effort=options.effort or defaults.effort,
        temperature=options.temperature if options.temperature is not None else defaults.temperature,
        max_tokens=max_tokens,
        cache_key="" if options.no_history else chat.cache_key,
    )
    return request, chat


def with_tools(
    session: Session, options: Options, prompt: str, namespace: Mapping[str, Any], request: Request, chat: str
) -> tuple[Request, dict[str, Any]]:
    """Tools and searches for this ask, refused before sending where the provider has none."""
    names = list(dict.fromkeys([*session.chat_tools.get(chat, []), *(options.tools or ())]))
    search = options.search or ()
    if not names and not search:
        return request, {}
    endpoint = request.endpoint
    provider = endpoint.provider
    if names and not provider.tools:
        raise ConfigError(f"{provider.title} does not offer tool calling (its model card: \"Tool calling — no\"): "
                          "drop --tools or use another --provider")
    if search and not provider.server_search:
        raise ConfigError(f"--search is not available on {provider.title}: web and X search are xAI server-side "
                          "tools; use --provider xai")
    if search and endpoint.api != "responses":
        raise ConfigError("--search runs on the Responses API: drop --api chat")
    toolbox = _toolbox(session, options, prompt, namespace, names, chat)
    specs = tuple(t.spec for t in toolbox.values())
    return replace(request, tools=specs, search=tuple(search)), toolbox


def _toolbox(session: Session, options: Options, prompt: str, namespace: Mapping[str, Any], names: list[str],
             chat: str) -> dict[str, Any]:
    from .tools import ToolError, resolve

    found: list[Any] = []
    try:
        if "data" in names:
            found.extend(_data_tools(session, options, prompt, namespace, chat))
        found.extend(resolve([n for n in names if n != "data"], namespace))
    except ToolError as exc:
        raise ConfigError(str(exc)) from None
    return {t.name: t for t in found}


def _data_tools(session: Session, options: Options, prompt: str, namespace: Mapping[str, Any], chat: str) -> list[Any]:
    """Frames from the prompt's ``{name}`` references and ``--data``, and those this chat used before."""
    from .datatools import DataToolset, frames_for, referenced_names

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
    return DataToolset(frames, hide=hide).tools()


def header_for(request: Request, chat: str) -> Header:
    endpoint = request.endpoint
    return Header(
        model=endpoint.model, provider=endpoint.provider.name, api=endpoint.api, chat=chat, note=endpoint.api_note
    )


def _close(stream: Any) -> None:
    """Closing mid-stream drops the connection, which is how the provider learns to stop generating."""
    close = getattr(stream, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            pass


def _stream_round(request: Request, client: Any, view: View, reply: Reply, transport: Transport) -> None:
    """One request and its stream: events go into ``reply`` and the view as they arrive."""
    wire = module_for(request.endpoint.api)
    stream = None
    try:
        kwargs = add_headers(wire.build(request), per_request_headers(request.endpoint))
        stream = wire.open_stream(client, kwargs)
        for event in wire.events(stream):
            reply.add(event)
            view.update(reply, event)
    except KeyboardInterrupt:
        reply.interrupted = True
    except Exception as exc:  # SDK, transport and protocol failures all become one line
        reply.error = from_exception(exc, request.endpoint, transport, mid_stream=stream is not None)
    finally:
        _close(stream)


def _run_tools(request: Request, reply: Reply, view: View, toolbox: Mapping[str, Any],
               confirm: Callable[[str], bool | None] | None) -> Round | None:
    """Run the round's calls in order; None when the user interrupted (between or during a call)."""
    from .tools import ask_user, run_call

    try:
        for call in reply.tool_calls:
            reply.activity = f"running {call.name}…"
            view.update(reply, call)
            result = run_call(call, toolbox, confirm or ask_user)
            reply.add(result)
            view.update(reply, result)
    except KeyboardInterrupt:
        reply.interrupted = True
        return None
    provider = request.endpoint.provider
    keep = request.endpoint.api == "responses" and provider.encrypted_reasoning
    return Round(text=reply.text, calls=tuple(reply.tool_calls), results=tuple(reply.tool_results),
                 items=reply.items if keep else (), items_provider=provider.name if keep else "")


def run(request: Request, client: Any, view: View, header: Header, transport: Transport,
        toolbox: Mapping[str, Any] | None = None, max_rounds: int = 8,
        confirm: Callable[[str], bool | None] | None = None) -> Reply:
    """Ask; while the model calls tools, run them and ask again with their results, up to ``max_rounds``."""
    reply = Reply()
    view.start(header)
    while True:
        _stream_round(request, client, view, reply, transport)
        if reply.error is not None or reply.interrupted or not reply.tool_calls or not reply.complete:
            break
        if len(reply.rounds) >= max_rounds:
            reply.round_limit = max_rounds
            break
        done = _run_tools(request, reply, view, toolbox or {}, confirm)
        if done is None:
            break
        reply.next_round(done)
        request = replace(request, rounds=request.rounds + (done,))
    reply.ended = time.monotonic()
    view.finish(reply)
    return reply


def conclude(chat: Conversation, request: Request, reply: Reply, cell_key: CellKey | None, one_shot: bool) -> None:
    """Keep what the user saw: complete, cut-short and interrupted answers stay; failures leave no turn."""
    if one_shot:
        return
    if reply.error is not None or not (reply.text or reply.rounds):
        chat.forget(cell_key)
        return
    provider = request.endpoint.provider
    unanswered = bool(reply.tool_calls)  # calls left unrun (round limit, interrupt) must not be replayed
    keep = request.endpoint.api == "responses" and provider.encrypted_reasoning and not unanswered
    items = reply.items if keep else ()
    usage = reply.usage
    output = usage.output if usage is not None and reply.complete else None
    reasoning = usage.reasoning if usage is not None and items else 0
    answer = reply.text or ("(stopped: tool round limit)" if reply.round_limit else "(interrupted)")
    rounds = tuple(reply.rounds)
    round_tokens = sum(estimate_tokens(c.arguments) + estimate_tokens(r.output)
                       for done in rounds for c, r in zip(done.calls, done.results))
    chat.record(
        Turn(
            user=request.user,
            answer=answer,
            key=cell_key,
            items=items,
            items_provider=provider.name if items else "",
            tokens=turn_tokens(text_of(request.user), answer, output, reasoning) + round_tokens,
            interrupted=reply.interrupted,
            rounds=rounds,
        )
    )


def ask(
    session: Session,
    defaults: Defaults,
    options: Options,
    prompt: str,
    namespace: MutableMapping[str, Any],
    cell_key: CellKey | None,
    shell: Any,
) -> Reply:
    request, chat = prepare(session, defaults, options, prompt, namespace, cell_key)
    request, toolbox = with_tools(session, options, prompt, namespace, request, chat.name)
    client = session.clients.get(request.endpoint, defaults.transport)  # a missing key stops us here
    header = header_for(request, chat.name)
    view = make_view(defaults.display, shell)
    reply = run(request, client, view, header, defaults.transport, toolbox, defaults.max_tool_rounds)
    for usage in reply.round_usages:  # a tool loop is several requests, each billed (and tiered) on its own
        session.tally(request.endpoint.provider.name, request.endpoint.model).add(usage)
    if not options.no_history:
        session.chats.forget_elsewhere(cell_key, keep=chat.name)
    conclude(chat, request, reply, cell_key, options.no_history)
    if options.out and reply.text and reply.error is None:
        namespace[options.out] = reply.text
    return reply
