"""``%grok export``: one chat as a new notebook, a Markdown page or JSON.

Each exchange carries what was asked (the original cell when the prompt was a ``%%grok`` cell),
what was attached besides text, the answer, and where it came from (model, provider, API, tokens,
cost, whether it was replayed). The notebook is built with nbformat and validated before writing.
The notebook and the Markdown page are rendered by others (nbconvert, GitHub), so every answer and
prompt in them passes the same sanitiser as the answers shown live; the JSON keeps the text as it was.
An existing file is never replaced unless asked (``--force``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from grok_magics.errors import ConfigError
from grok_magics.model.events import Usage
from grok_magics.model.parts import TextPart, text_of
from grok_magics.model.request import Turn
from grok_magics.privacy.redaction import redact
from grok_magics.render.blocks import HeadingShift
from grok_magics.render.sanitise import Code, Markup, Text, code_span, page, plain
from grok_magics.render.status import cost_words
from grok_magics.version import __version__

FORMATS = (".ipynb", ".md", ".json")
ANSWER_TOP = 4  # an answer's top heading in an export: below "# Chat", "## 1. You" and "### Grok"


@dataclass(frozen=True)
class Meta:
    """What the conversation's Turn does not keep but an export should show."""

    chat: str
    model: str
    provider: str
    api: str
    source: str = ""  # the %%grok cell as typed; empty for line magics
    usage: Usage | None = None
    finish: str | None = None
    replayed: bool = False
    response_id: str = ""


@dataclass(frozen=True)
class ExportedExchange:
    prompt: str
    answer: str
    attached: tuple[str, ...]
    meta: Meta | None
    interrupted: bool


def attachments(turn: Turn) -> tuple[str, ...]:
    """A short line per non-text part: its own label ("data df: pandas.DataFrame, 3 rows × 2 columns"), else one
    read generically from its fields, so new part types need no code here."""
    out = []
    for part in turn.user:
        if isinstance(part, TextPart):
            continue
        label = getattr(part, "label", None)
        if isinstance(label, str) and label:
            out.append(label.removeprefix("[").removesuffix("]"))
            continue
        is_data = dataclasses.is_dataclass(part)
        fields = {f.name: getattr(part, f.name) for f in dataclasses.fields(part)} if is_data else {}
        words = [
            f"{k} {v}"
            for k, v in fields.items()
            if k in ("name", "label", "kind", "shape", "mime", "width", "height", "url") and v not in (None, "")
        ]
        out.append(f"{type(part).__name__}: " + (", ".join(words) or "attached"))
    return tuple(out)


def exchanges(turns: Iterable[Turn], notes: dict[int, tuple[Turn, Meta]]) -> list[ExportedExchange]:
    out = []
    for turn in turns:
        noted = notes.get(id(turn))
        meta = noted[1] if noted is not None and noted[0] is turn else None
        out.append(ExportedExchange(text_of(turn.user), turn.answer, attachments(turn), meta, turn.interrupted))
    return out


def provenance_line(meta: Meta | None, interrupted: bool = False) -> str:
    if meta is None:
        return "provenance not recorded"
    words = [meta.model, meta.provider, meta.api]
    if meta.usage is not None:
        u = meta.usage
        words += [f"{u.input:,} in", f"{u.output:,} out"]
        if u.reasoning:
            words.append(f"{u.reasoning:,} reasoning")
        words.append(cost_words(u, meta.model, replayed=meta.replayed))
    elif meta.replayed:
        words.append(cost_words(None, meta.model, replayed=True))
    if interrupted:
        words.append("interrupted")
    return " · ".join(words)


def _meta_dict(meta: Meta | None) -> dict[str, Any] | None:
    return None if meta is None else {**dataclasses.asdict(meta), "version": __version__}


# --------------------------------------------------------------------------- formats


def to_notebook(chat: str, items: list[ExportedExchange]) -> Any:
    import nbformat

    v4 = nbformat.v4
    nb = v4.new_notebook()
    nb.metadata["grok_magics"] = {"chat": chat, "exported": _now(), "version": __version__}
    nb.cells.append(v4.new_markdown_cell(f"# Chat {code_span(chat)}\n\n{_intro(items)}"))
    for n, item in enumerate(items, 1):
        attached = _attached_md(item)
        if item.meta is not None and item.meta.source:
            nb.cells.append(v4.new_code_cell(item.meta.source))
            if attached:
                nb.cells.append(v4.new_markdown_cell(attached))
        else:
            nb.cells.append(v4.new_markdown_cell(page(Markup(f"**You ({n}):**"), item.prompt, Markup(attached))))
        answer = page(Markup(f"**Grok ({n}):**"), _answer(item.answer), Markup(_provenance_md(item)))
        nb.cells.append(v4.new_markdown_cell(answer, metadata={"grok_magics": _meta_dict(item.meta)}))
    nbformat.validate(nb)
    return nb


def to_markdown(chat: str, items: list[ExportedExchange]) -> str:
    """One page for the whole chat, made safe as a whole (renderers pair math and fences across it)."""
    blocks: list[Any] = [Markup(f"# Chat {code_span(chat)}"), Markup(_intro(items))]
    for n, item in enumerate(items, 1):
        blocks.append(Markup(f"## {n}. You"))
        if item.meta is not None and item.meta.source:
            blocks.append(Code("python", item.meta.source))
        else:
            blocks.append(_quote(item.prompt))  # quoted first: the sanitiser judges fences as they will be read
        blocks += [Markup(_attached_md(item)), Markup("### Grok")]
        blocks.append(_answer(item.answer) if item.answer.strip() else Markup("*(no answer)*"))
        blocks.append(Markup(_provenance_md(item)))
    return page(*blocks) + "\n"


def to_json(chat: str, items: list[ExportedExchange]) -> str:
    data = {
        "chat": chat,
        "exported": _now(),
        "version": __version__,
        "exchanges": [
            {
                "prompt": item.prompt,
                "cell": item.meta.source if item.meta is not None and item.meta.source else None,
                "attached": list(item.attached),
                "answer": item.answer,
                "interrupted": item.interrupted,
                "provenance": _meta_dict(item.meta),
            }
            for item in items
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write(path: str | Path, chat: str, items: list[ExportedExchange], force: bool = False) -> Path:
    """Raises ConfigError for an unknown extension, an unwritable path, or a file that exists (unless
    ``force``): an export must never silently replace a notebook of the same name."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"cannot export to {path.name}: use a file name ending in {', '.join(FORMATS)}")
    if suffix == ".ipynb":
        import nbformat

        text = nbformat.writes(to_notebook(chat, items))
    elif suffix == ".md":
        text = to_markdown(chat, items)
    else:
        text = to_json(chat, items)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w" if force else "x", encoding="utf-8") as out:  # "x": created here, or refused
            out.write(redact(text))
    except FileExistsError:
        raise ConfigError(
            f"{path} already exists: export did not replace it. "
            "Add --force to overwrite it, or choose another file name"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


# --------------------------------------------------------------------------- helpers


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def _intro(items: list[ExportedExchange]) -> str:
    replayed = sum(1 for i in items if i.meta is not None and i.meta.replayed)
    note = f" {replayed} of them replayed from a cassette, not asked live." if replayed else ""
    return f"Exported by grok-magics {__version__} on {_now()}: {len(items)} exchange(s).{note}"


def _attached_md(item: ExportedExchange) -> str:
    """One line per attachment."""
    return "*Attached:*\n\n" + "\n".join(f"- {plain(a)}" for a in item.attached) if item.attached else ""


def _answer(text: str) -> Text:
    """An answer's headings go below the export's own ("### Grok"), as they sit below a notebook's sections."""
    return Text(text, HeadingShift(ANSWER_TOP).apply)


def _provenance_md(item: ExportedExchange) -> str:
    return f"<sub>{plain(provenance_line(item.meta, item.interrupted))}</sub>"


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.splitlines()) or ">"
