"""What every row operator (map, filter, reduce, topk) settles once per job, before its first request.

The settings and the kernel's books, locked settings, the endpoint, the output cap the classroom
allows, a key that must exist, the schema, the one gate out and the masker for key-shaped data. A
new operator opens a ``Job`` and sends its prompts through the same engine, cache and cost check
as map: it chooses prompts and validators, never how requests leave.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from grok_magics.errors import GrokError
from grok_magics.mapping.row_requests import MAP_SYSTEM, RowSpec, request_for

if TYPE_CHECKING:
    from grok_magics.model.overrides import Overrides


@dataclass(frozen=True)
class Kernel:
    """The settings and books a job runs under. The entry points — the ``%grok`` row commands, and
    ``grok_magics.map`` and friends — find them (``magics.kernel.current``) and hand them down: nothing below the
    magics layer looks them up on the running shell."""

    defaults: Any  # ask.Defaults: the %config settings, the notebook's policy joined to the caps
    session: Any  # ask.Session: the kernel's books (classroom ledger, usage), or this process's outside IPython
    shell: Any = None  # the running IPython shell (how a streamed answer is shown: reduce's last call), or None

    def variables(self) -> Any:
        """The notebook's variables, which fill a template's ``{names}`` that are no column (as in the magics)."""
        return getattr(self.shell, "user_ns", None)


@dataclass
class Job:
    verb: str  # "map", "filter", "reduce", "topk": how the job names itself in every line it prints
    defaults: Any  # ask.Defaults
    session: Any  # ask.Session (the kernel's books)
    spec: RowSpec  # what every request shares; cache_key is set per template (``keyed``)
    gate: Any  # policy.Gate
    masker: Any  # keys.KeyMasker
    allow_key: bool
    rows: int = 0  # the whole frame's rows, when a --sample runs on fewer (for the projection)
    shell: Any = None  # the running IPython shell, or None (``Kernel.shell``)

    @property
    def endpoint(self) -> Any:
        return self.spec.endpoint

    def say_masked(self) -> None:
        """Tell the reader, once per job, that key-shaped values in the rows went out masked."""
        note = self.masker.note("the rows")
        if note:
            print(f"grok {self.verb}: {note} before sending.")

    def refuse_keys_in(self, text: str, spec: RowSpec | None = None) -> None:
        """Text every request carries (a template, an instruction, the system prompt): a key refuses the job."""
        if self.allow_key:
            return
        from grok_magics.engine.policy import refuse_keys
        from grok_magics.providers.table import ConfigError

        try:
            refuse_keys(request_for(spec or self.spec, text))
        except ConfigError as exc:
            raise GrokError(f"{self.verb}: {exc}") from None

    def keyed(self, template: str, spec: RowSpec | None = None) -> RowSpec:
        from grok_magics.mapping.plan import prompt_cache_key

        spec = spec or self.spec
        return replace(spec, cache_key=prompt_cache_key(spec, template))

    def context_window(self) -> int:
        return int(self.defaults.context_window or self.endpoint.provider.context_window)


def open_job(
    verb: str,
    overrides: Overrides,
    kernel: Kernel,
    *,
    schema: Any = None,
    allow_key: bool = False,
    default_system: str = MAP_SYSTEM,
) -> Job:
    """Everything that can refuse a job before any estimate or request refuses it here, in one line.

    ``overrides`` were checked where they came in (``settings.overrides_from``); here they meet the settings
    and books of ``kernel``, which the entry point looked up."""
    from grok_magics.engine.ask import effort_for, endpoint_for
    from grok_magics.engine.policy import active_keys, settle
    from grok_magics.mapping.plan import compile_for_map
    from grok_magics.model.options import Options
    from grok_magics.privacy.key_shapes import KeyMasker
    from grok_magics.providers.table import ConfigError, api_key_for
    from grok_magics.teaching.caps import check_locks

    defaults, session = kernel.defaults, kernel.session
    try:
        session.gate(defaults, allow_key).allow(f"%grok {verb}")  # the notebook's policy refuses a job whole
        check_locks(defaults.caps, overrides.given())
        endpoint = endpoint_for(
            Options(model=overrides.model, provider=overrides.provider, api=overrides.api), defaults
        )
        temperature = overrides.temperature if overrides.temperature is not None else defaults.temperature
        max_tokens = settle(defaults.caps, endpoint, overrides.max_tokens, defaults.max_tokens, temperature)
        api_key_for(endpoint.provider)  # a missing key stops the job before any estimate or request
    except ConfigError as exc:
        raise GrokError(str(exc)) from None
    compiled = compile_for_map(schema)
    spec = RowSpec(
        endpoint=endpoint,
        system=default_system if overrides.system is None else overrides.system,
        effort=effort_for(overrides.effort or defaults.effort, endpoint.provider),
        temperature=temperature,
        max_tokens=max_tokens,
        schema=compiled,
        cache_key="",
        window=int(defaults.context_window or endpoint.provider.context_window),
    )
    masker = KeyMasker(active_keys(endpoint.provider), enabled=not allow_key)
    return Job(verb, defaults, session, spec, session.gate(defaults, allow_key), masker, allow_key, shell=kernel.shell)


@dataclass(frozen=True)
class Pace:
    """How a job's requests go out: the same knobs as map's (concurrency window, RPS, retries, cache, bar)."""

    concurrency: int = 8
    rps: float | None = None
    retries: int = 8
    cache: bool = True
    progress: bool = True


def prompt_keys(spec: RowSpec, template: str, prompts: list[str]) -> list[str]:
    """Cache keys for whole prompts (a reduce chunk, a topk group), on the same terms as a map row's."""
    from grok_magics.mapping.cache import row_key
    from grok_magics.mapping.plan import _job_params

    params = _job_params(spec)
    return [row_key(params, template, {"prompt": p}) for p in prompts]


def run_prompts(
    job: Job,
    spec: RowSpec,
    prompts: list[str],
    keys: list[str],
    validate: Any,
    pace: Pace,
    max_cost: float,
    unit: str = "call",
    desc: str = "",
) -> tuple[list[Any], Any]:
    """Send ``prompts`` (those the cache lacks) through map's engine; (outcomes, progress) in prompt order.

    ``max_cost`` is what this batch of prompts may still spend (the caller subtracts earlier spending)."""
    from grok_magics.mapping.outcomes import Outcome, Progress
    from grok_magics.mapping.plan import Plan, fill_from_cache
    from grok_magics.mapping.progress import Bar
    from grok_magics.mapping.runner import Engine, run_in_thread
    from grok_magics.providers.table import ConfigError

    outcomes: list[Outcome | None] = [None] * len(prompts)
    progress = Progress(total=len(prompts), model=spec.endpoint.model, prices=job.defaults.prices)
    fill_from_cache(Plan([], prompts, keys), spec, outcomes, progress, pace.cache)
    todo = [i for i, o in enumerate(outcomes) if o is None]
    if todo:
        engine = Engine(
            spec,
            prompts,
            keys,
            validate,
            pace.concurrency,
            pace.rps,
            max_cost,
            job.defaults.transport,
            pace.cache,
            outcomes,
            progress,
            job.gate,
            pace.retries,
            ledger_chat=f"%grok {job.verb}",
        )
        try:
            with Bar(progress, pace.progress, unit=unit, desc=desc or f"grok {job.verb}") as bar:
                run_in_thread(engine, todo, bar.tick)
        except ConfigError as exc:
            raise GrokError(str(exc)) from None
    return outcomes, progress
