"""Turning a cell and the user's variables into message parts."""

from .references import expand

__all__ = ["expand"]
