"""What one ask asked for: the options of its magic line, as a plain value.

The magics layer parses them (``magics/command_line.py``); the engine, structured output and row jobs read
them. It lives down here so nothing below the magics layer has to import it.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    speed: str | None = None  # %grok replay: a factor, or "fast"
    fallthrough: bool = False  # %grok replay: ask live when the cassette has no match
    path: str | None = None  # %grok record/replay/export FILE
    data: tuple[str, ...] = ()  # tables to attach (and for the data toolset), besides the prompt's {name}s
    image: tuple[str, ...] = ()
    output: tuple[str, ...] = ()  # notebook outputs the page sends ("Ask about this"): CELL_ID:N
    budget: int | None = None
    schema_only: bool = False
    exclude: tuple[str, ...] = ()  # column names or globs never sent, nor read by the data toolset
    dry_run: bool = False
    tools: tuple[str, ...] | None = None  # function names in the namespace, or "data"
    json: bool = False  # any JSON object
    schema: str | None = None  # a variable (pydantic model, JSON schema, shorthand) or expression
    to_df: bool = False  # -o stores a list of records as a pandas DataFrame
    to_polars: bool = False  # ... as a polars DataFrame
    search: tuple[str, ...] | None = None  # "web_search", "x_search"
    full: bool = False
    code: bool = False
    allow_key: bool = False
    force: bool = False  # %grok export: replace an existing file
    context: str | None = None  # --context above[:N][,images] | none (context/above.py)
    fork: str | None = None  # --fork NAME: a new chat from this one as it stands before this cell
    at: int | None = None  # %grok fork NAME --at N: from the chat as it stood after its N-th answer
    agent: bool = False  # agent cell: Grok proposes Python steps that run here once approved (grok_magics.agent)
    rerun: bool = False  # agent cell with step cells below (page): ask Grok again instead of leaving them
