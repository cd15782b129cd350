"""What a map or filter was asked besides its frame, its template and its per-call overrides (``Overrides``).

One value that the entry points build (``grok_magics.map(df, t, rps=2)``, ``%grok map --rps 2``) and every
layer passes down whole — the kernel's run, a calibrating sample, a polars LazyFrame, Spark and Dask — so the
same keywords are spelled once here rather than in each signature they pass through.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping

from grok_magics.errors import GrokError
from grok_magics.mapping.runner import RATE_LIMIT_RETRIES


@dataclass(frozen=True)
class JobOptions:
    out_col: str = "grok"  # filter: "keep"
    max_cost: float = 1.0
    concurrency: int = 8
    rps: float | None = None
    cache: bool = True
    confirm: bool | Callable[[str], bool] | None = None  # True: run above the cap; a function: ask it
    progress: bool = True
    namespace: Mapping[str, Any] | None = None  # fills the template's {names} that are no column
    retries: int = RATE_LIMIT_RETRIES  # rate-limit retries a row may spend
    allow_key: bool = False
    schema: Any = None  # map: the answer's shape (filter sets its own verdict)
    sample: int | None = None  # run N seeded rows and project the whole job (operators.sample)
    seed: int = 0
    batch: bool = False
    batch_id: str | None = None
    poll_every: float = 10.0
    batch_deadline: float | None = None  # None: GrokMagics.batch_deadline
    reason: bool = False  # filter: a <out_col>_reason column
    keep_all: bool = False  # filter: every row, with its verdict

    def problem(self) -> str:
        """What is wrong with these options, in words a caller can act on ("" when nothing is): checked once here,
        so every engine refuses the same values the same way, before anything is sent."""
        numbers: dict[str, Any] = {"max_cost": self.max_cost, "rps": self.rps, "poll_every": self.poll_every}
        numbers["batch_deadline"] = self.batch_deadline
        for name, value in numbers.items():
            if value is None and name in ("rps", "batch_deadline"):
                continue
            if not _number(value) or not math.isfinite(value) or value <= 0:
                unit = {"max_cost": " of dollars", "rps": " of requests a second"}.get(name, " of seconds")
                return f"{name} must be a positive number{unit}, not {value!r}"
        counts = {"concurrency": (self.concurrency, 1), "retries": (self.retries, 0), "seed": (self.seed, 0)}
        if self.sample is not None:
            counts["sample"] = (self.sample, 1)
        for name, (value, least) in counts.items():
            if not _whole(value) or value < least:
                return f"{name} must be a whole number of at least {least}, not {value!r}"
        flags = ("cache", "batch", "progress", "allow_key", "reason", "keep_all")
        for name in flags:
            if not isinstance(getattr(self, name), bool):
                return f"{name} must be True or False, not {getattr(self, name)!r}"
        if not isinstance(self.out_col, str) or not self.out_col:
            return f"out_col must be a column name, not {self.out_col!r}"
        if self.namespace is not None and not isinstance(self.namespace, Mapping):
            return f"namespace must be a mapping of names to values (a dict), not a {type(self.namespace).__name__}"
        if not (self.confirm is None or isinstance(self.confirm, bool) or callable(self.confirm)):
            return f"confirm must be True, False, None or a function that answers the question, not {self.confirm!r}"
        return ""

    @classmethod
    def of(cls, verb: str, given: Mapping[str, Any]) -> JobOptions:
        """From the keywords a caller passed; a misspelt one fails as for any Python function (as reduce's and
        topk's keywords do), before anything is sent."""
        known = {f.name for f in fields(cls)}
        unknown = [name for name in given if name not in known]
        if unknown:
            raise TypeError(f"{verb}() got an unexpected keyword argument {unknown[0]!r}")
        if verb != "filter" and (given.get("reason") or given.get("keep_all")):
            raise GrokError(f"{verb}: reason and keep_all are filter's options")
        if verb == "filter" and given.get("schema") is not None:
            raise GrokError("filter: the answer is a yes/no verdict; --schema is for map")
        options = cls(**{**({"out_col": "keep"} if verb == "filter" else {}), **given})
        problem = options.problem()
        if problem:
            raise GrokError(f"{verb}: {problem}; nothing was sent")
        return options


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
