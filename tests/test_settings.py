"""One settings table (``grok_magics.settings``): the traitlets, the magic line's options, map's options, the
engine's defaults and ``%grok config`` are built from it, so a value is judged by one rule, whatever the door."""

from __future__ import annotations

import argparse
import dataclasses

import pandas as pd
import pytest
from conftest import Harness
from traitlets import TraitError

import grok_magics
from grok_magics.engine.ask import Defaults
from grok_magics.errors import GrokError, SettingError
from grok_magics.magics.command_line import MapOptions, Options, add_overrides, parse_cell_line
from grok_magics.magics.grok import GrokMagics
from grok_magics.magics.traits import traits_class
from grok_magics.settings import BY_NAME, OVERRIDES, SETTINGS, Setting, configured, lockable, one_of

pytestmark = pytest.mark.timeout(120)


def test_every_traitlet_is_a_row_of_the_table_and_every_row_a_traitlet() -> None:
    assert set(GrokMagics.class_traits(config=True)) == set(BY_NAME)
    assert len(BY_NAME) == len(SETTINGS), "a setting is declared twice"


def test_the_engine_defaults_are_the_tables_defaults() -> None:
    """``Defaults()`` (a test's, or ``grok_magics.map`` outside IPython) cannot drift from the table."""
    assert Defaults() == Defaults.of(configured({}))
    derived = {"transport", "caps"}  # built from timeout/connect_timeout/max_retries/deadline, and the caps
    assert {f.name for f in dataclasses.fields(Defaults)} - derived <= set(BY_NAME)


def test_every_per_ask_override_is_an_option_of_an_ask_and_of_a_row_job() -> None:
    names = {s.name for s in OVERRIDES}
    assert names == {"model", "provider", "effort", "api", "system", "temperature", "max_tokens"}
    for value_type in (Options, MapOptions):
        assert names <= {f.name for f in dataclasses.fields(value_type)}


def test_what_a_classroom_may_lock_comes_from_the_table(shell: Harness, caplog: pytest.LogCaptureFixture) -> None:
    assert lockable() == ("provider", "model", "effort", "api", "system")
    assert all(BY_NAME[name].flags for name in lockable()), "a lock refuses a flag: a lockable setting has one"
    assert set(BY_NAME["lock"].help.rpartition(": ")[2].split(", ")) == set(lockable())  # its help names them all
    shell.run("%config GrokMagics.lock = ['model', 'bogus']")
    assert "GrokMagics.lock may name only provider, model, effort, api, system; bogus cannot be locked" in caplog.text
    assert shell.magics.lock == []


# -- one rule, every door ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, flag, text, value",
    [
        ("temperature", "--temperature", "7", 7.0),
        ("max_tokens", "--max-tokens", "0", 0),
        ("effort", "--effort", "extreme", "extreme"),
        ("api", "--api", "soap", "soap"),
        ("temperature", "--temperature", "hot", "hot"),  # the wrong type: the same line, not traitlets' wording
    ],
)
def test_a_value_is_refused_with_the_same_line_through_every_door(
    shell: Harness, fake, caplog: pytest.LogCaptureFixture, name: str, flag: str, text: str, value: object
) -> None:
    with pytest.raises(SettingError) as refused:
        BY_NAME[name].parse(text)
    line = str(refused.value)
    assert line.startswith(f"{name} must be ") and "\n" not in line
    before = getattr(shell.magics, name)
    shell.run(f"%config GrokMagics.{name} = {value!r}")  # %config logs a refused value, as IPython does
    assert f"GrokMagics.{line}" in caplog.text
    assert getattr(shell.magics, name) == before
    shell.shell.user_ns["df"] = pd.DataFrame({"review": ["good", "bad"]})
    for magic in (
        f"%grok {flag} {text} hi",
        f"%%grok map df {flag} {text}\n{{review}}",
        f"%grok filter df {flag} {text} ok?",
    ):
        ran = shell.run(magic)
        assert not ran.success and line in str(ran.error), magic
        assert "\n" not in str(ran.error)
    with pytest.raises(GrokError, match=f"^{name} must be "):
        grok_magics.map(shell.shell.user_ns["df"], "{review}", **{name: value})
    assert fake.api_requests == []


@pytest.mark.parametrize(
    "assignment, line",
    [
        ("headings = 'x'", "GrokMagics.headings must be a whole number, not 'x'"),
        ("max_tool_calls = 2.5", "GrokMagics.max_tool_calls must be a whole number, 1 or more, not 2.5"),
        ("redact_columns = ['ok', 5]", "GrokMagics.redact_columns must be a list of texts, not 5"),
        ("debug = 'yes'", "GrokMagics.debug must be True or False, not 'yes'"),
    ],
)
def test_a_value_of_the_wrong_type_gets_the_settings_own_line(
    shell: Harness, caplog: pytest.LogCaptureFixture, assignment: str, line: str
) -> None:
    shell.run(f"%config GrokMagics.{assignment}")
    assert line in caplog.text


def test_an_environment_variable_is_judged_by_the_same_rule(shell: Harness, monkeypatch) -> None:
    monkeypatch.setenv("GROK_MAGICS_MAX_CALLS_PER_HOUR", "-3")
    with pytest.raises(GrokError) as bad:
        BY_NAME["max_calls_per_hour"].from_env({"GROK_MAGICS_MAX_CALLS_PER_HOUR": "-3"})
    assert str(bad.value) == (
        "GROK_MAGICS_MAX_CALLS_PER_HOUR='-3': max_calls_per_hour must be a whole number, 0 or more (or None), "
        "not -3: fix or unset it"
    )


# -- adding a setting is one row ------------------------------------------------------------------------

TINY = (
    Setting(
        "colour", "red", "The colour of everything", one_of(("red", "blue")), env="TINY_COLOUR", flags=("--colour",)
    ),
)


def test_one_row_makes_a_validated_traitlet_with_its_environment_default(monkeypatch) -> None:
    Tiny = traits_class(TINY, "Tiny")
    assert Tiny().colour == "red"  # type: ignore[attr-defined]
    with pytest.raises(TraitError, match=r"^Tiny\.colour must be one of red, blue, not 'green'$"):
        Tiny().colour = "green"  # type: ignore[attr-defined]
    monkeypatch.setenv("TINY_COLOUR", "blue")
    assert Tiny().colour == "blue"  # type: ignore[attr-defined]
    assert Tiny.class_traits(config=True)["colour"].help == "The colour of everything"


def test_one_row_makes_a_magic_line_option_with_the_same_rule() -> None:
    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            raise ValueError(message)

    parser = Parser(add_help=False)
    add_overrides(parser, TINY)
    assert parser.parse_args(["--colour", "blue"]).colour == "blue"
    with pytest.raises(ValueError, match="argument --colour: colour must be one of red, blue, not 'green'"):
        parser.parse_args(["--colour", "green"])


# -- %grok config -----------------------------------------------------------------------------------------


def test_config_all_lists_every_setting_with_its_value_and_source(shell: Harness, monkeypatch) -> None:
    shell.run("%config GrokMagics.temperature = 0.4")
    shown = shell.run("%grok config --all").stdout
    for setting in SETTINGS:
        assert f"\n{setting.name} " in "\n" + shown and setting.help in shown
    assert "temperature           0.4  (%config in this session)" in shown
    assert "max_tokens            unset  (default)" in shown


def test_help_names_every_setting() -> None:
    from grok_magics.magics.reports import help_text

    text = " ".join(help_text().split())
    for setting in SETTINGS:
        assert setting.name in text


def test_bad_options_still_say_the_usage() -> None:
    from IPython.core.error import UsageError

    refusal = r"argument --temperature: temperature must be a number from 0 to 2 \(or None\), not 'hot'\. Usage"
    with pytest.raises(UsageError, match=refusal):
        parse_cell_line("--temperature hot")


def test_context_is_refused_with_the_same_line_from_config_and_the_magic_line(
    shell: Harness, fake, caplog: pytest.LogCaptureFixture
) -> None:
    line = "context must be '', 'above', 'above:N', 'above,images' or 'none', not 'below'"
    shell.run("%config GrokMagics.context = 'below'")
    assert f"GrokMagics.{line}" in caplog.text and shell.magics.context == ""
    ran = shell.run("%grok --context below hi")
    assert not ran.success and line in str(ran.error)
    assert shell.run("%config GrokMagics.context = 'Above:2'").success and shell.magics.context == "above:2"
    assert fake.api_requests == []
