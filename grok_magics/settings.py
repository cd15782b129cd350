"""Every setting, declared once: name, default, help, the one rule its values obey, its environment variable,
its magic-line flags, and whether a classroom may lock it.

Everything else is built from this table: the ``GrokMagics`` traitlets and their validation
(``magics/traits.py``), the per-ask and per-job options of the magic line (``magics/command_line.py``), the
engine's ``Defaults``, ``%grok config --all`` and ``%grok help``, and the names a classroom may lock. So a value
is refused with the same one line whichever door it came through: ``%config GrokMagics.temperature = 7``,
``%grok --temperature 7 ...``, ``%grok map df --temperature 7``, an environment variable, or
``grok_magics.map(..., temperature=7)``.

To add a setting, add one row to ``SETTINGS``. Plain Python: no IPython here, so every layer may read it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Mapping, MutableMapping, NamedTuple

from grok_magics.errors import GrokError, SettingError
from grok_magics.model.choices import APIS, DEFAULT_SYSTEM, DISPLAY_MODES, EFFORTS

if TYPE_CHECKING:  # imported where a value is built: %load_ext stays as light as it was
    from grok_magics.model.overrides import Overrides


class Rule(NamedTuple):
    """What a setting's values must be: ``ok`` says yes or no (or raises ValueError with a better sentence),
    ``what`` completes "NAME must be ..."; ``tidy`` normalises an accepted value."""

    what: str
    ok: Callable[[Any], bool]
    tidy: Callable[[Any], Any] | None = None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def at_least(low: int, unit: str = "", whole: bool = False) -> Rule:
    what = (
        f"a positive number of {unit}"
        if unit and low == 1
        else ("a whole number, " if whole else "") + f"{low} or more"
    )
    return Rule(what, lambda v: _finite(v) and v >= low and (not whole or float(v).is_integer()))


def between(low: float, high: float) -> Rule:
    return Rule(f"a number from {low:g} to {high:g}", lambda v: _finite(v) and low <= v <= high)


def positive(unit: str) -> Rule:
    return Rule(f"a positive number of {unit}", lambda v: _finite(v) and v > 0)


def one_of(choices: tuple[str, ...]) -> Rule:
    named = ", ".join(c for c in choices if c) + (" (or empty)" if "" in choices else "")
    return Rule(f"one of {named}", lambda v: v in choices)


def _price_table(value: Any) -> bool:
    from grok_magics.model.usage import parse_prices

    parse_prices(value)  # raises ValueError naming the bad entry
    return True


def _lockable(value: Any) -> bool:
    unknown = [str(name) for name in value if str(name).strip().lower() not in lockable()]
    if unknown:
        raise ValueError(f"lock may name only {', '.join(lockable())}; {', '.join(unknown)} cannot be locked")
    return True


def _context_spec(value: Any) -> bool:
    from grok_magics.context.above import parse_spec

    try:
        parse_spec(str(value))
    except ValueError:
        return False
    return True


PRICES = Rule("a price table", _price_table)
CONTEXT = Rule("'', 'above', 'above:N', 'above,images' or 'none'", _context_spec, lambda v: str(v).strip().lower())
LOCK = Rule("a list of settings a classroom may lock", _lockable, lambda v: [str(n).strip().lower() for n in v])


def _speed(text: str) -> float:
    return 0.0 if text.strip().lower() == "fast" else float(text)


class Setting(NamedTuple):
    """One row of the table. ``kind`` is needed only when the default is None (unset: the provider's)."""

    name: str
    default: Any
    help: str
    rule: Rule | None = None
    kind: type | None = None
    env: str = ""  # an environment variable that sets the default (a classroom ships it)
    flags: tuple[str, ...] = ()  # magic-line options that override it for one ask or one row job
    lockable: bool = False  # a classroom may pin it: the flags are then refused
    classroom: bool = False  # listed under "classroom" in %grok help
    read: Callable[[str], Any] | None = None  # text (a flag, an environment variable) → value, if not by kind

    @property
    def type(self) -> type:
        return self.kind or type(self.default)

    def validate(self, value: Any) -> Any:
        """The value, tidied; else SettingError with one line saying what is allowed."""
        if value is None and self.default is None:
            return None
        if self.rule is None:
            return value
        try:
            ok = self.rule.ok(value)
        except ValueError as exc:  # the rule's own, more precise sentence
            raise SettingError(str(exc)) from None
        if not ok:
            raise SettingError(self.problem(value))
        return self.rule.tidy(value) if self.rule.tidy else value

    def problem(self, value: Any) -> str:
        """The one line that refuses ``value``, whichever door it came through (also for a value of the wrong
        type, which the traitlet refuses before the rule sees it)."""
        what = self.rule.what if self.rule is not None else _KINDS.get(self.type, f"a {self.type.__name__}")
        unset = " (or None)" if self.default is None else ""
        return f"{self.name} must be {what}{unset}, not {shown(value)}"

    def parse(self, text: str) -> Any:
        """A value typed as text (a magic-line flag), converted and validated."""
        try:
            value = self.convert(text)
        except ValueError:
            raise SettingError(self.problem(text)) from None
        return self.validate(value)

    def convert(self, text: str) -> Any:
        if self.read is not None:
            return self.read(text)
        kind = self.type
        if kind is bool:
            return text.strip().lower() in ("1", "true", "yes")
        if kind is list:
            return [item.strip() for item in text.replace(";", ",").split(",") if item.strip()]
        if kind in (int, float):
            return kind(text.strip())
        return text

    def from_env(self, env: Mapping[str, str]) -> Any:
        """The default, or the environment variable's value; a bad one is one line naming the variable."""
        text = env.get(self.env, "").strip() if self.env else ""
        if not text:
            return self.default
        try:
            value = self.convert(text)
        except ValueError:
            raise GrokError(f"{self.env}={text!r} is not a valid {self.type.__name__}: fix or unset it") from None
        try:
            return self.validate(value)
        except SettingError as exc:
            raise GrokError(f"{self.env}={text!r}: {exc}: fix or unset it") from None


_KINDS = {
    str: "a text",
    int: "a whole number",
    float: "a number",
    bool: "True or False",
    list: "a list of texts",
    dict: "a dict",
}


def shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


# fmt: off
SETTINGS: tuple[Setting, ...] = (
    Setting("provider", "", "xai, bedrock, aigateway, azure or openai (empty: $GROK_PROVIDER, else xai)", flags=("--provider",), lockable=True),
    Setting("model", "", "Model id (empty: the provider's Grok 4.3 id)", flags=("-m", "--model"), lockable=True),
    Setting("effort", "", "Reasoning effort (empty: low where the provider takes one; 'default': send none)", one_of(("", *EFFORTS)), flags=("--effort",), lockable=True),
    Setting("api", "", "responses or chat (empty: the provider's default)", one_of(("", *APIS)), flags=("--api",), lockable=True),
    Setting("system", DEFAULT_SYSTEM, "System prompt for chats that have not set their own", flags=("--system",), lockable=True),
    Setting("temperature", None, "Sampling temperature (unset: the provider's)", between(0, 2), float, flags=("--temperature",)),
    Setting("max_tokens", None, "Output token cap (unset: the provider's)", at_least(1, "tokens"), int, flags=("--max-tokens",)),
    Setting("history_tokens", 100_000, "Budget for earlier turns sent along; oldest are dropped first", at_least(0, whole=True)),
    Setting("timeout", 900.0, "Seconds to wait for data from the provider (reasoning can be slow)", positive("seconds")),
    Setting("connect_timeout", 10.0, "Seconds to wait for a connection", positive("seconds")),
    Setting("max_retries", 2, "Retries for failures before the answer starts (429 honours Retry-After)", at_least(0, whole=True)),
    Setting("deadline", 3600.0, "Seconds an ask may take in all (keep-alives and retries included)", positive("seconds")),
    Setting("display", "auto", "auto, live, markdown or text", one_of(DISPLAY_MODES)),
    Setting("headings", 4, "Level of an answer's top heading (0: as the model wrote it), below your own sections"),
    Setting("debug", False, "Show full tracebacks for unexpected internal errors"),
    Setting("context_tokens", 2_000, "Token budget of each table's context block (--budget overrides)"),
    Setting("redact_columns", [], "Column names or globs (e.g. '*ssn*') whose values are never sent", kind=list),
    Setting("image_max_side", 2048, "Images are downscaled so their long side is at most this many pixels"),
    Setting("context_window", None, "Context window in tokens (unset: the provider's)", kind=int),
    Setting("max_tool_rounds", 8, "Tool rounds one ask may run before it stops with a note"),
    Setting("prices", {}, "Your own prices per model id, USD per million tokens: {'model': {'input': 0.5, 'output': 1.5, 'cached': 0.1}} (Grok 4.3 ids have list prices already)", PRICES, dict),
    Setting("max_tool_calls", 20, "Tool calls of one response that run; the rest are answered with an error", at_least(1, whole=True)),
    Setting("max_tool_result_bytes", 200_000, "Bytes of tool results one round may send back; results past it are answered with an error", at_least(1, whole=True)),
    Setting("batch_deadline", 3600.0, "Seconds %grok map --batch waits for a batch; then it returns, and the batch can be collected later with --batch-id", positive("seconds")),
    # -- the notebook as context and as the conversation (docs/conversations.md)
    Setting("context", "", "Cells above sent with every ask: '' (none), 'above', 'above:N', 'above,images' (--context overrides)", CONTEXT),
    Setting("context_above_tokens", 4_000, "Token budget of the cells-above block (--context)", at_least(1, whole=True)),
    Setting("restore", True, "The first ask in a chat this kernel holds empty rebuilds it from the answers saved above"),
    Setting("exact_tokens", True, "Count tokens with the provider's tokenizer (xAI) for --dry-run, the context-window check and %grok map's estimate (the text goes to the tokenizer, which answers nothing else); False: estimates"),
    # -- agent cells (%%grok --agent, grok_magics/agent/): approval and the limits of one agent cell
    Setting("agent_approval", "confirm", "Agent steps: confirm asks before each, risky only before flagged ones (files, processes, network, installs, exec/eval, your named variables), auto never (not under a classroom policy other than full)", one_of(("confirm", "risky", "auto")), env="GROK_MAGICS_AGENT_APPROVAL"),
    Setting("agent_max_steps", 10, "Steps one agent cell may run; then Grok is asked to answer", at_least(1, whole=True)),
    Setting("agent_step_seconds", 120.0, "Seconds one agent step may run; then it is interrupted like Ctrl-C", positive("seconds")),
    Setting("agent_output_bytes", 20_000, "Bytes of one agent step's output sent back to Grok (the rest is cut)", at_least(1, whole=True)),
    # -- classroom: record/replay, caps and locks, also from GROK_MAGICS_* environment variables
    Setting("replay", "", "Cassette file that answers matching requests, offline (empty: off)", env="GROK_MAGICS_REPLAY", classroom=True),
    Setting("replay_speed", 1.0, "Replay pacing: 1 = as recorded, 2 = twice as fast, 0 = no pauses", at_least(0), env="GROK_MAGICS_REPLAY_SPEED", classroom=True, read=_speed),
    Setting("replay_fallthrough", False, "Ask the provider live (key needed) when the cassette has no match", env="GROK_MAGICS_REPLAY_FALLTHROUGH", classroom=True),
    Setting("record", "", "Cassette file every live exchange is appended to (empty: off)", env="GROK_MAGICS_RECORD", classroom=True),
    Setting("max_cost_usd", None, "Refuse calls once this kernel has spent this much", at_least(0), float, env="GROK_MAGICS_MAX_COST_USD", classroom=True),
    Setting("max_output_tokens", None, "Output token cap per call (also the default)", at_least(0, whole=True), int, env="GROK_MAGICS_MAX_OUTPUT_TOKENS", classroom=True),
    Setting("max_calls_per_hour", None, "Refuse calls beyond this many in an hour", at_least(0, whole=True), int, env="GROK_MAGICS_MAX_CALLS_PER_HOUR", classroom=True),
    Setting("policy", "", "AI policy: off (no asks), hints (the tutor answers) or full; can only tighten $GROK_MAGICS_POLICY and the notebook's metadata.grok.policy", one_of(("", "off", "hints", "full")), classroom=True),
    Setting("lock", [], "Settings magic-line options may not change: provider, model, effort, system, api", LOCK, list, env="GROK_MAGICS_LOCK", classroom=True),
)
# fmt: on

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
OVERRIDES: tuple[Setting, ...] = tuple(s for s in SETTINGS if s.flags)  # options a magic line may give per ask


def lockable() -> tuple[str, ...]:
    """The settings a classroom may lock (``GrokMagics.lock``)."""
    return tuple(s.name for s in SETTINGS if s.lockable)


def overrides_of(options: Any) -> Overrides:
    """The per-call overrides an options value holds (``MapOptions``), checked: a row job's one value of them."""
    return overrides_from({s.name: getattr(options, s.name) for s in OVERRIDES})


def pop_overrides(options: MutableMapping[str, Any]) -> Overrides:
    """The per-call overrides among a row job's keyword arguments, taken out of ``options`` and checked; the
    rest stay for the job's own parameters (which refuse a keyword they do not know)."""
    return overrides_from({s.name: options.pop(s.name) for s in OVERRIDES if s.name in options})


def overrides_from(given: Mapping[str, Any]) -> Overrides:
    """One value of per-call overrides, each checked as ``%config`` checks it: a bad one is refused in one line."""
    from grok_magics.model.overrides import Overrides

    try:
        check_overrides(given)
    except SettingError as exc:
        raise GrokError(str(exc)) from None
    return Overrides(**given)


def check_overrides(given: Mapping[str, Any]) -> None:
    """Per-call values given from Python (``grok_magics.map(..., temperature=7)``) obey the same rules."""
    for name, value in given.items():
        if value is not None:
            BY_NAME[name].validate(value)


def configured(env: Mapping[str, str]) -> dict[str, Any]:
    """Every setting's value where no ``%config`` reaches (``grok_magics.map`` outside IPython): the default,
    or its environment variable's."""
    return {s.name: s.from_env(env) for s in SETTINGS}


def values_of(holder: Any, table: tuple[Setting, ...] = SETTINGS) -> dict[str, Any]:
    """Every setting's current value on ``holder`` (the ``GrokMagics`` instance)."""
    return {s.name: getattr(holder, s.name) for s in table}
