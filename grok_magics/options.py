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
from functools import lru_cache
from dataclasses import dataclass

from IPython.core.error import UsageError

from .choices import APIS, EFFORTS

SUBCOMMANDS = ("help", "reset", "history", "chats", "config", "usage", "key")

USAGE = (
    "%%grok [-m MODEL] [--provider NAME] [--effort none|low|medium|high|default] [--api responses|chat] "
    "[--chat NAME] [--new] [--system TEXT] [--temperature T] [--max-tokens N] [-o VAR] [--no-history] [--allow-key]"
)


@dataclass(frozen=True)
class Options:
    model: str | None = None
    provider: str | None = None
    effort: str | None = None
    api: str | None = None
    chat: str | None = None
    new: bool = False
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    out: str | None = None
    no_history: bool = False
    all: bool = False
    allow_key: bool = False


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message}. Usage: {USAGE}  (%grok help for more)")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise UsageError(message or USAGE)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(text)
    return value


_positive_int.__name__ = "positive integer"


# IPython's own names: overwriting one breaks every later cell (or every magic).
_IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "display", "exec", "eval"})


def _identifier(text: str) -> str:
    """A variable the user may own: not a keyword, not private, not a built-in or one of IPython's."""
    if (not text.isidentifier() or keyword.iskeyword(text)
            or text.startswith("_") or text in _IPYTHON_NAMES or hasattr(builtins, text)):
        raise ValueError(text)
    return text


_identifier.__name__ = "variable name of your own (not a keyword, built-in, IPython name or _name)"


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


_finite_float.__name__ = "finite number"


@lru_cache(maxsize=1)
def _parser() -> _Parser:
    p = _Parser(prog="%grok", add_help=False, allow_abbrev=False)
    p.add_argument("-m", "--model")
    p.add_argument("--provider")
    p.add_argument("--effort", choices=EFFORTS)
    p.add_argument("--api", choices=APIS)
    p.add_argument("--chat")
    p.add_argument("--new", action="store_true")
    p.add_argument("--system")
    p.add_argument("--temperature", type=_finite_float)
    p.add_argument("--max-tokens", dest="max_tokens", type=_positive_int)
    p.add_argument("-o", "--out", type=_identifier)
    p.add_argument("--no-history", dest="no_history", action="store_true")
    p.add_argument("--all", action="store_true")  # for `%grok reset --all`
    p.add_argument("--allow-key", dest="allow_key", action="store_true")  # send key-shaped text anyway
    return p


def _tokens(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"could not read the options ({exc}). Usage: {USAGE}") from None


def parse_options(tokens: list[str]) -> Options:
    namespace = _parser().parse_args(tokens)
    return Options(**vars(namespace))


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


def split_line(line: str) -> tuple[list[str], str]:
    """Options up to the first word that is not one (or ``--``); the rest is the prompt, verbatim.

    Only option words are tokenised, so "What's up?" never trips over its apostrophe.
    """
    takes_value = _value_options()
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
        raise UsageError("%grok key takes no text (nothing was sent): run %grok key alone, and type the key "
                         "into the password box it opens")
    if tail and not tail.startswith("-"):
        return None
    return words[0], parse_options(_tokens(tail))
