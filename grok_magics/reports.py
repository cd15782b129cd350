"""The text of ``%grok help | history | chats | config | usage | key``: plain text that reads the same
in a notebook, a terminal and a saved file. Keys are only ever reported as set or unset.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Mapping

from .options import USAGE, Options
from .parts import text_of
from .providers import PROVIDERS, ConfigError, choose_provider
from .secrets import mask_url
from .usage import Tally

if TYPE_CHECKING:
    from .ask import Defaults
    from .chat import Chats, Conversation

HELP = """\
{usage}
%grok [options] PROMPT            ask from one line (use -- before a prompt that starts with -)

Options
  -m, --model MODEL               model id (default: the provider's Grok 4.3 id)
  --provider NAME                 {providers}
  --effort none|low|medium|high|default
                                  reasoning effort (default: low where the provider takes one;
                                  "default" sends none and lets the server decide)
  --api responses|chat            wire API (default: the provider's first)
  --chat NAME                     named conversation (default "default")
  --new                           start that conversation afresh
  --system TEXT                   system prompt; sticks to the conversation
  --temperature T                 sampling temperature
  --max-tokens N                  output token cap
  -o, --out VAR                   also store the answer text in variable VAR
  --no-history                    one-shot: send no earlier turns, record none
  --allow-key                     send text shaped like an API key anyway (normally refused)

Prompts: {{name}} inserts a str or number variable; {{{{name}}}} keeps it literal; other braces,
`code` and fenced blocks are sent untouched.

Subcommands
  %grok help | history [--chat NAME] | chats | reset [--chat NAME | --all]
  %grok config | usage | key      (key: type an API key without it landing in the notebook)

Settings: %config GrokMagics.<name> = value  (provider, model, effort, api, system, temperature,
max_tokens, history_tokens, timeout, connect_timeout, max_retries, deadline, display, debug)"""


def help_text() -> str:
    return HELP.format(usage=USAGE, providers=", ".join(PROVIDERS))


def _clip(text: str, limit: int = 300) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def history_text(chat: "Conversation") -> str:
    if not chat.turns:
        return f"Chat '{chat.name}' is empty."
    lines = [f"Chat '{chat.name}': {len(chat.turns)} turn(s), ~{chat.tokens():,} tokens"]
    for n, turn in enumerate(chat.turns, 1):
        mark = " (interrupted)" if turn.interrupted else ""
        lines.append(f"[{n}] You: {_clip(text_of(turn.user))}")
        lines.append(f"    Grok{mark}: {_clip(turn.answer)}")
    return "\n".join(lines)


def chats_text(chats: "Chats") -> str:
    names = chats.names()
    if not names:
        return "No chats yet."
    lines = []
    for name in names:
        chat = chats.get(name)
        system = "custom system prompt" if chat.system is not None else "default system prompt"
        lines.append(f"{name}: {len(chat.turns)} turn(s), ~{chat.tokens():,} tokens, {system}")
    return "\n".join(lines)


def config_text(defaults: "Defaults", options: Options, env: Mapping[str, str]) -> str:
    from .ask import endpoint_for

    lines = []
    try:
        endpoint = endpoint_for(options, defaults, env)
        provider = endpoint.provider
        lines += [
            f"provider        {provider.name} ({provider.title})",
            f"base URL        {mask_url(endpoint.base_url)}",
            f"model           {endpoint.model}",
            f"api             {endpoint.api}" + (f"  ({endpoint.api_note})" if endpoint.api_note else ""),
        ]
    except ConfigError as exc:
        lines.append(f"provider        not usable: {exc}")
    transport = defaults.transport
    lines += [
        f"effort          {defaults.effort or 'provider default'}",
        f"temperature     {defaults.temperature if defaults.temperature is not None else 'provider default'}",
        f"max tokens      {defaults.max_tokens if defaults.max_tokens is not None else 'provider default'}",
        f"history budget  {defaults.history_tokens:,} tokens",
        f"timeouts        {transport.timeout:g} s read, {transport.connect_timeout:g} s connect; "
        f"{transport.max_retries} retries; {transport.deadline:g} s per ask at most",
        f"display         {defaults.display}",
        f"system prompt   {_clip(defaults.system, 120)}",
        "keys            "
        + ", ".join(f"{p.key_env} {'set' if env.get(p.key_env, '').strip() else 'unset'}" for p in PROVIDERS.values()),
    ]
    if env.get("GROK_BASE_URL"):
        lines.append("GROK_BASE_URL   set (overrides the provider's base URL)")
    return "\n".join(lines)


def usage_text(tallies: Mapping[tuple[str, str], Tally]) -> str:
    if not tallies:
        return "No requests yet."
    lines = []
    total_cost = 0.0
    exact = True
    unknown = False
    for (provider, model), tally in tallies.items():
        u = tally.usage
        priced = tally.requests - tally.unpriced - tally.unreported
        if priced:
            cost = f"${tally.cost:.4f}" + ("" if tally.exact else " est.")
        else:
            cost = "price unknown"
        notes = [f"{n} without a price" for n in (tally.unpriced,) if n and priced]
        notes += [f"{n} with no usage reported" for n in (tally.unreported,) if n]
        lines.append(
            f"{model} on {provider}: {tally.requests} request(s), {u.input:,} in ({u.cached:,} cached), "
            f"{u.output:,} out, {u.reasoning:,} reasoning, {cost}" + (f" ({', '.join(notes)})" if notes else "")
        )
        total_cost += tally.cost
        exact = exact and tally.exact
        unknown = unknown or tally.unpriced > 0 or tally.unreported > 0
    source = "as reported by the servers" if exact else "partly estimated at Grok 4.3 list prices"
    lines.append(f"total: ${total_cost:.4f} ({source}" + ("; some answers have no known price)" if unknown else ")"))
    return "\n".join(lines)


def ask_for_key(options: Options, defaults: "Defaults") -> str:
    """Prompt for the active provider's key and keep it only in this kernel's environment."""
    import getpass

    provider = choose_provider(options.provider, defaults.provider, os.environ)
    value = getpass.getpass(f"{provider.key_env} for {provider.title} (hidden): ").strip()
    if not value:
        return f"{provider.key_env} unchanged."
    from .secrets import remember

    remember(value)
    os.environ[provider.key_env] = value
    return f"{provider.key_env} set for this kernel (not saved anywhere)."
