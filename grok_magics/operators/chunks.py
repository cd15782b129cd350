"""Packing items (rows, or summaries of rows) into prompts that fit a token budget.

Greedy and in order — neighbouring rows stay together — by the cheap estimate (characters / 4);
then, where the provider has a tokenizer, each packed prompt is counted exactly and a chunk over
the budget is halved until it fits. So the tokenizer is asked once per chunk, not once per row.
An item too large for any chunk on its own is cut, and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from grok_magics.model.parts import estimate_tokens

CUT = " … [cut: too long for one chunk]"


@dataclass
class Packed:
    groups: list[list[int]]  # item indices per chunk, in order
    prompts: list[str]
    tokens: list[int]  # per prompt, exact or estimated
    cut: int = 0  # items cut to fit


def fit_item(text: str, room: int) -> tuple[str, bool]:
    """The item, or its head when it alone is over ``room`` tokens (by the estimate)."""
    if estimate_tokens(text) <= room:
        return text, False
    return text[: max(room * 4 - len(CUT) - 8, 0)] + CUT, True


def pack(
    items: list[str], build: Callable[[list[int]], str], budget: int, count: Callable[[str], int] | None = None
) -> Packed:
    """Chunks of ``items`` whose prompt (``build(indices)``) is at most ``budget`` tokens.

    ``items`` must already fit one by one (``fit_item``); ``count`` is the exact counter, if any."""
    head = estimate_tokens(build([]))
    groups: list[list[int]] = []
    current: list[int] = []
    used = head
    for i, text in enumerate(items):
        size = estimate_tokens(text) + 1
        if current and used + size > budget:
            groups.append(current)
            current, used = [], head
        current.append(i)
        used += size
    if current:
        groups.append(current)
    prompts = [build(group) for group in groups]
    if count is None:
        sizes = [estimate_tokens(p) for p in prompts]
    else:  # one tokenizer call per chunk; the first alone (a tokenizer that fails is asked once), then several
        from concurrent.futures import ThreadPoolExecutor

        sizes = [count(prompts[0])] if prompts else []
        with ThreadPoolExecutor(max_workers=COUNTING) as pool:
            sizes += list(pool.map(count, prompts[1:]))
    settled = Packed([], [], [])
    for group, prompt, n in zip(groups, prompts, sizes):
        _settle(group, build, budget, count, settled, (prompt, n))
    return settled


COUNTING = 8  # tokenizer calls in flight while packing


def _settle(
    group: list[int],
    build: Callable[[list[int]], str],
    budget: int,
    count: Callable[[str], int] | None,
    out: Packed,
    counted: tuple[str, int] | None = None,
) -> None:
    """Count the chunk's prompt; over the budget, halve it and settle each half."""
    prompt, n = counted if counted is not None else (build(group), 0)
    if counted is None:
        n = count(prompt) if count is not None else estimate_tokens(prompt)
    if n > budget and len(group) > 1:
        half = len(group) // 2
        _settle(group[:half], build, budget, count, out)
        _settle(group[half:], build, budget, count, out)
        return
    out.groups.append(group)
    out.prompts.append(prompt)
    out.tokens.append(n)
