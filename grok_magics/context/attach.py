"""A prompt plus the user's variables → the parts of one user message.

The prompt text comes first (references replaced by their names), then one fenced block per table
and one image per image reference, in order of first mention; ``--data`` and ``--image`` attach
without a mention. Everything that can fail here fails before anything is sent.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from grok_magics.context.images import (
    image_part,
    is_image,
    is_url,
    looks_like_image_path,
)
from grok_magics.context.references import Found, expand_text, is_missing, resolve
from grok_magics.context.tables import Privacy, build_block, is_table
from grok_magics.errors import ContextError
from grok_magics.model.parts import DataPart, ImagePart, Part, Parts, TextPart


@dataclass(frozen=True)
class ContextSettings:
    budget: int = 2_000  # tokens per table block
    room: int | None = None  # tokens left in the context window for all blocks together
    privacy: Privacy = Privacy()
    image_max_side: int = 2048
    images_refused: str = ""  # why this provider takes no images ("" = it does)


@dataclass(frozen=True)
class Built:
    parts: Parts
    notes: tuple[str, ...] = field(default=())


def _attachable(value: Any) -> bool:
    return is_table(value) or is_image(value)


def _data_value(ref: str, namespace: Mapping[str, Any]) -> Any:
    value = resolve(ref, namespace)
    if is_missing(value):
        raise ContextError(f"--data {ref}: no such variable (or attribute/key) in this kernel; check the name")
    if not is_table(value):
        kind = type(value).__name__
        article = "an" if kind[:1].lower() in "aeiou" else "a"
        raise ContextError(
            f"--data {ref}: {article} {kind} is not a table (DataFrame, Series, polars "
            "frame, numpy array or list of records); put it in the prompt as {" + ref + "} instead"
        )
    return value


def _image_value(ref: str, namespace: Mapping[str, Any]) -> Any:
    value = resolve(ref, namespace)
    if not is_missing(value):
        return value
    if ref == "plt" and "matplotlib.pyplot" in sys.modules:  # the current figure, even if imported otherwise
        return sys.modules["matplotlib.pyplot"]
    if is_url(ref) or looks_like_image_path(ref) or "/" in ref:
        return ref  # a file path or URL, read by images.image_part
    raise ContextError(f"--image {ref}: no such variable, and not an image file name or http(s) URL")


def _block_budget(settings: ContextSettings, tables: int) -> int:
    if settings.room is None or tables == 0:
        return settings.budget
    return max(100, min(settings.budget, settings.room // tables))


def build(
    text: str,
    namespace: Mapping[str, Any],
    settings: ContextSettings = ContextSettings(),
    data: Sequence[str] = (),
    images: Sequence[str] = (),
    preamble: str = "",
    attachments: Mapping[str, Any] | None = None,
) -> Built:
    """``preamble`` is literal text put before the prompt (``%grok fix``'s cell and traceback);
    ``attachments`` are images by label that are not variables (``--output``: a notebook output's bytes)."""
    found = Found()
    prompt = expand_text(text, namespace, _attachable, found)
    if preamble:
        prompt = preamble + ("\n\n" + prompt if prompt else "")
    tables: dict[str, Any] = {}
    pictures: dict[str, Any] = {}
    for ref, value in found.attached.items():
        (tables if is_table(value) else pictures)[ref] = value
    for ref in data:
        tables.setdefault(ref, _data_value(ref, namespace))
    for ref in images:
        pictures.setdefault(ref, _image_value(ref, namespace))
    for ref, value in (attachments or {}).items():
        pictures.setdefault(ref, value)
    if pictures and settings.images_refused:
        raise ContextError(settings.images_refused)
    parts: list[Part] = [TextPart(prompt)]
    budget = _block_budget(settings, len(tables))
    for ref, value in tables.items():
        block = build_block(ref, value, budget, settings.privacy)
        parts.append(DataPart(name=ref, kind=block.kind, shape=block.shape, text=block.text))
    image_parts: list[ImagePart] = [image_part(ref, value, settings.image_max_side) for ref, value in pictures.items()]
    parts.extend(image_parts)
    return Built(parts=tuple(parts), notes=tuple(found.notes))
