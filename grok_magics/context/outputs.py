"""``--output CELL:N`` ("Ask about this" on a notebook output): what that output becomes in the prompt.

The page sends the output just before the asking cell runs (see ``grok_magics.page``); this module turns
it into the same kinds of parts every other attachment becomes, so the usual rules hold: a value the
kernel still holds as ``Out[n]`` goes through the table/image builders (budget, ``--schema-only``,
``--exclude``, ``redact_columns``), an image through Pillow (downscaled, checked), text as a literal block
in the prompt (so the key scan reads it, and ``{name}`` in it is never expanded), trimmed to the budget.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from grok_magics.context.images import is_image
from grok_magics.context.notebook import cut_middle, strip_ansi
from grok_magics.context.tables import is_table
from grok_magics.errors import ContextError

_REF = re.compile(r"^(?P<cell>[^\s:]+):(?P<index>\d+)$")
IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif", "image/webp")


@dataclass
class Attached:
    preamble: str = ""  # literal text put before the prompt
    data: list[str] = field(default_factory=list)  # Out[n] references to tables
    images: dict[str, Any] = field(default_factory=dict)  # label -> bytes or a live image value


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _text(output: Mapping[str, Any]) -> str:
    data = output.get("data") or {}
    for mime in ("text/plain", "text/markdown"):
        if isinstance(data.get(mime), str) and data[mime].strip():
            return data[mime]
    if output.get("output_type") == "error":
        return "\n".join(str(line) for line in output.get("traceback") or ()) or str(output.get("text") or "")
    return str(output.get("text") or data.get("text/html") or "")


def _looks_like_table(output: Mapping[str, Any]) -> bool:
    html = (output.get("data") or {}).get("text/html")
    return isinstance(html, str) and "<table" in html


def attach_outputs(
    refs: Sequence[str],
    outputs: Mapping[str, Mapping[str, Any]],
    namespace: Mapping[str, Any],
    text_budget: int,
    private: bool,
    cells: Mapping[str, Mapping[str, Any]] | None = None,
) -> Attached:
    """``refs`` as typed on the magic line; ``outputs`` as the page pushed them; ``private``: a privacy
    setting is on (``--schema-only``, ``--exclude``, ``redact_columns``), which text of a table cannot honour."""
    attached = Attached()
    blocks: list[str] = []
    held = namespace.get("Out")
    out: Mapping[Any, Any] = held if isinstance(held, Mapping) else {}
    for ref in refs:
        if not _REF.match(ref):
            raise ContextError(f'--output {ref}: expected CELL_ID:N (what "Ask about this" writes)')
        output = outputs.get(ref)
        if output is None:
            raise ContextError(
                f"--output {ref}: the page sent no such output (the cell is gone, or its outputs "
                'changed); click "Ask about this" on the output again'
            )
        cell: Mapping[str, Any] = (cells or {}).get(ref.split(":")[0]) or {}
        count = output.get("execution_count")
        label = (
            f"Out[{count}]"
            if isinstance(count, int)
            else (
                f"an output of In [{cell['execution_count']}]"
                if isinstance(cell.get("execution_count"), int)
                else "a notebook output"
            )
        )
        live = out.get(count) if isinstance(count, int) else None
        if live is not None and is_table(live):
            attached.data.append(f"Out[{count}]")  # the table builder: budget and privacy rules apply
            continue
        if live is not None and is_image(live):
            attached.images[label] = live
            continue
        data = output.get("data") or {}
        image = next((m for m in IMAGE_MIMES if isinstance(data.get(m), str)), None)
        if image is not None:
            try:
                attached.images[label] = base64.b64decode(data[image], validate=False)
            except (binascii.Error, ValueError):
                raise ContextError(f"--output {ref}: the image is not valid base64; re-run its cell") from None
            continue
        if output.get("too_large"):
            raise ContextError(
                f"--output {ref}: the image is too large to send from the page; save it to a file "
                "and attach it with --image PATH"
            )
        if private and _looks_like_table(output):
            raise ContextError(
                f"--output {ref}: this table is only text on the page, so --schema-only, --exclude "
                "and redact_columns cannot be applied to it; nothing was sent. Ask about the "
                "DataFrame itself with {name}"
            )
        text = cut_middle(strip_ansi(_text(output)).rstrip(), text_budget)
        if not text.strip():
            raise ContextError(f"--output {ref}: the output holds no text or image to send")
        fence = _fence(text)
        kind = output.get("output_type", "output")
        blocks.append(f"The notebook output ({label}, {kind}):\n{fence}text\n{text}\n{fence}")
    attached.preamble = "\n\n".join(blocks)
    return attached
