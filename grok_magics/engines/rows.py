"""What runs where the rows are: a pandas partition in, the same rows with result columns out.

A Spark task (``mapInPandas``), a Dask task (``map_partitions``) or a slice of a polars LazyFrame
runs one ``RowTask`` over its rows with map's own pieces — plan, cache, validator, ``Engine`` (window,
AIMD, RPS, retries) — inside its own event loop, within its share of the job's budget. The task is
plain data and carries no key: the key arrives separately (``KeyBox``, through the engine's own
broadcast), so it is in no plan, graph or repr.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, replace
from typing import Any


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
    spec: Any  # mapping.requests.RowSpec, with schema None (compiled again on the worker from ``schema_json``)
    schema_json: dict[str, Any] | None
    schema_name: str
    out_col: str
    values: dict[str, str]  # the template's {names} that are not columns: plain values from the notebook
    concurrency: int  # requests in flight per task (the job's budget divided by the tasks that run at once)
    rps: float | None  # per task, likewise
    retries: int
    max_cost: float  # the whole job's; a partition may spend its rows' share
    total_rows: int
    cache: bool
    cache_dir: str
    transport: Any
    prices: Any
    allow_key: bool
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
    from grok_magics.engine.policy import Gate
    from grok_magics.mapping import table_io as frames
    from grok_magics.mapping.outcomes import Outcome, Progress
    from grok_magics.mapping.plan import fill_from_cache, make_plan, validator
    from grok_magics.mapping.results import columns, why_not_run
    from grok_magics.mapping.runner import Engine
    from grok_magics.privacy.key_shapes import KeyMasker
    from grok_magics.teaching.caps import Caps, Ledger

    if len(pdf) == 0:
        return _empty(task, pdf)
    schema = task.schema()
    spec = replace(task.spec, schema=schema)
    mask = KeyMasker([key] if key else [], enabled=not task.allow_key)
    plan = make_plan(pdf, task.template, spec, task.values, (), mask)
    outcomes: list[Outcome | None] = [None] * len(plan.prompts)
    progress = Progress(total=len(plan.prompts), model=spec.endpoint.model, prices=task.prices)
    fill_from_cache(plan, spec, outcomes, progress, task.cache, task.cache_dir)
    todo = [i for i, o in enumerate(outcomes) if o is None]
    share = task.max_cost * len(pdf) / max(task.total_rows, 1)
    if todo:
        gate = Gate(Caps(), Ledger(), {}, task.prices, task.allow_key)  # classroom caps were refused on the driver
        engine = Engine(
            spec,
            plan.prompts,
            plan.keys,
            validator(schema),
            task.concurrency,
            task.rps,
            share,
            task.transport,
            task.cache,
            outcomes,
            progress,
            gate,
            task.retries,
            ledger_chat=f"%grok {task.verb}",
            api_key=key,
            cache_dir=task.cache_dir,
        )
        _run(engine, todo)
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


def _run(engine: Any, todo: list[int]) -> None:
    """The engine's loop in a thread of its own: a worker (or a kernel) may already run an event loop here."""
    failure: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(engine.run(todo, threading.Event()))
        except BaseException as exc:  # surfaced in the task
            failure.append(exc)

    thread = threading.Thread(target=main, name="grok-rows", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


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
