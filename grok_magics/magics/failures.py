"""How a magic ends when its work raised: one line the user can act on, never a traceback of the SDK.

Every magic that asks (``%%grok``, agent cells, the row operators) runs its work through ``one_line``, so a
Ctrl-C, a setting or refusal, our own error and a bug of ours each end the cell the same way everywhere.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from IPython.core.error import UsageError

from grok_magics.errors import ConfigError, GrokError, GrokInterrupted

T = TypeVar("T")


def one_line(work: Callable[[], T], debug: bool) -> T:
    """``work()``, or the one error that ends the cell: raised outside the ``except`` block, so no chained
    context keeps the SDK's frames (and the key in their locals)."""
    failure: BaseException
    try:
        return work()
    except KeyboardInterrupt:
        failure = GrokInterrupted()
    except ConfigError as exc:
        failure = GrokError(str(exc))
    except (GrokError, UsageError) as exc:
        failure = exc
    except Exception as exc:
        failure = internal_error(exc, debug)
    raise failure


def internal_error(exc: BaseException, debug: bool) -> GrokError:
    """A bug of ours, as one line; in debug mode with the traceback, but never with frame locals.

    The SDK's frames hold request headers (the key); ``%xmode Verbose`` would print them, so the
    traceback is formatted here without locals, redacted, and the original frames are dropped.
    """
    summary = f"internal error ({type(exc).__name__}: {exc})"
    if not debug:
        return GrokError(f"{summary}; set %config GrokMagics.debug = True for the traceback, and please report it")
    import traceback

    from grok_magics.errors import GrokDebugError

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    exc.__traceback__ = None
    return GrokDebugError(f"{summary}; please report it with the traceback above", text)
