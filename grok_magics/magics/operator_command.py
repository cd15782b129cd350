"""``%grok map|filter|reduce|topk FRAME [options]``: the magics' thin layer over the row operators' functions.

Map's line has its own module (``map_command``); filter, reduce and topk lines are parsed and run here.
The operators (``grok_magics.operators``) take values and know nothing of magic lines."""

from __future__ import annotations

from typing import Any, MutableMapping

from IPython.core.error import UsageError

OPERATORS = ("map", "filter", "reduce", "topk")


def is_operand(value: Any) -> bool:
    """A frame an operator takes: pandas, polars (eager or lazy), Spark or Dask (recognised without importing them)."""
    from grok_magics.engines import kind_of
    from grok_magics.mapping.table_io import is_frame

    return is_frame(value) or kind_of(value) is not None


def run_operator_magic(verb: str, line: str, cell: str | None, namespace: MutableMapping[str, Any]) -> Any:
    from grok_magics.magics.command_line import parse_operator
    from grok_magics.magics.inputs import trim_blank_lines as _trim

    if verb == "map":
        from grok_magics.magics.map_command import run_map_magic

        return run_map_magic(line, cell, namespace, is_operand)
    name, opts, text = parse_operator(verb, line, cell is not None)
    frame = namespace.get(name)
    if not is_operand(frame):
        raise UsageError(
            f"{verb}: {name} is not a pandas or polars DataFrame (nor a Spark, Dask or polars lazy "
            "frame) in this notebook"
        )
    text = _trim(cell) if cell is not None else text
    if not text:
        raise UsageError(f"{verb}: write the {_WHAT[verb]} in the cell below %%grok {verb}")
    out = opts.pop("out")
    opts["confirm"] = True if opts.pop("yes") else None
    opts["cache"] = not opts.pop("no_cache")
    result = _run(verb, frame, text, opts, namespace)
    if out:
        namespace[out] = result
    return None if verb == "reduce" and not opts.get("by") else result  # a reduce's answer was streamed already


_WHAT = {
    "filter": "yes/no question (with {column} names)",
    "reduce": "task (e.g. the three main complaints in {review})",
    "topk": "criterion (e.g. the most detailed bug report in {text})",
}


def _run(verb: str, frame: Any, text: str, opts: dict[str, Any], namespace: Any) -> Any:
    from grok_magics.magics.kernel import current
    from grok_magics.settings import pop_overrides

    overrides = pop_overrides(opts)  # the line's model, provider, api, effort, system, temperature, max_tokens
    kernel = current()  # the kernel's settings and books, looked up here and passed down
    if verb == "filter":
        from grok_magics.mapping.job_options import JobOptions
        from grok_magics.operators.filter import filter_frame

        return filter_frame(frame, text, overrides, kernel, JobOptions.of("filter", {**opts, "namespace": namespace}))
    if verb == "reduce":
        from grok_magics.operators.reduce import reduce_frame

        return reduce_frame(frame, text, overrides, kernel, namespace=namespace, **opts)
    from grok_magics.operators.topk import topk_frame

    return topk_frame(frame, text, opts.pop("k"), overrides, kernel, namespace=namespace, **opts)
