"""``%grok`` and ``%%grok``: parse what the user typed and dispatch it.

Settings are traitlets, so ``%config GrokMagics.effort = "high"`` and ``ipython_config.py`` both work;
options on the magic line override them for one call.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from traitlets import (
    Bool,
    Dict,
    Enum,
    Float,
    Int,
    List,
    TraitError,
    Unicode,
    default,
    validate,
)

from grok_magics.errors import GrokError, GrokInterrupted
from grok_magics.magics.inputs import trim_blank_lines
from grok_magics.model.choices import APIS, DEFAULT_SYSTEM, DISPLAY_MODES, EFFORTS

if TYPE_CHECKING:  # the machinery is imported on first use, keeping %load_ext light
    from grok_magics.engine.ask import Defaults, Session
    from grok_magics.magics.options import Options


@magics_class
class GrokMagics(Magics):
    provider = Unicode("", help="xai, bedrock, aigateway, azure or openai (empty: $GROK_PROVIDER, else xai)").tag(
        config=True
    )
    model = Unicode("", help="Model id (empty: the provider's Grok 4.3 id)").tag(config=True)
    effort = Enum(
        ("",) + EFFORTS,
        default_value="",
        help="Reasoning effort (empty: low where the provider takes one; 'default': send none)",
    ).tag(config=True)
    api = Enum(("",) + APIS, default_value="", help="responses or chat (empty: the provider's default)").tag(
        config=True
    )
    system = Unicode(DEFAULT_SYSTEM, help="System prompt for chats that have not set their own").tag(config=True)
    temperature = Float(None, allow_none=True, help="Sampling temperature (unset: the provider's)").tag(config=True)
    max_tokens = Int(None, allow_none=True, help="Output token cap (unset: the provider's)").tag(config=True)
    history_tokens = Int(100_000, help="Budget for earlier turns sent along; oldest are dropped first").tag(config=True)
    timeout = Float(900.0, help="Seconds to wait for data from the provider (reasoning can be slow)").tag(config=True)
    connect_timeout = Float(10.0, help="Seconds to wait for a connection").tag(config=True)
    max_retries = Int(2, help="Retries for failures before the answer starts (429 honours Retry-After)").tag(
        config=True
    )
    deadline = Float(3600.0, help="Seconds an ask may take in all (keep-alives and retries included)").tag(config=True)
    display = Enum(DISPLAY_MODES, default_value="auto", help="auto, live, markdown or text").tag(config=True)
    headings = Int(4, help="Level of an answer's top heading (0: as the model wrote it), below your own sections").tag(
        config=True
    )
    debug = Bool(False, help="Show full tracebacks for unexpected internal errors").tag(config=True)
    # -- teaching: record/replay, classroom caps and locks (also from GROK_MAGICS_* environment variables)
    record = Unicode(help="Cassette file every live exchange is appended to (empty: off)").tag(config=True)
    replay = Unicode(help="Cassette file that answers matching requests, offline (empty: off)").tag(config=True)
    replay_speed = Float(help="Replay pacing: 1 = as recorded, 2 = twice as fast, 0 = no pauses").tag(config=True)
    replay_fallthrough = Bool(help="Ask the provider live (key needed) when the cassette has no match").tag(config=True)
    max_cost_usd = Float(None, allow_none=True, help="Refuse calls once this kernel has spent this much").tag(
        config=True
    )
    max_output_tokens = Int(None, allow_none=True, help="Output token cap per call (also the default)").tag(config=True)
    max_calls_per_hour = Int(None, allow_none=True, help="Refuse calls beyond this many in an hour").tag(config=True)
    lock = List(Unicode(), help="Settings magic-line options may not change: provider, model, effort, system, api").tag(
        config=True
    )
    context_tokens = Int(2_000, help="Token budget of each table's context block (--budget overrides)").tag(config=True)
    redact_columns = List(Unicode(), help="Column names or globs (e.g. '*ssn*') whose values are never sent").tag(
        config=True
    )
    image_max_side = Int(2048, help="Images are downscaled so their long side is at most this many pixels").tag(
        config=True
    )
    context_window = Int(None, allow_none=True, help="Context window in tokens (unset: the provider's)").tag(
        config=True
    )
    max_tool_rounds = Int(8, help="Tool rounds one ask may run before it stops with a note").tag(config=True)
    prices = Dict(
        help="Your own prices per model id, USD per million tokens: {'model': {'input': 0.5, "
        "'output': 1.5, 'cached': 0.1}} (Grok 4.3 ids have list prices already)"
    ).tag(config=True)
    max_tool_calls = Int(20, help="Tool calls of one response that run; the rest are answered with an error").tag(
        config=True
    )
    max_tool_result_bytes = Int(
        200_000, help="Bytes of tool results one round may send back; results past it are answered with an error"
    ).tag(config=True)
    batch_deadline = Float(
        3600.0,
        help="Seconds %grok map --batch waits for a batch; then it returns, and the "
        "batch can be collected later with --batch-id",
    ).tag(config=True)

    # -- agent cells (%%grok --agent, grok_magics.agent): approval mode and the limits of one agent cell ------
    agent_approval = Enum(
        ("confirm", "risky", "auto"),
        default_value="confirm",
        help="Agent steps: confirm asks before each, risky only before flagged ones (files, processes, network, "
        "installs, exec/eval, your named variables), auto never (not under a classroom policy other than full); "
        "also $GROK_MAGICS_AGENT_APPROVAL",
    ).tag(config=True)
    agent_max_steps = Int(10, help="Steps one agent cell may run; then Grok is asked to answer").tag(config=True)
    agent_step_seconds = Float(120.0, help="Seconds one agent step may run; then it is interrupted like Ctrl-C").tag(
        config=True
    )
    agent_output_bytes = Int(20_000, help="Bytes of one agent step's output sent back to Grok (the rest is cut)").tag(
        config=True
    )

    @default("agent_approval")
    def _agent_approval_default(self) -> str:
        chosen = os.environ.get("GROK_MAGICS_AGENT_APPROVAL", "").strip().lower()
        return chosen if chosen in ("confirm", "risky", "auto") else "confirm"

    @validate("agent_max_steps", "agent_output_bytes", "agent_step_seconds")
    def _positive_agent_limit(self, proposal: Any) -> Any:
        value = proposal["value"]
        if not (math.isfinite(value) and value > 0):
            raise TraitError(f"GrokMagics.{proposal['trait'].name} must be a positive number, not {value}")
        return value

    # -- end of agent cells ---------------------------------------------------------------------------

    @validate("max_tool_calls", "max_tool_result_bytes")
    def _positive_bound(self, proposal: Any) -> int:
        if proposal["value"] < 1:
            raise TraitError(f"GrokMagics.{proposal['trait'].name} must be 1 or more, not {proposal['value']}")
        return proposal["value"]

    @validate("batch_deadline")
    def _positive_deadline(self, proposal: Any) -> float:
        value = proposal["value"]
        if not (math.isfinite(value) and value > 0):
            raise TraitError(f"GrokMagics.batch_deadline must be a positive number of seconds, not {value}")
        return value

    # -- every setting is checked when set: one line that says what is allowed --------------------------
    @validate("timeout", "connect_timeout", "deadline")
    def _positive_seconds(self, proposal: Any) -> float:
        value = proposal["value"]
        if not (math.isfinite(value) and value > 0):
            raise TraitError(f"GrokMagics.{proposal['trait'].name} must be a positive number of seconds, not {value}")
        return value

    @validate("max_retries", "history_tokens")
    def _non_negative(self, proposal: Any) -> int:
        if proposal["value"] < 0:
            raise TraitError(f"GrokMagics.{proposal['trait'].name} must be 0 or more, not {proposal['value']}")
        return proposal["value"]

    @validate("max_tokens")
    def _positive_tokens(self, proposal: Any) -> int | None:
        value = proposal["value"]
        if value is not None and value <= 0:
            raise TraitError(f"GrokMagics.max_tokens must be a positive number of tokens (or None), not {value}")
        return value

    @validate("temperature")
    def _finite_temperature(self, proposal: Any) -> float | None:
        value = proposal["value"]
        if value is not None and not (math.isfinite(value) and 0 <= value <= 2):
            raise TraitError(f"GrokMagics.temperature must be a number from 0 to 2 (or None), not {value}")
        return value

    @validate("prices")
    def _price_table(self, proposal: Any) -> dict[str, Any]:
        from grok_magics.model.usage import parse_prices

        try:
            parse_prices(proposal["value"])
        except ValueError as exc:
            raise TraitError(f"GrokMagics.{exc}") from None
        return proposal["value"]

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._configured = set(self.config.get("GrokMagics", {}))  # from a config file or the command line
        self._changed_here: set[str] = set()  # by %config in this session
        self.observe(lambda change: self._changed_here.add(change["name"]), names=list(_TEACHING_ENV))
        self._session: Session | None = None
        self._cell_id: str | None = None
        self._cell_seen = False
        self._asks_in_cell = 0
        self._failure: Any = None  # the most recent failing cell, for %grok fix

    @property
    def session(self) -> Session:
        """Kept on the shell, not on this instance: %reload_ext must not wipe the kernel's chats and usage."""
        if self._session is None:
            self._session = getattr(self.shell, "_grok_magics_session", None)
        if self._session is None:
            from grok_magics.engine.ask import Session

            self._session = Session()
            if self.shell is not None:
                setattr(self.shell, "_grok_magics_session", self._session)  # noqa: B010 - IPython declares no such field
        return self._session

    @default("record")
    def _record_default(self) -> str:
        return os.environ.get(_TEACHING_ENV["record"], "").strip()

    @default("replay")
    def _replay_default(self) -> str:
        return os.environ.get(_TEACHING_ENV["replay"], "").strip()

    @default("replay_speed")
    def _replay_speed_default(self) -> float:
        return _env_speed(_TEACHING_ENV["replay_speed"])

    @default("replay_fallthrough")
    def _replay_fallthrough_default(self) -> bool:
        return os.environ.get(_TEACHING_ENV["replay_fallthrough"], "").strip().lower() in ("1", "true", "yes")

    @default("max_cost_usd")
    def _max_cost_default(self) -> float | None:
        return _env_number(_TEACHING_ENV["max_cost_usd"], float)

    @default("max_output_tokens")
    def _max_output_default(self) -> int | None:
        return _env_number(_TEACHING_ENV["max_output_tokens"], int)

    @default("max_calls_per_hour")
    def _max_calls_default(self) -> int | None:
        return _env_number(_TEACHING_ENV["max_calls_per_hour"], int)

    @default("lock")
    def _lock_default(self) -> list[str]:
        return [n.strip() for n in os.environ.get(_TEACHING_ENV["lock"], "").split(",") if n.strip()]

    def source_of(self, name: str) -> str:
        """Who set a teaching setting: %config here, the config file, the environment, or nobody."""
        if name in self._changed_here:
            return "%config in this session"
        if name in self._configured:
            return "config file"
        if os.environ.get(_TEACHING_ENV[name], "").strip():
            return f"environment, {_TEACHING_ENV[name]}"
        return "default"

    # -- cell identity ---------------------------------------------------------------------------
    def pre_run_cell(self, info: Any) -> None:
        """Remember which notebook cell runs, so a re-run replaces its own earlier exchange."""
        from grok_magics.engine.guard import settle

        settle()  # an interrupted ask absorbed late Ctrl-Cs until now
        self._cell_seen = True
        self._cell_id = getattr(info, "cell_id", None) or None
        self._asks_in_cell = 0

    def post_run_cell(self, result: Any) -> None:
        """Remember the most recent failing cell (with its own source and traceback) for ``%grok fix``."""
        from grok_magics.context.notebook import failure_of

        failure = failure_of(result)
        if failure is not None:
            self._failure = failure

    def _cell_key(self) -> tuple[str, int] | None:
        cell_id = self._cell_id if self._cell_seen else _kernel_cell_id(self.shell)
        n = self._asks_in_cell
        self._asks_in_cell += 1
        return (cell_id, n) if cell_id else None

    # -- settings ----------------------------------------------------------------------------------
    def defaults(self) -> Defaults:
        from grok_magics.engine.ask import Defaults
        from grok_magics.model.usage import parse_prices
        from grok_magics.providers.client import Transport

        return Defaults(
            provider=self.provider,
            model=self.model,
            effort=self.effort,
            api=self.api,
            system=self.system,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            history_tokens=self.history_tokens,
            display=self.display,
            headings=self.headings,
            transport=Transport(self.timeout, self.connect_timeout, self.max_retries, self.deadline),
            caps=self.caps(),
            record=self.record,
            replay=self.replay,
            replay_speed=self.replay_speed,
            replay_fallthrough=self.replay_fallthrough,
            context_tokens=self.context_tokens,
            redact_columns=tuple(self.redact_columns),
            image_max_side=self.image_max_side,
            context_window=self.context_window,
            max_tool_rounds=self.max_tool_rounds,
            prices=parse_prices(self.prices),
            max_tool_calls=self.max_tool_calls,
            max_tool_result_bytes=self.max_tool_result_bytes,
            batch_deadline=self.batch_deadline,
        )

    def caps(self) -> Any:
        from grok_magics.teaching.caps import Caps, parse_lock

        return Caps(self.max_cost_usd, self.max_output_tokens, self.max_calls_per_hour, parse_lock(",".join(self.lock)))

    # -- the magic -----------------------------------------------------------------------------------
    @no_var_expand
    @line_cell_magic
    def grok(self, line: str, cell: str | None = None) -> Any:
        """Ask Grok. ``%%grok [options]`` sends the cell; ``%grok [options] PROMPT`` sends the line.

        ``%grok help`` lists the options and subcommands.
        """
        from grok_magics.errors import ConfigError
        from grok_magics.magics.options import parse_cell_line, parse_line, subcommand

        if self._is_map(line, cell):
            return self._map(line, cell)
        if cell is None:
            options, rest = parse_line(line)
            tools_command = _tools_command(rest)
            if tools_command is not None:
                action, names, tail = tools_command
                self._tools_subcommand(_merge(options, parse_cell_line(tail)), action, names)
                return
            sub = subcommand(rest)
            if sub is not None and sub[0] == "fix":
                self._fix(_merge(options, sub[1]), "")
                return
            if sub is not None:
                name, sub_options = sub
                try:
                    self._run_subcommand(name, _merge(options, sub_options))
                except ConfigError as exc:
                    raise GrokError(str(exc)) from None
                return
            if not rest:
                raise UsageError("nothing to ask: write a prompt after %grok, or put it in a %%grok cell")
            prompt = rest
        else:
            line_options, rest = parse_line(line)
            sub = subcommand(rest)
            if sub is not None and sub[0] == "fix":
                self._fix(_merge(line_options, sub[1]), trim_blank_lines(cell))
                return
            options = parse_cell_line(line)
            prompt = trim_blank_lines(cell)
            if not prompt:
                raise UsageError("the cell is empty: write your question below the %%grok line")
        if not options.allow_key:
            self._refuse_keys(line, options)
        self._ask(options, prompt, "" if cell is None else f"%%grok {line}".rstrip() + "\n" + cell.rstrip("\n"))

    def _fix(self, options: Options, question: str) -> None:
        """``%grok fix``: the most recent failing cell and its traceback, plus an optional question."""
        from grok_magics.context.notebook import NO_FAILURE, fix_prompt, page_failure

        failure = self._failure
        # "Ask Grok" on an error puts this cell right below the failing one; the page pushed that cell with
        # its traceback, which also covers a saved traceback this kernel never ran (or an older failure)
        shown = page_failure(self._page_context())
        if shown is not None and (failure is None or failure.source.strip() != shown.source.strip()):
            failure = shown
        if failure is None:
            print(NO_FAILURE)
            return
        self._ask(options, question, preamble=fix_prompt(failure))

    def _page_context(self) -> Any:
        """What the notebook page pushed before this cell ran (None without the page extension)."""
        if getattr(self.shell, "_grok_page", None) is None or not self._cell_id:
            return None
        from grok_magics.page import PUSH_WAIT, pushed

        return pushed(self._cell_id, wait=PUSH_WAIT)

    def _refuse_keys(self, line: str, options: Options) -> None:
        """A key on the magic line (in --system, say) would be sent; the prompt is checked in ask.prepare."""
        from grok_magics.engine.policy import refuse_key_in
        from grok_magics.errors import ConfigError
        from grok_magics.providers.table import PROVIDERS, choose_provider

        try:
            provider = choose_provider(options.provider, self.provider, os.environ)
        except ConfigError:
            provider = PROVIDERS["xai"]
        try:
            refuse_key_in(line, "magic line", provider)
        except ConfigError as exc:
            raise GrokError(str(exc)) from None

    def _ask(self, options: Options, prompt: str, source: str = "", preamble: str = "") -> None:
        from grok_magics.engine.ask import ask
        from grok_magics.errors import ConfigError

        if options.agent:  # agent cells: grok_magics.agent, through magics/agent_cell.py
            from grok_magics.magics.agent_cell import agent_cell

            agent_cell(self, options, prompt, source, _internal_error)
            return

        failure: BaseException | None = None
        try:
            shell = self.shell
            assert shell is not None, "GrokMagics needs a shell"
            page = self._page_context() if options.output else None
            if options.output and page is None:
                from grok_magics.page import needs_page

                raise needs_page('--output ("Ask about this")', "Attach a value with {name} or --image instead.")
            reply = ask(
                self.session,
                self.defaults(),
                options,
                prompt,
                shell.user_ns,
                self._cell_key(),
                shell,
                source,
                preamble,
                page,
            )
        except KeyboardInterrupt:
            failure = GrokInterrupted()
        except ConfigError as exc:
            failure = GrokError(str(exc))
        except (GrokError, UsageError) as exc:
            failure = exc
        except Exception as exc:
            failure = _internal_error(exc, self.debug)
        if failure is not None:
            raise failure  # outside the except block: no chained context holding SDK frames (and keys)
        if options.code and reply.text and reply.error is None:
            from grok_magics.render.blocks import code_blocks

            code = "\n\n".join(code_blocks(reply.text))
            if code and shell is not None:
                shell.set_next_input(code, replace=False)  # a new cell below, never run by us
        if reply.error is not None or reply.interrupted:  # the cell ends in error; the sentence shows once
            from grok_magics.render.status import outcome_note

            if reply.error is not None:
                raise reply.error.shown_as(outcome_note(reply)) from None
            raise GrokInterrupted(outcome_note(reply))

    def _is_map(self, line: str, cell: str | None) -> bool:
        """``%%grok map DF`` always; ``%grok map|filter|reduce|topk DF ...`` (and their cell forms but map's) only
        when DF is a frame ("map the ...", "filter this list" are prompts)."""
        from grok_magics.operators.magic import OPERATORS, is_table

        words = line.split(maxsplit=2)
        if not words or words[0] not in OPERATORS:
            return False
        if cell is not None and words[0] == "map":
            return True
        namespace = self.shell.user_ns if self.shell is not None else {}
        return len(words) > 1 and is_table(namespace.get(words[1]))

    def _map(self, line: str, cell: str | None) -> Any:
        from grok_magics.operators.magic import run_operator_magic

        shell = self.shell
        assert shell is not None, "GrokMagics needs a shell"
        failure: BaseException | None = None
        try:
            return run_operator_magic(line.split(maxsplit=1)[0], line, cell, shell.user_ns)
        except KeyboardInterrupt:
            failure = GrokInterrupted()
        except (GrokError, UsageError) as exc:
            failure = exc
        except Exception as exc:
            failure = _internal_error(exc, self.debug)
        raise failure  # outside the except block: no chained context holding SDK frames (and keys)

    def _run_subcommand(self, name: str, options: Options) -> None:
        from grok_magics.magics import reports

        chats = self.session.chats
        if name == "help":
            print(reports.help_text())
        elif name == "reset":
            chats.reset(None if options.all else options.chat or "default")
            self.session.forget_data(None if options.all else options.chat or "default")
            print("All chats cleared." if options.all else f"Chat '{options.chat or 'default'}' cleared.")
        elif name == "history":
            print(reports.history_text(chats.get(options.chat or "default"), full=options.full))
        elif name == "chats":
            print(reports.chats_text(chats))
        elif name == "config":
            print(reports.config_text(self.defaults(), options, os.environ))
            print(reports.classroom_text(self.defaults(), self.source_of))
        elif name == "usage":
            print(reports.usage_text(self.session.tallies))
            ledger = reports.ledger_text(self.caps(), self.session.ledger)
            if ledger:
                print(ledger)
        elif name in ("record", "replay", "export"):
            from grok_magics.magics.classroom import run_subcommand

            print(run_subcommand(self, name, options))
        elif name == "key":
            print(reports.ask_for_key(options, self.defaults()))

    def _tools_subcommand(self, options: Options, action: str, names: list[str]) -> None:
        """``%grok tools add|remove|list [NAME...] [--chat NAME]``: tools every ask of a chat may call."""
        from grok_magics.errors import ToolError
        from grok_magics.tools.functions import resolve

        chat = options.chat or "default"
        current = self.session.chat_tools.setdefault(chat, [])
        if action == "add":
            try:
                shell = self.shell
                resolve([n for n in names if n != "data"], shell.user_ns if shell is not None else {})
            except ToolError as exc:
                raise GrokError(str(exc)) from None
            current.extend(n for n in names if n not in current)
        elif action == "remove":
            current[:] = [n for n in current if n not in names]
        print(f"Tools for chat '{chat}': {', '.join(current) or 'none'}")

    def close(self) -> None:
        """Unloading frees the connection pools; conversations and usage stay with the shell."""
        if self._session is not None:
            self._session.clients.close()


_TEACHING_ENV = {
    "record": "GROK_MAGICS_RECORD",
    "replay": "GROK_MAGICS_REPLAY",
    "replay_speed": "GROK_MAGICS_REPLAY_SPEED",
    "replay_fallthrough": "GROK_MAGICS_REPLAY_FALLTHROUGH",
    "max_cost_usd": "GROK_MAGICS_MAX_COST_USD",
    "max_output_tokens": "GROK_MAGICS_MAX_OUTPUT_TOKENS",
    "max_calls_per_hour": "GROK_MAGICS_MAX_CALLS_PER_HOUR",
    "lock": "GROK_MAGICS_LOCK",
}


def _env_number(name: str, kind: type) -> Any:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or value < 0:
        raise GrokError(f"{name}={text!r} is not a valid {kind.__name__} (>= 0): fix or unset it")
    return value


def _env_speed(name: str) -> float:
    text = os.environ.get(name, "").strip().lower()
    if not text:
        return 1.0
    if text == "fast":
        return 0.0
    value = _env_number(name, float)
    return float(value)


def _internal_error(exc: BaseException, debug: bool) -> GrokError:
    """A bug of ours, as one line; in debug mode with the traceback, but never with frame locals.

    The SDK's frames hold request headers (the key); ``%xmode Verbose`` would print them, so the
    traceback is formatted here without locals, redacted, and the original frames are dropped.
    """
    summary = f"internal error ({type(exc).__name__}: {exc})"
    if not debug:
        return GrokError(f"{summary}; set %config GrokMagics.debug = True for the traceback, and please report it")
    import traceback

    from grok_magics.errors import GrokDebugError

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    exc.__traceback__ = None
    return GrokDebugError(f"{summary}; please report it with the traceback above", text)


def _merge(first: Options, second: Options) -> Options:
    """Options may come before or after a subcommand: ``%grok --chat a reset`` = ``%grok reset --chat a``."""
    from dataclasses import replace

    changed = {key: value for key, value in vars(second).items() if value not in (None, False, ())}
    return replace(first, **changed)


def _tools_command(rest: str) -> tuple[str, list[str], str] | None:
    """``tools add f g --chat c`` → ("add", ["f", "g"], "--chat c"); None when ``tools ...`` is a prompt."""
    words = rest.split()
    if not words or words[0] != "tools":
        return None
    action = words[1] if len(words) > 1 else "list"
    if action not in ("add", "remove", "list"):
        return None
    names: list[str] = []
    tail: list[str] = []
    for word in words[2:]:
        if tail or word.startswith("-"):
            tail.append(word)
        else:
            names.extend(n for n in word.split(",") if n)
    if not all(n.isidentifier() for n in names) or (action != "list" and not names):
        raise UsageError(f"%grok tools {action} needs function names, e.g. %grok tools {action} lookup,data")
    return action, names, " ".join(tail)


def _kernel_cell_id(shell: Any) -> str | None:
    """The cell id JupyterLab puts in the execute request, for the cell that loaded the extension."""
    kernel = getattr(shell, "kernel", None)
    try:
        parent = kernel.get_parent("shell") if kernel is not None else None
    except Exception:
        return None
    metadata = (parent or {}).get("metadata") or {}
    cell_id = metadata.get("cellId")
    return cell_id if isinstance(cell_id, str) and cell_id else None
