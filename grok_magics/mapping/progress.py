"""The progress bar: tqdm.auto, so a widget in Jupyter and text in a terminal."""

from __future__ import annotations

import sys
from typing import Any

from grok_magics.mapping.outcomes import Progress


class Bar:
    """tqdm.auto: a widget in Jupyter, text in a terminal; refreshed by the watching thread only."""

    def __init__(self, progress: Progress, show: bool, unit: str = "row", desc: str = "grok map") -> None:
        self.progress = progress
        self.desc = desc
        self.show = show
        self.unit = unit
        self.bar: Any = None
        self.seen = 0

    def __enter__(self) -> "Bar":
        if self.show:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=self.progress.total,
                initial=self.progress.cached,
                unit=self.unit,
                desc=self.desc,
                file=sys.stdout,
                dynamic_ncols=True,
            )
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

    def batch(self, state: Any) -> None:
        """A ``batch.BatchState`` read from the provider."""
        if self.bar is None:
            return
        finished = self.progress.cached + state.succeeded + state.failed
        if finished > self.seen:
            self.bar.update(finished - self.seen)
            self.seen = finished
        self.bar.set_postfix_str(f"batch: {state.pending:,} pending, {state.failed:,} failed", refresh=True)

    def say(self, line: str) -> None:
        """What a long wait is waiting for: in the bar's text, or as a printed line without a bar."""
        if self.bar is None:
            print(line, flush=True)
            return
        self.bar.set_postfix_str(line.removeprefix("map: "), refresh=True)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.tick()
            self.bar.set_postfix_str(self.progress.postfix(), refresh=False)
            self.bar.close()
