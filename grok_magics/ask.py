"""One ask, end to end: cell → request → events → view → history.

The magics decide *what* the user asked; this module decides how that becomes a request, drives
the stream into a view and records the outcome. It raises nothing from the SDK: failures end up
in ``Reply.error`` as one-line ``GrokError`` values.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, MutableMapping

from .chat import CellKey, Chats, Conversation, turn_tokens
from .choices import DEFAULT_SYSTEM
from .client import RESPONDED, Clients, Transport, add_headers, per_request_headers
from .context import expand
from .errors import GrokError, deadline_error, from_exception, headers_timeout
from .events import Waiting
from .guard import AskGuard, DeadlineExceeded
from .keys import key_shape, refusal
from .options import Options
from .parts import estimate_tokens, text_of
from .providers import ConfigError, Endpoint, Provider, choose_provider, resolve
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
    effort: str = ""  # "": the provider's default ("low" where the row sends one by default)
    api: str = ""
    system: str = DEFAULT_SYSTEM
    temperature: float | None = None
    max_tokens: int | None = None
    history_tokens: int = 100_000
    display: str = "auto"
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


def _check_temperature(provider: Provider, temperature: float | None) -> None:
    top = provider.temperature_max
    if temperature is not None and not (math.isfinite(temperature) and 0 <= temperature <= top):
        raise ConfigError(f"temperature must be a number from 0 to {top:g} on {provider.title}, not {temperature}")


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


def check_no_key(text: str, where: str, provider: Provider, env: Mapping[str, str] | None = None) -> None:
    env = os.environ if env is None else env
    label = key_shape(text, [env.get(provider.key_env, "").strip()])
    if label is not None:
        raise ConfigError(refusal(where, label))


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
    temperature = options.temperature if options.temperature is not None else defaults.temperature
    _check_temperature(endpoint.provider, temperature)
    chat = session.chats.get(options.chat or "default")
    if options.new:
        chat.reset()
    system = _system_for(options, chat, defaults)
    if options.system is not None and not options.no_history:
        chat.system = options.system  # --system sticks to the chat, like a persona
    user = expand(prompt, namespace)
    for text, where in ((text_of(user), "prompt"), (system, "system prompt")):
        check_text(text, where)
        if not options.allow_key:
            check_no_key(text, where, endpoint.provider)
    reserved = estimate_tokens(system) + estimate_tokens(text_of(user))
    history = () if options.no_history else chat.context_for(cell_key, defaults.history_tokens, reserved)
    request = Request(
        endpoint=endpoint,
        user=user,
        system=system,
        history=history,
        effort=effort_for(options.effort or defaults.effort, endpoint.provider),
        temperature=temperature,
        max_tokens=max_tokens,
        cache_key="" if options.no_history else chat.cache_key,
    )
    return request, chat


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


def _retrying(status: int, retry_after: float | None, attempt: int, max_retries: int) -> bool:
    """Whether the SDK will retry this response (its rule: 408/409/429/5xx, Retry-After up to 2 min)."""
    retryable = status in (408, 409, 429) or status >= 500
    return retryable and attempt <= max_retries and (retry_after is None or retry_after <= 120)


def _empty_answer(request: Request, reply: Reply) -> GrokError:
    endpoint = request.endpoint
    reason = reply.finish.reason if reply.finish is not None else "none"
    return GrokError(
        f"{endpoint.model} on {endpoint.provider.title}: the provider returned an empty answer (finish reason: "
        f"{reason}). Re-run the cell; if it repeats, raise --max-tokens or try another --effort."
    )


def run(request: Request, client: Any, view: View, header: Header, transport: Transport,
        guard: AskGuard | None = None) -> Reply:
    """Stream one reply into ``view``. Under ``guard``, a second Ctrl-C cannot cut the ending short."""
    wire = module_for(request.endpoint.api)
    guard = guard if guard is not None else AskGuard(None, None)
    reply = Reply()
    view.start(header)
    stream = None
    attempts = 0

    def responded(status: int, retry_after: float | None) -> None:
        nonlocal attempts
        attempts += 1
        if status < 300:
            guard.opened()
        elif _retrying(status, retry_after, attempts, transport.max_retries):
            guard.wait_for_headers_again(retry_after or 0.0)
            event = Waiting(retry_after or 0.0, status)
            reply.add(event)
            view.update(reply, event)

    token = RESPONDED.set(responded)
    try:
        try:
            kwargs = add_headers(wire.build(request), per_request_headers(request.endpoint))
            stream = wire.open_stream(client, kwargs)
            for event in wire.events(stream):
                reply.add(event)
                view.update(reply, event)
        finally:
            guard.end()
    except DeadlineExceeded as exc:
        timed_out = headers_timeout if exc.what == "headers" else None
        reply.error = (timed_out(request.endpoint, transport.timeout) if timed_out is not None
                       else deadline_error(request.endpoint, transport.deadline))
    except KeyboardInterrupt:
        reply.interrupted = True
    except Exception as exc:  # SDK, transport and protocol failures all become one line
        reply.error = from_exception(exc, request.endpoint, transport.timeout, mid_stream=stream is not None)
    finally:
        RESPONDED.reset(token)
        _close(stream)
        reply.ended = time.monotonic()
    if reply.error is None and not reply.interrupted and not reply.text.strip():
        reply.error = _empty_answer(request, reply)
    view.finish(reply)
    return reply


def conclude(chat: Conversation, request: Request, reply: Reply, cell_key: CellKey | None, one_shot: bool) -> None:
    """Keep what the user saw: complete, cut-short and interrupted answers stay; failures leave no turn."""
    if one_shot:
        return
    if reply.error is not None or not reply.text:
        return  # a failed re-run leaves the cell's earlier good turn where it was
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
    view = make_view(defaults.display, shell)
    transport = defaults.transport
    had_turn = not options.no_history and chat.position(cell_key) is not None
    with AskGuard(transport.timeout, transport.deadline) as guard:
        reply = run(request, client, view, header, transport, guard)
        if reply.usage is not None or reply.text:
            model = request.endpoint.model
            session.tally(request.endpoint.provider.name, model).add(reply.usage, model)
        if not options.no_history and reply.error is None and reply.text:
            session.chats.forget_elsewhere(cell_key, keep=chat.name)
        conclude(chat, request, reply, cell_key, options.no_history)
        if options.out and reply.text and reply.error is None:
            namespace[options.out] = reply.text
        if reply.error is not None and had_turn:
            reply.error = GrokError(
                f"{reply.error.message} This cell's earlier answer stays in the conversation.", reply.error.status
            )
    return reply
