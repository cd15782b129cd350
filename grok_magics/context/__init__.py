"""Turning a cell and the user's variables into message parts: references, tables, images, notebook."""

from grok_magics.context.attach import Built, ContextSettings, build
from grok_magics.errors import ContextError

__all__ = ["Built", "ContextError", "ContextSettings", "build"]
