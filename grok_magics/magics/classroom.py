"""``%grok record | replay | export``: switch cassettes on and off, write a chat out; ``%grok policy``.

The settings live in GrokMagics traitlets (so a config file or the environment can set them for a
whole class); these subcommands are the in-notebook way to change them, and say what they did.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from grok_magics.errors import ConfigError
from grok_magics.model.options import Options


def run_subcommand(magics: Any, name: str, options: Options) -> str:
    path = options.path or ""
    if name == "record":
        return _record(magics, path)
    if name == "replay":
        return _replay(magics, path, options)
    return _export(magics, path, options.chat or "default", options.force)


def _record(magics: Any, path: str) -> str:
    from grok_magics.teaching.cassette import Recorder

    if path == "off":
        was = magics.record
        magics.record = ""
        return f"Recording stopped; {was} holds what was recorded." if was else "Recording was not on."
    try:
        Recorder(path).start()
    except OSError as exc:
        raise ConfigError(f"cannot record to {path}: {exc.strerror or exc}") from None
    magics.record = path
    return (
        f"Recording every live exchange to {path} (appended; no keys or headers are written). %grok record off stops."
    )


def _replay(magics: Any, path: str, options: Options) -> str:
    if path == "off":
        magics.replay = ""
        return "Replay off: asks go to the provider again."
    cassette = magics.session.cassette(path)  # ConfigError when unreadable
    if options.speed is not None:  # otherwise the configured speed stays
        magics.replay_speed = 0.0 if options.speed == "fast" else float(options.speed)
    if options.fallthrough:
        magics.replay_fallthrough = True
    magics.replay = path
    speed = magics.replay_speed
    pace = "no pauses" if speed <= 0 else "the recorded pacing" + ("" if speed == 1 else f" x{speed:g}")
    options = replace(options, fallthrough=magics.replay_fallthrough)
    miss = "asked live (a key is needed)" if options.fallthrough else "refused with the closest recorded prompt"
    return (
        f"Replaying from {os.path.basename(path)}: {len(cassette.exchanges)} recorded exchange(s), {pace}; "
        f"no key or network needed. Requests it does not hold are {miss}. %grok replay off stops."
    )


def _export(magics: Any, path: str, chat_name: str, force: bool = False) -> str:
    from grok_magics.teaching import export

    session = magics.session
    if chat_name not in session.chats.names() or not session.chats.get(chat_name).turns:
        others = ", ".join(n for n in session.chats.names() if session.chats.get(n).turns)
        hint = f" (chats with turns: {others}; use --chat NAME)" if others else ""
        raise ConfigError(f"chat '{chat_name}' has no exchanges to export{hint}")
    turns = session.chats.get(chat_name).turns
    _prune(session)
    written = export.write(path, chat_name, export.exchanges(turns, session.notes), force)
    return f"Exported chat '{chat_name}' ({len(turns)} exchange(s)) to {written}."


def _prune(session: Any) -> None:
    """Forget notes of turns no chat holds any more (re-run cells, resets)."""
    alive = {id(t) for name in session.chats.names() for t in session.chats.get(name).turns}
    for key in [k for k in session.notes if k not in alive]:
        del session.notes[key]


# -- the notebook's AI policy (off, hints, full) ---------------------------------------------------------------
def current_policy(magics: Any) -> Any:
    """The strictest of the environment, the notebook's metadata (pushed by the page) and the setting."""
    from grok_magics.teaching import notebook_policy as np

    page = magics._page_context()
    notebook = np.from_metadata((page.notebook.get("metadata") if page is not None else None) or {})
    setting = None
    if magics.policy:
        where = "config file" if "policy" in magics._configured else "%config GrokMagics.policy"
        setting = np.Policy(magics.policy, where)
    return np.strictest(np.from_env(os.environ), notebook, setting)


def with_policy(caps: Any, policy: Any) -> Any:
    """The policy joins the caps the gate checks: its pins become locks, its token cap the tighter cap."""
    locked = list(caps.locked)
    pins = [("model", policy.model), ("effort", policy.effort), ("system", policy.mode == "hints")]
    locked += [name for name, pinned in pins if pinned and name not in locked]
    tokens = caps.max_output_tokens
    if policy.max_output_tokens is not None:
        tokens = policy.max_output_tokens if tokens is None else min(tokens, policy.max_output_tokens)
    return replace(caps, policy=policy, locked=tuple(locked), max_output_tokens=tokens)


def pinned(defaults: Any) -> Any:
    """The model and effort a policy pins replace the configured ones."""
    policy = defaults.caps.policy
    return replace(defaults, model=policy.model or defaults.model, effort=policy.effort or defaults.effort)


def policy_line(magics: Any) -> str:
    policy = current_policy(magics)
    return f"{'policy':<16}{policy.describe()}  ({policy.source})"


POLICY_ONE_LINER = (
    'python -c "import nbformat as n, sys; p=sys.argv[1]; nb=n.read(p, 4); '
    "nb.metadata.setdefault('grok', {{}})['policy']='{mode}'; n.write(nb, p)\" NOTEBOOK.ipynb"
)


def policy_command(magics: Any, words: list[str]) -> str:
    """``%grok policy`` shows the policy; ``%grok policy off|hints|full`` writes it into the notebook's metadata
    through the page (the notebook must then be saved), or says how to without a page."""
    from grok_magics import page
    from grok_magics.teaching.notebook_policy import parse_mode

    if not words:
        return policy_line(magics)
    mode = parse_mode(words[0], "%grok policy")
    bridge = getattr(magics.shell, "_grok_page", None)
    if bridge is None or not bridge.comms:
        raise page.needs_page(
            f"%grok policy {mode} (writing metadata.grok.policy)",
            "Set it in the notebook's metadata instead (JupyterLab: Property Inspector → Advanced Tools → Notebook "
            f'metadata: "grok": {{"policy": "{mode}"}}), or with: ' + POLICY_ONE_LINER.format(mode=mode),
        )
    bridge.tell("set_metadata", {"key": "grok", "values": {"policy": mode}})
    return (
        f"Asked the page to set metadata.grok.policy = '{mode}' in this notebook: save the notebook to keep it; "
        "it applies from the next Grok cell on (the environment or a stricter setting can still win)."
    )
