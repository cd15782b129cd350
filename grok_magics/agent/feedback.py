"""What goes back to Grok about a step: text within a byte limit, figures as image parts.

Every table (the step's result, or one it displayed) becomes a context block from the context builder,
under the ask's privacy (``--schema-only``, ``--exclude``, ``redact_columns``, key masking): never the
repr of a frame. Printed text cannot be parsed back into columns, so the values of redacted and excluded
columns of the frames the user named are masked in it as strings, and ``--schema-only`` withholds it.
Key-shaped text is masked before any cut, so no part of a key survives a limit. The request that carries
all this still passes the gate out, which refuses any key the masks missed.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from grok_magics.agent.execution import TABLE_MARK, StepOutcome
from grok_magics.context.tables import Privacy, build_block, is_table
from grok_magics.model.parts import ImagePart

MAX_MASKED_VALUES = 20_000  # distinct values of hidden columns masked in printed text
MIN_MASKED_LENGTH = 3  # shorter values ("1", "ab") would mask half of any output
MAX_IMAGES = 4  # images of one step sent back (each is hundreds of tokens, and stays in the conversation)


@dataclass(frozen=True)
class Feedback:
    text: str
    images: tuple[ImagePart, ...] = ()
    cut: bool = False  # the text reached the byte limit


def hidden_values(frames: Mapping[str, Any], privacy: Privacy) -> frozenset[str]:
    """The values of redacted and excluded columns in the frames the user named, as text."""
    values: set[str] = set()
    for frame in frames.values():
        columns = getattr(frame, "columns", ())
        for column in columns:
            if not (privacy.redacted(str(column)) or privacy.excluded(str(column))):
                continue
            try:
                unique = frame[column].dropna().unique()[:MAX_MASKED_VALUES]
            except Exception:
                continue
            values.update(s for s in map(str, unique) if len(s) >= MIN_MASKED_LENGTH)
            if len(values) >= MAX_MASKED_VALUES:
                return frozenset(values)
    return frozenset(values)


def _masked(text: str, hidden: Iterable[str], mask: Callable[[str], str] | None) -> str:
    for value in sorted(hidden, key=len, reverse=True):  # longest first: "12345" before "123"
        if value in text:
            text = text.replace(value, "[redacted]")
    return mask(text) if mask is not None else text


def _cut(text: str, limit: int) -> tuple[str, bool]:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text, False
    kept = data[: max(limit - 80, 0)].decode("utf-8", "ignore")
    return kept + f"\n… [cut: this step's output is over {limit:,} bytes]", True


def _table_text(name: str, value: Any, privacy: Privacy, budget: int) -> str:
    block = build_block(name, value, budget, privacy)
    return f"{name} ({block.kind}, {block.shape}):\n{block.text}"


def _value_text(value: Any, privacy: Privacy, budget: int, limit: int) -> str:
    if is_table(value):
        return _table_text("result", value, privacy, budget)
    kind = f"{type(value).__module__}.{type(value).__qualname__}".removeprefix("builtins.")
    if privacy.schema_only:
        shape = getattr(value, "shape", None) or (len(value) if hasattr(value, "__len__") else None)
        return f"result: {kind}" + (f", shape {shape}" if shape is not None else "") + " (value withheld: schema only)"
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<repr failed: {type(exc).__name__}>"
    return f"result ({kind}):\n{text[:limit]}"


def feedback_for(
    outcome: StepOutcome,
    number: int,
    privacy: Privacy,
    budget_tokens: int,
    max_bytes: int,
    hidden: frozenset[str] = frozenset(),
    image_max_side: int = 2048,
    images_allowed: bool = True,
) -> Feedback:
    """The step's result for the model. No timings: a replayed session must send the same text."""
    mask = privacy.mask_keys
    pieces: list[str] = [f"Step {number} " + ("did not finish" if outcome.failed else "ran") + "."]
    if outcome.timed_out:
        pieces.append("It was stopped: it ran over its time limit (what it printed before is below).")
    if outcome.interrupted:
        pieces.append("The user interrupted it.")
    for label, text in (("stdout", outcome.stdout), ("stderr", outcome.stderr)):
        if text.strip():
            if privacy.schema_only:
                pieces.append(f"{label}: {len(text.splitlines())} lines (withheld: schema only)")
            else:
                pieces.append(f"{label}:\n{text.rstrip()}")
    for data, metadata in outcome.displays:
        index = metadata.get(TABLE_MARK)
        if isinstance(index, int) and index < len(outcome.tables):
            pieces.append(
                "displayed " + _table_text(f"table {index + 1}", outcome.tables[index], privacy, budget_tokens)
            )
        elif "image/png" in data or "image/jpeg" in data:
            continue  # sent as an image below
        elif "text/plain" in data and not privacy.schema_only:
            pieces.append(f"displayed:\n{str(data['text/plain'])[:max_bytes]}")
    if outcome.has_value:
        pieces.append(_value_text(outcome.value, privacy, budget_tokens, max_bytes))
    if outcome.error:
        pieces.append(f"error:\n{outcome.error}")
    images = _images(outcome, number, image_max_side) if images_allowed else ()
    if len(images) > MAX_IMAGES:
        pieces.append(f"{len(images) - MAX_IMAGES} more image(s) not sent: at most {MAX_IMAGES} per step.")
        images = images[:MAX_IMAGES]
    if images:
        pieces.append(
            f"{len(images)} image(s) attached after the tool results, as {', '.join(i.name for i in images)}."
        )
    elif _image_count(outcome) and not images_allowed:
        pieces.append(f"{_image_count(outcome)} image(s) not sent: this provider takes no images.")
    text, cut = _cut(_masked("\n\n".join(pieces), hidden, mask), max_bytes)
    return Feedback(text, images, cut)


def _image_count(outcome: StepOutcome) -> int:
    shown = sum(1 for data, _ in outcome.displays if "image/png" in data or "image/jpeg" in data)
    return len(outcome.figures) + shown


def _images(outcome: StepOutcome, number: int, max_side: int) -> tuple[ImagePart, ...]:
    from grok_magics.context.images import image_part
    from grok_magics.errors import ImageError

    sources: list[bytes] = list(outcome.figures)
    for data, _ in outcome.displays:
        for mime in ("image/png", "image/jpeg"):
            if mime in data:
                raw = data[mime]
                sources.append(base64.b64decode(raw) if isinstance(raw, str) else bytes(raw))
                break
    parts: list[ImagePart] = []
    for n, png in enumerate(sources, 1):
        try:
            parts.append(image_part(f"step {number} image {n}", png, max_side))
        except ImageError:
            continue
    return tuple(parts)
