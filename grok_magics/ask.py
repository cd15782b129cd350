"""One ask, end to end: cell → request → events → view → history.

The magics decide *what* the user asked; this module decides how that becomes a request, drives
the stream into a view and records the outcome. It raises nothing from the SDK: failures end up
in ``Reply.error`` as one-line ``GrokError`` values.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, MutableMapping

from .chat import CellKey, Chats, Conversation, turn_tokens
from .choices import DEFAULT_SYSTEM
from .client import Clients, Transport, add_headers, per_request_headers, refusals_to
from .context import expand
from .errors import from_exception
from .events import Retrying
from .options import Options
from .parts import estimate_tokens, text_of
from .providers import ConfigError, Endpoint, choose_provider, resolve
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
    headings: int = 4  # level of an answer's top heading; 0 keeps the model's
    transport: Transport = Transport()


@dataclass
class Session:
    """Everything one kernel remembers between cells."""

    chats: Chats = field(default_factory=Chats)
    clients: Clients = field(default_factory=Clients)
    tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)

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


def header_for(request: Request, chat: str) -> Header:
    endpoint = request.endpoint
    return Header(
        model=endpoint.model, provider=endpoint.provider.name, api=endpoint.api, chat=chat, note=endpoint.api_note,
        title=short_title(endpoint.provider.title),
    )


def short_title(title: str) -> str:
    """"xAI API" → "xAI", "Amazon Bedrock (bedrock-mantle)" → "Amazon Bedrock": a name for the status line."""
    return title.split(" (")[0].removesuffix(" API")


def _close(stream: Any) -> None:
    """Closing mid-stream drops the connection, which is how the provider learns to stop generating."""
    close = getattr(stream, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            pass


def run(request: Request, client: Any, view: View, header: Header, timeout: float) -> Reply:
    wire = module_for(request.endpoint.api)
    reply = Reply()
    view.start(header)
    stream = None
    try:
        kwargs = add_headers(wire.build(request), per_request_headers(request.endpoint))

        retries = [getattr(client, "max_retries", 0)]

        def refused(status: int, wait: float | None) -> None:
            retries[0] -= 1
            if retries[0] < 0:  # the SDK gives up: the error says so, not a "retrying" status
                return
            event = Retrying(status, wait)
            reply.add(event)
            view.update(reply, event)

        with refusals_to(refused):
            stream = wire.open_stream(client, kwargs)
        for event in wire.events(stream):
            reply.add(event)
            view.update(reply, event)
    except KeyboardInterrupt:
        reply.interrupted = True
    except Exception as exc:  # SDK, transport and protocol failures all become one line
        reply.error = from_exception(exc, request.endpoint, timeout, mid_stream=stream is not None)
    finally:
        _close(stream)
        reply.ended = time.monotonic()
    view.finish(reply)
    return reply


def conclude(chat: Conversation, request: Request, reply: Reply, cell_key: CellKey | None, one_shot: bool) -> None:
    """Keep what the user saw: complete, cut-short and interrupted answers stay; failures leave no turn."""
    if one_shot:
        return
    if reply.error is not None or not reply.text:
        chat.forget(cell_key)
        return
    provider = request.endpoint.provider
    items = reply.items if request.endpoint.api == "responses" and provider.encrypted_reasoning else ()
    usage = reply.usage
    output = usage.output if usage is not None and reply.complete else None
    reasoning = usage.reasoning if usage is not None and items else 0
    chat.record(
        Turn(
            user=request.user,
            answer=reply.text,
            key=cell_key,
            items=items,
            items_provider=provider.name if items else "",
            tokens=turn_tokens(text_of(request.user), reply.text, output, reasoning),
            interrupted=reply.interrupted,
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
    client = session.clients.get(request.endpoint, defaults.transport)  # a missing key stops us here
    header = header_for(request, chat.name)
    view = make_view(defaults.display, shell, defaults.headings)
    reply = run(request, client, view, header, defaults.transport.timeout)
    if reply.usage is not None:
        session.tally(request.endpoint.provider.name, request.endpoint.model).add(reply.usage)
    if not options.no_history:
        session.chats.forget_elsewhere(cell_key, keep=chat.name)
    conclude(chat, request, reply, cell_key, options.no_history)
    if options.out and reply.text and reply.error is None:
        namespace[options.out] = reply.text
    return reply
