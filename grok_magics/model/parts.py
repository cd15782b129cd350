"""What a prompt is made of, independent of any wire format.

A user message is a tuple of typed parts so that DataFrames and images can join plain text
without changing the wire code's contract: each wire module maps parts to its own JSON. A part
is built once, when the user asks; history replays the very same parts, so a frame or an image
is never rebuilt or re-encoded on later turns.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class DataPart:
    """A fenced context block describing one referenced table or array, as the model reads it."""

    name: str
    kind: str  # e.g. "pandas.DataFrame"
    shape: str  # e.g. "1,000 rows × 5 columns"
    text: str

    @property
    def label(self) -> str:
        return f"[data {self.name}: {self.kind}, {self.shape}]"


@dataclass(frozen=True)
class ImagePart:
    """One image, already converted (PNG or JPEG bytes) or an http(s) URL passed through."""

    name: str
    mime: str = ""
    data: bytes | None = None
    url: str | None = None
    width: int = 0
    height: int = 0

    @property
    def wire_url(self) -> str:
        """A data URL for converted images, the URL itself otherwise."""
        if self.data is None:
            return self.url or ""
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    @property
    def size(self) -> str:
        if self.data is None:
            return f"URL {self.url}"
        fmt = self.mime.split("/")[-1].upper()
        return f"{fmt} {self.width}×{self.height}, {len(self.data) / 1024:,.0f} KiB"

    @property
    def label(self) -> str:
        return f"[image {self.name}: {self.size}]"

    @property
    def caption(self) -> str:
        """The text just before the image, so the model can tell several images apart."""
        return f"Image `{self.name}` ({self.size}):"


Part = Union[TextPart, DataPart, ImagePart]
Parts = tuple[Part, ...]


def text_of(parts: Parts) -> str:
    """What the user typed (the prompt text only, without attached blocks)."""
    return "".join(p.text for p in parts if isinstance(p, TextPart))


def needs_gap(previous: str, text: str) -> bool:
    """Some servers join a message's text parts into one string: a prompt must not run into the caption or data
    block after it ("…in `photo`?Image `photo`"), so the wire puts a blank-line part between them."""
    return bool(previous) and bool(text) and not previous[-1].isspace() and not text[0].isspace()


GAP = "\n\n"


def labels_of(parts: Parts) -> list[str]:
    return [p.label for p in parts if isinstance(p, (DataPart, ImagePart))]


def estimate_tokens(text: str) -> int:
    """Rough count (4 characters a token) for budgeting before the provider tells us the truth."""
    return len(text) // 4 + 1


def image_tokens(part: ImagePart) -> int:
    """Rough image cost: 85 + 170 per 512-pixel tile (OpenAI's published rule; xAI publishes none)."""
    if part.data is None or not part.width or not part.height:
        return 1_000  # a URL's size is unknown until the provider fetches it
    tiles = math.ceil(part.width / 512) * math.ceil(part.height / 512)
    return 85 + 170 * tiles


def parts_tokens(parts: Parts) -> int:
    """Estimated input tokens of a whole user message: text, context blocks and images."""
    total = 0
    for part in parts:
        if isinstance(part, ImagePart):
            total += image_tokens(part) + estimate_tokens(part.caption)
        else:
            total += estimate_tokens(part.text)
    return total
