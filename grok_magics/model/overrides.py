"""What one row job (map, filter, reduce, topk) was asked to use instead of the settings: its per-call overrides.

The entry points (``grok_magics.map(..., temperature=...)``, ``%grok map --temperature ...``) build one value,
checked by the settings table's rules (``settings.overrides_from``), and the job's layers pass it down whole to
``mapping.job.open_job``, which settles it against the settings. Its fields are the table's ``OVERRIDES`` (a
test keeps the two the same); spelled out here so type checkers see them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Overrides:
    """None: not given, the setting's value holds."""

    provider: str | None = None
    model: str | None = None
    effort: str | None = None
    api: str | None = None
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None

    def given(self) -> dict[str, Any]:
        """Every field by name, None included (what ``settings.check_overrides`` and ``check_locks`` read)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
