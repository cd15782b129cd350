"""A reduce's first level where the rows are: one partition's rows packed into chunks and answered.

Each Spark or Dask task packs its own rows (per group, in order) into chunks of at most the job's
token budget — by the estimate, characters / 4: the provider's tokenizer is not asked from workers —
and sends them through map's engine within its share of the budget. It returns one small row per
chunk (group, answer, rows covered, tokens, dollars, error), which the driver combines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ReduceTask:
    task: str
    columns: list[str]
    by: str | None
    spec: Any  # RowSpec without a schema
    budget: int
    concurrency: int
    rps: float | None
    retries: int
    max_cost: float
    total_rows: int
    cache: bool
    cache_dir: str
    transport: Any
    prices: Any
    allow_key: bool


def reduce_rows(task: ReduceTask, pdf: Any, key: str | None) -> Any:
    import pandas as pd

    from grok_magics.engine.policy import Gate
    from grok_magics.engines.rows import _run
    from grok_magics.mapping.job import prompt_keys
    from grok_magics.mapping.outcomes import Outcome, Progress
    from grok_magics.mapping.plan import Plan, fill_from_cache, validator
    from grok_magics.mapping.runner import Engine
    from grok_magics.model.usage import cost_of
    from grok_magics.operators.chunks import fit_item, pack
    from grok_magics.operators.reducing import item_of, rows_prompt
    from grok_magics.privacy.key_shapes import KeyMasker
    from grok_magics.teaching.caps import Caps, Ledger

    mask = KeyMasker([key] if key else [], enabled=not task.allow_key)
    groups: dict[Any, list[str]] = {}
    for row in pdf.to_dict("records"):
        text, _ = fit_item(item_of(row, task.columns, mask), task.budget - 200)
        groups.setdefault(row.get(task.by) if task.by else None, []).append(text)
    owners: list[tuple[Any, int]] = []
    prompts: list[str] = []
    for group, items in groups.items():
        name = "" if task.by is None else f" (those with {task.by} = {group})"
        total = task.total_rows

        def build(idx: list[int], items: list[str] = items, name: str = name, total: int = total) -> str:
            return rows_prompt(task.task, [items[i] for i in idx], total, name)

        packed = pack(items, build, task.budget)
        for indices, prompt in zip(packed.groups, packed.prompts):
            owners.append((group, len(indices)))
            prompts.append(prompt)
    keys = prompt_keys(task.spec, task.task, prompts)
    outcomes: list[Outcome | None] = [None] * len(prompts)
    progress = Progress(total=len(prompts), model=task.spec.endpoint.model, prices=task.prices)
    fill_from_cache(Plan([], prompts, keys), task.spec, outcomes, progress, task.cache, task.cache_dir)
    todo = [i for i, o in enumerate(outcomes) if o is None]
    if todo:
        gate = Gate(Caps(), Ledger(), {}, task.prices, task.allow_key)
        share = task.max_cost * len(pdf) / max(task.total_rows, 1)
        engine = Engine(
            task.spec,
            prompts,
            keys,
            validator(None),
            task.concurrency,
            task.rps,
            share,
            task.transport,
            task.cache,
            outcomes,
            progress,
            gate,
            task.retries,
            ledger_chat="%grok reduce",
            api_key=key,
            cache_dir=task.cache_dir,
        )
        _run(engine, todo)
    rows: list[dict[str, Any]] = []
    for (group, covered), outcome in zip(owners, outcomes):
        usage = outcome.usage if outcome is not None and not outcome.cached else None
        tokens = usage.input + usage.output + usage.reasoning if usage is not None else 0
        dollars = (cost_of(usage, task.spec.endpoint.model, task.prices)[0] or 0.0) if usage is not None else 0.0
        error = outcome.error if outcome is not None else "not run: --max-cost reached"
        rows.append(
            {
                "group": group,
                "text": outcome.text if outcome is not None and outcome.error is None else None,
                "rows": covered,
                "tokens": tokens,
                "cost": dollars,
                "error": error,
            }
        )
    return pd.DataFrame(rows, columns=["group", "text", "rows", "tokens", "cost", "error"])
