"""Views: consumers of stream events. Pick one with ``make_view``; the ask loop never knows which."""

from __future__ import annotations

from grok_magics.render.views import Header, View, make_view

__all__ = ["Header", "View", "make_view"]
