"""``%grok topk`` / ``grok_magics.topk``: the k rows that best match a criterion, by a listwise tournament.

Method. The candidates (every row at first) are shuffled with a seeded RNG — so no row is favoured
by its position in the frame or in a prompt — and cut into groups of at most ``group_size`` rows
(fewer when their text would not fit ``chunk_tokens``). One call per group ranks it listwise and
returns, by structured output, the ids of its best ``min(k, group)`` rows in order; those advance.
When the candidates fit one group, one last call ranks them: its order is the ranking kept in the
``rank`` column. Every call goes through map's engine (window, AIMD, RPS, retries, cache, cap, bar).

Cost. With N rows, groups of g and k kept per group, round r has about N·(k/g)^r / g calls, so the
whole tournament is about N / (g − k) calls (for N = 100,000, g = 50, k = 10: about 2,500 calls in 6
rounds, each call reading g rows) — linear in N, where sorting by pairwise comparisons would take
N·log N calls. A group whose call failed loses its rows (the summary line counts them).

Stopped early (``--max-cost`` reached, a classroom cap, Ctrl-C), there is no ranking yet, but the money
spent narrowed the field: the rows still in contention (the winners of the groups that finished, and every
row of a group not yet run) are returned with an empty ``rank``; the top k are among them. The finished
calls are cached, so running again with a higher cap pays only for the rest.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from grok_magics.errors import GrokError
from grok_magics.mapping import table_io as frames
from grok_magics.model.usage import money
from grok_magics.operators.reducing import item_of, read_columns, task_text

if TYPE_CHECKING:
    from grok_magics.mapping.job import Kernel
    from grok_magics.model.overrides import Overrides

TOPK_SYSTEM = (
    "You are Grok, ranking rows of a table for a data analyst. Rank the items by how well they match the "
    "criterion, best first, and answer with the JSON the schema asks for: the ids of the best items, in order."
)
DEFAULT_GROUP = 50
NOT_RUN = "not run"  # a call a stop left unasked (not a failure: its rows are still in contention)
DEFAULT_CHUNK_TOKENS = 32_000


def ranking_schema() -> dict[str, Any]:
    return {
        "title": "ranking",
        "type": "object",
        "properties": {"ranking": {"type": "array", "items": {"type": "integer"}}},
    }


def group_prompt(criterion: str, texts: list[str], keep: int) -> str:
    lines = "\n".join(f"[{i + 1}] {t}" for i, t in enumerate(texts))
    return (
        f"Criterion: {criterion}\n\nRank these {len(texts)} items by how well they match the criterion. "
        f"Answer with the ids of the best {keep} of them, best first.\n\n<items>\n{lines}\n</items>"
    )


@dataclass
class Call:
    round: int
    rows: list[int]  # the group's rows (positions in the frame), as numbered in the prompt (id = index + 1)
    ranking: list[int] = field(default_factory=list)  # the rows it put first, best first
    error: str | None = None


def plan_calls(n: int, group: int, k: int) -> list[int]:
    """Calls per round for n candidates (the estimate; the token budget may make groups smaller)."""
    calls: list[int] = []
    while True:
        if n <= group:
            calls.append(1)
            return calls
        groups = math.ceil(n / group)
        calls.append(groups)
        n = sum(min(k, group) for _ in range(groups - 1)) + min(k, n - group * (groups - 1))


def read_ranking(text: str, size: int, keep: int) -> list[int]:
    """Ids (1-based) of the group's best rows; ``SchemaError`` when they are not ids of this group."""
    from grok_magics.structured.schemas import SchemaError, load_json

    data = load_json(text)
    ids = data.get("ranking") if isinstance(data, dict) else None
    if not isinstance(ids, list) or not ids:
        raise SchemaError("the answer holds no ranking")
    seen: list[int] = []
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int) or not 1 <= i <= size:
            raise SchemaError(f"the ranking names {i!r}, not an id from 1 to {size}")
        if i not in seen:
            seen.append(i)
    return seen[:keep]


def _ranking_or_none(outcome: Any, size: int, keep: int) -> list[int] | None:
    try:
        return None if outcome is None else read_ranking(outcome.text or "", size, keep)
    except ValueError:
        return None


def topk_frame(
    df: Any,
    criterion: str,
    k: int,
    overrides: Overrides,
    kernel: Kernel,
    *,
    columns: list[str] | str | None = None,
    group_size: int | None = None,
    chunk_tokens: int | None = None,
    seed: int = 0,
    concurrency: int = 8,
    rps: float | None = None,
    max_cost: float = 1.0,
    cache: bool = True,
    confirm: Any = None,
    progress: bool = True,
    retries: int = 8,
    allow_key: bool = False,
    sample: int | None = None,
    namespace: Any = None,
) -> Any:
    """The top ``k`` rows of ``df`` (pandas or polars), best first, with a ``rank`` column; see the module."""
    from grok_magics.mapping.job import Pace, open_job

    if not frames.is_frame(df):
        raise GrokError(f"topk needs a pandas or polars DataFrame, got {type(df).__name__}")
    if k < 1:
        raise GrokError("topk: k must be at least 1")
    group = group_size or max(DEFAULT_GROUP, 2 * k)
    if group < 2 * k:
        raise GrokError(
            f"topk: a group must hold at least 2·k rows to narrow them down (k={k}); raise --group to {2 * k} or more"
        )
    if isinstance(columns, str):
        columns = [c.strip() for c in columns.split(",") if c.strip()]
    job = open_job(
        "topk",
        overrides,
        kernel,
        schema=ranking_schema(),
        allow_key=allow_key,
        default_system=TOPK_SYSTEM,
    )
    task = task_text(criterion)
    if not task:
        raise GrokError("topk: write the criterion (e.g. the most detailed complaint about {review})")
    job.refuse_keys_in(task)
    total = len(df) if frames._kind(df) == "pandas" else df.height
    if sample is not None:
        from grok_magics.operators.sample import sample_of

        df = sample_of(df, sample, seed)
        print(
            f"grok topk --sample {sample}: {len(df) if frames._kind(df) == 'pandas' else df.height:,} of "
            f"{total:,} rows, seed {seed}"
        )
    read = read_columns(frames.columns_of(df), criterion, columns, job.defaults.redact_columns, verb="topk")
    texts = [item_of(row, read, job.masker) for row in frames.rows_of(df, read)]
    if not texts:
        raise GrokError("topk: the frame has no rows")
    job.say_masked()
    from grok_magics.operators.reducing import _budget

    tournament = Tournament(
        job,
        task,
        texts,
        k,
        group,
        _budget(job, chunk_tokens or DEFAULT_CHUNK_TOKENS),
        seed,
        Pace(concurrency, rps, retries, cache, progress),
        max_cost,
    )
    tournament.estimate(confirm)
    order = tournament.run()
    print(tournament.summary())
    if sample is not None:
        from grok_magics.operators.sample import projection

        print(
            projection(
                "topk",
                tournament.outcomes,
                tournament.last_progress,
                total,
                [],
                concurrency,
                per="call",
                units=sum(plan_calls(total, group, k)),
            )
        )
    return ranked(df, order, tournament)


def ranked(df: Any, order: list[int], tournament: "Tournament") -> Any:
    """The ranked rows; stopped before the last round, the rows still in contention with an empty ``rank``."""
    if frames._kind(df) == "pandas":
        if not order and tournament.contenders:
            import pandas as pd

            out = df.iloc[tournament.contenders].copy()
            out["rank"] = pd.array([None] * len(out), dtype="Int64")
            out.attrs["grok_topk"] = tournament.calls
            return out
        out = df.iloc[order].copy()
        out["rank"] = list(range(1, len(order) + 1))
        out.attrs["grok_topk"] = tournament.calls
        return out
    import polars as pl

    if not order and tournament.contenders:
        return df[tournament.contenders].with_columns(pl.lit(None, dtype=pl.Int64).alias("rank"))
    picked = df[order] if order else df.head(0)
    return picked.with_columns(pl.Series("rank", list(range(1, len(order) + 1)), dtype=pl.Int64))


class Tournament:
    def __init__(
        self,
        job: Any,
        task: str,
        texts: list[str],
        k: int,
        group: int,
        budget: int,
        seed: int,
        pace: Any,
        max_cost: float,
    ) -> None:
        self.job, self.task, self.texts, self.k, self.group = job, task, texts, k, group
        self.budget, self.pace, self.max_cost = budget, pace, max_cost
        self.rng = random.Random(seed)
        self.spec = job.keyed(task)
        self.calls: list[Call] = []
        self.outcomes: list[Any] = []
        self.last_progress: Any = None
        self.spent = 0.0
        self.tokens = 0
        self.lost = 0
        self.stopped = ""
        self.contenders: list[int] = []  # stopped early: the rows the top k are among (frame order)
        self.rounds = 0
        import time

        self.started = time.monotonic()

    def estimate(self, confirm: Any) -> None:
        from grok_magics.mapping.cost import confirm_spend
        from grok_magics.model.events import Usage
        from grok_magics.model.parts import estimate_tokens
        from grok_magics.model.usage import estimate_cost, price_of

        calls = plan_calls(len(self.texts), self.group, self.k)
        cached, left = self._from_cache()
        share = left / max(cached + left, 1)  # what the cache does not answer (a rerun after a stop pays the rest)
        per_row = sum(estimate_tokens(t) for t in self.texts[:200]) / min(len(self.texts), 200) + 3
        head = estimate_tokens(self.spec.system) + estimate_tokens(group_prompt(self.task, [], self.k))
        tokens_in = int(share * sum(c * (head + min(self.group, len(self.texts)) * per_row) for c in calls))
        out = self.spec.max_tokens or 300
        prices = price_of(self.spec.endpoint.model, self.job.defaults.prices)
        cost = None if prices is None else estimate_cost(Usage(input=tokens_in, output=out * left), prices)
        rounds = f"{len(calls)} round{'s' if len(calls) > 1 else ''}"
        what = (
            f"{len(self.texts):,} rows, groups of ≤{self.group}, {rounds}"
            f", ~{left:,} calls to keep the top {self.k}" + (f" ({cached:,} from cache)" if cached else "")
        )
        confirm_spend(
            "topk",
            what,
            f"~{left:,} calls",
            cost,
            self.spec.endpoint.model,
            self.max_cost,
            confirm,
            self.job.defaults.prices,
        )

    def _from_cache(self) -> tuple[int, int]:
        """(calls the cache answers, calls left by the plan): the tournament replayed from the cache as far as it
        goes — the same shuffles, groups and prompts as ``run`` — so a rerun after a stop is priced for the rest."""
        from grok_magics.mapping.outcomes import Progress
        from grok_magics.mapping.plan import Plan, fill_from_cache

        rng = random.Random()
        rng.setstate(self.rng.getstate())  # run's own shuffles are left as they were
        candidates, cached = list(range(len(self.texts))), 0
        while self.pace.cache:
            groups, keeps, prompts, keys = self._round(rng, candidates)
            found: list[Any] = [None] * len(prompts)
            progress = Progress(total=len(prompts), model=self.spec.endpoint.model)
            fill_from_cache(Plan([], prompts, keys), self.spec, found, progress, True)
            winners: list[int] = []
            asked = 0
            for g, keep, outcome in zip(groups, keeps, found):
                ids = _ranking_or_none(outcome, len(g), keep)
                if ids is None:  # run asks this group: it stands for the keep rows its call will pick
                    asked += 1
                    winners.extend(g[:keep])
                else:
                    cached += 1
                    winners.extend(g[i - 1] for i in ids)
            if asked or len(groups) == 1:
                later = 0 if len(groups) == 1 else sum(plan_calls(len(winners), self.group, self.k))
                return cached, asked + later
            candidates = winners
        return 0, sum(plan_calls(len(self.texts), self.group, self.k))

    def _round(
        self, rng: random.Random, candidates: list[int]
    ) -> tuple[list[list[int]], list[int], list[str], list[str]]:
        """One round as ``run`` asks it and ``_from_cache`` replays it: candidates shuffled in place, then the
        groups, how many each keeps, their prompts and cache keys."""
        from grok_magics.mapping.job import prompt_keys

        rng.shuffle(candidates)
        groups = self._groups(candidates)
        keeps = [min(self.k, len(g)) for g in groups]
        prompts = [group_prompt(self.task, [self.texts[r] for r in g], keep) for g, keep in zip(groups, keeps)]
        return groups, keeps, prompts, prompt_keys(self.spec, self.task, prompts)

    def _groups(self, candidates: list[int]) -> list[list[int]]:
        """Groups of at most ``group`` rows whose prompt fits the budget (by the estimate)."""
        from grok_magics.model.parts import estimate_tokens

        head = estimate_tokens(group_prompt(self.task, [], self.k))
        groups: list[list[int]] = []
        current: list[int] = []
        used = head
        for row in candidates:
            size = estimate_tokens(self.texts[row]) + 3
            if current and (len(current) >= self.group or used + size > self.budget):
                groups.append(current)
                current, used = [], head
            current.append(row)
            used += size
        if current:
            groups.append(current)
        return groups

    def run(self) -> list[int]:
        from grok_magics.mapping.job import run_prompts

        candidates = list(range(len(self.texts)))
        while True:
            self.rounds += 1
            groups, keeps, prompts, keys = self._round(self.rng, candidates)
            final = len(groups) == 1
            outcomes, progress = run_prompts(
                self.job,
                self.spec,
                prompts,
                keys,
                self._validator(max(map(len, groups))),
                self.pace,
                self.max_cost - self.spent,
                unit="group",
                desc=f"grok topk, round {self.rounds}",
            )
            self.outcomes, self.last_progress = outcomes, progress
            self.spent += progress.cost
            self.tokens += progress.tokens
            winners: list[int] = []
            unrun: list[int] = []  # rows of groups a stop left unasked: still in contention
            for g, keep, outcome in zip(groups, keeps, outcomes):
                call = Call(self.rounds, g)
                self.calls.append(call)
                if outcome is None:
                    call.error = NOT_RUN
                    unrun.extend(g)
                    continue
                if outcome.error is not None:
                    call.error = outcome.error
                    self.lost += len(g)
                    continue
                try:
                    ids = read_ranking(outcome.text or "", len(g), keep)
                except ValueError as exc:
                    call.error = str(exc)
                    self.lost += len(g)
                    continue
                call.ranking = [g[i - 1] for i in ids]
                winners.extend(call.ranking)
            if progress.interrupted or progress.stopped_by or progress.stopped_by_cost:
                self.stopped = (
                    "interrupted"
                    if progress.interrupted
                    else progress.stopped_by or f"--max-cost {money(self.max_cost)} reached in round {self.rounds}"
                )
                self.contenders = sorted(winners + unrun)
                return []
            self.lost += len(unrun)
            if final:
                return winners
            if not winners:
                self.stopped = f"every group failed in round {self.rounds}"
                return []
            candidates = winners

    def _validator(self, largest: int) -> Any:
        """The schema's check, then ids within the round's groups: a ranking naming no row of any group is that
        call's error (and never cached), not a silently shorter ranking."""
        from grok_magics.mapping.outcomes import Outcome
        from grok_magics.mapping.plan import validator
        from grok_magics.structured.schemas import SchemaError

        check = validator(self.spec.schema)

        def validate(answer: Any) -> Outcome:
            outcome = check(answer)
            if outcome.error is None:
                try:
                    read_ranking(outcome.text or "", largest, largest)
                except SchemaError as exc:
                    return Outcome(error=str(exc), usage=outcome.usage)
            return outcome

        return validate

    def _contenders_note(self) -> str:
        """What the rows returned are, and what running again costs: it depends on why the tournament stopped."""
        among = (
            f"the top {self.k}{' of the rows left' if self.lost else ''} are among the {len(self.contenders):,} rows "
            "still in contention, returned with an empty rank"
        )
        if not self.pace.cache:
            return among + "; with the cache off a rerun pays for every call again"
        if self.stopped.startswith("--max-cost"):
            return (
                among + "; the finished calls are cached: run again with a higher --max-cost to pay only for the rest"
            )
        if self.stopped == "interrupted":
            return among + "; the finished calls are cached: run again to pay only for the rest"
        return among + "; the finished calls are cached"

    def summary(self) -> str:
        import time

        failed = sum(1 for c in self.calls if c.error and c.error != NOT_RUN)
        asked = sum(1 for c in self.calls if c.error != NOT_RUN)
        parts = [f"{len(self.texts):,} rows, {self.rounds} round{'s' if self.rounds != 1 else ''}, {asked:,} calls"]
        if failed:
            parts.append(f"{failed:,} failed (their {self.lost:,} rows left the tournament)")
        if self.stopped:
            parts.append(f"stopped: {self.stopped}")
            if self.contenders:
                parts.append(self._contenders_note())
        seconds = time.monotonic() - self.started
        return "grok topk: " + "; ".join(parts) + f"; {self.tokens:,} tokens, {money(self.spent)}, {seconds:.1f} s"
