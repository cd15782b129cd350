"""grok-magics: ``%%grok`` for IPython and Jupyter, streaming xAI Grok 4.3 answers.

Loading must stay cheap (it may run at every IPython start-up): the SDK, widgets and Markdown
parser are imported on the first ask, not here.

``map``, ``filter``, ``reduce`` and ``topk`` are entry points, as the magics are: they look up the running
kernel's settings and books (``magics.kernel.current``; outside IPython, the environment's settings) and
pass them down to the row jobs.
"""

from __future__ import annotations

from typing import Any

from grok_magics.errors import GrokError
from grok_magics.version import __version__

__all__ = [
    "__version__",
    "GrokError",
    "filter",
    "load_ipython_extension",
    "map",
    "reduce",
    "tool",
    "topk",
    "unload_ipython_extension",
]


def tool(fn: Any = None, *, side_effects: bool = False, name: str | None = None) -> Any:
    """Mark a function as a tool for ``--tools``: ``@grok_magics.tool(side_effects=True)`` asks before each run."""
    from grok_magics.tools.functions import tool as mark

    return mark(fn, side_effects=side_effects, name=name)


def map(df: Any, template: str, **options: Any) -> Any:  # noqa: A001 - the verb users expect
    """Run ``template`` once per row of ``df`` (pandas or polars) and return a new frame with the results.

    Options: ``concurrency=8, out_col="grok", schema=None, model, provider, api, effort, system,
    temperature, max_tokens, max_cost=1.0, rps=None, cache=True, batch=False, batch_id=None,
    confirm=None, progress=True, namespace=None`` (the ``{names}`` that are no column: by default the
    notebook's variables, as in ``%grok map``). See the README, "%grok map".
    """
    from grok_magics.magics.kernel import current
    from grok_magics.mapping.job_options import JobOptions
    from grok_magics.operators.map import map_frame
    from grok_magics.settings import pop_overrides

    overrides, kernel = pop_overrides(options), current()
    options.setdefault("namespace", kernel.variables())
    return map_frame(df, template, overrides, kernel, JobOptions.of("map", options))


def filter(df: Any, question: str, **options: Any) -> Any:  # noqa: A001 - the verb users expect
    """The rows of ``df`` for which a yes/no ``question`` (with ``{column}`` names) holds.

    Options as for ``map``, plus ``reason=False`` (a ``keep_reason`` column), ``keep_all=False`` (every row
    with its verdict), ``sample=None`` (run N seeded rows first and print projections). See the README.
    """
    from grok_magics.magics.kernel import current
    from grok_magics.mapping.job_options import JobOptions
    from grok_magics.operators.filter import filter_frame
    from grok_magics.settings import pop_overrides

    overrides, kernel = pop_overrides(options), current()
    options.setdefault("namespace", kernel.variables())
    return filter_frame(df, question, overrides, kernel, JobOptions.of("filter", options))


def reduce(df: Any, instruction: str, **options: Any) -> Any:
    """One answer over a whole column (or per group, ``by=``), however many rows: chunks that fit the context
    window are summarised, and the summaries combined level by level. Returns a ``Reduction``."""
    from grok_magics.magics.kernel import current
    from grok_magics.operators.reduce import reduce_frame
    from grok_magics.settings import pop_overrides

    return reduce_frame(df, instruction, pop_overrides(options), current(), **options)


def topk(df: Any, criterion: str, k: int = 10, **options: Any) -> Any:
    """The ``k`` rows that best match ``criterion``, ranked by a listwise tournament in bounded calls."""
    from grok_magics.magics.kernel import current
    from grok_magics.operators.topk import topk_frame
    from grok_magics.settings import pop_overrides

    return topk_frame(df, criterion, k, pop_overrides(options), current(), **options)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the prebuilt page extension lives in this package (for ``jupyter-builder develop``)."""
    return [{"src": "labextension", "dest": "grok-magics"}]


def load_ipython_extension(shell: Any) -> None:
    from grok_magics.magics.grok import GrokMagics
    from grok_magics.magics.inputs import protect_question_marks

    if getattr(shell, "_grok_magics", None) is not None:
        return  # auto-loaded at start-up: a later %load_ext is a silent no-op
    magics = GrokMagics(shell=shell, parent=shell)
    shell.register_magics(magics)
    if magics not in shell.configurables:  # Magics.__init__ already adds itself
        shell.configurables.append(magics)
    shell.events.register("pre_run_cell", magics.pre_run_cell)
    shell.events.register("post_run_cell", magics.post_run_cell)
    shell.input_transformers_cleanup.append(protect_question_marks)
    from grok_magics.magics.agent_cell import awaits_agent  # agent cells: async with the page

    shell.input_transformers_post.append(awaits_agent)
    shell._grok_magics = magics
    if getattr(shell, "kernel", None) is not None:  # the channel to the notebook page exists only in a kernel
        from grok_magics.page import attach

        attach(shell)


def unload_ipython_extension(shell: Any) -> None:
    magics: Any = getattr(shell, "_grok_magics", None)
    if magics is None:
        return
    for kind in ("line", "cell"):
        table = shell.magics_manager.magics[kind]
        if getattr(table.get("grok"), "__self__", None) is magics:
            del table["grok"]
    registry = shell.magics_manager.registry
    for name, instance in list(registry.items()):
        if instance is magics:
            del registry[name]
    shell.configurables[:] = [c for c in shell.configurables if c is not magics]
    for event in ("pre_run_cell", "post_run_cell"):
        try:
            shell.events.unregister(event, getattr(magics, event))
        except ValueError:
            pass
    from grok_magics.magics.inputs import protect_question_marks

    cleanup = shell.input_transformers_cleanup
    cleanup[:] = [t for t in cleanup if t is not protect_question_marks]
    from grok_magics.magics.agent_cell import awaits_agent

    shell.input_transformers_post[:] = [t for t in shell.input_transformers_post if t is not awaits_agent]
    from grok_magics.page import detach

    detach(shell)
    magics.close()
    del shell._grok_magics
