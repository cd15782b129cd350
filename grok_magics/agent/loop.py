"""The agent loop: ask, run the steps Grok proposes (once approved), send back what they did, until Grok
answers in prose, the step limit, a cap, Stop or Ctrl-C.

It is the ask's tool loop with three differences, which is why it drives ``engine.ask``'s pieces itself
instead of passing a tool to ``ask.run``: a step may be refused or may stop the whole loop (a tool call
can only fail), what a step showed (figures) goes back as image parts after the tool results, and each
model response gets a view of its own, finished before the step runs, so the cell reads in order: what
Grok said, the step, its decision and outputs, what Grok said next. Every request still passes the gate
out and is booked (``Books``), cassettes record and replay it, and the partial conversation is kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, MutableMapping

from grok_magics.agent import display
from grok_magics.agent.approval import STOP, Asker, ask_stdin, effective_mode
from grok_magics.agent.execution import StepOutcome, run_step
from grok_magics.agent.feedback import Feedback, feedback_for, hidden_values
from grok_magics.agent.host import Host, InlineHost, drive
from grok_magics.agent.scan import risks as scan_risks
from grok_magics.agent.tool import GUIDE, RUN_PYTHON, read
from grok_magics.engine.ask import (
    Books,
    Defaults,
    Session,
    conclude,
    data_masker,
    dry_run,
    empty_answer,
    header_for,
    images_refused,
    prepare,
    remember_turn,
    replayed_header,
    stream_round,
)
from grok_magics.engine.guard import AskGuard
from grok_magics.errors import ConfigError
from grok_magics.model.conversation import CellKey
from grok_magics.model.events import Ended, Event, Failed, Interrupted, Note, ToolCall, ToolResult
from grok_magics.model.options import Options
from grok_magics.model.parts import ImagePart
from grok_magics.model.reply import Reply
from grok_magics.model.request import Request, Round
from grok_magics.providers.table import PROVIDERS
from grok_magics.render import Header, View, make_view
from grok_magics.teaching.tape import Tape

AGENT_META = "grok_magics_agent"
INTERRUPTED = "interrupted (Ctrl-C)"


@dataclass(frozen=True)
class AgentSettings:
    """The agent's settings (GrokMagics.agent_*), passed in by the magics."""

    approval: str = "confirm"
    policy: str | None = None  # the classroom policy of this notebook, None without one (see approval)
    max_steps: int = 10
    step_seconds: float = 60.0
    output_bytes: int = 20_000


@dataclass
class Step:
    """One proposed step and what became of it: the record the answer shows and the metadata keeps."""

    number: int
    code: str
    purpose: str
    risks: list[str] = field(default_factory=list)
    decision: str = ""  # run | skip | stop | "" (never asked: limit, interrupt, unreadable call)
    by: str = ""
    status: str = "not run"  # ran | failed | timed out | interrupted | skipped | not run: <why>
    seconds: float = 0.0

    @property
    def ran(self) -> bool:
        return self.status in ("ran", "failed", "timed out", "interrupted")

    def meta(self) -> dict[str, Any]:
        return {
            "step": self.number,
            "purpose": self.purpose,
            "code": self.code,
            "risks": self.risks,
            "decision": self.decision,
            "by": self.by,
            "status": self.status,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class AgentRun:
    mode: str
    mode_note: str = ""
    steps: list[Step] = field(default_factory=list)
    reply: Reply = field(default_factory=Reply)
    stopped: str = ""  # why the loop ended other than by an answer in prose

    def meta(self) -> dict[str, Any]:
        return {
            "approval": self.mode,
            "approval_note": self.mode_note,
            "steps": [s.meta() for s in self.steps],
            "stopped": self.stopped,
        }

    def code(self) -> str:
        """The steps that ran, as one cell (``--code``)."""
        return "\n\n".join(
            f"# Step {s.number}" + (f": {s.purpose}" if s.purpose else "") + f"\n{s.code}" for s in self.steps if s.ran
        )


class RoundView:
    """One model response's view: the step display shows the calls, so they are not drawn as tool calls."""

    def __init__(self, inner: View) -> None:
        self.inner = inner
        self.shown = Reply()

    def start(self, header: Header) -> None:
        self.inner.start(header)

    def update(self, reply: Reply, event: Event) -> None:
        if isinstance(event, ToolCall):
            return
        self.shown.add(event)
        self.inner.update(self.shown, event)

    def finish(self, overall: Reply) -> None:
        if overall.error is not None:
            self.shown.add(Failed(overall.error))
        if overall.interrupted:
            self.shown.add(Interrupted())
        for line in overall.notes:
            self.shown.add(Note(line))
        self.shown.add(Ended(time.monotonic()))
        self.inner.finish(self.shown)


def check_agent(request: Request, options: Options) -> None:
    """What --agent cannot do, refused before anything is sent."""
    provider = request.endpoint.provider
    if not provider.tools:  # the capability row says so: no provider name is tested here
        takers = ", ".join(p.name for p in PROVIDERS.values() if p.tools)
        raise ConfigError(
            f"{provider.title} does not offer tool calling, which --agent needs; nothing was sent. "
            f"Use --provider with one of {takers}"
        )
    if options.tools or options.search:
        raise ConfigError("--agent gives Grok its own tool (run_python): drop --tools and --search")
    if options.json or options.schema:
        raise ConfigError("--agent answers in prose: drop --json / --schema")


def agent_request(request: Request) -> Request:
    return replace(request, system=(request.system or "") + GUIDE, tools=(RUN_PYTHON,))


def run_agent(
    session: Session,
    defaults: Defaults,
    options: Options,
    settings: AgentSettings,
    prompt: str,
    namespace: MutableMapping[str, Any],
    cell_key: CellKey | None,
    shell: Any,
    source: str = "",
    ask: Asker = ask_stdin,
) -> AgentRun:
    """The agent without the page: steps in the answer, approval through ``ask`` (nothing awaits)."""
    host = InlineHost(ask)
    return drive(
        run_agent_async(session, defaults, options, settings, prompt, namespace, cell_key, shell, source, host)
    )


async def run_agent_async(
    session: Session,
    defaults: Defaults,
    options: Options,
    settings: AgentSettings,
    prompt: str,
    namespace: MutableMapping[str, Any],
    cell_key: CellKey | None,
    shell: Any,
    source: str = "",
    host: Host | None = None,
) -> AgentRun:
    """The loop; ``host`` shows and approves the steps (the page's cells, or the answer and a prompt)."""
    from grok_magics.context.references import referenced_names
    from grok_magics.context.tables import Privacy, is_table

    request, chat = prepare(session, defaults, options, prompt, namespace, cell_key)
    check_agent(request, options)
    request = agent_request(request)
    mode, mode_note = effective_mode(settings.approval, settings.policy)
    run = AgentRun(mode, mode_note)
    if options.dry_run:
        dry_run(session, defaults, options, request, shell)
        return run
    masker = data_masker(options, request.endpoint.provider)
    privacy = Privacy(options.schema_only, options.exclude, defaults.redact_columns, masker)
    named = list(dict.fromkeys([*referenced_names(prompt), *(options.data or ())]))
    frames = {n: namespace[n] for n in named if n in namespace and is_table(namespace[n])}
    hidden = hidden_values(frames, privacy) if privacy.redact or privacy.exclude else frozenset()
    header = header_for(request, chat.name, defaults.prices)
    tape = Tape(session, defaults, options.max_tokens or defaults.max_tokens)
    recorded = tape.find(request)

    def connect() -> Any:
        return session.clients.get(request.endpoint, defaults.transport)

    books = Books(session.gate(defaults, options.allow_key), chat.name, first_admitted=recorded is None)
    books.gate.allow("agent cells")  # the notebook's policy, in the line an agent cell should read
    if recorded is None:
        books.gate.admit(request, connect)
    display.note(f"Agent · approval: {mode}" + (f" ({mode_note})" if mode_note else ""))
    reply = run.reply
    transport = defaults.transport
    budget = options.budget or defaults.context_tokens
    context = _Context(
        shell, settings, privacy, hidden, defaults, named, host or InlineHost(ask_stdin), request, budget
    )
    with AskGuard(transport.timeout, transport.deadline) as guard:
        try:
            limit_said = False
            while True:
                inner = make_view(defaults.display, shell, defaults.headings)
                if reply.rounds and hasattr(inner, "tools"):
                    inner.tools = False  # the live view's page script is sent once per cell, not per response
                view = RoundView(inner)
                view.start(replayed_header(header) if tape.replayed else header)
                first = not reply.rounds
                admitted = first and books.first_admitted
                stream_round(request, connect, view, reply, transport, guard, tape, recorded, books, admitted)
                recorded = None
                done = reply.error is not None or reply.interrupted or not reply.tool_calls or not reply.complete
                if done and not reply.text.strip() and not reply.tool_calls and reply.error is None:
                    if not reply.interrupted:
                        reply.add(Failed(empty_answer(request, reply)))
                view.finish(reply)
                if done:
                    break
                over = len(run.steps) >= settings.max_steps
                if over and limit_said:  # told once that the limit is reached, and still asking for steps
                    run.stopped = f"step limit ({settings.max_steps}) reached"
                    _close_round(reply, request, run, context, "the step limit is reached")
                    break
                limit_said = limit_said or over
                finished = await _run_calls(reply, request, run, context)
                reply.add(finished)
                request = replace(request, rounds=request.rounds + (finished,))
                if run.stopped:
                    break
                guard.wait_for_headers_again(0.0)
        finally:
            guard.end()
    if masker.count:
        reply.add(Note(masker.note("step outputs")))
        display.note(masker.note("the step outputs sent to Grok"))
    reply.add(Ended(time.monotonic()))
    if run.stopped and not reply.interrupted:
        display.note(f"Agent stopped: {run.stopped}.")
    if not options.no_history and reply.error is None and (reply.text or reply.rounds):
        session.chats.forget_elsewhere(cell_key, keep=chat.name)
    turn = conclude(chat, request, reply, cell_key, options.no_history)
    remember_turn(session, turn, header, reply, source, replayed=tape.replayed)
    _summary(run)
    return run


@dataclass(frozen=True)
class _Context:
    shell: Any
    settings: AgentSettings
    privacy: Any
    hidden: frozenset[str]
    defaults: Defaults
    named: list[str]
    host: Host
    request: Request
    budget: int  # tokens of each table's context block (--budget, else GrokMagics.context_tokens)

    @property
    def images_allowed(self) -> bool:
        return not images_refused(self.request.endpoint)


async def _run_calls(reply: Reply, request: Request, run: AgentRun, context: _Context) -> Round:
    """Every call of this response gets a result (the APIs pair them); a stop answers the rest unrun."""
    images: list[ImagePart] = []
    calls = list(reply.tool_calls)
    try:
        for call in calls:
            if run.stopped:
                reply.add(_unrun(call, f"not run: the agent stopped ({run.stopped})"))
                continue
            result, shown = await _one_call(call, run, context)
            reply.add(result)
            images.extend(shown)
            if run.stopped == INTERRUPTED and not reply.interrupted:
                reply.add(Interrupted())
    except KeyboardInterrupt:
        run.stopped = INTERRUPTED
        if not reply.interrupted:
            reply.add(Interrupted())
        answered = {r.call_id for r in reply.tool_results}
        for call in calls:
            if call.call_id not in answered:
                reply.add(_unrun(call, "not run: the user interrupted the agent"))
    return reply.tool_round(request, tuple(images))


def _close_round(reply: Reply, request: Request, run: AgentRun, context: _Context, why: str) -> None:
    """The last response's calls answered unrun, so the conversation kept in history stays valid."""
    for call in reply.tool_calls:
        run.steps.append(Step(len(run.steps) + 1, read(call).code, read(call).purpose, status=f"not run: {why}"))
        reply.add(_unrun(call, f"not run: {why}"))
    reply.add(reply.tool_round(request))


def _unrun(call: ToolCall, why: str) -> ToolResult:
    import json

    return ToolResult(call.call_id, call.name, json.dumps({"error": why}), error=True)


async def _one_call(call: ToolCall, run: AgentRun, context: _Context) -> tuple[ToolResult, tuple[ImagePart, ...]]:
    settings = context.settings
    proposal = read(call)
    if proposal.problem:
        return _unrun(call, proposal.problem), ()
    number = len(run.steps) + 1
    step = Step(number, proposal.code, proposal.purpose)
    run.steps.append(step)
    if number > settings.max_steps:
        step.status = "not run: step limit"
        why = f"not run: the step limit ({settings.max_steps}) is reached; answer now in prose with what you have"
        display.proposal(number, step.code, step.purpose, [])
        display.note(f"Step {number} not run: the step limit ({settings.max_steps}) is reached.")
        return _unrun(call, why), ()
    step.risks = scan_risks(_transformed(context.shell, step.code), context.named)
    host = context.host
    display.proposal(number, step.code, step.purpose, step.risks, host.on_page)
    verdict = await host.decide(run.mode, number, step.code, step.purpose, step.risks)
    step.decision, step.by = verdict.decision, verdict.by
    display.verdict(number, verdict)
    if verdict.decision == STOP:
        step.status = "not run: stopped"
        run.stopped = "stopped at your request" if verdict.by.startswith("you") else verdict.by
        return _unrun(call, "not run: the user stopped the agent; do not call the tool again"), ()
    if verdict.decision != "run":
        step.status = "skipped"
        return _unrun(call, "not run: the user skipped this step; go on without it or try another way"), ()
    outcome = run_step(context.shell, step.code, number, settings.step_seconds)
    step.seconds = outcome.seconds
    step.status = _status(outcome)
    display.outcome(number, outcome, settings.step_seconds, inline=not host.on_page)
    missing = await host.ran(number, outcome)
    if missing:
        display.note(missing)
    said = feedback_for(
        outcome,
        number,
        context.privacy,
        context.budget,
        settings.output_bytes,
        context.hidden,
        context.defaults.image_max_side,
        context.images_allowed,
    )
    if outcome.interrupted:  # what it did before Ctrl-C goes back with the conversation; nothing more runs
        run.stopped = INTERRUPTED
    return _result(call, said, outcome), said.images


def _transformed(shell: Any, code: str) -> str:
    try:
        return str(shell.transform_cell(code)) if shell is not None else code
    except Exception:
        return code


def _status(outcome: StepOutcome) -> str:
    if outcome.timed_out:
        return "timed out"
    if outcome.interrupted:
        return "interrupted"
    return "failed" if outcome.error else "ran"


def _result(call: ToolCall, said: Feedback, outcome: StepOutcome) -> ToolResult:
    return ToolResult(call.call_id, call.name, said.text, error=bool(outcome.error) or outcome.timed_out)


def _summary(run: AgentRun) -> None:
    """One line per step and the mode, with the decisions as output metadata (kept in the saved notebook)."""
    from IPython.display import display as show

    from grok_magics.render import sanitise
    from grok_magics.render.sanitise import Markup, plain

    lines = [f"Agent · approval: {run.mode}" + (f" ({run.mode_note})" if run.mode_note else "")]
    for step in run.steps:
        decided = f" · {step.decision} ({step.by})" if step.decision else ""
        lines.append(
            f"Step {step.number}: {step.status}{decided}" + (f" · ⚠ {'; '.join(step.risks)}" if step.risks else "")
        )
    if run.stopped:
        lines.append(f"Stopped: {run.stopped}")
    markdown = sanitise.page(
        Markup('<sub style="color: var(--jp-ui-font-color2, #888)">' + "<br>".join(plain(x) for x in lines) + "</sub>")
    )
    show({"text/markdown": markdown, "text/plain": "\n".join(lines)}, raw=True, metadata={AGENT_META: run.meta()})
