"""The progress bar: tqdm.auto, so a widget in Jupyter and text in a terminal."""

from __future__ import annotations

import sys
from typing import Any

from .outcomes import Progress


class Bar:
    """tqdm.auto: a widget in Jupyter, text in a terminal; refreshed by the watching thread only."""

    def __init__(self, progress: Progress, show: bool, unit: str = "row") -> None:
        self.progress = progress
        self.show = show
        self.unit = unit
        self.bar: Any = None
        self.seen = 0

    def __enter__(self) -> "Bar":
        if self.show:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.progress.total, initial=self.progress.cached, unit=self.unit,
                            desc="grok map", file=sys.stdout, dynamic_ncols=True)
            self.seen = self.progress.cached
        return self

    def tick(self) -> None:
        if self.bar is None:
            return
        finished = self.progress.done + self.progress.failed
        if finished > self.seen:
            self.bar.set_postfix_str(self.progress.postfix(), refresh=False)
            self.bar.update(finished - self.seen)
            self.seen = finished

    def batch(self, state: dict[str, int]) -> None:
        if self.bar is None:
            return
        finished = self.progress.cached + state.get("num_success", 0) + state.get("num_error", 0)
        if finished > self.seen:
            self.bar.update(finished - self.seen)
            self.seen = finished
        self.bar.set_postfix_str(f"batch: {state.get('num_pending', 0):,} pending, "
                                 f"{state.get('num_error', 0):,} failed", refresh=True)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.tick()
            self.bar.set_postfix_str(self.progress.postfix(), refresh=False)
            self.bar.close()
