"""The magic's command line: shell-like options first, then the prompt exactly as typed.

Only the options are tokenised; the prompt keeps its quotes, apostrophes and braces. A mistake is
a one-line ``UsageError``: argparse's own ``SystemExit`` never reaches the user.
"""

from __future__ import annotations

import argparse
import builtins
import io
import keyword
import math
import shlex
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Callable, NoReturn

from IPython.core.error import UsageError

from grok_magics.errors import SettingError
from grok_magics.model.options import Options
from grok_magics.settings import BY_NAME, OVERRIDES, Setting

SUBCOMMANDS = (
    "help",
    "reset",
    "history",
    "chats",
    "config",
    "usage",
    "key",
    "record",
    "replay",
    "export",
    "fix",
    "restore",
    "fork",
)
PATH_SUBCOMMANDS = ("record", "replay", "export")  # these take a file name (or "off") first
SEARCHES = {"web": "web_search", "x": "x_search"}

USAGE = (
    "%%grok [-m MODEL] [--provider NAME] [--effort none|low|medium|high|default] [--api responses|chat] "
    "[--chat NAME] [--new] [--system TEXT] [--temperature T] [--max-tokens N] [-o VAR] [--no-history] [--code] "
    "[--agent] [--rerun] [--allow-key] "
    "[--data NAME[,NAME]] [--image REF[,REF]] [--budget N] [--schema-only] [--exclude COL[,COL]] [--dry-run]"
    " [--tools FN,FN|data] [--search web,x] [--json | --schema S [--to-df | --to-polars]]"
    " [--output CELL_ID:N] [--context above[:N][,images]|none] [--fork NAME]"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}. Usage: {USAGE}  (%grok help for more)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or USAGE)


def _positive(convert: Callable[[str], Any], name: str, zero: bool = False) -> Callable[[str], Any]:
    """An argparse ``type=``: argparse names the type by its ``__name__`` when a value is refused."""

    def check(text: str) -> Any:
        value = convert(text)
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
            raise ValueError(text)
        return value

    check.__name__ = name
    return check


_positive_int = _positive(int, "positive integer")
_positive_float = _positive(float, "positive number")
_non_negative_int = _positive(int, "whole number, 0 or more", zero=True)


# IPython's own names: overwriting one breaks every later cell (or every magic).
_IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "display", "exec", "eval"})


def _identifier(text: str) -> str:
    """A variable the user may own: not a keyword, not private, not a built-in or one of IPython's."""
    if (
        not text.isidentifier()
        or keyword.iskeyword(text)
        or text.startswith("_")
        or text in _IPYTHON_NAMES
        or hasattr(builtins, text)
    ):
        raise ValueError(text)
    return text


_identifier.__name__ = "variable name of your own (not a keyword, built-in, IPython name or _name)"


def add_overrides(p: argparse.ArgumentParser, table: tuple[Setting, ...] = OVERRIDES) -> None:
    """The settings a magic line may override for one ask or one row job: their flags and rules come from the
    settings table, so a value is refused with the same line as ``%config`` gives."""
    for setting in table:
        p.add_argument(*setting.flags, dest=setting.name, type=_reader(setting))


def _reader(setting: Setting) -> Callable[[str], Any]:
    def read(text: str) -> Any:
        try:
            return setting.parse(text)
        except SettingError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    read.__name__ = setting.name
    return read


def _speed(text: str) -> str:
    if text != "fast" and not float(text) > 0:
        raise ValueError(text)
    return text


_speed.__name__ = "speed (a positive number, or fast)"


def _comma_list(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise ValueError(text)
    return items


_comma_list.__name__ = "comma-separated list"

_LISTS = ("data", "image", "exclude", "output")


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names or not all(n.isidentifier() for n in names):
        raise ValueError(text)
    return names


_names.__name__ = "comma-separated list of names"


def _searches(text: str) -> tuple[str, ...]:
    kinds = [k.strip().lower() for k in text.split(",") if k.strip()]
    if not kinds or any(k not in SEARCHES for k in kinds):
        raise ValueError(text)
    return tuple(dict.fromkeys(SEARCHES[k] for k in kinds))


_searches.__name__ = "search (web, x or web,x)"


@lru_cache(maxsize=1)
def _parser() -> _Parser:
    p = _Parser(prog="%grok", add_help=False, allow_abbrev=False)
    add_overrides(p)
    p.add_argument("--chat")
    p.add_argument("--new", action="store_true")
    p.add_argument("-o", "--out", type=_identifier)
    p.add_argument("--no-history", dest="no_history", action="store_true")
    p.add_argument("--all", action="store_true")  # for `%grok reset --all`
    p.add_argument("--speed", type=_speed)  # for `%grok replay`
    p.add_argument("--fallthrough", action="store_true")  # for `%grok replay`
    p.add_argument("--data", action="extend", type=_comma_list)
    p.add_argument("--image", action="extend", type=_comma_list)
    p.add_argument("--output", action="extend", type=_comma_list)  # needs the notebook page (grok_magics.page)
    p.add_argument("--budget", type=_positive_int)
    p.add_argument("--schema-only", dest="schema_only", action="store_true")
    p.add_argument("--exclude", action="extend", type=_comma_list)
    p.add_argument("--dry-run", dest="dry_run", action="store_true")
    p.add_argument("--tools", type=_names)
    p.add_argument("--json", action="store_true")
    p.add_argument("--schema")
    p.add_argument("--to-df", dest="to_df", action="store_true")
    p.add_argument("--to-polars", dest="to_polars", action="store_true")
    p.add_argument("--search", type=_searches)
    p.add_argument("--full", action="store_true")  # for `%grok history --full`
    p.add_argument("--code", action="store_true")  # put the answer's code in the next cell
    p.add_argument("--allow-key", dest="allow_key", action="store_true")  # send key-shaped text anyway
    p.add_argument("--force", action="store_true")  # for `%grok export`: replace an existing file
    p.add_argument("--context", type=_reader(BY_NAME["context"]))  # the cells above (context/above.py)
    p.add_argument("--fork")  # a new chat from this one as it stands before this cell
    p.add_argument("--at", type=_non_negative_int)  # %grok fork NAME --at N
    p.add_argument("--agent", action="store_true")  # agent cell (grok_magics.agent)
    p.add_argument("--rerun", action="store_true")  # agent cell: ask again although its step cells are below
    return p


def _tokens(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"could not read the options ({exc}). Usage: {USAGE}") from None


def parse_options(tokens: list[str]) -> Options:
    values = vars(_parser().parse_args(tokens))
    for name in _LISTS:
        values[name] = tuple(values[name] or ())
    return Options(**values)


def _read_word(line: str, start: int) -> tuple[str, int]:
    """One shell word starting at ``start``; returns it and where the next word may begin."""
    stream = io.StringIO(line[start:])
    lexer = shlex.shlex(stream, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        word = lexer.get_token()
    except ValueError as exc:
        raise UsageError(f"could not read the options ({exc}). Usage: {USAGE}") from None
    return word or "", start + stream.tell()


@lru_cache(maxsize=1)
def _value_options() -> frozenset[str]:
    return frozenset(
        flag
        for action in _parser()._actions
        if action.nargs is None and not isinstance(action, argparse._StoreTrueAction)
        for flag in action.option_strings
    )


def split_line(line: str, takes_value: frozenset[str] | None = None) -> tuple[list[str], str]:
    """Options up to the first word that is not one (or ``--``); the rest is the prompt, verbatim.

    Only option words are tokenised, so "What's up?" never trips over its apostrophe.
    """
    takes_value = _value_options() if takes_value is None else takes_value
    options: list[str] = []
    position = 0
    expect_value = False
    while True:
        while position < len(line) and line[position].isspace():
            position += 1
        if position >= len(line):
            return options, ""
        if not expect_value and not line.startswith("-", position):
            return options, line[position:].strip()
        word, position = _read_word(line, position)
        if expect_value:
            options.append(word)
            expect_value = False
        elif word == "--":
            return options, line[position:].strip()
        else:
            options.append(word)
            expect_value = word in takes_value


def parse_cell_line(line: str) -> Options:
    return parse_options(_tokens(line))


def parse_line(line: str) -> tuple[Options, str]:
    """For ``%grok``: the options, then a prompt or a subcommand."""
    option_tokens, rest = split_line(line)
    return parse_options(option_tokens), rest


def subcommand(rest: str) -> tuple[str, Options] | None:
    """``help``/``reset``... only when the remainder is the subcommand and, at most, options.

    "help me write a regex" is a prompt, not ``help``.
    """
    words = rest.split(maxsplit=1)
    if not words or words[0] not in SUBCOMMANDS:
        return None
    tail = words[1] if len(words) > 1 else ""
    if words[0] == "key" and tail and not tail.startswith("-"):
        raise UsageError(
            "%grok key takes no text (nothing was sent): run %grok key alone, and type the key "
            "into the password box it opens"
        )
    if words[0] in PATH_SUBCOMMANDS:
        return _path_subcommand(words[0], tail)
    if words[0] in ("restore", "fork") and tail and not tail.startswith("-"):  # restore [FILE], fork NAME
        return _path_subcommand(words[0], tail)
    if tail and not tail.startswith("-"):
        return None
    return words[0], parse_options(_tokens(tail))


def _path_subcommand(name: str, tail: str) -> tuple[str, Options] | None:
    """``record FILE|off``, ``replay FILE|off [...]``, ``export FILE [...]``; anything else is a prompt.

    "export this table to csv" has more than one word before any option, so it is asked, not run.
    """
    if not tail or tail.startswith("-"):
        raise UsageError(f"%grok {name} needs a file name" + ("" if name == "export" else " (or off)"))
    path, position = _read_word(tail, 0)
    rest = tail[position:].strip()
    if rest and not rest.startswith("-"):
        return None
    return name, replace(parse_options(_tokens(rest)), path=path)


# --------------------------------------------------------------------------- %grok map

MAP_USAGE = (
    "%%grok map FRAME [--out-col NAME] [--schema SCHEMA] [--concurrency N] [--rps R] [--max-cost USD] [--yes] "
    "[--no-cache] [--batch | --batch-id ID] [-o VAR] [-m MODEL] [--provider NAME] [--api responses|chat] "
    "[--effort E] [--system TEXT] [--temperature T] [--max-tokens N] [--retries N] [--allow-key]  "
    "(the cell is the template; {column} is a row's value)"
)


@dataclass(frozen=True)
class MapOptions:
    out_col: str = "grok"
    schema: str | None = None
    concurrency: int = 8
    rps: float | None = None
    max_cost: float = 1.0
    yes: bool = False
    no_cache: bool = False
    batch: bool = False
    batch_id: str | None = None
    poll_every: float = 10.0
    out: str | None = None
    model: str | None = None
    provider: str | None = None
    api: str | None = None
    effort: str | None = None
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    retries: int = 8
    allow_key: bool = False
    sample: int | None = None
    seed: int = 0


class _MapParser(_Parser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}. Usage: {MAP_USAGE}")


@lru_cache(maxsize=1)
def _map_parser() -> _MapParser:
    p = _MapParser(prog="%grok map", add_help=False, allow_abbrev=False)
    p.add_argument("--out-col", dest="out_col", default="grok")
    p.add_argument("--schema")
    _add_job_options(p)
    p.add_argument("--batch", action="store_true")
    p.add_argument("--batch-id", dest="batch_id")
    p.add_argument("--poll-every", dest="poll_every", type=_positive_float, default=10.0)
    return p


def _add_job_options(p: argparse.ArgumentParser) -> None:
    """What every row job (map, filter, reduce, topk) takes: its budget, pacing, model and retries."""
    p.add_argument("--concurrency", type=_positive_int, default=8)
    p.add_argument("--rps", type=_positive_float)
    p.add_argument("--max-cost", dest="max_cost", type=_positive_float, default=1.0)
    p.add_argument("--yes", action="store_true")
    p.add_argument("--no-cache", dest="no_cache", action="store_true")
    p.add_argument("--sample", type=_positive_int)
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument("-o", "--out", type=_identifier)
    add_overrides(p)
    p.add_argument("--retries", type=_non_negative_int, default=8)
    p.add_argument("--allow-key", dest="allow_key", action="store_true")


def parse_map(line: str, cell: bool) -> tuple[str, MapOptions, str]:
    """``map FRAME [options] [TEMPLATE]`` → (frame name, options, template on the line or "")."""
    words = line.split(maxsplit=2)
    if len(words) < 2 or words[0] != "map" or words[1].startswith("-"):
        raise UsageError(f"name the DataFrame after map. Usage: {MAP_USAGE}")
    frame, rest = words[1], words[2] if len(words) > 2 else ""
    if cell:
        tokens, template = _tokens(rest), ""
    else:
        takes_value = frozenset(
            flag
            for action in _map_parser()._actions
            if action.nargs is None and not isinstance(action, argparse._StoreTrueAction)
            for flag in action.option_strings
        )
        tokens, template = split_line(rest, takes_value)
    namespace = _map_parser().parse_args(tokens)
    return frame, MapOptions(**vars(namespace)), template


# --------------------------------------------------------------------------- %grok filter, reduce, topk

_COMMON_USAGE = (
    "[--concurrency N] [--rps R] [--max-cost USD] [--yes] [--no-cache] [--sample N] [--seed S] [-o VAR] "
    "[-m MODEL] [--provider NAME] [--api responses|chat] [--effort E] [--system TEXT] [--temperature T] "
    "[--max-tokens N] [--retries N] [--allow-key]"
)
OPERATOR_USAGE = {
    "filter": "%%grok filter FRAME [--reason] [--keep-all] [--out-col NAME] [--batch | --batch-id ID] "
    + _COMMON_USAGE
    + "  (the cell is a yes/no question; {column} is a row's value)",
    "reduce": "%%grok reduce FRAME [--by COL] [--col COL[,COL]] [--chunk-tokens N] "
    + _COMMON_USAGE
    + "  (the cell is the task; {column} names a column to read)",
    "topk": "%%grok topk FRAME [-k N] [--group N] [--col COL[,COL]] [--chunk-tokens N] "
    + _COMMON_USAGE
    + "  (the cell is the criterion; {column} names a column to read)",
}


def _operator_parser(verb: str) -> _Parser:
    usage = OPERATOR_USAGE[verb]

    class Parser(_Parser):
        def error(self, message: str) -> NoReturn:
            raise UsageError(f"{message}. Usage: {usage}")

    p = Parser(prog=f"%grok {verb}", add_help=False, allow_abbrev=False)
    _add_job_options(p)
    if verb == "filter":
        p.add_argument("--out-col", dest="out_col", default="keep")
        p.add_argument("--reason", action="store_true")
        p.add_argument("--keep-all", dest="keep_all", action="store_true")
        p.add_argument("--batch", action="store_true")
        p.add_argument("--batch-id", dest="batch_id")
        p.add_argument("--poll-every", dest="poll_every", type=_positive_float, default=10.0)
    else:
        p.add_argument("--col", dest="columns", type=_comma_list)
        p.add_argument("--chunk-tokens", dest="chunk_tokens", type=_positive_int)
    if verb == "reduce":
        p.add_argument("--by")
    if verb == "topk":
        p.add_argument("-k", "--k", dest="k", type=_positive_int, default=10)
        p.add_argument("--group", dest="group_size", type=_positive_int)
    return p


def parse_operator(verb: str, line: str, cell: bool) -> tuple[str, dict[str, Any], str]:
    """``VERB FRAME [options] [TEXT]`` → (frame name, options as keyword arguments, text on the line or "")."""
    words = line.split(maxsplit=2)
    if len(words) < 2 or words[0] != verb or words[1].startswith("-"):
        raise UsageError(f"name the DataFrame after {verb}. Usage: {OPERATOR_USAGE[verb]}")
    frame, rest = words[1], words[2] if len(words) > 2 else ""
    parser = _operator_parser(verb)
    if cell:
        tokens, text = _tokens(rest), ""
    else:
        takes_value = frozenset(
            flag
            for action in parser._actions
            if action.nargs is None and not isinstance(action, argparse._StoreTrueAction)
            for flag in action.option_strings
        )
        tokens, text = split_line(rest, takes_value)
    return frame, vars(parser.parse_args(tokens)), text
