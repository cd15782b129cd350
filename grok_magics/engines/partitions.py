"""Map, filter and the first level of a reduce on a Spark or Dask frame, run by that engine's own tasks.

The driver (the kernel) settles the job as for a pandas frame — locks, endpoint, output cap, key
present, template free of keys, the estimate and the question above the cap — then hands each
partition a ``rows.RowTask``; Spark runs it through ``mapInPandas``, Dask through ``map_partitions``,
lazily: requests leave when the frame is computed.

Budget. The job's ``concurrency`` and ``rps`` are totals. The driver counts the tasks that can run
at once (Spark: the master's cores, or executors × cores ÷ task CPUs, doubled under speculation;
Dask: the distributed client's threads, else the local scheduler's workers), caps that by the
partitions, and gives each task ``concurrency // parallel`` requests in flight and ``rps / parallel``
starts a second; when the budget is below the number of parallel tasks, the frame is narrowed to
``concurrency`` partitions first. So at most ``concurrency`` requests are in flight across the cluster,
without a lock shared between processes. Each task keeps its own AIMD window, which can only shrink
from there. Money: a partition may spend its rows' share of ``max_cost``.

Key. It never enters the plan or the task graph: Spark ships it in a broadcast variable, a Dask
distributed client scatters it to the workers (the graph holds the future's id); Dask's local
schedulers share this process's environment, where the key already is. It is wrapped so no repr
shows it. Workers need grok-magics installed.

The classroom. Workers in other processes cannot reach the kernel's ledger, so under a classroom cap
(``max_cost_usd``, ``max_calls_per_hour``) a Spark or Dask frame is refused in one line: collect it and
run the operator in the kernel, where every row passes the gate and is booked. Without caps, every
worker request still passes a gate of its own (the key scan; rows are masked), but its usage is not in
``%grok usage`` (the summary line says so).
"""

from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING, Any

from grok_magics.engines.rows import KeyBox, RowTask, result_types
from grok_magics.engines.terms import Terms
from grok_magics.errors import GrokError

if TYPE_CHECKING:
    from grok_magics.mapping.job import Kernel
    from grok_magics.mapping.job_options import JobOptions
    from grok_magics.model.overrides import Overrides

# --------------------------------------------------------------------------- the engines


class Spark:
    name = "Spark"
    collect = "df.toPandas()"

    def __init__(self, df: Any) -> None:
        self.df = df
        self.session = df.sparkSession

    def columns(self) -> list[str]:
        return list(self.df.columns)

    def count(self) -> int:
        return int(self.df.count())

    def partitions(self) -> int:
        return int(self.df.rdd.getNumPartitions())

    def slots(self) -> int:
        """Tasks that can run at once: the local master's cores, else executors × cores ÷ CPUs per task."""
        conf = self.session.sparkContext.getConf()
        master = conf.get("spark.master", "local")
        found = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\s*\d+)?\])?", master.strip())
        if found:
            n = found.group(1)
            slots = 1 if n is None else (os.cpu_count() or 1) if n == "*" else int(n)
        else:
            cores = int(conf.get("spark.executor.cores", "1"))
            per_task = int(conf.get("spark.task.cpus", "1"))
            dynamic = conf.get("spark.dynamicAllocation.enabled", "false").lower() == "true"
            executors = conf.get("spark.dynamicAllocation.maxExecutors" if dynamic else "spark.executor.instances")
            slots = (
                int(executors) * cores // per_task
                if executors and executors.isdigit() and int(executors) < 10**6
                else self.session.sparkContext.defaultParallelism
            )
        if conf.get("spark.speculation", "false").lower() == "true":
            slots *= 2  # a speculative copy of a task runs beside the original
        return max(1, slots)

    def narrow(self, n: int) -> None:
        self.df = self.df.coalesce(n)

    def head(self, n: int) -> Any:
        return self.df.limit(n).toPandas()

    def sample(self, n: int, seed: int, total: int) -> Any:
        fraction = min(1.0, 1.5 * n / max(total, 1) + 0.001)
        return self.df.sample(False, fraction, seed).limit(n).toPandas()

    def ship_key(self, key: str) -> Any:
        return self.session.sparkContext.broadcast(KeyBox(key))

    def map(self, task: RowTask, key: Any) -> Any:
        return self.df.mapInPandas(_spark_rows(task, key), self._schema(task))

    def _schema(self, task: RowTask) -> Any:
        from pyspark.sql.types import BooleanType, DoubleType, LongType, StringType, StructField, StructType

        kinds = {"string": StringType(), "boolean": BooleanType(), "long": LongType(), "double": DoubleType()}
        added = result_types(task, self.columns())
        fields = [f for f in self.df.schema.fields if f.name not in added]
        return StructType(fields + [StructField(name, kinds[k], True) for name, k in added.items()])

    def reduce_level(self, task: Any, key: Any, columns: list[str], by: str | None) -> Any:
        from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

        group_type = self.df.schema[by].dataType if by is not None else StringType()
        schema = StructType(
            [
                StructField("group", group_type, True),
                StructField("text", StringType(), True),
                StructField("rows", LongType(), True),
                StructField("tokens", LongType(), True),
                StructField("cost", DoubleType(), True),
                StructField("error", StringType(), True),
            ]
        )
        picked = list(dict.fromkeys(columns + ([by] if by else [])))
        return self.df.select(*picked).mapInPandas(_spark_reduce(task, key), schema).toPandas()


def _spark_rows(task: RowTask, key: Any) -> Any:
    """The function Spark runs per partition; it holds the task and the broadcast's id, never the key."""

    def run(batches: Any) -> Any:
        import pandas as pd

        from grok_magics.engines.rows import run_rows

        parts = list(batches)
        if parts:
            yield run_rows(task, pd.concat(parts, ignore_index=True), key.value.value)

    return run


def _spark_reduce(task: Any, key: Any) -> Any:
    def run(batches: Any) -> Any:
        import pandas as pd

        from grok_magics.engines.chunked import reduce_rows

        parts = list(batches)
        if parts:
            yield reduce_rows(task, pd.concat(parts, ignore_index=True), key.value.value)

    return run


_LOCAL_SCHEDULERS = ("threads", "threading", "processes", "multiprocessing", "sync", "synchronous", "single-threaded")


class Dask:
    name = "Dask"
    collect = "ddf.compute()"

    def __init__(self, df: Any) -> None:
        self.df = df

    def columns(self) -> list[str]:
        return [str(c) for c in self.df.columns]

    def count(self) -> int:
        return int(len(self.df))

    def partitions(self) -> int:
        return int(self.df.npartitions)

    def _client(self) -> Any:
        """The distributed client frames compute on, unless ``dask.config`` names a local scheduler."""
        import dask

        if str(dask.config.get("scheduler", "") or "") in _LOCAL_SCHEDULERS:
            return None
        try:
            from distributed import get_client

            return get_client()
        except (ImportError, ValueError):
            return None

    def slots(self) -> int:
        """The distributed client's threads, else the local scheduler's workers (``dask.config``)."""
        client = self._client()
        if client is not None:
            return max(1, sum(client.nthreads().values()))
        import dask

        scheduler = str(dask.config.get("scheduler", "") or "")
        if scheduler in ("sync", "synchronous", "single-threaded"):
            return 1
        return max(1, int(dask.config.get("num_workers", None) or os.cpu_count() or 1))

    def narrow(self, n: int) -> None:
        self.df = self.df.repartition(npartitions=n)

    def head(self, n: int) -> Any:
        return self.df.head(n, npartitions=-1)

    def sample(self, n: int, seed: int, total: int) -> Any:
        fraction = min(1.0, 1.5 * n / max(total, 1) + 0.001)
        return self.df.sample(frac=fraction, random_state=seed).head(n, npartitions=-1)

    def ship_key(self, key: str) -> Any:
        client = self._client()
        if client is None:
            return None  # local schedulers: the workers are this process (or its children), with its environment
        return client.scatter(KeyBox(key), broadcast=True, hash=False)

    def map(self, task: RowTask, key: Any) -> Any:
        import pandas as pd

        meta = self.df._meta.copy()
        added = result_types(task, self.columns())
        if task.verb == "filter" and not task.keep_all:
            meta = meta.iloc[0:0]
        for name, kind in added.items():
            meta[name] = pd.Series([], dtype={"long": "float64", "double": "float64"}.get(kind, object))
        return self.df.map_partitions(_dask_rows, task, key, meta=meta)

    def reduce_level(self, task: Any, key: Any, columns: list[str], by: str | None) -> Any:
        import pandas as pd

        picked = list(dict.fromkeys(columns + ([by] if by else [])))
        meta = pd.DataFrame(
            {
                "group": pd.Series([], dtype=object),
                "text": pd.Series([], dtype=object),
                "rows": pd.Series([], dtype="int64"),
                "tokens": pd.Series([], dtype="int64"),
                "cost": pd.Series([], dtype="float64"),
                "error": pd.Series([], dtype=object),
            }
        )
        return self.df[picked].map_partitions(_dask_reduce, task, key, meta=meta).compute()


def _dask_rows(pdf: Any, task: RowTask, key: Any) -> Any:
    from grok_magics.engines.rows import run_rows

    return run_rows(task, pdf, key.value if key is not None else None)


def _dask_reduce(pdf: Any, task: Any, key: Any) -> Any:
    from grok_magics.engines.chunked import reduce_rows

    return reduce_rows(task, pdf, key.value if key is not None else None)


def adapter_for(df: Any, kind: str) -> Any:
    return Spark(df) if kind == "spark" else Dask(df)


# --------------------------------------------------------------------------- the driver's side


def refuse_under_caps(job: Any, adapter: Any) -> None:
    caps = job.defaults.caps
    if caps.max_cost_usd is not None or caps.max_calls_per_hour is not None:
        raise GrokError(
            f"{job.verb} on a {adapter.name} frame: this kernel has classroom caps (max_cost_usd, max_calls_per_hour) "
            f"that {adapter.name} workers cannot count against; nothing was sent. Collect the rows ({adapter.collect}) "
            f"and run {job.verb} on that frame, where every row is checked and booked"
        )


def budget(adapter: Any, concurrency: int, rps: float | None) -> tuple[int, int, float | None]:
    """(tasks at once, requests in flight per task, starts a second per task) within the job's totals."""
    parallel = min(adapter.slots(), adapter.partitions())
    if concurrency < parallel:
        adapter.narrow(concurrency)
        parallel = concurrency
    return parallel, max(1, concurrency // parallel), (rps / parallel if rps else None)


def _plain_values(template: str, columns: list[str], namespace: Any, verb: str) -> dict[str, str]:
    """The template's other ``{names}``: plain values from the notebook travel with the task, nothing else."""
    values: dict[str, str] = {}
    from grok_magics.mapping.plan import template_names

    for name in template_names(template):
        if name in columns or name not in (namespace or {}):
            continue
        value = namespace[name]
        if not isinstance(value, (str, int, float, bool)):
            raise GrokError(
                f"{verb}: {{{name}}} is a {type(value).__name__} from the notebook; on a Spark or Dask "
                "frame a template reads columns and plain values (str, numbers) only"
            )
        values[name] = str(value)
    return values


def map_partitioned(
    df: Any, kind: str, template: str, overrides: Overrides, kernel: Kernel, options: JobOptions, verb: str
) -> Any:
    """A map or filter over a Spark or Dask frame: the same kind of frame back, computed by that engine."""
    from grok_magics.mapping.job import open_job
    from grok_magics.mapping.plan import columns_read, say_unread
    from grok_magics.mapping.row_requests import MAP_SYSTEM
    from grok_magics.providers.table import api_key_for

    adapter = adapter_for(df, kind)
    if options.batch or options.batch_id:
        raise GrokError(
            f"{verb} --batch runs from the kernel: collect the rows first ({adapter.collect}), or drop "
            "--batch to run on the engine"
        )
    concurrency, rps, max_cost, namespace = options.concurrency, options.rps, options.max_cost, options.namespace
    job = open_job(
        verb, overrides, kernel, schema=options.schema, allow_key=options.allow_key, default_system=MAP_SYSTEM
    )
    refuse_under_caps(job, adapter)
    job.refuse_keys_in(template)
    available = adapter.columns()
    named = columns_read(template, available, job.defaults.redact_columns)
    values = _plain_values(template, named, namespace, verb)
    total = adapter.count()
    if options.sample is not None:
        from grok_magics.operators.sample import calibrate_map

        part = adapter.sample(options.sample, options.seed, total)
        return calibrate_map(part, template, overrides, kernel, options, verb, total)
    say_unread(verb, template, available, namespace or {})
    parallel, per_task, per_rps = budget(adapter, concurrency, rps)
    spec = job.keyed(template)
    _estimate(
        job, spec, adapter, template, values, total, parallel, per_task, concurrency, rps, max_cost, options.confirm
    )
    from grok_magics.mapping.cache import cache_dir

    terms = Terms(
        _without_schema(spec),
        per_task,
        per_rps,
        options.retries,
        max_cost,
        total,
        options.cache,
        str(cache_dir()),
        job.defaults.transport,
        job.defaults.prices,
        options.allow_key,
    )
    task = RowTask(
        verb,
        template,
        terms,
        spec.schema.json_schema if spec.schema else None,
        spec.schema.name if spec.schema else "result",
        options.out_col,
        values,
        options.reason,
        options.keep_all,
        text_json=kind == "spark",
    )
    key = adapter.ship_key(api_key_for(spec.endpoint.provider))
    print(
        f"grok {verb}: on {adapter.name}, lazily: requests leave when the frame is computed; their cost is not in "
        "%grok usage (the workers cannot reach this kernel's books)"
    )
    return adapter.map(task, key)


def _without_schema(spec: Any) -> Any:
    from dataclasses import replace

    return replace(spec, schema=None)


def _estimate(
    job: Any,
    spec: Any,
    adapter: Any,
    template: str,
    values: dict[str, str],
    total: int,
    parallel: int,
    per_task: int,
    concurrency: int,
    rps: float | None,
    max_cost: float,
    confirm: Any,
) -> None:
    from grok_magics.mapping.cost import answer_tokens, confirm_spend
    from grok_magics.mapping.plan import make_plan
    from grok_magics.model.events import Usage
    from grok_magics.model.parts import estimate_tokens
    from grok_magics.model.usage import estimate_cost, price_of

    head = adapter.head(5)
    plan = make_plan(head, template, spec, values, (), job.masker) if len(head) else None
    tokens_in = (
        sum(estimate_tokens(spec.system) + estimate_tokens(p) for p in plan.prompts) / len(plan.prompts) if plan else 0
    )
    prices = price_of(spec.endpoint.model, job.defaults.prices)
    tokens_out, assumed = answer_tokens(spec, plan.prompts if plan else [])
    guess = None if prices is None else total * estimate_cost(Usage(input=int(tokens_in), output=tokens_out), prices)
    pace = f", ≤{rps / parallel:g}/s each" if rps else ""
    what = (
        f"{total:,} rows on {adapter.name}, {parallel} task{'s' if parallel > 1 else ''} at once × {per_task} "
        f"request{'s' if per_task > 1 else ''} in flight{pace} (budget {concurrency}"
        + (f", {rps:g}/s" if rps else "")
        + ")"
    )
    confirm_spend(
        job.verb, what, f"{total:,} rows", guess, spec.endpoint.model, max_cost, confirm, job.defaults.prices, assumed
    )


def reduce_partitioned(
    df: Any,
    kind: str,
    instruction: str,
    columns: Any,
    by: Any,
    job: Any,
    settings: Any,
    pace: Any,
    max_cost: float,
    sample: Any,
    seed: int,
    confirm: Any,
) -> tuple[list[Any], tuple[int, int, float]]:
    """The first level inside the engine: each partition packs its rows into chunks and answers them; the
    driver gets one small row per chunk and builds the trees the ``Reducer`` combines."""
    from grok_magics.engines.chunked import ReduceTask
    from grok_magics.mapping.cache import cache_dir
    from grok_magics.operators.reducing import Tree, read_columns, trees_of
    from grok_magics.providers.table import api_key_for

    adapter = adapter_for(df, kind)
    refuse_under_caps(job, adapter)
    available = adapter.columns()
    read = read_columns(available, instruction, columns, job.defaults.redact_columns)
    if by is not None and by not in available:
        raise GrokError(f"reduce: --by {by}: no such column (columns: {', '.join(available[:12])})")
    total = adapter.count()
    if sample is not None:
        import pandas as pd

        part = adapter.sample(sample, seed, total)
        print(f"grok reduce --sample {sample}: {len(part):,} of {total:,} rows, seed {seed}")
        job.rows = total
        return trees_of(pd.DataFrame(part), instruction, read, by, job, None, seed), (0, 0, 0.0)
    parallel, per_task, per_rps = budget(adapter, pace.concurrency, pace.rps)
    spec = job.keyed(settings.task)
    _reduce_estimate(job, spec, adapter, read, total, settings, parallel, max_cost, confirm)
    terms = Terms(
        _without_schema(spec),
        per_task,
        per_rps,
        pace.retries,
        max_cost,
        total,
        pace.cache,
        str(cache_dir()),
        job.defaults.transport,
        job.defaults.prices,
        job.allow_key,
    )
    task = ReduceTask(settings.task, read, by, settings.budget, terms)
    key = adapter.ship_key(api_key_for(spec.endpoint.provider))
    print(
        f"grok reduce: level 1 on {adapter.name} ({parallel} task{'s' if parallel > 1 else ''} at once × {per_task} "
        "in flight); its cost is not in %grok usage"
    )
    level = adapter.reduce_level(task, key, read, by)
    trees: dict[Any, Tree] = {}
    for row in level.to_dict("records"):
        group = row["group"] if by is not None else None
        tree = trees.get(group)
        if tree is None:
            name = "" if by is None else f" (those with {by} = {group})"
            tree = trees[group] = Tree(name, group, 0, [], [], level=1, summaries=[[]], behind=[[]])
        rows = int(row["rows"])
        tree.rows += rows
        if row["error"] is None or (isinstance(row["error"], float) and math.isnan(row["error"])):
            tree.items.append(row["text"])
            tree.covered.append(rows)
            tree.summaries[0].append(row["text"])
            tree.behind[0].append(rows)
        else:
            tree.lost_rows += rows
    for tree in trees.values():
        if not tree.items:
            tree.error = "every chunk failed at level 1"
    ran = int((level["error"].isna()).sum()) if len(level) else 0
    return list(trees.values()), (ran, int(level["tokens"].sum()), float(level["cost"].sum()))


def _reduce_estimate(
    job: Any,
    spec: Any,
    adapter: Any,
    read: list[str],
    total: int,
    settings: Any,
    parallel: int,
    max_cost: float,
    confirm: Any,
) -> None:
    from grok_magics.mapping.cost import confirm_spend
    from grok_magics.model.events import Usage
    from grok_magics.model.parts import estimate_tokens
    from grok_magics.model.usage import estimate_cost, price_of
    from grok_magics.operators.reducing import SUMMARY_GUESS, item_of, levels_ahead

    head = adapter.head(50)
    items = [item_of(r, read, None) for r in head.to_dict("records")] or [""]
    per_row = sum(estimate_tokens(t) + 1 for t in items) / len(items)
    rows_tokens = per_row * total
    chunks = max(1, math.ceil(rows_tokens / (settings.budget * 0.9))) + parallel
    guess = settings.output or SUMMARY_GUESS
    ahead = levels_ahead(chunks, settings.budget, 200, guess)
    calls = chunks + sum(ahead)
    prices = price_of(spec.endpoint.model, job.defaults.prices)
    cost = (
        None
        if prices is None
        else estimate_cost(
            Usage(input=int(rows_tokens + calls * 300 + sum(ahead) * settings.budget // 2), output=calls * guess),
            prices,
        )
    )
    what = (
        f"{total:,} rows on {adapter.name}, ~{chunks:,} chunks of ≤{settings.budget:,} tokens (estimated, "
        f"characters / 4), {1 + len(ahead)} levels, ~{calls:,} calls"
    )
    confirm_spend(
        "reduce", what, f"~{calls:,} calls", cost, spec.endpoint.model, max_cost, confirm, job.defaults.prices
    )
