"""``--sample N``: run an operator on N seeded rows first, and say what the whole job would cost and yield.

The sample runs as the real job does (same prompts, engine, cache): its rows are cached, so the full
run that follows pays only for the rest. What it measures — tokens and dollars per row, failures,
the operator's own quality figures (share kept, answer length), rows per second at this
concurrency — is projected onto the whole frame in one or two printed lines. The result is the
sample's own result, to read before spending more.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from grok_magics.mapping import table_io as frames
from grok_magics.model.usage import money

if TYPE_CHECKING:
    from grok_magics.mapping.job import Kernel
    from grok_magics.mapping.job_options import JobOptions
    from grok_magics.model.overrides import Overrides


def rows_in(df: Any) -> int:
    return len(df) if frames._kind(df) == "pandas" else int(df.height)


def sample_of(df: Any, n: int, seed: int) -> Any:
    """N rows drawn with ``seed`` (the same N rows every time), in the frame's own order."""
    if n < 1:
        from grok_magics.errors import GrokError

        raise GrokError("--sample must be at least 1 row")
    total = rows_in(df)
    if frames._kind(df) == "pandas":
        return df.sample(n=min(n, total), random_state=seed).sort_index()
    return df.with_row_index("__grok_row").sample(n=min(n, total), seed=seed).sort("__grok_row").drop("__grok_row")


def spent(outcomes: list[Any], model: str, prices: Any) -> tuple[int, float | None, int]:
    """(tokens, dollars or None when no price is known, answers measured) over finished rows, cached ones too:
    a cached row costs what it cost when it ran, and the rest of the job will pay that."""
    from grok_magics.model.usage import cost_of

    tokens, dollars, measured, unknown = 0, 0.0, 0, False
    for o in outcomes:
        if o is None or o.usage is None:
            continue
        u = o.usage
        tokens += u.input + u.output + u.reasoning
        cost, _ = cost_of(u, model, prices)
        unknown = unknown or cost is None
        dollars += cost or 0.0
        measured += 1
    return tokens, None if unknown else dollars, measured


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def projection(
    verb: str,
    outcomes: list[Any],
    progress: Any,
    total: int,
    quality: list[str],
    concurrency: int,
    per: str = "row",
    units: int | None = None,
) -> str:
    """Two lines: the sample's quality, and the whole job at the sample's rate.

    ``units``: how many of ``per`` the whole job needs (rows for map and filter; calls for reduce and topk)."""
    n = len(outcomes)
    failed = sum(1 for o in outcomes if o is not None and o.error is not None)
    tokens, dollars, measured = spent(outcomes, progress.model, progress.prices)
    head = f"grok {verb} --sample: {n:,} {per}s, {failed:,} failed ({100 * failed / max(n, 1):.0f}%)"
    lines = [head + "".join(f", {q}" for q in quality)]
    whole = units if units is not None else total
    if measured:
        per_tokens, scale = tokens / measured, whole / measured
        projected = f"~{money(dollars * scale)}" if dollars is not None else "price unknown"
        ran = n - progress.cached
        seconds = time.monotonic() - progress.started
        pace = f"; ~{_duration(seconds / ran * whole)} at --concurrency {concurrency}" if ran and seconds > 0 else ""
        lines.append(
            f"grok {verb} --sample: the whole job, {whole:,} {per}s: ~{per_tokens * whole:,.0f} tokens, "
            f"{projected} at this sample's rate ({per_tokens:,.0f} tokens a {per}){pace}. "
            "The sample's answers are cached: the full run pays only for the rest."
        )
    else:
        lines.append(f"grok {verb} --sample: no answer came back with usage, so nothing to project from")
    return "\n".join(lines)


def calibrate_map(
    df: Any,
    template: str,
    overrides: Overrides,
    kernel: Kernel,
    options: JobOptions,
    verb: str = "map",
    total: int | None = None,
) -> Any:
    """Map or filter on ``options.sample`` seeded rows; the sample's result (filter: every sampled row with its
    verdict).

    ``total``: the whole frame's rows when ``df`` is already the sample (drawn by Spark or Dask)."""
    from dataclasses import replace

    from grok_magics.mapping import run_map
    from grok_magics.mapping.result_columns import columns, summary, why_not_run

    n, seed = options.sample or 0, options.seed
    part = sample_of(df, n, seed) if total is None else df
    total = rows_in(df) if total is None else total
    print(f"grok {verb} --sample {n}: {rows_in(part):,} of {total:,} rows, seed {seed}")
    quality: list[str] = []
    if verb == "filter":
        from grok_magics.operators.filtering import run_filter, verdicts

        result, ran = run_filter(part, template, overrides, kernel, replace(options, keep_all=True))
        judged = [v for v in verdicts(ran.outcomes) if v is not None]
        if judged:
            share = sum(judged) / len(judged)
            quality.append(f"{100 * share:.0f}% kept (~{share * total:,.0f} of {total:,} rows)")
    else:
        out_col = options.out_col
        ran = run_map(part, template, overrides, kernel, options)
        result = frames.with_columns(
            part, columns(part, ran.outcomes, ran.schema, out_col, why_not_run(ran.progress, ran.note))
        )
        print(summary(ran.progress, ran.outcomes, out_col, options.max_cost, ran.note))
        texts = [o.text for o in ran.outcomes if o is not None and o.error is None and o.text]
        if texts:
            quality.append(f"answers {min(map(len, texts)):,}–{max(map(len, texts)):,} characters")
    print(projection(verb, ran.outcomes, ran.progress, total, quality, options.concurrency))
    return result
