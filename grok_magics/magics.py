"""``%grok`` and ``%%grok``: parse what the user typed and dispatch it.

Settings are traitlets, so ``%config GrokMagics.effort = "high"`` and ``ipython_config.py`` both work;
options on the magic line override them for one call.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from traitlets import Bool, Enum, Float, Int, Unicode

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
    effort = Enum(EFFORTS, default_value="low", help="Reasoning effort, sent on every call").tag(config=True)
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
    display = Enum(DISPLAY_MODES, default_value="auto", help="auto, live, markdown or text").tag(config=True)
    headings = Int(4, help="Level of an answer's top heading (0: as the model wrote it), below your own sections").tag(
        config=True
    )
    debug = Bool(False, help="Show full tracebacks for unexpected internal errors").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._session: Session | None = None
        self._cell_id: str | None = None
        self._cell_seen = False
        self._asks_in_cell = 0

    @property
    def session(self) -> Session:
        if self._session is None:
            from .ask import Session

            self._session = Session()
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
            headings=self.headings,
            transport=Transport(self.timeout, self.connect_timeout, self.max_retries),
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
        self._ask(options, prompt)

    def _ask(self, options: Options, prompt: str) -> None:
        from .ask import ask
        from .providers import ConfigError

        try:
            shell = self.shell
            assert shell is not None, "GrokMagics needs a shell"
            reply = ask(self.session, self.defaults(), options, prompt, shell.user_ns, self._cell_key(), shell)
        except KeyboardInterrupt:
            raise GrokInterrupted() from None
        except ConfigError as exc:
            raise GrokError(str(exc)) from None
        except (GrokError, UsageError):
            raise
        except Exception as exc:
            if self.debug:
                raise
            raise GrokError(f"internal error ({type(exc).__name__}: {exc}); set %config GrokMagics.debug = True "
                            "for the traceback, and please report it") from None
        if options.code and reply.text and reply.error is None:
            from .render.blocks import code_blocks

            code = "\n\n".join(code_blocks(reply.text))
            if code:
                shell.set_next_input(code, replace=False)  # a new cell below, never run by us
        if reply.error is not None or reply.interrupted:  # the cell ends in error; the sentence shows once
            from .render.status import outcome_note

            if reply.error is not None:
                raise reply.error.shown_as(outcome_note(reply)) from None
            raise GrokInterrupted(outcome_note(reply))

    def _run_subcommand(self, name: str, options: Options) -> None:
        from . import reports

        chats = self.session.chats
        if name == "help":
            print(reports.help_text())
        elif name == "reset":
            chats.reset(None if options.all else options.chat or "default")
            print("All chats cleared." if options.all else f"Chat '{options.chat or 'default'}' cleared.")
        elif name == "history":
            print(reports.history_text(chats.get(options.chat or "default"), full=options.full))
        elif name == "chats":
            print(reports.chats_text(chats))
        elif name == "config":
            print(reports.config_text(self.defaults(), options, os.environ))
        elif name == "usage":
            print(reports.usage_text(self.session.tallies))
        elif name == "key":
            print(reports.ask_for_key(options, self.defaults()))

    def close(self) -> None:
        if self._session is not None:
            self._session.clients.close()


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
