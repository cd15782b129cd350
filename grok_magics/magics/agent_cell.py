"""``%%grok --agent``: the IPython end of an agent cell (settings in, errors out as one line, ``--code``).

With the notebook page connected, the cell is run as an async cell (``awaits_agent`` rewrites it into
``await awaited(...)``): the magic parses the line as always, hands the parsed cell over instead of
running it, and ``awaited`` runs the loop with the page host, awaiting the page's buttons (see
``grok_magics.agent.host`` for why only an awaiting cell can hear them).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from grok_magics.errors import GrokInterrupted
from grok_magics.magics.failures import one_line

if TYPE_CHECKING:  # the parser is imported when an agent cell runs, not when the extension loads
    from grok_magics.model.options import Options


def agent_settings(magics: Any, defaults: Any) -> Any:
    """The agent's settings; ``auto`` approval holds only under the notebook's policy ``full`` (the policy the
    caps already carry: the strictest of the metadata, the environment and the setting)."""
    from grok_magics.agent.loop import AgentSettings

    return AgentSettings(
        approval=magics.agent_approval,
        policy=defaults.caps.policy.mode,
        max_steps=magics.agent_max_steps,
        step_seconds=magics.agent_step_seconds,
        output_bytes=magics.agent_output_bytes,
    )


@dataclass
class _Handed:
    """The parsed agent cell, handed from the magic to ``awaited``."""

    options: Options | None = None
    prompt: str = ""
    source: str = ""


def agent_cell(magics: Any, options: Options, prompt: str, source: str) -> None:
    from grok_magics.agent.loop import run_agent

    handed = getattr(magics, "_agent_handed", None)
    if isinstance(handed, _Handed) and handed.options is None:  # awaited() runs it, with the page
        handed.options, handed.prompt, handed.source = options, prompt, source
        return
    shell = magics.shell
    assert shell is not None, "GrokMagics needs a shell"
    defaults = magics.defaults()
    args = (magics.session, defaults, options, agent_settings(magics, defaults), prompt, shell.user_ns)
    run = one_line(lambda: run_agent(*args, magics._cell_key(), shell, source), magics.debug)
    if options.code and run.code():
        shell.set_next_input(run.code(), replace=False)  # the steps that ran, as one cell below; never run by us
    _raise_ending(run)


def _raise_ending(run: Any) -> None:
    reply = run.reply
    if reply.error is not None or reply.interrupted:
        from grok_magics.render.status import outcome_note

        if reply.error is not None:
            raise reply.error.shown_as(outcome_note(reply)) from None
        ran = sum(step.ran for step in run.steps)
        if ran and not reply.text_length:  # the steps are what it had done: they stay, and say so
            raise GrokInterrupted(
                f"■ Interrupted — {ran} step(s) ran; they and their outputs stay in the conversation."
            )
        raise GrokInterrupted(outcome_note(reply))


# -- with the page: the agent cell as an async cell -------------------------------------------------------
_CALL = "get_ipython().run_cell_magic('grok', "
AWAITED = "await __import__('grok_magics.magics.agent_cell', fromlist=['awaited']).awaited("


def awaits_agent(lines: list[str]) -> list[str]:
    """IPython input transformer (after the magics' own): a ``%%grok --agent`` cell in a kernel becomes an
    awaited call, so ipykernel runs it as an async cell. Also before the page has greeted: under Run All a
    page's greeting for magics loaded by the first cell is queued behind the cells (``awaited`` waits)."""
    if not lines or not lines[0].startswith(_CALL):
        return lines
    try:
        call = ast.parse("".join(lines)).body
        node = call[0].value if len(call) == 1 and isinstance(call[0], ast.Expr) else None
        line = ast.literal_eval(node.args[1]) if isinstance(node, ast.Call) and len(node.args) == 3 else ""
    except (SyntaxError, ValueError):
        return lines
    if "--agent" not in str(line).split():
        return lines
    from IPython import get_ipython

    if getattr(get_ipython(), "_grok_page", None) is None:  # no channel to a page at all (not in a kernel)
        return lines
    return [AWAITED + "".join(lines)[len(_CALL) - len("'grok', ") :]]


GREETING_SECONDS = 1.0  # how long an agent cell waits for a page's greeting (only the first, under Run All)


async def _greeted(bridge: Any) -> None:
    """Give a page's queued greeting the chance to arrive (it is handled while this cell awaits)."""
    import asyncio
    import time

    from grok_magics.engine.guard import interruptible

    end = time.monotonic() + (0.0 if getattr(bridge, "agent_greeting_missed", False) else GREETING_SECONDS)
    while not bridge.comms and time.monotonic() < end:
        await interruptible(asyncio.sleep(0.05))
    bridge.agent_greeting_missed = not bridge.comms  # nobody there: the next agent cells do not wait


async def awaited(name: str, line: str, cell: str) -> None:
    """The agent cell with the page: parsed by the magic, run here with the page's buttons and cells."""
    from IPython import get_ipython

    from grok_magics.agent.host import PageHost
    from grok_magics.agent.loop import run_agent_async
    from grok_magics.page import current_cell_id

    shell = get_ipython()
    magics = getattr(shell, "_grok_magics", None)
    bridge = getattr(shell, "_grok_page", None)
    cell_id = current_cell_id()  # before awaiting: the kernel's parent message changes meanwhile
    assert shell is not None and magics is not None
    handed = _Handed()
    magics._agent_handed = handed
    try:
        shell.run_cell_magic(name, line, cell)  # parses and checks the line; agent_cell hands the cell over
    finally:
        magics._agent_handed = None
    options = handed.options
    if options is None:
        return
    if bridge is not None and cell_id and not bridge.comms:
        await _greeted(bridge)
    if bridge is None or not bridge.comms or not cell_id:  # no page (nbclient, papermill): the inline agent
        agent_cell(magics, options, handed.prompt, handed.source)
        return
    host = PageHost(bridge, cell_id)
    below = await host.steps_below(clear=options.rerun)
    if below:
        from grok_magics.agent import display

        cells = f"{below} step cell{'s' if below != 1 else ''}"
        kept = "the answer above is the one saved with them" if host.restored else "they are the record"
        display.note(
            f"This agent cell's {cells} are below it and run as ordinary cells (Run All reproduces the analysis); "
            f"{kept}. Nothing was sent to Grok; "
            "--rerun asks again and replaces the steps."
        )
        return
    defaults = magics.defaults()
    args = (magics.session, defaults, options, agent_settings(magics, defaults), handed.prompt, shell.user_ns)
    key = magics._cell_key()
    caught: BaseException | None = None
    try:
        run = await run_agent_async(*args, key, shell, handed.source, host)
    except Exception as exc:  # sorted below by the inline rules, outside this block (no chained context)
        caught = exc
    except KeyboardInterrupt as exc:
        caught = exc
    if caught is not None:
        failed = caught

        def rethrow() -> Any:
            raise failed

        run = one_line(rethrow, magics.debug)
    _raise_ending(run)
