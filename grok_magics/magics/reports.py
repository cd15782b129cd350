"""The text of ``%grok help | history | chats | config | usage | key``: plain text that reads the same
in a notebook, a terminal and a saved file. Keys are only ever reported as set or unset.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Mapping

from grok_magics.errors import ConfigError
from grok_magics.magics.command_line import USAGE
from grok_magics.model.options import Options
from grok_magics.model.parts import labels_of, text_of
from grok_magics.model.usage import Tally, money
from grok_magics.privacy.redaction import mask_url
from grok_magics.providers.table import PROVIDERS, choose_provider
from grok_magics.settings import SETTINGS, shown

if TYPE_CHECKING:
    from grok_magics.engine.ask import Defaults
    from grok_magics.model.conversation import Chats, Conversation
    from grok_magics.model.request import Turn
    from grok_magics.teaching.caps import Caps, Ledger

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
  --new                           start that conversation afresh (an earlier --system goes too)
  --system TEXT                   system prompt; sticks to the conversation
  --temperature T                 sampling temperature
  --max-tokens N                  output token cap
  -o, --out VAR                   also store the answer text in variable VAR
  --no-history                    one-shot: send no earlier turns, record none
  --data NAME[,NAME]              attach tables (DataFrame, Series, polars, numpy, records); with
                                  --tools data, the frames the tools may read
  --image REF[,REF]               attach images (variable, file path, http(s) URL; plt = current figure)
  --output CELL_ID:N              attach output N of that notebook cell (what "Ask about this" writes;
                                  needs the JupyterLab / Notebook 7 page extension)
  --budget N                      token budget of each table's block (default 2,000)
  --schema-only                   tables without any cell value (names, dtypes, counts)
  --exclude COL[,COL]             leave these columns (names or globs) out of blocks and tools
  --dry-run                       show exactly what would be sent; send nothing, need no key
  --tools FN,FN                   let Grok call these functions; "data" adds read-only DataFrame tools
  --search web|x|web,x            xAI's server-side web / X search, sources listed under the answer
  --json | --schema S             structured answer (any JSON object | a pydantic model, JSON schema or
                                  shorthand); with -o VAR the parsed value, --to-df/--to-polars a frame
  --code                          put the answer's code blocks into a new cell below (not run)
  --allow-key                     send text shaped like an API key anyway (normally refused)
  --context above[:N][,images]    attach the cells above (all within the budget, or the N nearest) as one
                                  block; cells tagged grok-skip never go, grok-pin always; none: off
  --fork NAME                     ask in a new chat NAME that starts from this one as it stands here
  --agent                         an agent cell: Grok proposes Python steps that run here once approved
                                  (GrokMagics.agent_approval: confirm, risky or auto), then explains
  --rerun                         an agent cell whose step cells are below: ask Grok again (page)

Prompts: {{name}}, {{obj.attr}}, {{d['k']}}, {{xs[0]}}, {{Out[3]}} insert a str or number, or attach a
table or image; {{{{name}}}} keeps it literal; other braces, `code` and fenced blocks are sent untouched.
%grok fix (or %%grok fix + a question) sends the most recent failing cell and its traceback.

Subcommands
  %grok help | history [--chat NAME] [--full] | chats | reset [--chat NAME | --all]
  %grok config [--all] | usage | key   (key: type an API key without it landing in the notebook;
                                   asks only when none is set, --new to replace it)
  %grok record FILE|off           save every live exchange to a cassette (JSON lines, no keys)
  %grok replay FILE|off [--speed N|fast] [--fallthrough]   answer from a cassette, offline, no key
  %grok export FILE.ipynb|.md|.json [--chat NAME] [--force]  write a chat out (--force: replace FILE)
  %grok tools add|remove|list [FN,...] [--chat NAME]   tools every ask of a chat may call
  %grok restore [FILE.ipynb] [--chat NAME]   rebuild chats from the answers saved in the notebook
  %grok fork NAME [--chat FROM] [--at N]     a new chat from FROM as it stood after its N-th answer
  %grok policy [off|hints|full]   the notebook's AI policy and who set it; with a mode, write it (page)

Map: one prompt per row of a DataFrame (the cell is the template, {{column}} is the row's value)
  %%grok map FRAME [--out-col NAME] [--schema S] [--concurrency N] [--rps R] [--max-cost USD] [--yes]
                   [--no-cache] [--batch | --batch-id ID] [-o VAR]   (or grok_magics.map(df, template))
  %%grok filter FRAME [--reason] [--keep-all]      the rows for which the cell's yes/no question holds
  %%grok reduce FRAME [--by COL] [--col C]         one answer over every row (or per group), past the window
  %%grok topk FRAME [-k N] [--group G] [--col C]   the k rows that best match the cell's criterion, ranked
  every operator: --sample N [--seed S] runs N seeded rows first and projects the cost; FRAME may be pandas,
  polars (or a LazyFrame), Spark or Dask (see docs/operators.md)

{settings}"""


def help_text() -> str:
    import textwrap

    general = ", ".join(s.name for s in SETTINGS if not s.classroom)
    classroom = ", ".join(s.name for s in SETTINGS if s.classroom)
    settings = textwrap.fill(
        f"Settings: %config GrokMagics.<name> = value  ({general}; classroom: {classroom}); "
        "%grok config --all lists each with its value, where it was set, and what it does",
        width=104,
    )
    return HELP.format(usage=USAGE, providers=", ".join(PROVIDERS), settings=settings)


def settings_text(values: Mapping[str, Any], source_of: Callable[[str], str]) -> str:
    """``%grok config --all``: every setting of the table, its value, who set it, and its help."""
    lines = []
    for setting in SETTINGS:
        value = values[setting.name]
        text = "unset" if value is None else _clip(shown(value), 60)
        lines.append(f"{setting.name:<22}{text}  ({source_of(setting.name)})")
        lines.append(f"{'':<22}{setting.help}")
    return "\n".join(lines)


def _clip(text: str, limit: int = 300) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def preview_line(text: str, limit: int = 100) -> str:
    """Whitespace collapsed, cut with "…": a turn must not break the "[n] You / Grok" layout."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _indented(text: str) -> str:
    return "\n".join("      " + line if line.strip() else "" for line in text.strip().splitlines())


def user_lines(turn: "Turn", full: bool = False) -> list[str]:
    """The user's side of one turn; each attached table or image is one short label, never its block."""
    text = text_of(turn.user)
    attached = "".join(" " + label for label in labels_of(turn.user))
    return [f"You: {preview_line(text)}{attached}"] if not full else ["You:" + attached, _indented(text)]


def history_text(chat: "Conversation", full: bool = False) -> str:
    """One line per side of each turn, or with ``full`` the whole text, indented under its speaker."""
    if not chat.turns:
        return f"Chat '{chat.name}' is empty."
    lines = [f"Chat '{chat.name}': {len(chat.turns)} turn(s), ~{chat.tokens():,} tokens"]
    for n, turn in enumerate(chat.turns, 1):
        mark = " (interrupted)" if turn.interrupted else ""
        you = user_lines(turn, full)
        lines.append(f"[{n}] {you[0]}")
        lines.extend(you[1:])
        calls = [c.name for done in getattr(turn, "rounds", ()) for c in done.calls]
        if calls:
            lines.append(f"    Tools: {preview_line(', '.join(calls))}")
        if full:
            lines += [f"    Grok{mark}:", _indented(turn.answer)]
        else:
            lines.append(f"    Grok{mark}: {preview_line(turn.answer)}")
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
    from grok_magics.engine.ask import effort_for, endpoint_for

    lines = []
    try:
        endpoint = endpoint_for(options, defaults, env)
        provider = endpoint.provider
        sent = effort_for(defaults.effort, provider)
        lines += [
            f"provider        {provider.name} ({provider.title})",
            f"base URL        {mask_url(endpoint.base_url)}",
            f"model           {endpoint.model}",
            f"api             {endpoint.api}" + (f"  ({endpoint.api_note})" if endpoint.api_note else ""),
            f"effort          {sent or 'none sent (the server decides)'}",
        ]
    except ConfigError as exc:
        lines.append(f"provider        not usable: {exc}")
    transport = defaults.transport
    lines += [
        f"temperature     {defaults.temperature if defaults.temperature is not None else 'provider default'}",
        f"max tokens      {defaults.max_tokens if defaults.max_tokens is not None else 'provider default'}",
        f"history budget  {defaults.history_tokens:,} tokens",
        f"context         {defaults.context_tokens:,} tokens per table; images ≤ {defaults.image_max_side:,} px; "
        f"window {_window(defaults, options, env)}; redacted columns: "
        + (", ".join(defaults.redact_columns) or "none"),
        f"timeouts        {transport.timeout:g} s read, {transport.connect_timeout:g} s connect; "
        f"{transport.max_retries} retries; {transport.deadline:g} s per ask at most",
        f"limits          {defaults.max_tool_rounds} tool rounds per ask; per round {defaults.max_tool_calls} tool "
        f"calls, {defaults.max_tool_result_bytes:,} bytes of results; map --batch waits "
        f"{defaults.batch_deadline:g} s at most",
        f"display         {defaults.display}",
        f"system prompt   {_clip(defaults.system, 120)}",
        "keys            "
        + ", ".join(f"{p.key_env} {'set' if env.get(p.key_env, '').strip() else 'unset'}" for p in PROVIDERS.values()),
    ]
    if env.get("GROK_BASE_URL"):
        lines.append("GROK_BASE_URL   set (overrides the provider's base URL)")
    return "\n".join(lines)


def classroom_text(defaults: "Defaults", source_of: Callable[[str], str]) -> str:
    """Replay, recording, caps and locks, each with who set it (config file, environment, %config)."""
    caps = defaults.caps

    def line(label: str, value: str, name: str) -> str:
        return f"{label:<16}{value}  ({source_of(name)})"

    replay = "off"
    if defaults.replay:
        speed = "fast" if defaults.replay_speed <= 0 else f"x{defaults.replay_speed:g}"
        live = ", falls through to live" if defaults.replay_fallthrough else ""
        replay = f"{defaults.replay}, speed {speed}{live}"
    lines = [
        line("replay", replay, "replay"),
        line("record", defaults.record or "off", "record"),
        line("locked", ", ".join(caps.locked) or "nothing", "lock"),
        line(
            "max cost",
            "none" if caps.max_cost_usd is None else f"{money(caps.max_cost_usd)} per kernel session",
            "max_cost_usd",
        ),
        line(
            "max output",
            "none" if caps.max_output_tokens is None else f"{caps.max_output_tokens:,} tokens per call",
            "max_output_tokens",
        ),
        line(
            "max calls",
            "none" if caps.max_calls_per_hour is None else f"{caps.max_calls_per_hour} per hour",
            "max_calls_per_hour",
        ),
    ]
    return "\n".join(lines)


def ledger_text(caps: "Caps", ledger: "Ledger") -> str:
    from grok_magics.teaching.caps import budget_lines, ledger_lines

    return "\n".join(ledger_lines(ledger) + budget_lines(caps, ledger))


def _window(defaults: "Defaults", options: Options, env: Mapping[str, str]) -> str:
    if defaults.context_window:
        return f"{defaults.context_window:,} tokens (configured)"
    try:
        provider = choose_provider(options.provider, defaults.provider, env)
    except ConfigError:
        return "unknown"
    return f"{provider.context_window:,} tokens ({provider.title})"


def replays_line(ledger: "Ledger | None") -> str:
    """Replayed answers cost nothing; the line says so beside what their recordings cost, one figure each."""
    chats = ledger.chats.values() if ledger is not None else ()
    count = sum(entry.replayed for entry in chats)
    if not count:
        return ""
    recorded = sum(entry.recorded for entry in chats)
    return f"{count} answer(s) replayed from a cassette: $0 (recorded at {money(recorded)})"


def usage_text(tallies: Mapping[tuple[str, str], Tally], ledger: "Ledger | None" = None) -> str:
    replays = replays_line(ledger)
    if not tallies:
        return f"Nothing sent to a provider yet; {replays}." if replays else "No requests yet."
    lines = []
    total_cost = 0.0
    exact = True
    unknown = False
    any_priced = False
    for (provider, model), tally in tallies.items():
        u = tally.usage
        priced = tally.requests - tally.unpriced - tally.unreported
        any_priced = any_priced or priced > 0
        if priced:
            cost = money(tally.cost) + ("" if tally.exact else " est.")
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
    if replays:
        lines.append(replays_line(ledger))
    if not any_priced and not exact:  # nothing here has a price: a total would be an invented $0.00
        lines.append("total: price unknown (set %config GrokMagics.prices for these models to count them)")
    else:
        lines.append(
            f"total: {money(total_cost)} ({source}" + ("; some answers have no known price)" if unknown else ")")
        )
    return "\n".join(lines)


def ask_for_key(options: Options, defaults: "Defaults") -> str:
    """Prompt for the active provider's key and keep it only in this kernel's environment."""
    import getpass

    provider = choose_provider(options.provider, defaults.provider, os.environ)
    if os.environ.get(provider.key_env, "").strip() and not options.new:
        return f"{provider.key_env} is set for this kernel. To type a different key: %grok key --new"
    value = getpass.getpass(f"{provider.key_env} for {provider.title} (hidden): ").strip()
    if not value:
        return f"{provider.key_env} unchanged."
    from grok_magics.privacy.redaction import remember

    remember(value)
    os.environ[provider.key_env] = value
    return f"{provider.key_env} set for this kernel (not saved anywhere)."
