"""``--json`` and ``--schema``: ask for structured output, then turn the answer into Python objects.

The request side is one ``OutputFormat`` (the wire modules map it to ``response_format`` or
``text.format``); the answer side parses and validates the text and stores the value, a
DataFrame of it, or — when it does not match — the raw text, so nothing the model said is lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, MutableMapping

from grok_magics.errors import ConfigError, GrokError
from grok_magics.model.options import Options
from grok_magics.model.request import OutputFormat
from grok_magics.providers.table import Endpoint

_FENCED = re.compile(r"^\s*```[\w-]*\s*\n(.*?)\n\s*```\s*$", re.S)


@dataclass(frozen=True)
class Wanted:
    """What this ask asked for, and how to read the answer back."""

    output: OutputFormat
    schema: Any = None  # schemas.Schema, or None for --json


def wanted(options: Options, namespace: MutableMapping[str, Any], endpoint: Endpoint) -> Wanted | None:
    """None unless --json or --schema; refused before sending where the provider has no JSON mode."""
    if not options.json and options.schema is None:
        if options.to_df or options.to_polars:
            raise ConfigError("--to-df and --to-polars read a structured answer: add --schema (or --json)")
        return None
    if options.json and options.schema is not None:
        raise ConfigError("--json asks for any JSON object, --schema for one shape: use one of them")
    provider = endpoint.provider
    if not provider.json_mode:
        raise ConfigError(
            f'{provider.title} offers no structured output (its model card: "JSON mode — no"); '
            "nothing was sent. Drop --json/--schema or use another --provider"
        )
    if options.schema is None:
        return Wanted(OutputFormat())
    from grok_magics.errors import SchemaError
    from grok_magics.structured.schemas import compile_schema, schema_from

    try:
        schema = compile_schema(schema_from(options.schema, namespace))
    except SchemaError as exc:
        said = str(exc)
        raise ConfigError(said if said.startswith("--schema") else f"--schema {options.schema}: {said}") from None
    return Wanted(OutputFormat(schema.name, schema.json_schema), schema)


def _json_text(text: str) -> str:
    """The JSON itself, also when a model wrapped it in a fenced block despite the format."""
    match = _FENCED.match(text)
    return match.group(1) if match else text


def parse(wanted: Wanted, text: str) -> Any:
    """The answer as Python: a model instance, dict or list; ``GrokError`` naming what did not match."""
    from grok_magics.errors import SchemaError
    from grok_magics.structured.schemas import load_json

    body = _json_text(text)
    if wanted.schema is None:
        try:
            value = load_json(body)
        except SchemaError as exc:
            raise GrokError(str(exc)) from None
        if not isinstance(value, dict):
            raise GrokError(f"--json asks for a JSON object; the answer is a {type(value).__name__}")
        return value
    try:
        return wanted.schema.validate(body)
    except SchemaError as exc:
        said = str(exc)
        raise GrokError(
            said if said.startswith("the answer") else f"the answer does not match --schema: {said}"
        ) from None


def as_frame(value: Any, polars: bool) -> Any:
    """A list of records (dicts or models) as a DataFrame; a single object is one row."""
    rows = value if isinstance(value, list) else [value]
    records = [r.model_dump(mode="json") if hasattr(r, "model_dump") else r for r in rows]
    if not all(isinstance(r, dict) for r in records):
        raise GrokError(
            "--to-df needs records (objects); the answer holds "
            + ", ".join(sorted({type(r).__name__ for r in records}))
        )
    if polars:
        import polars as pl

        try:
            return pl.DataFrame(records)
        except Exception as exc:  # polars' own errors (mixed types in a column, say) have no common base
            raise GrokError(
                f"--to-polars: polars cannot make a frame of these records ({type(exc).__name__}: "
                f"{_first_line(str(exc))}); use --to-df for pandas, or a --schema that fixes each "
                "field's type"
            ) from None
    import pandas as pd

    try:
        return pd.DataFrame.from_records(records)
    except (TypeError, ValueError, RecursionError) as exc:
        raise GrokError(
            f"--to-df: pandas cannot make a frame of these records ({type(exc).__name__}: {_first_line(str(exc))})"
        ) from None


def _first_line(text: str, limit: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def store(wanted: Wanted, options: Options, text: str, namespace: MutableMapping[str, Any]) -> Any:
    """Parse the answer and store it in ``-o VAR`` (and return it, to be shown); when it does not match, the raw
    text goes to ``VAR_raw`` and the one-line reason is raised (the answer stays on screen and in the chat)."""
    try:
        value = parse(wanted, text)
        if options.to_df or options.to_polars:
            value = as_frame(value, options.to_polars)
    except GrokError as exc:
        if options.out:
            namespace[f"{options.out}_raw"] = text
            raise GrokError(
                f"{exc.message}; {options.out} was not set, the raw answer is in {options.out}_raw"
            ) from None
        raise
    if options.out:
        namespace[options.out] = value
    return value
