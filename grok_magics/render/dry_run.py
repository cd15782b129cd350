"""``--dry-run``: exactly what would leave the kernel, read from the request kwargs the wire module
would hand to the SDK — so the preview cannot drift from what is really sent.

Images are described (format, pixels, bytes), not dumped as base64. Tokens are estimated as
characters / 4 for text and 85 + 170 per 512-pixel tile for images; the cost at Grok 4.3 list
prices covers the input only (the answer is billed on top).
"""

from __future__ import annotations

import json
from typing import Any, Callable

from grok_magics.model.events import Usage
from grok_magics.model.parts import ImagePart, estimate_tokens, image_tokens
from grok_magics.model.request import Request
from grok_magics.model.usage import estimate_cost, money
from grok_magics.privacy.redaction import mask_url
from grok_magics.providers.client import add_headers, per_request_headers
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


def texts_of(request: Request) -> list[str]:
    """Every text the preview counts, for a tokenizer to count in one batch first."""
    found: list[str] = []

    def collect(text: str) -> int:
        found.append(text)
        return 0

    preview_text(request, count=collect)
    return found


def preview_text(request: Request, count: Callable[[str], int] | None = None, basis: str = "") -> str:
    """``count``: exact counts (``tokens.Counter.cached``), with ``basis`` saying how they were made."""
    endpoint = request.endpoint
    wire = module_for(endpoint.api)
    kwargs = add_headers(wire.build(request), per_request_headers(endpoint))
    provider = endpoint.provider
    auth = "Authorization: Bearer" if provider.auth_header == "authorization" else f"{provider.auth_header}:"
    lines = [
        "Dry run — nothing was sent, and no API key was needed.",
        f"POST {mask_url(endpoint.base_url)}{wire.PATH}  ({endpoint.model} on {provider.title}, {endpoint.api} API; "
        f"{auth} ${provider.key_env}, never shown)",
    ]
    lines += [f"Note: {note}" for note in request.notes]
    lines.append("Request options:")
    lines += _options(kwargs)
    items = kwargs.get("messages") or kwargs.get("input") or []
    lines.append(f"{'Messages' if 'messages' in kwargs else 'Input items'}, in order:")
    images = _images(request)
    total = 0
    for n, item in enumerate(items, 1):
        described, tokens = _describe_item(n, item, images, count or estimate_tokens)
        lines += described
        total += tokens
    cost = estimate_cost(Usage(input=total))
    if count is not None and basis.startswith("exact"):
        lines[0] = (
            "Dry run — nothing was sent to the model; the text was sent only to the provider's tokenizer, "
            "for an exact count (free; it answers nothing else)."
        )
        lines.append(
            f"Input: {total:,} tokens (text: {basis}; images: 85 + 170 per 512-px tile, estimated) "
            f"≈ {money(cost)} at Grok 4.3 list prices, before the answer's output tokens."
        )
        return "\n".join(lines)
    why = f"; {basis}" if basis and not basis.startswith("estimated, characters / 4") else ""
    if basis.startswith("estimated, characters / 4:"):
        why = f"; {basis.split(': ', 1)[1]}"
    lines.append(
        f"Estimated input: ~{total:,} tokens (text: characters / 4{why}; images: 85 + 170 per 512-px tile) "
        f"≈ {money(cost)} at Grok 4.3 list prices, before the answer's output tokens."
    )
    return "\n".join(lines)
