"""An ask under the 'hints' policy: shaped by the tutor, held until checked, regenerated or replaced when it leaks.

Tutor answers are not streamed: the view gets nothing until the check has passed, so a draft that gives the
solution away never reaches the page, the saved notebook or the chat history (the next request would carry
it back). Reasoning is dropped from what is shown, since it can hold the solution too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from grok_magics.errors import ConfigError
from grok_magics.model.events import Ended, Failed, Finished, Interrupted, Note, Started, TextDelta
from grok_magics.model.reply import Reply
from grok_magics.model.request import Request
from grok_magics.render import Header, View
from grok_magics.teaching.tutor import LEVELS, Guidance, fallback_hint, guidance_for, leak, rung, system_prompt

REPLACED = "the tutor held back an answer that gave the solution away ({why}); this hint stands in for it"
REGENERATED = "the tutor's first draft gave the solution away and was asked again"


@dataclass
class HeldView:
    """Takes everything a view would and shows nothing; the checked reply is released to the real view."""

    header: Header | None = None

    def start(self, header: Header) -> None:
        self.header = header

    def update(self, reply: Reply, event: Any) -> None:
        pass

    def finish(self, reply: Reply) -> None:
        pass


def release(view: View, header: Header, reply: Reply) -> None:
    view.start(header)
    if reply.text:
        view.update(reply, TextDelta(reply.text))
    view.finish(reply)


@dataclass
class Tutor:
    guidance: Guidance
    step: int
    key: tuple[str, str]  # (chat, exercise cell id): the ladder climbs per chat and exercise
    base_system: str

    def shape(self, request: Request, firmer: bool = False) -> Request:
        return replace(request, system=system_prompt(self.base_system, self.guidance, self.step, firmer))

    def header(self, header: Header) -> Header:
        level = rung(self.step)
        said = f"tutor: {level} ({LEVELS.index(level) + 1}/{len(LEVELS)})"
        return replace(header, note=" · ".join(n for n in (header.note, said) if n))

    def checked(self, request: Request, reply: Reply, again: Callable[[Request], Reply]) -> Reply:
        """The reply to show: as it was when it gives nothing away; else asked once more; else a hint."""
        why = leak(reply.text, self.guidance)
        if why is None:
            return _shown(reply)
        if reply.error is not None or reply.interrupted:
            return _shown(reply, "", [REPLACED.format(why=why)])
        second = again(self.shape(request, firmer=True))
        usage = reply.usage + second.usage if reply.usage and second.usage else (second.usage or reply.usage)
        if (
            second.error is None
            and not second.interrupted
            and second.text.strip()
            and leak(second.text, self.guidance) is None
        ):
            return _shown(second, second.text, [REGENERATED], usage)
        why = leak(second.text, self.guidance) or why
        return _shown(second, fallback_hint(self.guidance, self.step), [REPLACED.format(why=why)], usage, clean=True)


def _shown(
    reply: Reply, text: str | None = None, notes: list[str] | None = None, usage: Any = None, clean: bool = False
) -> Reply:
    """A fresh reply holding only what may be shown: the text, the usage, how it ended, notes; no reasoning."""
    shown = Reply(started=reply.started)
    if reply.response_id:
        shown.add(Started(reply.response_id))
    body = reply.text if text is None else text
    if body:
        shown.add(TextDelta(body))
    total = usage if usage is not None else reply.usage
    if total is not None:
        shown.add(total)
    if reply.finish is not None:
        shown.add(Finished(reply.finish.reason, reply.finish.complete, kind=reply.finish.kind))
    if not clean:
        if reply.error is not None:
            shown.add(Failed(reply.error))
        if reply.interrupted:
            shown.add(Interrupted())
    for note in [*reply.notes, *(notes or [])]:
        shown.add(Note(note))
    shown.add(Ended(reply.ended or reply.started))
    return shown


def tutor_for(session: Any, options: Any, page: Any, chat: Any, system: str) -> Tutor:
    """The tutor for this ask; refuses what it cannot check (tools, searches, structured output, a dry run)."""
    refused = [
        flag
        for flag, given in (
            ("--tools", options.tools),
            ("--search", options.search),
            ("--json/--schema", options.json or options.schema),
            ("--dry-run", options.dry_run),
        )
        if given
    ]
    if refused or session.chat_tools.get(chat.name):
        which = ", ".join(refused) or "%grok tools"
        raise ConfigError(
            f"{which} cannot be used under the 'hints' policy: the tutor answers in prose it checks first "
            "(a dry run would show its private guidance); nothing was sent"
        )
    cells = page.above if page is not None else ()
    guidance = guidance_for(cells, Path.cwd())
    key = (chat.name, guidance.exercise.key if guidance.exercise is not None else "")
    steps = session.tutor_steps
    if not chat.turns:  # a new or reset chat starts the ladder again
        for old in [k for k in steps if k[0] == chat.name]:
            del steps[old]
    return Tutor(guidance, steps.get(key, 0), key, system)


def climbed(session: Any, tutor: Tutor, reply: Reply) -> None:
    """An answered ask moves this chat one rung up for this exercise."""
    if reply.error is None and not reply.interrupted and reply.text.strip():
        session.tutor_steps[tutor.key] = tutor.step + 1
