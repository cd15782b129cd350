"""A reduce's first level where the rows are: one partition's rows packed into chunks and answered.

Each Spark or Dask task packs its own rows (per group, in order) into chunks of at most the job's
token budget — by the estimate, characters / 4: the provider's tokenizer is not asked from workers —
and sends them through map's engine within its share of the budget. It returns one small row per
chunk (group, answer, rows covered, tokens, dollars, error), which the driver combines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grok_magics.engines.terms import Terms


@dataclass(frozen=True)
class ReduceTask:
    task: str
    columns: list[str]
    by: str | None
    budget: int
    terms: Terms  # what every task of the job shares; its spec has no schema


def reduce_rows(task: ReduceTask, pdf: Any, key: str | None) -> Any:
    import pandas as pd

    from grok_magics.mapping.job import prompt_keys
    from grok_magics.mapping.outcomes import Outcome
    from grok_magics.mapping.plan import Plan, validator
    from grok_magics.model.usage import cost_of
    from grok_magics.operators.chunks import fit_item, pack
    from grok_magics.operators.reducing import item_of, rows_prompt

    terms = task.terms
    mask = terms.masker(key)
    groups: dict[Any, list[str]] = {}
    for row in pdf.to_dict("records"):
        text, _ = fit_item(item_of(row, task.columns, mask), task.budget - 200)
        groups.setdefault(row.get(task.by) if task.by else None, []).append(text)
    owners: list[tuple[Any, int]] = []
    prompts: list[str] = []
    for group, items in groups.items():
        name = "" if task.by is None else f" (those with {task.by} = {group})"
        total = terms.total_rows

        def build(idx: list[int], items: list[str] = items, name: str = name, total: int = total) -> str:
            return rows_prompt(task.task, [items[i] for i in idx], total, name)

        packed = pack(items, build, task.budget)
        for indices, prompt in zip(packed.groups, packed.prompts):
            owners.append((group, len(indices)))
            prompts.append(prompt)
    keys = prompt_keys(terms.spec, task.task, prompts)
    outcomes: list[Outcome | None] = [None] * len(prompts)
    terms.answer(
        terms.spec,
        Plan([], prompts, keys),
        validator(None),
        outcomes,
        terms.progress(len(prompts)),
        len(pdf),
        "reduce",
        key,
    )
    rows: list[dict[str, Any]] = []
    for (group, covered), outcome in zip(owners, outcomes):
        usage = outcome.usage if outcome is not None and not outcome.cached else None
        tokens = usage.input + usage.output + usage.reasoning if usage is not None else 0
        dollars = (cost_of(usage, terms.spec.endpoint.model, terms.prices)[0] or 0.0) if usage is not None else 0.0
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
