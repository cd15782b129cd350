"""The settings and books of the kernel this code runs in: the one place outside a magic call that reads
IPython's running shell (``grok_magics.map`` and friends, called from Python, use the same books as ``%grok``)."""

from __future__ import annotations

import os
from typing import Any

_PROCESS_BOOKS: list[Any] = []  # outside IPython: one Session per process keeps the books


def current() -> tuple[Any, Any]:
    """(settings, session): the %config settings and the kernel's books (classroom ledger, usage) when the
    extension is loaded here, else the built-in defaults and this process's own books."""
    from grok_magics.engine.ask import Defaults, Session
    from grok_magics.settings import configured

    try:
        from IPython import get_ipython

        magics = getattr(get_ipython(), "_grok_magics", None)
    except ImportError:
        magics = None
    if magics is not None:
        return magics.defaults(), magics.session
    if not _PROCESS_BOOKS:
        _PROCESS_BOOKS.append(Session())
    return Defaults.of(configured(os.environ)), _PROCESS_BOOKS[0]
