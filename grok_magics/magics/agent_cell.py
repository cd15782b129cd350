"""``%%grok --agent``: the IPython end of an agent cell (settings in, errors out as one line, ``--code``)."""

from __future__ import annotations

from typing import Any, Callable

from IPython.core.error import UsageError

from grok_magics.errors import GrokError, GrokInterrupted
from grok_magics.magics.options import Options


def agent_settings(magics: Any) -> Any:
    from grok_magics.agent.loop import AgentSettings

    return AgentSettings(
        approval=magics.agent_approval,
        policy=classroom_policy(magics),
        max_steps=magics.agent_max_steps,
        step_seconds=magics.agent_step_seconds,
        output_bytes=magics.agent_output_bytes,
    )


def classroom_policy(magics: Any) -> str | None:
    """The notebook's classroom policy name, None without one. Hook: the classroom work provides the policy
    (e.g. a ``classroom_policy`` setting); until then no policy applies and ``auto`` is allowed."""
    value = getattr(magics, "classroom_policy", None)
    return str(value) if value else None


def agent_cell(
    magics: Any, options: Options, prompt: str, source: str, internal_error: Callable[[BaseException, bool], Any]
) -> None:
    """``internal_error``: the magics' own one line for an unexpected failure (passed in: no import cycle)."""
    from grok_magics.agent.loop import run_agent
    from grok_magics.errors import ConfigError

    shell = magics.shell
    failure: BaseException | None = None
    run = None
    try:
        assert shell is not None, "GrokMagics needs a shell"
        run = run_agent(
            magics.session,
            magics.defaults(),
            options,
            agent_settings(magics),
            prompt,
            shell.user_ns,
            magics._cell_key(),
            shell,
            source,
        )
    except KeyboardInterrupt:
        failure = GrokInterrupted()
    except ConfigError as exc:
        failure = GrokError(str(exc))
    except (GrokError, UsageError) as exc:
        failure = exc
    except Exception as exc:
        failure = internal_error(exc, magics.debug)
    if failure is not None:
        raise failure  # outside the except block: no chained context holding SDK frames (and keys)
    assert run is not None
    reply = run.reply
    if options.code and run.code():
        shell.set_next_input(run.code(), replace=False)  # the steps that ran, as one cell below; never run by us
    if reply.error is not None or reply.interrupted:
        from grok_magics.render.status import outcome_note

        if reply.error is not None:
            raise reply.error.shown_as(outcome_note(reply)) from None
        raise GrokInterrupted(outcome_note(reply))
