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
from traitlets import Bool, Enum, Float, Int, TraitError, Unicode, validate

from .choices import APIS, DEFAULT_SYSTEM, DISPLAY_MODES, EFFORTS
from .errors import GrokError, GrokInterrupted

if TYPE_CHECKING:  # the machinery is imported on first use, keeping %load_ext light
    from .ask import Defaults, Session
    from .options import Options


@magics_class
class GrokMagics(Magics):
    provider = Unicode("", help="xai, bedrock, aigateway, azure or openai (empty: $GROK_PROVIDER, else xai)").tag(
        config=True
    )
    model = Unicode("", help="Model id (empty: the provider's Grok 4.3 id)").tag(config=True)
    effort = Enum(
        ("",) + EFFORTS, default_value="",
        help="Reasoning effort (empty: low where the provider takes one; 'default': send none)",
    ).tag(config=True)
    api = Enum(("",) + APIS, default_value="", help="responses or chat (empty: the provider's default)").tag(
        config=True
    )
    system = Unicode(DEFAULT_SYSTEM, help="System prompt for chats that have not set their own").tag(config=True)
    temperature = Float(None, allow_none=True, help="Sampling temperature (unset: the provider's)").tag(config=True)
    max_tokens = Int(None, allow_none=True, help="Output token cap (unset: the provider's)").tag(config=True)
    history_tokens = Int(100_000, help="Budget for earlier turns sent along; oldest are dropped first").tag(
        config=True
    )
    timeout = Float(900.0, help="Seconds to wait for data from the provider (reasoning can be slow)").tag(config=True)
    connect_timeout = Float(10.0, help="Seconds to wait for a connection").tag(config=True)
    max_retries = Int(2, help="Retries for failures before the answer starts (429 honours Retry-After)").tag(
        config=True
    )
    deadline = Float(3600.0, help="Seconds an ask may take in all (keep-alives and retries included)").tag(
        config=True
    )
    display = Enum(DISPLAY_MODES, default_value="auto", help="auto, widget, markdown or text").tag(config=True)
    debug = Bool(False, help="Show full tracebacks for unexpected internal errors").tag(config=True)

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

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._session: Session | None = None
        self._cell_id: str | None = None
        self._cell_seen = False
        self._asks_in_cell = 0

    @property
    def session(self) -> Session:
        """Kept on the shell, not on this instance: %reload_ext must not wipe the kernel's chats and usage."""
        if self._session is None:
            self._session = getattr(self.shell, "_grok_magics_session", None)
        if self._session is None:
            from .ask import Session

            self._session = Session()
            if self.shell is not None:
                self.shell._grok_magics_session = self._session
        return self._session

    # -- cell identity ---------------------------------------------------------------------------
    def pre_run_cell(self, info: Any) -> None:
        """Remember which notebook cell runs, so a re-run replaces its own earlier exchange."""
        self._cell_seen = True
        self._cell_id = getattr(info, "cell_id", None) or None
        self._asks_in_cell = 0

    def _cell_key(self) -> tuple[str, int] | None:
        cell_id = self._cell_id if self._cell_seen else _kernel_cell_id(self.shell)
        n = self._asks_in_cell
        self._asks_in_cell += 1
        return (cell_id, n) if cell_id else None

    # -- settings ----------------------------------------------------------------------------------
    def defaults(self) -> Defaults:
        from .ask import Defaults
        from .client import Transport

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
            transport=Transport(self.timeout, self.connect_timeout, self.max_retries, self.deadline),
        )

    # -- the magic -----------------------------------------------------------------------------------
    @no_var_expand
    @line_cell_magic
    def grok(self, line: str, cell: str | None = None) -> None:
        """Ask Grok. ``%%grok [options]`` sends the cell; ``%grok [options] PROMPT`` sends the line.

        ``%grok help`` lists the options and subcommands.
        """
        from .options import parse_cell_line, parse_line, subcommand
        from .providers import ConfigError

        if cell is None:
            options, rest = parse_line(line)
            sub = subcommand(rest)
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
            options = parse_cell_line(line)
            prompt = _trim_blank_lines(cell)
            if not prompt:
                raise UsageError("the cell is empty: write your question below the %%grok line")
        if not options.allow_key:
            self._refuse_keys(line, options)
        self._ask(options, prompt)

    def _refuse_keys(self, line: str, options: Options) -> None:
        """A key on the magic line (in --system, say) would be sent; the prompt is checked in ask.prepare."""
        from .ask import check_no_key
        from .providers import PROVIDERS, ConfigError, choose_provider

        try:
            provider = choose_provider(options.provider, self.provider, os.environ)
        except ConfigError:
            provider = PROVIDERS["xai"]
        try:
            check_no_key(line, "magic line", provider)
        except ConfigError as exc:
            raise GrokError(str(exc)) from None

    def _ask(self, options: Options, prompt: str) -> None:
        from .ask import ask
        from .providers import ConfigError

        failure: BaseException | None = None
        try:
            shell = self.shell
            assert shell is not None, "GrokMagics needs a shell"
            reply = ask(self.session, self.defaults(), options, prompt, shell.user_ns, self._cell_key(), shell)
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
        if reply.error is not None:
            raise reply.error from None
        if reply.interrupted:
            raise GrokInterrupted()

    def _run_subcommand(self, name: str, options: Options) -> None:
        from . import reports

        chats = self.session.chats
        if name == "help":
            print(reports.help_text())
        elif name == "reset":
            chats.reset(None if options.all else options.chat or "default")
            print("All chats cleared." if options.all else f"Chat '{options.chat or 'default'}' cleared.")
        elif name == "history":
            print(reports.history_text(chats.get(options.chat or "default")))
        elif name == "chats":
            print(reports.chats_text(chats))
        elif name == "config":
            print(reports.config_text(self.defaults(), options, os.environ))
        elif name == "usage":
            print(reports.usage_text(self.session.tallies))
        elif name == "key":
            print(reports.ask_for_key(options, self.defaults()))

    def close(self) -> None:
        """Unloading frees the connection pools; conversations and usage stay with the shell."""
        if self._session is not None:
            self._session.clients.close()


def _internal_error(exc: BaseException, debug: bool) -> GrokError:
    """A bug of ours, as one line; in debug mode with the traceback, but never with frame locals.

    The SDK's frames hold request headers (the key); ``%xmode Verbose`` would print them, so the
    traceback is formatted here without locals, redacted, and the original frames are dropped.
    """
    summary = f"internal error ({type(exc).__name__}: {exc})"
    if not debug:
        return GrokError(f"{summary}; set %config GrokMagics.debug = True for the traceback, and please report it")
    import traceback

    from .errors import GrokDebugError

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    exc.__traceback__ = None
    return GrokDebugError(f"{summary}; please report it with the traceback above", text)


def _trim_blank_lines(text: str) -> str:
    """The cell as written, minus the blank lines around it (indentation of the first line stays)."""
    lines = text.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def _merge(first: Options, second: Options) -> Options:
    """Options may come before or after a subcommand: ``%grok --chat a reset`` = ``%grok reset --chat a``."""
    from dataclasses import replace

    changed = {key: value for key, value in vars(second).items() if value not in (None, False)}
    return replace(first, **changed)


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
