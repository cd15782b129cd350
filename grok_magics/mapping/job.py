"""What every row operator (map, filter, reduce, topk) settles once per job, before its first request.

The settings and the kernel's books, locked settings, the endpoint, the output cap the classroom
allows, a key that must exist, the schema, the one gate out and the masker for key-shaped data. A
new operator opens a ``Job`` and sends its prompts through the same engine, cache and cost check
as map: it chooses prompts and validators, never how requests leave.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..errors import GrokError
from .requests import MAP_SYSTEM, RowSpec, request_for


@dataclass
class Job:
    verb: str  # "map", "filter", "reduce", "topk": how the job names itself in every line it prints
    defaults: Any  # ask.Defaults
    session: Any  # ask.Session (the kernel's books)
    spec: RowSpec  # what every request shares; cache_key is set per template (``keyed``)
    gate: Any  # policy.Gate
    masker: Any  # keys.KeyMasker
    allow_key: bool

    @property
    def endpoint(self) -> Any:
        return self.spec.endpoint

    def refuse_keys_in(self, text: str, spec: RowSpec | None = None) -> None:
        """Text every request carries (a template, an instruction, the system prompt): a key refuses the job."""
        if self.allow_key:
            return
        from ..policy import refuse_keys
        from ..providers import ConfigError

        try:
            refuse_keys(request_for(spec or self.spec, text))
        except ConfigError as exc:
            raise GrokError(f"{self.verb}: {exc}") from None

    def keyed(self, template: str, spec: RowSpec | None = None) -> RowSpec:
        from .plan import prompt_cache_key

        spec = spec or self.spec
        return replace(spec, cache_key=prompt_cache_key(spec, template))

    def context_window(self) -> int:
        return int(self.defaults.context_window or self.endpoint.provider.context_window)


def open_job(verb: str, *, model: str | None = None, provider: str | None = None, api: str | None = None,
             effort: str | None = None, system: str | None = None, temperature: float | None = None,
             max_tokens: int | None = None, schema: Any = None, allow_key: bool = False,
             default_system: str = MAP_SYSTEM) -> Job:
    """Everything that can refuse a job before any estimate or request refuses it here, in one line."""
    from ..ask import active_keys, effort_for, endpoint_for
    from ..caps import check_locks
    from ..keys import KeyMasker
    from ..options import Options
    from ..policy import settle
    from ..providers import ConfigError, api_key_for
    from .plan import compile_for_map, settings

    defaults, session = settings()
    try:
        check_locks(defaults.caps, {"model": model, "provider": provider, "api": api, "effort": effort,
                                    "system": system})
        endpoint = endpoint_for(Options(model=model, provider=provider, api=api), defaults)
        temperature = temperature if temperature is not None else defaults.temperature
        max_tokens = settle(defaults.caps, endpoint, max_tokens, defaults.max_tokens, temperature)
        api_key_for(endpoint.provider)  # a missing key stops the job before any estimate or request
    except ConfigError as exc:
        raise GrokError(str(exc)) from None
    compiled = compile_for_map(schema)
    spec = RowSpec(endpoint=endpoint, system=default_system if system is None else system,
                   effort=effort_for(effort or defaults.effort, endpoint.provider), temperature=temperature,
                   max_tokens=max_tokens, schema=compiled, cache_key="")
    masker = KeyMasker(active_keys(endpoint.provider), enabled=not allow_key)
    return Job(verb, defaults, session, spec, session.gate(defaults, allow_key), masker, allow_key)
