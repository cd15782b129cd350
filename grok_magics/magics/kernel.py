"""The settings and books of the kernel this code runs in, read off IPython's running shell: the entry points
(the ``%grok`` row commands, and ``grok_magics.map`` and friends called from Python, which use the same books as
``%grok``) look them up here and pass them down to the row jobs (``mapping.job.open_job``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grok_magics.mapping.job import Kernel

_PROCESS_BOOKS: list[Any] = []  # outside IPython: one Session per process keeps the books


def current() -> Kernel:
    """The %config settings and the kernel's books (classroom ledger, usage) when the extension is loaded here,
    else the settings from the environment and this process's own books."""
    from grok_magics.engine.ask import Defaults, Session
    from grok_magics.mapping.job import Kernel
    from grok_magics.settings import configured

    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    magics = getattr(shell, "_grok_magics", None)
    if magics is not None:
        return Kernel(magics.defaults(), magics.session, shell)
    if not _PROCESS_BOOKS:
        _PROCESS_BOOKS.append(Session())
    return Kernel(Defaults.of(configured(os.environ)), _PROCESS_BOOKS[0], shell)
