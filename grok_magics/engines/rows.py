"""What runs where the rows are: a pandas partition in, the same rows with result columns out.

A Spark task (``mapInPandas``), a Dask task (``map_partitions``) or a slice of a polars LazyFrame
runs one ``RowTask`` over its rows with map's own pieces — plan, cache, validator, ``Engine`` (window,
AIMD, RPS, retries) — inside its own event loop, within its share of the job's budget. The task is
plain data and carries no key: the key arrives separately (``KeyBox``, through the engine's own
broadcast), so it is in no plan, graph or repr.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from grok_magics.engines.terms import Terms


class KeyBox:
    """The API key on its way to the workers; its repr never shows it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "KeyBox(***)"

    def __getstate__(self) -> str:
        return self.value

    def __setstate__(self, state: str) -> None:
        self.value = state


@dataclass(frozen=True)
class RowTask:
    """One map or filter job as every partition runs it: the shared request settings and its share of the budget."""

    verb: str  # "map" or "filter"
    template: str
    terms: Terms  # what every task of the job shares; its spec has schema None (compiled again from schema_json)
    schema_json: dict[str, Any] | None
    schema_name: str
    out_col: str
    values: dict[str, str]  # the template's {names} that are not columns: plain values from the notebook
    reason: bool = False
    keep_all: bool = False
    text_json: bool = False  # structured values as JSON text (Spark columns have one type)

    def schema(self) -> Any:
        if self.schema_json is None:
            return None
        from grok_magics.structured.schemas import compile_schema

        return compile_schema(self.schema_json, self.schema_name)


def run_rows(task: RowTask, pdf: Any, key: str | None) -> Any:
    """``pdf`` (pandas) with the result columns (filter: its kept rows), after every row ran or failed."""
    from grok_magics.mapping import table_io as frames
    from grok_magics.mapping.outcomes import Outcome
    from grok_magics.mapping.plan import make_plan, validator
    from grok_magics.mapping.result_columns import columns, why_not_run

    if len(pdf) == 0:
        return _empty(task, pdf)
    schema = task.schema()
    terms = task.terms
    spec = replace(terms.spec, schema=schema)
    plan = make_plan(pdf, task.template, spec, task.values, (), terms.masker(key))
    outcomes: list[Outcome | None] = [None] * len(plan.prompts)
    progress = terms.progress(len(plan.prompts))
    terms.answer(spec, plan, validator(schema), outcomes, progress, len(pdf), task.verb, key)
    not_run = why_not_run(progress, "")
    if task.verb == "filter":
        from grok_magics.operators.filtering import kept_rows, verdict_columns

        cols = verdict_columns(outcomes, task.out_col, task.reason, not_run)
        if task.keep_all:
            return frames.with_columns(pdf, cols)
        keep = cols[task.out_col]
        picked = {f"{task.out_col}_reason": cols[f"{task.out_col}_reason"]} if task.reason else {}
        return kept_rows(frames.with_columns(pdf, picked) if picked else pdf, [v is True for v in keep])
    cols = columns(pdf, outcomes, schema, task.out_col, not_run)
    if task.text_json:
        cols = {name: [_as_text(v) for v in values] for name, values in cols.items()}
    return frames.with_columns(pdf, cols)


def _as_text(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    import json

    return json.dumps(value, default=str)


def result_names(task: RowTask, existing: list[str]) -> list[str]:
    """The columns a partition adds, in order (as ``results.columns`` and ``filter.verdict_columns`` name them)."""
    out = task.out_col
    if task.verb == "filter":
        if task.keep_all:
            return [out] + ([f"{out}_reason"] if task.reason else []) + [f"{out}_error"]
        return [f"{out}_reason"] if task.reason else []
    fields = _fields(task)
    if not fields:
        return [out, f"{out}_error"]
    names = [f if f not in existing and f != f"{out}_error" else f"{out}_{f}" for f in fields]
    return names + [f"{out}_error"]


def _fields(task: RowTask) -> list[str]:
    if task.schema_json is None:
        return []
    schema = task.schema()
    return list(schema.fields) if schema is not None else []


def result_types(task: RowTask, existing: list[str]) -> dict[str, str]:
    """Each added column's kind: "string", "boolean", "long", "double" (structured values as JSON text)."""
    names = result_names(task, existing)
    kinds = {n: "string" for n in names}
    if task.verb == "filter" and task.keep_all:
        kinds[task.out_col] = "boolean"
    elif task.verb == "map" and task.schema_json is not None:
        schema = task.schema()
        props = (schema.json_schema.get("properties") or {}) if schema is not None else {}
        for field, name in zip(_fields(task), names):
            kinds[name] = {"boolean": "boolean", "integer": "long", "number": "double"}.get(
                str((props.get(field) or {}).get("type")), "string"
            )
    return kinds


def _empty(task: RowTask, pdf: Any) -> Any:
    import pandas as pd

    out = pdf.copy()
    for name, kind in result_types(task, [str(c) for c in pdf.columns]).items():
        out[name] = pd.Series([], dtype={"boolean": object, "long": "float64", "double": "float64"}.get(kind, object))
    return out
