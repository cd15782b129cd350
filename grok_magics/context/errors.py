"""The one error type of context building: what cannot be attached, and what to do about it."""

from __future__ import annotations

from ..providers import ConfigError


class ContextError(ConfigError):
    """A reference, table or image that cannot be sent; raised before any request leaves the kernel."""
