"""``%%grok map FRAME [options]``: the magic's thin layer over ``map_frame``."""

from __future__ import annotations

from typing import Any, Callable, MutableMapping

from IPython.core.error import UsageError

from grok_magics.errors import SchemaError
from grok_magics.magics.command_line import parse_map
from grok_magics.magics.inputs import trim_blank_lines as _trim
from grok_magics.magics.kernel import current
from grok_magics.mapping.job_options import JobOptions
from grok_magics.settings import overrides_of
from grok_magics.structured.schemas import schema_from


def run_map_magic(
    line: str, cell: str | None, namespace: MutableMapping[str, Any], is_frame: Callable[[Any], bool]
) -> Any:
    from grok_magics.operators.map import map_frame

    name, opts, template = parse_map(line, cell is not None)
    frame = namespace.get(name)
    if not is_frame(frame):
        raise UsageError(
            f"map: {name} is not a pandas or polars DataFrame (nor a Spark, Dask or polars lazy frame) in this notebook"
        )
    template = _trim(cell) if cell is not None else template
    if not template:
        raise UsageError("map: write the template (with {column} names) in the cell below %%grok map")
    try:
        schema = schema_from(opts.schema, namespace)
    except SchemaError as exc:
        raise UsageError(str(exc)) from None
    result = map_frame(
        frame,
        template,
        overrides_of(opts),  # model, provider, api, effort, system, temperature, max_tokens
        current(),  # the kernel's settings and books, looked up here and passed down
        JobOptions.of(  # checked as grok_magics.map checks them (the parser already refused most)
            "map",
            dict(
                concurrency=opts.concurrency,
                out_col=opts.out_col,
                schema=schema,
                max_cost=opts.max_cost,
                rps=opts.rps,
                cache=not opts.no_cache,
                batch=opts.batch,
                batch_id=opts.batch_id,
                confirm=True if opts.yes else None,
                namespace=namespace,
                poll_every=opts.poll_every,
                retries=opts.retries,
                allow_key=opts.allow_key,
                sample=opts.sample,
                seed=opts.seed,
            ),
        ),
    )
    if opts.out:
        namespace[opts.out] = result
    return result
