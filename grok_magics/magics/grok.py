"""``%grok`` and ``%%grok``: parse what the user typed and dispatch it.

Settings are traitlets built from the settings table (``grok_magics.settings``), so ``%config
GrokMagics.effort = "high"`` and ``ipython_config.py`` both work; options on the magic line override them
for one call.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand

from grok_magics.errors import GrokError, GrokInterrupted
from grok_magics.magics.failures import one_line
from grok_magics.magics.inputs import asks_grok, trim_blank_lines
from grok_magics.magics.traits import source_of, traits_class
from grok_magics.settings import BY_NAME, values_of

if TYPE_CHECKING:  # the machinery is imported on first use, keeping %load_ext light
    from grok_magics.engine.ask import Defaults, Session
    from grok_magics.model.options import Options


@magics_class
class GrokMagics(Magics, traits_class()):  # type: ignore[misc]  # the settings table's traitlets, built at import
    """Every setting is a traitlet built from ``grok_magics.settings.SETTINGS``; see that table to add one."""

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._configured = set(self.config.get("GrokMagics", {}))  # from a config file or the command line
        self._changed_here: set[str] = set()  # by %config in this session
        self.observe(lambda change: self._changed_here.add(change["name"]), names=list(BY_NAME))
        self._session: Session | None = None
        self._cell_id: str | None = None
        self._cell_seen = False
        self._asks_in_cell = 0
        self._pushed_for_cell = False  # the page pushes its context only before cells that ask Grok
        self._failure: Any = None  # the most recent failing cell, for %grok fix

    @property
    def session(self) -> Session:
        """Kept on the shell, not on this instance: %reload_ext must not wipe the kernel's chats and usage."""
        if self._session is None:
            self._session = getattr(self.shell, "_grok_magics_session", None)
        if self._session is None:
            from grok_magics.engine.ask import Session

            self._session = Session()
            self._session.caps_now = self.caps  # the chat panel shows the budget left (grok_magics/panel.py)
            if self.shell is not None:
                setattr(self.shell, "_grok_magics_session", self._session)  # noqa: B010 - IPython declares no such field
        return self._session

    def source_of(self, name: str) -> str:
        """Who set a setting: %config here, the config file, the environment, or nobody."""
        return source_of(self._configured, self._changed_here, BY_NAME[name])

    # -- cell identity ---------------------------------------------------------------------------
    def pre_run_cell(self, info: Any) -> None:
        """Remember which notebook cell runs, so a re-run replaces its own earlier exchange."""
        from grok_magics.engine.guard import settle

        settle()  # an interrupted ask absorbed late Ctrl-Cs until now
        self._cell_seen = True
        self._cell_id = getattr(info, "cell_id", None) or None
        self._asks_in_cell = 0
        self._pushed_for_cell = asks_grok(getattr(info, "raw_cell", "") or "")

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
        from dataclasses import replace

        from grok_magics.engine.ask import Defaults
        from grok_magics.magics.classroom import current_policy, pinned, with_policy

        defaults = Defaults.of(values_of(self))
        # classroom: the notebook's policy joins the caps and pins the model and effort
        defaults = replace(defaults, caps=with_policy(defaults.caps, current_policy(self)))
        return pinned(defaults)

    def caps(self) -> Any:
        return self.defaults().caps

    # -- the magic -----------------------------------------------------------------------------------
    @no_var_expand
    @line_cell_magic
    def grok(self, line: str, cell: str | None = None) -> Any:
        """Ask Grok. ``%%grok [options]`` sends the cell; ``%grok [options] PROMPT`` sends the line.

        ``%grok help`` lists the options and subcommands.
        """
        from grok_magics.errors import ConfigError
        from grok_magics.magics.command_line import parse_cell_line, parse_line, subcommand

        if self._is_map(line, cell):
            return self._map(line, cell)
        if cell is None:
            options, rest = parse_line(line)
            tools_command = _tools_command(rest)
            if tools_command is not None:
                action, names, tail = tools_command
                self._tools_subcommand(_merge(options, parse_cell_line(tail)), action, names)
                return
            if _policy_command(rest):  # classroom: %grok policy [off|hints|full]
                from grok_magics.magics.classroom import policy_command

                try:
                    print(policy_command(self, rest.split()[1:]))
                except ConfigError as exc:
                    raise GrokError(str(exc)) from None
                return
            sub = subcommand(rest)
            if sub is not None and sub[0] == "fix":
                self._fix(_merge(options, sub[1]), "", f"%grok {line}".rstrip())  # exports show what was typed
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
                self._fix(_merge(line_options, sub[1]), trim_blank_lines(cell), f"%%grok {line}\n{cell.rstrip()}")
                return
            options = parse_cell_line(line)
            prompt = trim_blank_lines(cell)
            if not prompt:
                raise UsageError("the cell is empty: write your question below the %%grok line")
        if not options.allow_key:
            self._refuse_keys(line, options)
        self._ask(options, prompt, "" if cell is None else f"%%grok {line}".rstrip() + "\n" + cell.rstrip("\n"))

    def _fix(self, options: Options, question: str, typed: str = "") -> None:
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
        self._ask(options, question, typed, preamble=fix_prompt(failure))

    def _page_context(self) -> Any:
        """What the notebook page pushed before this cell ran (None without the page extension)."""
        if getattr(self.shell, "_grok_page", None) is None or not self._cell_id:
            return None
        from grok_magics.page import PUSH_WAIT, pushed

        # a plain Python cell (grok_magics.map(...) from code) gets no push: nothing to wait for
        return pushed(self._cell_id, wait=PUSH_WAIT if self._pushed_for_cell else 0.0)

    # -- the notebook is the conversation (context/restore.py) ------------------------------------------
    def _saved_answers(self, path: str | None = None) -> tuple[list[Any], str]:
        """The answers saved above this cell: from the page, else from the notebook file; and where from."""
        from grok_magics.context import restore

        if path is None:
            page = self._page_context()
            if page is not None:
                return restore.from_page(page.above), "above"
            shell = self.shell
            path = restore.session_path(os.environ, shell.user_ns if shell is not None else {})
            if path is None or not self._cell_id:
                return [], ""
        nb = restore.read_notebook(path)
        before = self._cell_id if any(c.get("id") == self._cell_id for c in nb["cells"]) else None
        where = f"{'above' if before else 'saved'} in {os.path.basename(path)}"
        where += " (the saved file: unsaved answers are not included)"
        return restore.from_notebook(nb, before), where

    def _auto_restore(self, options: Options) -> tuple[str, ...]:
        """After a restart, the first ask in a chat this kernel holds empty continues the answers saved above."""
        from grok_magics.context import restore
        from grok_magics.errors import ConfigError

        name = options.chat or "default"
        session = self.session
        if not self.restore or options.new or options.no_history or options.dry_run or name in session.restored:
            return ()
        session.restored.add(name)
        chat = session.chats.get(name)
        if chat.turns:
            return ()
        try:
            saved, where = self._saved_answers()
        except (GrokError, ConfigError):
            return ()
        rebuilt = restore.rebuild(saved)
        turns = rebuilt.turns.get(name) or []
        if not turns:
            return ()
        chat.turns[:] = turns
        if name in rebuilt.origins:
            session.forks[name] = rebuilt.origins[name]
        return (restore.note(len(turns), where, name in rebuilt.encrypted),)

    def _restore(self, options: Options) -> str:
        """``%grok restore [NOTEBOOK.ipynb] [--chat NAME]``: rebuild chats by hand, also without the page."""
        from grok_magics.context import restore
        from grok_magics.page import needs_page

        saved, where = self._saved_answers(options.path)
        if not where:
            raise needs_page(
                "%grok restore without a file name",
                "Name the saved notebook: %grok restore NOTEBOOK.ipynb (unsaved answers are not in it).",
            )
        rebuilt = restore.rebuild(saved)
        names = [options.chat] if options.chat else list(rebuilt.turns)
        lines = []
        for name in names:
            turns = rebuilt.turns.get(name) or []
            if not turns:
                lines.append(f"Chat '{name}': no saved answers {where}; nothing restored.")
                continue
            chat = self.session.chats.get(name)
            chat.turns[:] = turns
            self.session.restored.add(name)
            if name in rebuilt.origins:
                self.session.forks[name] = rebuilt.origins[name]
            lines.append(f"Chat '{name}': {restore.note(len(turns), where, name in rebuilt.encrypted)}.")
        if not names:
            lines.append(f"No saved answers {where}; nothing restored.")
        lines.append("Encrypted reasoning is not restored: earlier answers go back as plain text.")
        return "\n".join(lines)

    # -- forks --------------------------------------------------------------------------------------------
    def _forked(self, options: Options) -> tuple[Options, tuple[str, ...]]:
        """``--fork NAME``: the ask goes to a new chat NAME that starts as this chat stands before this cell.

        The original chat is left as it is. Re-running the forking cell keeps its meaning: the fork it made
        is reused and the cell's turn in it replaced."""
        from dataclasses import replace

        if not options.fork:
            return options, ()
        origin, name = options.chat or "default", options.fork
        if name == origin:
            raise UsageError(f"--fork {name}: name a new chat, not the one this cell talks to")
        notes = self._auto_restore(options)  # after a restart, fork from the conversation the page shows
        chats = self.session.chats
        cell_id = self._cell_id if self._cell_seen else _kernel_cell_id(self.shell)
        key = (cell_id, self._asks_in_cell) if cell_id else None
        target = chats.get(name)
        if target.turns and target.position(key) is None:
            raise UsageError(
                f"--fork {name}: a chat called {name!r} already has {len(target.turns)} turn(s); pick another "
                f"name, or %grok reset --chat {name} first"
            )
        if not target.turns:
            from grok_magics.engine.forks import fork

            fork(self.session, name, origin, chats.get(origin).context_for(key, 10**15))
        self.session.restored.add(name)
        at = self.session.forks.get(name, {}).get("turns", "?")
        note = f"forked from chat {origin!r} at {at} answer(s)"
        return replace(options, chat=name, fork=None), (*notes, note)

    def _fork_by_hand(self, options: Options) -> str:
        """``%grok fork NAME [--chat FROM] [--at N]``: a new chat from FROM as it stood after its N-th answer."""
        from grok_magics.engine.forks import fork
        from grok_magics.errors import ConfigError

        origin, name = options.chat or "default", options.path or ""
        if not name:
            raise UsageError("%grok fork needs the new chat's name: %grok fork NAME [--chat FROM] [--at N]")
        total = len(self.session.chats.get(origin).turns)
        try:
            at = fork(self.session, name, origin, at=options.at)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        return (
            f"Chat {name!r} starts from chat {origin!r} as it stood after answer {at} of {total} "
            f"({origin!r} is unchanged). Ask in it with %%grok --chat {name}"
        )

    def _above(self, options: Options) -> Any:
        """``--context above``: the cells above, from the page when it pushed them, else from this kernel's history."""
        from grok_magics.context.above import from_history, from_page, parse_spec

        spec = parse_spec(options.context if options.context is not None else self.context)
        if spec is None:
            return None
        page = self._page_context()
        if page is not None:
            return from_page(spec, page.above)
        shell = self.shell
        namespace = shell.user_ns if shell is not None else {}
        history = getattr(shell, "history_manager", None)
        raw = list(getattr(history, "input_hist_raw", None) or namespace.get("_ih") or [])
        return from_history(spec, raw, namespace.get("Out") or {}, len(raw) - 1, self._failure)

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

        if options.agent:  # agent cells: grok_magics.agent, through magics/agent_cell.py
            from grok_magics.magics.agent_cell import agent_cell

            agent_cell(self, options, prompt, source)
            return

        shell = self.shell
        assert shell is not None, "GrokMagics needs a shell"

        def asked() -> Any:
            forked, notes = self._forked(options)
            notes += self._auto_restore(forked)
            page = self._page_context()  # --output's outputs; the tutor's exercise (classroom)
            if forked.output and page is None:
                from grok_magics.page import needs_page

                raise needs_page('--output ("Ask about this")', "Attach a value with {name} or --image instead.")
            return ask(
                self.session,
                self.defaults(),
                forked,
                prompt,
                shell.user_ns,
                self._cell_key(),
                shell,
                source,
                preamble,
                page,
                self._above(forked),
                notes,
                self.session.forks.get(forked.chat or "default"),
            )

        try:
            reply = one_line(asked, self.debug)
        finally:
            self._changed()
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
        from grok_magics.magics.operator_command import OPERATORS, is_operand

        words = line.split(maxsplit=2)
        if not words or words[0] not in OPERATORS:
            return False
        if cell is not None and words[0] == "map":
            return True
        namespace = self.shell.user_ns if self.shell is not None else {}
        return len(words) > 1 and is_operand(namespace.get(words[1]))

    def _map(self, line: str, cell: str | None) -> Any:
        from grok_magics.magics.operator_command import run_operator_magic

        shell = self.shell
        assert shell is not None, "GrokMagics needs a shell"
        return one_line(lambda: run_operator_magic(line.split(maxsplit=1)[0], line, cell, shell.user_ns), self.debug)

    def _changed(self) -> None:
        """The page's chat panel refreshes when an answer ended or a chat changed."""
        bridge = getattr(self.shell, "_grok_page", None)
        if bridge is not None:
            bridge.changed("chats")

    def _run_subcommand(self, name: str, options: Options) -> None:
        """A subcommand is a row of ``HANDLERS``: the handler says what to print; some change the chats the
        page's panel shows."""
        handler, changes_chats = HANDLERS[name]
        print(handler(self, options))
        if changes_chats:
            self._changed()

    def _help(self, options: Options) -> str:
        from grok_magics.magics import reports

        return reports.help_text()

    def _reset(self, options: Options) -> str:
        chat = None if options.all else options.chat or "default"
        self.session.restored.update(self.session.chats.names() if chat is None else [chat])
        if chat is None:
            self.session.forks.clear()
        else:
            self.session.forks.pop(chat, None)
        self.session.chats.reset(chat)
        self.session.forget_data(chat)
        return "All chats cleared." if chat is None else f"Chat '{chat}' cleared."

    def _history(self, options: Options) -> str:
        from grok_magics.magics import reports

        return reports.history_text(self.session.chats.get(options.chat or "default"), full=options.full)

    def _chats(self, options: Options) -> str:
        from grok_magics.magics import reports

        return reports.chats_text(self.session.chats)

    def _config(self, options: Options) -> str:
        from grok_magics.magics import reports
        from grok_magics.magics.classroom import policy_line

        if options.all:
            return reports.settings_text(values_of(self), self.source_of)
        return "\n".join(
            (
                reports.config_text(self.defaults(), options, os.environ),
                reports.classroom_text(self.defaults(), self.source_of),
                policy_line(self),
            )
        )

    def _usage(self, options: Options) -> str:
        from grok_magics.magics import reports

        ledger = reports.ledger_text(self.caps(), self.session.ledger)
        return reports.usage_text(self.session.tallies, self.session.ledger) + (f"\n{ledger}" if ledger else "")

    def _cassette(self, name: str, options: Options) -> str:
        from grok_magics.magics.classroom import run_subcommand

        return run_subcommand(self, name, options)

    def _key(self, options: Options) -> str:
        from grok_magics.magics import reports

        return reports.ask_for_key(options, self.defaults())

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


def _cassette(name: str) -> Callable[[GrokMagics, Options], str]:
    return lambda magics, options: magics._cassette(name, options)


# Every subcommand but ``fix`` (which asks Grok): its handler (what to print), and whether it changes the chats
# the page's panel shows. ``magics.command_line.SUBCOMMANDS`` parses them; a test keeps the two in step.
HANDLERS: dict[str, tuple[Callable[[GrokMagics, Options], str], bool]] = {
    "help": (GrokMagics._help, False),
    "reset": (GrokMagics._reset, True),
    "restore": (GrokMagics._restore, True),
    "fork": (GrokMagics._fork_by_hand, True),
    "history": (GrokMagics._history, False),
    "chats": (GrokMagics._chats, False),
    "config": (GrokMagics._config, False),
    "usage": (GrokMagics._usage, False),
    "key": (GrokMagics._key, False),
    **{name: (_cassette(name), False) for name in ("record", "replay", "export")},
}


def _merge(first: Options, second: Options) -> Options:
    """Options may come before or after a subcommand: ``%grok --chat a reset`` = ``%grok reset --chat a``."""
    from dataclasses import replace

    changed = {key: value for key, value in vars(second).items() if value not in (None, False, ())}
    return replace(first, **changed)


def _policy_command(rest: str) -> bool:
    """``policy`` alone or with one mode; "policy for exams?" is a prompt."""
    words = rest.split()
    from grok_magics.teaching.notebook_policy import MODES

    return bool(words) and words[0] == "policy" and (len(words) == 1 or (len(words) == 2 and words[1] in MODES))


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
