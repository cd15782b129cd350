"""The prompt and what it references become typed parts: tables (``tables``), images, notebook outputs, the
failing cell for ``%grok fix``."""

from grok_magics.context.attach import Built, ContextSettings, build
from grok_magics.errors import ContextError

__all__ = ["Built", "ContextError", "ContextSettings", "build"]
