"""``--dry-run``: exactly what would leave the kernel, read from the request kwargs the wire module
would hand to the SDK — so the preview cannot drift from what is really sent.

A person reads it first: a few lines say what leaves (the prompt, each table with its columns and rows, each
image with a thumbnail in a notebook, history, tools) and what it costs; the exact request follows (collapsed
and wrapping in a notebook), with its internal fields explained one line each.

Images are described (format, pixels, bytes), not dumped as base64. Tokens are estimated as
characters / 4 for text and 85 + 170 per 512-pixel tile for images; the cost at Grok 4.3 list
prices covers the input only (the answer is billed on top).
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from grok_magics.model.events import Usage
from grok_magics.model.parts import DataPart, ImagePart, estimate_tokens, image_tokens, text_of
from grok_magics.model.request import Request
from grok_magics.model.usage import estimate_cost, money
from grok_magics.privacy.redaction import mask_url
from grok_magics.providers.client import add_headers, per_request_headers
from grok_magics.render import sanitise
from grok_magics.render.sanitise import Markup, code_span, html_text, plain
from grok_magics.wire import module_for

_CONVERSATION = ("messages", "input")
_TEXT = ("text", "input_text")
_IMAGE = ("image_url", "input_image")


def _images(request: Request) -> dict[str, ImagePart]:
    every = [request.user] + [turn.user for turn in request.history]
    return {p.wire_url: p for parts in every for p in parts if isinstance(p, ImagePart)}


def _image_url(part: dict[str, Any]) -> str:
    url = part.get("image_url")
    return url.get("url", "") if isinstance(url, dict) else str(url or "")


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines()) or "    "


def _describe_part(
    part: dict[str, Any], images: dict[str, ImagePart], count: Callable[[str], int] = estimate_tokens
) -> tuple[str, int]:
    kind = part.get("type")
    if kind in _TEXT:
        text = str(part.get("text", ""))
        return _indent(text), count(text)
    if kind in _IMAGE:
        url = _image_url(part)
        image = images.get(url)
        if image is not None and image.data is not None:
            return (
                f"    [image {image.name}: {image.size}, sent inline as a base64 data URL of {len(url):,} characters]"
            ), image_tokens(image)
        return f"    [image URL {url}, fetched by the provider]", image_tokens(ImagePart(name="", url=url))
    raw = json.dumps(part)
    return _indent(raw), estimate_tokens(raw)


def _describe_item(
    n: int, item: dict[str, Any], images: dict[str, ImagePart], count: Callable[[str], int] = estimate_tokens
) -> tuple[list[str], int]:
    role = item.get("role") or item.get("type") or "item"
    content = item.get("content")
    if isinstance(content, str):
        return [f"[{n}] {role}:", _indent(content)], count(content)
    if isinstance(content, list):
        lines, tokens = [f"[{n}] {role}:"], 0
        for part in content:
            text, cost = _describe_part(part, images, count) if isinstance(part, dict) else (_indent(str(part)), 0)
            lines.append(text)
            tokens += cost
        return lines, tokens
    raw = json.dumps(item)
    return [f"[{n}] {role} item ({len(raw):,} characters, sent back verbatim)"], estimate_tokens(raw)


def _options(kwargs: dict[str, Any]) -> list[str]:
    shown = []
    for key, value in kwargs.items():
        if key in _CONVERSATION:
            continue
        if key == "extra_headers":  # only plain headers; the SDK's Omit markers remove a header
            value = {k: v for k, v in (value or {}).items() if isinstance(v, str)}
            if not value:
                continue
        shown.append(f"  {key} = {json.dumps(value, default=str)}")
    return shown


FIELDS = {  # what each request option means, one line each, for the reader of a dry run
    "model": "the model that would answer",
    "stream": "the answer arrives word by word, as it is written",
    "store": "false: the provider is asked to keep no copy of this conversation",
    "prompt_cache_key": "requests that begin alike share it, so their repeated beginning bills at the cached rate",
    "include": "asks for the model's reasoning in encrypted form (unreadable), sent back with the next turn",
    "reasoning": "how hard the model thinks (--effort): more effort, more (billed) reasoning tokens",
    "reasoning_effort": "how hard the model thinks (--effort): more effort, more (billed) reasoning tokens",
    "max_output_tokens": "the longest answer allowed, in tokens (--max-tokens)",
    "max_tokens": "the longest answer allowed, in tokens (--max-tokens)",
    "max_completion_tokens": "the longest answer allowed, in tokens (--max-tokens)",
    "temperature": "how varied the wording is (--temperature)",
    "tools": "functions Grok may ask this kernel to run (--tools), or searches the provider runs",
    "tool_choice": "whether Grok must, may or may not call a tool",
    "text": "the JSON shape the answer must have (--json / --schema)",
    "response_format": "the JSON shape the answer must have (--json / --schema)",
    "stream_options": "asks for the token counts at the end of the stream",
    "extra_headers": "HTTP headers sent with this request",
}
FENCE_FIELD = "fence: a random marker that closes each data block, so text in your data cannot pose as instructions"
THUMB_PX = 160


class Counting:
    """How the dry run counts text: characters / 4, or exact counts a tokenizer made first (``tokens.Counter``),
    with ``basis`` saying which."""

    def __init__(self, count: Callable[[str], int] | None = None, basis: str = "") -> None:
        self.count = count or estimate_tokens
        self.basis = basis
        self.exact = count is not None and basis.startswith("exact")


ESTIMATED = Counting()


@dataclass(frozen=True)
class Exact:
    """The request exactly as the wire module builds it: its lines, input tokens and keyword arguments."""

    lines: list[str]
    tokens: int
    kwargs: dict[str, Any]


class Preview:
    """One dry run: the wire request is built once, its texts counted in one batch (``texts``), then shown."""

    def __init__(self, request: Request) -> None:
        self.request = request
        endpoint = request.endpoint
        self.kwargs = add_headers(module_for(endpoint.api).build(request), per_request_headers(endpoint))

    def texts(self) -> list[str]:
        """Every text the preview counts, for a tokenizer to count in one batch first."""
        found: list[str] = []

        def collect(text: str) -> int:
            found.append(text)
            return 0

        self.exact(collect)
        return found

    def exact(self, count: Callable[[str], int] = estimate_tokens) -> Exact:
        request, kwargs = self.request, self.kwargs
        endpoint = request.endpoint
        provider = endpoint.provider
        auth = "Authorization: Bearer" if provider.auth_header == "authorization" else f"{provider.auth_header}:"
        lines = [
            f"POST {mask_url(endpoint.base_url)}{module_for(endpoint.api).PATH}  ({endpoint.model} on "
            f"{provider.title}, {endpoint.api} API; {auth} ${provider.key_env}, never shown)",
        ]
        lines.append("Request options:")
        lines += _options(kwargs)
        items = kwargs.get("messages") or kwargs.get("input") or []
        lines.append(f"{'Messages' if 'messages' in kwargs else 'Input items'}, in order:")
        images = _images(request)
        total = 0
        for n, item in enumerate(items, 1):
            described, tokens = _describe_item(n, item, images, count)
            lines += described
            total += tokens
        return Exact(lines, total, kwargs)

    def show(self, notebook: bool, counting: Counting = ESTIMATED) -> None:
        """Printed in a terminal; in a notebook, Markdown (the text version stays as ``text/plain``)."""
        exact = self.exact(counting.count)
        if not notebook:
            print(preview_text(self.request, exact, counting))
            return
        from IPython.display import display

        shown = {
            "text/markdown": preview_markdown(self.request, exact, counting),
            "text/plain": preview_text(self.request, exact, counting),
        }
        display(shown, raw=True)


def _columns(part: DataPart) -> list[str]:
    """Column names as the data block lists them (``- name (dtype): …``)."""
    return _COLUMN.findall(part.text.split("\nFirst ", 1)[0])


_COLUMN = re.compile(r"^- (.+?) \([^()\n]*\):", re.M)


def _what_leaves(request: Request) -> list[tuple[str, str, ImagePart | None]]:
    """(plain line, Markdown line, image for a thumbnail) per thing that leaves the kernel, the prompt first."""
    out: list[tuple[str, str, ImagePart | None]] = []
    typed = text_of(request.user)
    out.append((f"your prompt ({len(typed):,} characters)", f"your prompt ({len(typed):,} characters)", None))
    for part in request.user:
        if isinstance(part, DataPart):
            columns = _columns(part)
            shown = ", ".join(columns[:8]) + (f", … ({len(columns) - 8:,} more)" if len(columns) > 8 else "")
            tail = f": {shown}" if columns else ""
            line = f"table {part.name}: {part.kind}, {part.shape}{tail}"
            md = f"table {code_span(part.name)}: {plain(part.kind)}, {plain(part.shape)}{plain(tail)}"
            out.append((line, md, None))
        elif isinstance(part, ImagePart):
            what = part.size if part.data is not None else "a URL the provider fetches"
            out.append((f"image {part.name}: {what}", f"image {code_span(part.name)}: {plain(what)}", part))
    if request.history:
        n = len(request.history)
        line = f"{n:,} earlier exchange{'s' if n > 1 else ''} of this chat"
        out.append((line, line, None))
    if request.system:
        line = f"system prompt ({len(request.system):,} characters)"
        out.append((line, line, None))
    names = [t.name for t in request.tools] + [s.replace("_", " ") for s in request.search]
    if names:
        line = f"{len(names)} tool{'s' if len(names) > 1 else ''} Grok may use: " + ", ".join(names)
        out.append((line, plain(line), None))
    if request.output is not None:
        line = "the JSON shape the answer must have" + (f" ({request.output.name})" if request.output.name else "")
        out.append((line, plain(line), None))
    return out


def _cost_line(total: int, counting: Counting) -> str:
    cost = estimate_cost(Usage(input=total))
    basis = counting.basis
    if counting.exact:
        return (
            f"Input: {total:,} tokens (text: {basis}; images: 85 + 170 per 512-px tile, estimated) "
            f"≈ {money(cost)} at Grok 4.3 list prices, before the answer's output tokens."
        )
    why = f"; {basis}" if basis and not basis.startswith("estimated, characters / 4") else ""
    if basis.startswith("estimated, characters / 4:"):
        why = f"; {basis.split(': ', 1)[1]}"
    return (
        f"Estimated input: ~{total:,} tokens (text: characters / 4{why}; images: 85 + 170 per 512-px tile) "
        f"≈ {money(cost)} at Grok 4.3 list prices, before the answer's output tokens."
    )


def _first_line(counting: Counting) -> str:
    if counting.exact:
        return (
            "Dry run — nothing was sent to the model; the text was sent only to the provider's tokenizer, "
            "for an exact count (free; it answers nothing else)."
        )
    return "Dry run — nothing was sent, and no API key was needed."


def preview_text(request: Request, exact: Exact, counting: Counting = ESTIMATED) -> str:
    """The dry run as text: what leaves the kernel, in a few lines, then the exact request."""
    endpoint = request.endpoint
    lines = [_first_line(counting)]
    lines.append(f"{endpoint.model} on {endpoint.provider.title} would get:")
    lines += [f"  • {line}" for line, _, _ in _what_leaves(request)]
    lines.append(_cost_line(exact.tokens, counting))
    lines += [f"Note: {note}" for note in request.notes]
    lines += ["", "The exact request:", *exact.lines]
    return "\n".join(lines)


def _thumbnail(part: ImagePart) -> str:
    """A small inline picture of an attached image (our own PNG, base64: nothing from outside in the tag)."""
    if part.data is None:
        return ""
    try:
        from PIL import Image

        image = Image.open(io.BytesIO(part.data))
        image.thumbnail((THUMB_PX, THUMB_PX))
        buffer = io.BytesIO()
        image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB").save(buffer, format="PNG")
    except Exception:  # no Pillow, or bytes it cannot read: the line says what the image is anyway
        return ""
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    alt = html.escape(part.name, quote=True)
    return f'<br><img src="data:image/png;base64,{data}" alt="{alt}" style="max-width:{THUMB_PX}px">'


def preview_markdown(request: Request, exact: Exact, counting: Counting = ESTIMATED) -> str:
    """The dry run for a notebook: a short summary first, the exact request collapsed below it (wrapping),
    and what its internal fields mean, one line each. Passes the one sanitiser like every answer."""
    endpoint = request.endpoint
    leaves = [f"- {md}{_thumbnail(image) if image is not None else ''}" for _, md, image in _what_leaves(request)]
    fields = [f"- {code_span(k)} — {plain(FIELDS[k])}" for k in exact.kwargs if k in FIELDS]
    if any(isinstance(p, DataPart) for p in request.user):
        fields.append(f"- {plain(FENCE_FIELD)}")
    body = html_text("\n".join(exact.lines)).replace("$", "&#36;").replace("\\", "&#92;")  # no math, no markup
    blocks = [
        Markup(plain(_first_line(counting)).replace("Dry run", "**Dry run**", 1)),
        Markup(f"**{plain(endpoint.model)}** on {plain(endpoint.provider.title)} would get:"),
        Markup("\n".join(leaves)),
        Markup(plain(_cost_line(exact.tokens, counting))),
        *(Markup(plain(f"Note: {note}")) for note in request.notes),
        Markup("<details><summary>The exact request</summary>"),
        Markup(f'<pre class="grok-dry" style="white-space: pre-wrap; overflow-wrap: anywhere">{body}</pre>'),
        Markup("**What the fields mean**\n\n" + "\n".join(fields)) if fields else "",
        Markup("</details>"),
    ]
    return sanitise.page(*(b for b in blocks if b))
