"""Turning a cell and the user's variables into message parts: references, tables, images, notebook."""

from .attach import Built, ContextSettings, build
from .errors import ContextError

__all__ = ["Built", "ContextError", "ContextSettings", "build"]
