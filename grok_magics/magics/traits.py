"""The settings table (``grok_magics.settings``) as traitlets, so ``%config GrokMagics.x = ...`` and
``ipython_config.py`` work: one trait per row, its default from its environment variable (if any), and one
validator for all of them that asks the row's rule and reports its one line as a ``TraitError``."""

from __future__ import annotations

import os
from typing import Any, NoReturn

from traitlets import Bool, Dict, Float, Int, List, TraitError, TraitType, Unicode, default, validate
from traitlets.config import Configurable

from grok_magics.errors import SettingError
from grok_magics.settings import SETTINGS, Setting

_TRAITS: dict[type, Any] = {str: Unicode, bool: Bool, int: Int, float: Float, dict: Dict}


def trait_for(setting: Setting) -> TraitType[Any, Any]:
    """The row's trait; a value of the wrong type is refused with the row's own line, not traitlets' wording."""
    base = List if setting.type is list else _TRAITS[setting.type]

    def error(self: Any, obj: Any, value: Any, error: Exception | None = None, info: str | None = None) -> NoReturn:
        owner = f"{type(obj).__name__}." if obj is not None else ""
        raise TraitError(owner + setting.problem(value))

    checked = type(base.__name__, (base,), {"error": error})
    if setting.type is list:
        trait: TraitType[Any, Any] = checked(Unicode(), help=setting.help)
    else:
        trait = checked(setting.default, allow_none=setting.default is None, help=setting.help)
    return trait.tag(config=True)


def traits_class(table: tuple[Setting, ...] = SETTINGS, name: str = "GrokSettings") -> type[Configurable]:
    """A ``Configurable`` with one trait per row; ``GrokMagics`` inherits them."""
    by_name = {s.name: s for s in table}
    namespace: dict[str, Any] = {s.name: trait_for(s) for s in table}

    def check(self: Any, proposal: Any) -> Any:
        owner = type(self).__name__
        try:
            return by_name[proposal["trait"].name].validate(proposal["value"])
        except SettingError as exc:
            raise TraitError(f"{owner}.{exc}") from None

    namespace["_check_setting"] = validate(*by_name)(check)
    for setting in table:
        if setting.env:
            namespace[f"_{setting.name}_from_env"] = default(setting.name)(_env_default(setting))
    return type(name, (Configurable,), namespace)


def _env_default(setting: Setting) -> Any:
    def from_env(self: Any) -> Any:
        return setting.from_env(os.environ)

    return from_env


def source_of(configured: set[str], changed_here: set[str], setting: Setting) -> str:
    """Who set a setting: %config here, the config file, the environment, or nobody."""
    if setting.name in changed_here:
        return "%config in this session"
    if setting.name in configured:
        return "config file"
    if setting.env and os.environ.get(setting.env, "").strip():
        return f"environment, {setting.env}"
    return "default"
