"""How reduce works inside: rows into items, items into chunks that fit the window, the levels of partial
answers (``Reducer``), and the trees a frame or each group becomes. ``operators.reduce`` decides who runs it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from grok_magics.errors import GrokError
from grok_magics.mapping import table_io as frames
from grok_magics.mapping.plan import spelled_out, template_names
from grok_magics.model.usage import money
from grok_magics.operators.chunks import fit_item, pack

REDUCE_SYSTEM = (
    "You are Grok, reading a large table part by part for a data analyst. Do the analyst's task for the material "
    "you are given: concrete, concise, no preamble. When the material is one part of many, your answer will be "
    "combined with the answers for the other parts, so keep the counts and specifics a combination needs."
)
DEFAULT_CHUNK_TOKENS = 32_000  # per request: well inside a 1M window, and answers stay attentive
SUMMARY_GUESS = 500  # output tokens per partial answer assumed by the estimate (without --max-tokens)


@dataclass
class Reduction:
    """One reduce: the answer, what went into it, and every level's partial answers."""

    text: str
    rows: int
    levels: int
    calls: int = 0
    tokens: int = 0
    cost: float = 0.0
    summaries: list[list[str]] = field(default_factory=list)  # level 1 (chunks of rows) … the last level
    covered: list[list[int]] = field(default_factory=list)  # rows behind each partial answer, per level
    exact_tokens: bool = False
    error: str | None = None
    group: Any = None

    def __repr__(self) -> str:
        state = f"error={self.error!r}" if self.error else f"{len(self.text):,} characters"
        return (
            f"Reduction({self.rows:,} rows, {self.levels} level{'s' if self.levels != 1 else ''}, "
            f"{self.calls:,} calls, {state}; .text, .summaries)"
        )


# --------------------------------------------------------------------------- items and prompts


def read_columns(
    df_columns: list[str], instruction: str, columns: list[str] | None, redact: tuple[str, ...], verb: str = "reduce"
) -> list[str]:
    """The columns whose values become items: ``columns``, else those the instruction names as ``{col}``,
    else the frame's only column."""
    from grok_magics.context.tables import column_matches

    named = [c for c in template_names(instruction) if c in df_columns]
    chosen = list(columns or named or (df_columns if len(df_columns) == 1 else []))
    if not chosen:
        raise GrokError(
            f"{verb}: name the column(s) to read, as {{column}} in the instruction or with --col "
            f"(columns: {', '.join(df_columns[:12])})"
        )
    missing = [c for c in chosen if c not in df_columns]
    if missing:
        raise GrokError(f"{verb}: no column {missing[0]!r} (columns: {', '.join(df_columns[:12])})")
    private = [c for c in chosen if column_matches(c, redact)]
    if private:
        raise GrokError(
            f"{verb}: {{{private[0]}}} is a column %config GrokMagics.redact_columns hides; nothing was sent"
        )
    return chosen


def task_text(instruction: str) -> str:
    """``{review}`` in the instruction reads as the column's name."""
    return spelled_out(instruction).strip()


def item_of(row: Mapping[str, Any], columns: list[str], mask: Any) -> str:
    if len(columns) == 1:
        text = frames.as_text(row.get(columns[0]))
    else:
        text = "; ".join(f"{c}: {frames.as_text(row.get(c))}" for c in columns)
    text = " ".join(text.split())  # one line per item
    return mask(text) if mask is not None else text


def rows_prompt(task: str, items: list[str], total: int, group: str) -> str:
    scope = "all" if len(items) == total else f"{len(items):,} of the {total:,}"
    return (
        f"Task: {task}\n\nBelow are {scope} rows{group}, one per line.\n\n<rows>\n"
        + "\n".join(f"- {t}" for t in items)
        + "\n</rows>"
    )


def combine_prompt(task: str, parts: list[str], covered: list[int], total: int, group: str) -> str:
    rows = sum(covered)
    scope = "all" if rows == total else f"{rows:,} of the {total:,}"
    body = "\n".join(f'<part rows="{n:,}">\n{p}\n</part>' for p, n in zip(parts, covered))
    return (
        f"Task: {task}\n\nBelow are answers to this task, each written for one part of {scope} rows{group}. "
        f"Combine them into one answer for all of these rows: merge what repeats, keep what is specific, add up "
        f"counts.\n\n<parts>\n{body}\n</parts>"
    )


# --------------------------------------------------------------------------- one group's hierarchy


@dataclass
class Tree:
    """One group's reduce in progress: the current level's items and the rows behind each."""

    name: str  # "" without --by, else " for product = X"
    key: Any
    rows: int
    items: list[str]
    covered: list[int]
    level: int = 0  # the level whose answers ``items`` are (0: rows)
    summaries: list[list[str]] = field(default_factory=list)
    behind: list[list[int]] = field(default_factory=list)
    text: str = ""
    error: str | None = None
    lost_rows: int = 0  # rows under chunks that failed: not in the answer

    def build(self, task: str) -> Any:
        items, covered, total, group = self.items, self.covered, self.rows, self.name
        if self.level == 0:
            return lambda idx: rows_prompt(task, [items[i] for i in idx], total, group)
        return lambda idx: combine_prompt(task, [items[i] for i in idx], [covered[i] for i in idx], total, group)


@dataclass
class Settings:
    task: str
    budget: int  # tokens per request's input
    output: int | None  # --max-tokens for every call


def levels_ahead(chunks: int, budget: int, head: int, guess: int) -> list[int]:
    """Calls per later level, assuming each partial answer is ``guess`` tokens (the estimate's view)."""
    per_chunk = max(2, (budget - head) // max(guess + 12, 1))
    calls: list[int] = []
    n = chunks
    while n > 1:
        n = math.ceil(n / per_chunk)
        calls.append(n)
    return calls


def _budget(job: Any, chunk_tokens: int | None) -> int:
    window = job.context_window()
    reserve = (job.spec.max_tokens or SUMMARY_GUESS * 4) + 500
    room = window - reserve
    budget = min(chunk_tokens or DEFAULT_CHUNK_TOKENS, room)
    if budget < 1_000:
        raise GrokError(
            f"reduce: the context window ({window:,} tokens) leaves {room:,} for rows after the answer "
            "(--max-tokens); lower --max-tokens or raise %config GrokMagics.context_window"
        )
    return budget


def trees_of(
    df: Any, instruction: str, columns: list[str] | None, by: str | None, job: Any, sample: int | None, seed: int
) -> list[Tree]:
    """Every group's rows as items (one tree without ``by``)."""
    available = frames.columns_of(df)
    read = read_columns(available, instruction, columns, job.defaults.redact_columns)
    if by is not None and by not in available:
        raise GrokError(f"reduce: --by {by}: no such column (columns: {', '.join(available[:12])})")
    if sample is not None:
        from grok_magics.operators.sample import rows_in, sample_of

        total = rows_in(df)
        df = sample_of(df, sample, seed)
        print(f"grok reduce --sample {sample}: {rows_in(df):,} of {total:,} rows, seed {seed}")
        job.rows = total
    wanted = read + ([by] if by is not None and by not in read else [])
    order: dict[Any, Tree] = {}
    for row in frames.rows_of(df, wanted):
        key = row.get(by) if by is not None else None
        tree = order.get(key)
        if tree is None:
            name = "" if by is None else f" (those with {by} = {frames.as_text(key)})"
            tree = order[key] = Tree(name, key, 0, [], [])
        tree.items.append(item_of(row, read, job.masker))
        tree.covered.append(1)
        tree.rows += 1
    if not order:
        raise GrokError("reduce: the frame has no rows")
    job.say_masked()
    return list(order.values())


class Reducer:
    """Runs the levels of every tree: all trees' chunks of a level in one engine pass, the last call streamed."""

    def __init__(
        self, job: Any, settings: Settings, pace: Any, max_cost: float, confirm: Any, stream: bool, by: str | None
    ) -> None:
        from grok_magics.tokens import Counter

        self.job, self.settings, self.pace, self.max_cost, self.confirm = job, settings, pace, max_cost, confirm
        self.stream, self.by = stream, by
        client = None
        if job.endpoint.provider.tokenize_path:
            client = job.session.clients.get(job.endpoint, job.defaults.transport)
        self.counter = Counter(job.endpoint, client, job.gate, job.defaults.transport)
        self.spec = job.keyed(settings.task)
        self.calls = self.tokens = 0
        self.cost = 0.0
        self.interrupted = False
        self.stopped = ""
        self.started = 0.0

    def run(self, trees: list[Tree]) -> list[Tree]:
        import time

        self.started = time.monotonic()
        cut = self._fit(trees)
        packed = {id(t): self._pack(t) for t in trees}
        self._estimate(trees, packed, cut)
        while True:
            active = [t for t in trees if t.error is None and not t.text]
            if not active:
                return trees
            finals = [t for t in active if len(packed[id(t)].groups) == 1]
            if self.stream and finals and len(trees) == 1:
                self._stream_final(finals[0], packed[id(finals[0])])
                return trees
            self._level(active, packed)
            if self.stopped or self.interrupted:
                for t in active:
                    if not t.text and t.error is None:
                        t.error = self.stopped or "interrupted"
                return trees
            packed = {id(t): self._pack(t) for t in trees if t.error is None and not t.text}
            for t in trees:
                p = packed.get(id(t))
                if p is not None and len(p.groups) == len(t.items) > 1:
                    t.error = (
                        f"the partial answers at level {t.level} are too long to combine (one per chunk); "
                        "set --max-tokens for shorter ones or raise --chunk-tokens"
                    )

    # -- packing and the estimate

    def _fit(self, trees: list[Tree]) -> int:
        cut = 0
        for tree in trees:
            room = self.settings.budget - 200
            for i, text in enumerate(tree.items):
                tree.items[i], was_cut = fit_item(text, room)
                cut += was_cut
        return cut

    def _pack(self, tree: Tree) -> Any:
        count = self.counter.count if self.counter.exact else None
        return pack(tree.items, tree.build(self.settings.task), self.settings.budget, count)

    def _estimate(self, trees: list[Tree], packed: dict[int, Any], cut: int) -> None:
        from grok_magics.mapping.cost import confirm_spend
        from grok_magics.model.events import Usage
        from grok_magics.model.parts import estimate_tokens
        from grok_magics.model.usage import estimate_cost, price_of

        guess = self.settings.output or SUMMARY_GUESS
        head = estimate_tokens(combine_prompt(self.settings.task, [], [], 1, ""))
        system = estimate_tokens(self.spec.system)
        calls = tokens_in = levels = 0
        for tree in trees:
            first = packed[id(tree)]
            ahead = levels_ahead(len(first.groups), self.settings.budget, head, guess)
            calls += len(first.groups) + sum(ahead)
            tokens_in += sum(first.tokens) + system * len(first.groups)
            tokens_in += sum(n * (head + system) + c * guess for n, c in zip(ahead, [len(first.groups), *ahead]))
            levels = max(levels, 1 + len(ahead))
        prices = price_of(self.spec.endpoint.model, self.job.defaults.prices)
        cost = None if prices is None else estimate_cost(Usage(input=tokens_in, output=calls * guess), prices)
        rows = sum(t.rows for t in trees)
        chunks = sum(len(packed[id(t)].groups) for t in trees)
        counted = "exact counts" if self.counter.exact else "estimated, characters / 4"
        groups = f" in {len(trees):,} groups" if self.by is not None else ""
        what = (
            f"{rows:,} rows{groups} in {chunks:,} chunk{'s' if chunks != 1 else ''} of ≤{self.settings.budget:,} "
            f"tokens ({counted}), {levels} level{'s' if levels != 1 else ''}, ~{calls:,} calls"
        )
        if cut:
            what += f"; {cut:,} rows too long for a chunk were cut"
        if self.counter.failed:
            what += f"; the tokenizer failed ({self.counter.failed}), so counts are estimates"
        confirm_spend(
            "reduce",
            what,
            f"~{calls:,} calls",
            cost,
            self.spec.endpoint.model,
            self.max_cost,
            self.confirm,
            self.job.defaults.prices,
        )

    # -- a level through map's engine

    def _level(self, active: list[Tree], packed: dict[int, Any]) -> None:
        from grok_magics.mapping.job import prompt_keys, run_prompts
        from grok_magics.mapping.plan import validator

        prompts: list[str] = []
        owners: list[tuple[Tree, list[int]]] = []
        for tree in active:
            p = packed[id(tree)]
            prompts.extend(p.prompts)
            owners.extend((tree, g) for g in p.groups)
        level = max(t.level for t in active) + 1
        keys = prompt_keys(self.spec, self.settings.task, prompts)
        try:
            outcomes, progress = run_prompts(
                self.job,
                self.spec,
                prompts,
                keys,
                validator(None),
                self.pace,
                self.max_cost - self.cost,
                unit="chunk",
                desc=f"grok reduce, level {level}",
            )
        except KeyboardInterrupt:
            self.interrupted = True
            return
        self._count(progress)
        if progress.interrupted:
            self.interrupted = True
        elif progress.stopped_by:
            self.stopped = progress.stopped_by
        elif progress.stopped_by_cost:
            self.stopped = f"--max-cost {money(self.max_cost)} reached at level {level}"
        if self.stopped or self.interrupted:
            return
        nxt: dict[int, tuple[list[str], list[int]]] = {id(t): ([], []) for t in active}
        for (tree, group), outcome in zip(owners, outcomes):
            rows = sum(tree.covered[i] for i in group)
            if outcome is None or outcome.error is not None:
                tree.lost_rows += rows
                continue
            items, covered = nxt[id(tree)]
            items.append(outcome.text or "")
            covered.append(rows)
        for tree in active:
            items, covered = nxt[id(tree)]
            tree.summaries.append(items)
            tree.behind.append(covered)
            tree.level += 1
            tree.items, tree.covered = items, covered
            if not items:
                failure = next(
                    (o.error for (t, _), o in zip(owners, outcomes) if t is tree and o is not None and o.error),
                    "no answer",
                )
                tree.error = f"every chunk failed at level {tree.level}: {failure}"
            elif len(items) == 1 and (len(packed[id(tree)].groups) == 1):
                tree.text = items[0]

    def _count(self, progress: Any) -> None:
        self.calls += progress.done + progress.failed - progress.cached
        self.tokens += progress.tokens
        self.cost += progress.cost

    # -- the last call, streamed like an ask

    def _stream_final(self, tree: Tree, packed: Any) -> None:
        """The last call through the ask's own path (gate, view, status line, booking); a cached answer is
        replayed into the same view without a request."""
        from dataclasses import replace

        from grok_magics.engine.ask import Books, header_for
        from grok_magics.engine.ask import run as run_ask
        from grok_magics.engine.guard import AskGuard
        from grok_magics.mapping.cache import Cache
        from grok_magics.mapping.cost import budget_allows
        from grok_magics.mapping.job import prompt_keys
        from grok_magics.mapping.row_requests import request_for
        from grok_magics.model.events import Finished, Started, TextDelta
        from grok_magics.model.usage import cost_of
        from grok_magics.render import make_view

        level = tree.level + 1
        if not budget_allows(self.cost, self.max_cost):
            tree.error = self.stopped = f"--max-cost {money(self.max_cost)} reached before the last level"
            return
        prompt = packed.prompts[0]
        key = prompt_keys(self.spec, self.settings.task, [prompt])[0]
        store = Cache() if self.pace.cache else None
        try:
            found = store.get_many([key]).get(key) if store is not None else None
            recorded: list[Any] | None = [Started(), TextDelta(found[0]), Finished()] if found else None
            rows = sum(tree.covered)
            note = (
                f"reduce: {rows:,} rows, {level} level{'s' if level > 1 else ''}, "
                f"{self.calls + (0 if found else 1):,} calls" + (" · from the cache" if found else "")
            )
            if tree.lost_rows:
                note += f" · {tree.lost_rows:,} rows lost to failed chunks"
            request = replace(request_for(self.spec, prompt), notes=(note,))
            job, defaults = self.job, self.job.defaults
            transport = defaults.transport
            header = header_for(request, "reduce", defaults.prices)

            def connect() -> Any:
                return job.session.clients.get(request.endpoint, transport)

            view = make_view(defaults.display, job.shell, defaults.headings)
            with AskGuard(transport.timeout, transport.deadline) as guard:
                reply = run_ask(
                    request,
                    connect,
                    view,
                    header,
                    transport,
                    guard,
                    recorded=recorded,
                    books=Books(job.gate, "%grok reduce"),
                )
            if reply.error is not None:
                tree.error = reply.error.message
            elif reply.interrupted:
                tree.error = "interrupted"
                self.interrupted = True
            else:
                tree.text = reply.text
                if not found:
                    self.calls += 1
                    if reply.usage is not None:
                        u = reply.usage
                        self.tokens += u.input + u.output + u.reasoning
                        self.cost += cost_of(u, self.spec.endpoint.model, defaults.prices)[0] or 0.0
                    if store is not None and reply.complete and reply.text:
                        store.put(key, reply.text, reply.usage)
        finally:
            if store is not None:
                store.close()
        tree.summaries.append([tree.text] if tree.text else [])
        tree.behind.append([sum(tree.covered)] if tree.text else [])
        tree.level = level

    # -- results

    def projection(self, trees: list[Tree], total: int) -> str:
        """The whole job at the sample's rate: level 1 grows with the rows, the levels above far more slowly."""
        rows = sum(t.rows for t in trees)
        first = sum(len(t.summaries[0]) if t.summaries else 0 for t in trees)
        scale = total / max(rows, 1)
        calls = math.ceil(first * scale)
        ahead = levels_ahead(calls, self.settings.budget, 200, self.settings.output or SUMMARY_GUESS)
        answered = sum(1 for t in trees if t.text)
        quality = f"{answered:,} of {len(trees):,} answered" + (
            f", {len(trees[0].text):,} characters" if len(trees) == 1 and trees[0].text else ""
        )
        return (
            f"grok reduce --sample: {rows:,} rows, {quality}; the whole job, {total:,} rows: "
            f"~{calls + sum(ahead):,} calls in {1 + len(ahead)} levels, ~{self.tokens * scale:,.0f} tokens, "
            f"~{money(self.cost * scale)} at "
            "this sample's rate (an upper bound: the levels above the first grow more slowly than the rows)"
        )

    def summary(self, trees: list[Tree]) -> str:
        import time

        rows = sum(t.rows for t in trees)
        done = [t for t in trees if t.text]
        levels = max((t.level for t in trees), default=0)
        shape = " → ".join(
            f"{sum(len(t.summaries[i]) if i < len(t.summaries) else 0 for t in trees):,}" for i in range(levels)
        )
        parts = [f"{rows:,} rows → {shape} ({levels} level{'s' if levels != 1 else ''})"]
        if self.by is not None:
            parts.append(f"{len(done):,} of {len(trees):,} groups answered")
        lost = sum(t.lost_rows for t in trees)
        if lost:
            parts.append(f"{lost:,} rows under failed chunks are not in the answer")
        failed = [t.error for t in trees if t.error]
        if failed:
            parts.append(f"stopped: {failed[0]}")
        seconds = time.monotonic() - self.started
        spent = money(self.cost)
        return (
            "grok reduce: " + "; ".join(parts) + f"; {self.calls:,} calls, {self.tokens:,} tokens, {spent}, "
            f"{seconds:.1f} s"
        )

    def result(self, tree: Tree) -> Reduction:
        return Reduction(
            tree.text,
            tree.rows,
            tree.level,
            self.calls,
            self.tokens,
            self.cost,
            tree.summaries,
            tree.behind,
            self.counter.exact,
            tree.error,
        )

    def frame(self, df: Any, by: str, trees: list[Tree]) -> Any:
        values = {
            by: [t.key for t in trees],
            "answer": [t.text or None for t in trees],
            "rows": [t.rows for t in trees],
            "levels": [t.level for t in trees],
            "error": [t.error for t in trees],
        }
        if frames._kind(df) == "polars" or type(df).__module__.split(".")[0] == "polars":
            import polars as pl

            return pl.DataFrame(values, strict=False)
        import pandas as pd

        out = pd.DataFrame(values)
        out.attrs["grok_reduce"] = {t.key: self.result(t) for t in trees}
        return out
