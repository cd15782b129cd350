"""Money: an estimate before the first request, a confirmation above the cap, and the running check."""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from grok_magics.errors import GrokError
from grok_magics.mapping.plan import Plan
from grok_magics.mapping.row_requests import RowSpec
from grok_magics.model.events import Usage
from grok_magics.model.json_path import dig
from grok_magics.model.parts import estimate_tokens
from grok_magics.model.usage import PriceTable, estimate_cost, money, price_of

ESTIMATE_ROWS = 5  # rows rendered to estimate input tokens
EXACT_FROM = 0.5  # share of --max-cost an estimate must reach before the sample rows are counted exactly
FIELD_TOKENS = 8  # output tokens assumed per top-level field of a --schema answer ("label": "positive")


def budget_allows(spent: float, cap: float) -> bool:
    """The one place a job asks whether it may start another row (session-wide caps can join here)."""
    return spent < cap


def answer_tokens(spec: RowSpec, prompts: Sequence[str]) -> tuple[int, str]:
    """Output tokens assumed per row, and the words that say so (the one unknown: a job knows its prompts).

    --max-tokens is the bound the user chose; a --schema answer is a few tokens a field; a free answer is
    taken to be about as long as its row's prompt (a label is shorter, a translation as long). Reasoning is
    not guessed: --sample measures the real rate."""
    if spec.max_tokens:
        return spec.max_tokens, f"assuming answers of up to {spec.max_tokens:,} tokens (--max-tokens)"
    if spec.schema is not None:
        fields = dig(spec.schema.json_schema, "properties")
        n = len(fields) if isinstance(fields, dict) and fields else 1
        tokens = n * FIELD_TOKENS
        return tokens, f"assuming JSON answers of ~{tokens} tokens ({n} field{'s' if n > 1 else ''}) plus any reasoning"
    tokens = round(sum(estimate_tokens(p) for p in prompts) / len(prompts)) if prompts else 0
    return tokens, f"assuming answers about as long as their prompts (~{tokens:,} tokens) plus any reasoning"


def estimate(
    spec: RowSpec,
    plan: Plan,
    todo: Sequence[int],
    table: PriceTable | None = None,
    count: Callable[[str], int] = estimate_tokens,
) -> float | None:
    """Estimate from the first rows' prompt sizes and an assumed answer length; None: no known price.

    ``count``: how a text's tokens are counted (characters / 4, or the provider's tokenizer)."""
    prices = price_of(spec.endpoint.model, table or {})
    if prices is None:
        return None
    if not todo:
        return 0.0
    sample = [plan.prompts[i] for i in todo[:ESTIMATE_ROWS]]
    tokens_in = sum(count(spec.system) + count(p) for p in sample) / len(sample)
    tokens_out, _ = answer_tokens(spec, sample)
    return len(todo) * estimate_cost(Usage(input=int(tokens_in), output=tokens_out), prices)


def assumption(spec: RowSpec, plan: Plan, todo: Sequence[int]) -> str:
    return answer_tokens(spec, [plan.prompts[i] for i in todo[:ESTIMATE_ROWS]])[1]


def confirm_cost(
    spec: RowSpec,
    plan: Plan,
    todo: list[int],
    max_cost: float,
    confirm: bool | Callable[[str], bool] | None,
    table: PriceTable | None = None,
    verb: str = "map",
    counter: Any = None,
) -> None:
    """Say what the job will roughly cost; above the cap, or at a price nobody knows, go on only with a yes.

    ``counter`` (``tokens.Counter``): near the cap, the sample rows are counted by the provider's tokenizer,
    since there the estimate decides whether the job asks first."""
    cached = len(plan.prompts) - len(todo)
    what = f"{len(todo):,} rows to run" + (f" ({cached:,} from cache)" if cached else "")
    guess = estimate(spec, plan, todo, table)
    basis = ""
    if counter is not None and guess is not None and guess >= max_cost * EXACT_FROM and counter.exact:
        counter.count_many([spec.system, *(plan.prompts[i] for i in todo[:ESTIMATE_ROWS])])
        if counter.exact:
            guess = estimate(spec, plan, todo, table, counter.cached)
            basis = f"input tokens {counter.basis} on {min(len(todo), ESTIMATE_ROWS)} sample rows"
        else:
            basis = f"input tokens {counter.basis}"
    confirm_spend(
        verb,
        what,
        f"{len(todo):,} rows",
        guess,
        spec.endpoint.model,
        max_cost,
        confirm,
        table,
        basis,
        assumed=assumption(spec, plan, todo),
    )


def confirm_spend(
    verb: str,
    what: str,
    units: str,
    guess: float | None,
    model: str,
    max_cost: float,
    confirm: bool | Callable[[str], bool] | None,
    table: PriceTable | None = None,
    note: str = "",
    assumed: str = "",
) -> None:
    """The one estimate line every operator prints before its first request, and the one question above the cap.

    ``what`` opens the line ("3 rows to run"), ``units`` names the work in the question ("63 calls"),
    ``assumed`` what the guess took for the answers' length."""
    basis = "at your prices" if model.strip() in (table or {}) else "at list prices"
    cost = f"about {money(guess)} {basis}" if guess is not None else f"price unknown for {model}"
    told = "".join(f"; {words}" for words in (assumed if guess else "", note) if words)
    print(f"grok {verb}: {what}, {cost} (cap {money(max_cost)}){told}")
    if (guess is not None and guess <= max_cost) or confirm is True:
        return
    if guess is None:
        question = (
            f"{verb}: no price is known for {model}, so --max-cost {money(max_cost)} can only count costs the "
            f"server reports; run {units}? [y/N] "
        )
        refused = (
            f"{verb}: no price is known for {model}; nothing was sent. Pass --yes (confirm=True in Python) to run "
            "anyway, or set "
            f"%config GrokMagics.prices = {{{model!r}: {{'input': …, 'output': …}}}} "
            "(USD per million tokens)"
        )
    else:
        question = (
            f"{verb}: about {money(guess)} for {units}, above --max-cost {money(max_cost)}; "
            f"run until {money(max_cost)} is spent? [y/N] "
        )
        refused = (
            f"{verb}: estimated {money(guess)} is above --max-cost {money(max_cost)}; nothing was sent. "
            f"Pass --max-cost {max(math.ceil(guess * 120) / 100, 0.01):.2f} (or --yes; confirm=True in Python) "
            "to run it"
        )
    answer = _ask(question) if confirm is None else (confirm(question) if callable(confirm) else False)
    if not answer:
        raise GrokError(refused)


def _ask(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except Exception:  # no stdin (nbclient, papermill, a pipe): not a yes
        return False
