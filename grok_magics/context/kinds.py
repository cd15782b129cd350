"""Telling what library an object comes from by its type alone, so nothing gets imported to check."""

from __future__ import annotations

from typing import Any


def family(value: Any) -> tuple[str, str]:
    """The top-level package and the class name of ``value``'s type: ("pandas", "DataFrame")."""
    cls = type(value)
    return cls.__module__.split(".")[0], cls.__name__


def is_frame(value: Any) -> bool:
    """A pandas or polars DataFrame held in memory: what map's rows and the data toolset read."""
    return family(value) in (("pandas", "DataFrame"), ("polars", "DataFrame"))
