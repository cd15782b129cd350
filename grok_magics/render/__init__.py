"""Views that consume events (live Markdown blocks, one Markdown display, text; pick one with ``make_view``, the
ask loop never knows which), the one sanitiser for text from outside, the status line, tool calls, the dry
run."""

from __future__ import annotations

from grok_magics.render.views import Header, View, make_view

__all__ = ["Header", "View", "make_view"]
