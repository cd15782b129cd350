"""The notebook is the conversation: each answer's saved metadata rebuilds its turn after a kernel restart.

Why: a restart empties the kernel's chats while the page still shows every answer, so "shorter, please"
would go out with no context and no notice. Each finished answer saves, in its output's ``grok_magics``
metadata, a ``turn`` record: the prompt (key-shaped text masked), one summary line per attachment (kind,
shape, a short hash — never a table's rows, never base64), whether encrypted reasoning was kept, and for a
fork where it branched. This module writes those records and reads them back, from the cells the page
pushed (the live notebook) or from a saved ``.ipynb`` (``%grok restore``, or without the page under
jupyter_server, whose ``JPY_SESSION_NAME`` / ``__session__`` name the file). Encrypted reasoning is not
restored (the saved record never holds it): the rebuilt turns are plain text.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from grok_magics.context.notebook import cut_middle
from grok_magics.errors import ContextError
from grok_magics.model.parts import DataPart, ImagePart, Parts, TextPart, estimate_tokens, text_of
from grok_magics.model.request import Turn

VERSION = 1
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x9b]|\x1b\[[0-9;?]*[ -/]*[@-~]")
MAX_FILE = 200_000_000  # bytes of a notebook file read for %grok restore
KEPT_PROMPT = 100_000  # characters of a prompt an answer's metadata keeps (its middle is cut past that)
MAX_ATTACHMENTS = 50  # attachment lines a restored turn names
ATTACHMENT_CHARS = 200  # characters of one such line


def _digest(data: bytes | str) -> str:
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()[:12]


def attachment_lines(parts: Parts) -> list[str]:
    """One line per attached block or image: what it was, never what it held."""
    lines = []
    for part in parts:
        if isinstance(part, DataPart):
            lines.append(f"{part.label} sha256:{_digest(part.text)}")
        elif isinstance(part, ImagePart):
            lines.append(f"{part.label} sha256:{_digest(part.data or (part.url or '').encode())}")
    return lines


def record(
    parts: Parts, mask: Any, encrypted_reasoning: bool, forked_from: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What an answer's metadata keeps to rebuild its turn (the answer text is added by the view)."""
    saved: dict[str, Any] = {
        "v": VERSION,
        "prompt": mask(cut_middle(text_of(parts), KEPT_PROMPT, "characters of this prompt were not kept")),
        "attachments": [mask(line) for line in attachment_lines(parts)],
    }
    if encrypted_reasoning:
        saved["encrypted_reasoning"] = True
    if forked_from:
        saved["forked_from"] = dict(forked_from)
    return saved


def clean(text: str) -> str:
    """Control characters and terminal escapes out: restored text is shown and sent as plain text."""
    return _CONTROL.sub("", text)


@dataclass(frozen=True)
class Saved:
    """One saved answer, in notebook order."""

    cell_id: str
    index: int  # n-th answer in its cell
    chat: str
    prompt: str
    answer: str
    attachments: tuple[str, ...] = ()
    encrypted_reasoning: bool = False
    forked_from: Mapping[str, Any] | None = None

    def turn(self) -> Turn:
        attached = (
            "\n\n(Attached then, not sent again: " + "; ".join(self.attachments) + ")" if self.attachments else ""
        )
        user = (TextPart(self.prompt + attached),)
        tokens = estimate_tokens(self.prompt + attached) + estimate_tokens(self.answer)
        return Turn(user=user, answer=self.answer, key=(self.cell_id, self.index), tokens=tokens)


def _squashed(text: str) -> str:
    return "".join(clean(text).split())


def _text(source: Any) -> str:
    """A cell's source as nbformat stores it (a string, or a list of lines in a file)."""
    return "".join(s for s in source if isinstance(s, str)) if isinstance(source, list) else str(source or "")


def _visible_prompt(source: str) -> str:
    """What the cell shows as its prompt: its source without a ``%%grok …`` first line."""
    lines = source.split("\n")
    if lines and lines[0].lstrip().startswith("%%"):
        lines = lines[1:]
    return cut_middle("\n".join(lines).strip(), KEPT_PROMPT, "characters of this prompt were not kept")


def _safe(text: str) -> str:
    """Restored text goes out again as history, which the key scan does not read twice: keys masked here."""
    from grok_magics.privacy.key_shapes import masked_for_display

    return masked_for_display(clean(text))


def _saved(cell_id: str, index: int, own: Mapping[str, Any], shown: str, source: str) -> Saved | None:
    """The turn an answer's metadata records, if it is what the cell shows: metadata is hidden, so a notebook
    from someone else could otherwise slip text nobody sees into the conversation. The answer must be shown
    by the cell's outputs; the saved prompt is kept when the cell's source shows it (else the source is the
    prompt: the tables it attached are named in a line, not sent again); keys are masked either way."""
    turn = own.get("turn")
    if not isinstance(turn, Mapping) or own.get("failed") or not isinstance(turn.get("answer"), str):
        return None
    if _squashed(turn["answer"]) not in _squashed(shown):
        return None
    prompt = _safe(str(turn.get("prompt") or ""))  # as saved: keys masked, so compared with a masked source
    if _squashed(prompt) not in _squashed(_safe(source)):
        prompt = _visible_prompt(source)
    attachments = [a for a in turn.get("attachments") or () if isinstance(a, str)][:MAX_ATTACHMENTS]
    forked = turn.get("forked_from")
    return Saved(
        cell_id=cell_id,
        index=index,
        chat=str(own.get("chat") or turn.get("chat") or "default"),
        prompt=_safe(prompt),
        answer=_safe(turn["answer"]),
        attachments=tuple(" ".join(_safe(a).split())[:ATTACHMENT_CHARS] for a in attachments),
        encrypted_reasoning=bool(turn.get("encrypted_reasoning")),
        forked_from=forked if isinstance(forked, Mapping) else None,
    )


def from_page(above: Sequence[Mapping[str, Any]]) -> list[Saved]:
    """The answers in the cells the page pushed (nearest first), in notebook order."""
    found: list[Saved] = []
    for cell in reversed(list(above)):
        outputs = [o for o in cell.get("outputs") or () if isinstance(o, Mapping)]
        shown = "".join(str(o.get("plain") or "") for o in outputs)
        answers = [o for o in outputs if o.get("turn")]
        for index, output in enumerate(answers):
            own = {"chat": output.get("chat"), "turn": output["turn"]}
            saved = _saved(str(cell.get("id") or ""), index, own, shown, _text(cell.get("source")))
            if saved is not None:
                found.append(saved)
    return found


def from_notebook(nb: Mapping[str, Any], before: str | None = None) -> list[Saved]:
    """The answers saved in a notebook's JSON, in order; with ``before``, only those above that cell id."""
    found: list[Saved] = []
    for cell in nb.get("cells") or ():
        if not isinstance(cell, Mapping):
            continue
        if before is not None and cell.get("id") == before:
            break
        index = 0
        outputs = [o for o in cell.get("outputs") or () if isinstance(o, Mapping)]
        shown = "".join(_plain(o) for o in outputs)
        for output in outputs:
            own = (output.get("metadata") or {}).get("grok_magics")
            if isinstance(own, Mapping) and own.get("turn"):
                saved = _saved(str(cell.get("id") or ""), index, own, shown, _text(cell.get("source")))
                index += 1
                if saved is not None:
                    found.append(saved)
    return found


def _plain(output: Mapping[str, Any]) -> str:
    text = (output.get("data") or {}).get("text/plain", "")
    return "".join(text) if isinstance(text, list) else str(text)


def read_notebook(path: str) -> dict[str, Any]:
    try:
        if os.path.getsize(path) > MAX_FILE:
            raise ContextError(f"{path} is larger than {MAX_FILE // 1_000_000} MB; nothing was restored")
        with open(path, encoding="utf-8") as handle:
            nb = json.load(handle)
    except OSError as exc:
        raise ContextError(f"cannot read {path} ({exc.strerror or exc}); give the notebook's path") from None
    except ValueError:
        raise ContextError(f"{path} is not a notebook (not JSON); give the .ipynb file") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ContextError(f"{path} is not a notebook (no cells); give the .ipynb file")
    return nb


def session_path(environ: Mapping[str, str], namespace: Mapping[str, Any]) -> str | None:
    """The notebook's path as jupyter_server told the kernel at its start (stale after a rename)."""
    for candidate in (environ.get("JPY_SESSION_NAME"), namespace.get("__session__")):
        if isinstance(candidate, str) and candidate.endswith(".ipynb") and os.path.isfile(candidate):
            return candidate
    return None


@dataclass
class Rebuilt:
    """Turns per chat, rebuilt in notebook order; forks start from their origin as it stood then."""

    turns: dict[str, list[Turn]] = field(default_factory=dict)
    encrypted: set[str] = field(default_factory=set)  # chats whose reasoning was kept live, not restored
    origins: dict[str, dict[str, Any]] = field(default_factory=dict)  # fork -> where it branched


def rebuild(saved: Iterable[Saved]) -> Rebuilt:
    out = Rebuilt()
    for answer in saved:
        chat = out.turns.setdefault(answer.chat, [])
        origin = answer.forked_from
        if not chat and origin is not None:
            start = out.turns.get(str(origin.get("chat") or "default"), [])
            count = origin.get("turns")
            chat.extend(start[: count if isinstance(count, int) else len(start)])
            out.origins[answer.chat] = dict(origin)
        keys = [t.key for t in chat]
        turn = answer.turn()
        if turn.key in keys:  # the same cell saved twice: the later output wins
            chat[keys.index(turn.key)] = turn
        else:
            chat.append(turn)
        if answer.encrypted_reasoning:
            out.encrypted.add(answer.chat)
    return out


def note(count: int, where: str, encrypted: bool) -> str:
    said = f"continued from {count} answer{'s' if count != 1 else ''} {where}"
    return said + (" (encrypted reasoning not restored)" if encrypted else "")
