"""Images → PNG or JPEG bytes the provider accepts (xAI documents those two, up to 20 MiB each).

Everything goes through Pillow (imported on first use): EXIF rotation applied, the long side
capped (2,048 px by default), and anything unreadable refused with one line *before* a request
is sent. http(s) URLs are passed through untouched; the provider fetches them.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from grok_magics.context.kinds import family
from grok_magics.errors import ImageError
from grok_magics.model.parts import ImagePart

MAX_BYTES = 20 * 1024 * 1024
FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff")


def is_image(value: Any) -> bool:
    """Objects that are images by type (a str or bytes is one only when given with --image)."""
    package, name = family(value)
    if package == "PIL":
        return hasattr(value, "save") and hasattr(value, "size")
    if package == "matplotlib":
        return name == "Figure"
    if getattr(value, "__name__", None) == "matplotlib.pyplot":
        return True
    return package == "IPython" and name == "Image"


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def looks_like_image_path(text: str) -> bool:
    return text.lower().endswith(FILE_SUFFIXES)


def _figure_png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _current_figure(pyplot: Any, name: str) -> Any:
    if not pyplot.get_fignums():
        raise ImageError(f"--image {name}: there is no current matplotlib figure; plot something first")
    return pyplot.gcf()


def _source(name: str, value: Any) -> bytes | str:
    """Raw bytes to decode, or a URL to pass through."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        if isinstance(text, str) and is_url(text):
            return text
        path = Path(text).expanduser()
        if not path.is_file():
            raise ImageError(f"image {name}: no file at {text!r}; check the path (relative to {os.getcwd()})")
        return path.read_bytes()
    if getattr(value, "__name__", None) == "matplotlib.pyplot":
        return _figure_png(_current_figure(value, name))
    package, kind = family(value)
    if package == "matplotlib" and kind == "Figure":
        return _figure_png(value)
    if package == "IPython" and kind == "Image":
        return _ipython_source(name, value)
    if package == "PIL":
        return b""  # handled by the caller, already decoded
    kind = type(value).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    raise ImageError(
        f"image {name}: {article} {kind} is not an image (use a path, URL, PIL image, "
        "matplotlib figure, IPython Image or bytes)"
    )


def _ipython_source(name: str, value: Any) -> bytes | str:
    """An ``IPython.display.Image``: its bytes, or its http(s) URL (which the provider fetches; we never do).

    IPython keeps a file name it could not find as the image's *text* data, so text here is a path."""
    data, url = getattr(value, "data", None), getattr(value, "url", None)
    if isinstance(data, str) and data:
        raise ImageError(
            f"image {name}: the IPython Image holds the text {data[:80]!r}, not image bytes "
            f"(IPython keeps a file name it cannot find as text); check the path (relative to "
            f"{os.getcwd()})"
        )
    if isinstance(data, (bytes, bytearray, memoryview)) and data:
        return bytes(data)
    if isinstance(url, str) and url:
        if is_url(url):
            return url
        raise ImageError(
            f"image {name}: the IPython Image points at {url[:80]!r}, which is not an http(s) URL, "
            "and grok-magics never fetches URLs itself; pass the file's path or its bytes instead"
        )
    raise ImageError(f"image {name}: the IPython Image holds no data")


def _open(name: str, data: bytes) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Image.DecompressionBombError as exc:
        raise ImageError(_bomb(name, exc)) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageError(
            f"image {name}: cannot be read ({type(exc).__name__}: {exc}); "
            "is it a complete png, jpeg, gif, webp, bmp or tiff file?"
        ) from None
    return image


def _bomb(name: str, exc: Exception) -> str:
    """Pillow refused to decode an image this large (a decompression bomb, or a huge scan)."""
    import re

    from PIL import Image

    found = re.search(r"\((\d+) pixels\) exceeds limit of (\d+)", str(exc))
    size = f"{int(found.group(1)):,} pixels" if found else "its size"
    limit = int(found.group(2)) if found else 2 * (Image.MAX_IMAGE_PIXELS or 0)
    return (
        f"image {name}: {size} is over Pillow's limit of {limit:,} pixels (a decompression-bomb guard), so it "
        "was not opened and nothing was sent; downscale it first, or raise PIL.Image.MAX_IMAGE_PIXELS if you "
        "trust the file"
    )


def _encode(image: Any, photo: bool) -> tuple[str, bytes]:
    """JPEG for photos without transparency (smaller), PNG otherwise (lossless, keeps alpha)."""
    buffer = io.BytesIO()
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if photo and not has_alpha:
        image.convert("RGB").save(buffer, format="JPEG", quality=90)
        return "image/jpeg", buffer.getvalue()
    converted = image if image.mode in ("RGB", "RGBA", "L", "LA", "P", "1") else image.convert("RGBA")
    converted.save(buffer, format="PNG", optimize=False)
    return "image/png", buffer.getvalue()


def _sendable_as_is(image: Any, data: bytes, max_side: int) -> bool:
    """A PNG or JPEG file that needs no rotation, scaling or frame picking goes out byte for byte."""
    upright = image.getexif().get(0x0112, 1) == 1
    still = getattr(image, "n_frames", 1) == 1
    return (
        image.format in ("PNG", "JPEG") and upright and still and max(image.size) <= max_side and len(data) <= MAX_BYTES
    )


def image_part(name: str, value: Any, max_side: int = 2048) -> ImagePart:
    """One image, ready to send; raises ``ImageError`` for anything that would fail at the provider."""
    from PIL import Image, ImageOps

    package, _ = family(value)
    if package == "PIL":
        image, photo = value, getattr(value, "format", None) == "JPEG"
        try:
            image.load()
        except Image.DecompressionBombError as exc:
            raise ImageError(_bomb(name, exc)) from None
        except Exception as exc:
            raise ImageError(f"image {name}: cannot be read ({type(exc).__name__}: {exc})") from None
    else:
        source = _source(name, value)
        if isinstance(source, str):
            return ImagePart(name=name, url=source)
        image = _open(name, source)
        photo = image.format == "JPEG"
        if _sendable_as_is(image, source, max_side):  # no re-encoding: same bytes, same quality, stable hash
            mime = "image/jpeg" if photo else "image/png"
            return ImagePart(name=name, mime=mime, data=source, width=image.size[0], height=image.size[1])
    image = ImageOps.exif_transpose(image)
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)  # animated gif/webp: the first frame
    if max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side))
    mime, data = _encode(image, photo)
    if len(data) > MAX_BYTES and mime == "image/png":
        mime, data = _encode(image, True)
    if len(data) > MAX_BYTES:
        raise ImageError(
            f"image {name}: {len(data) / 2**20:.1f} MiB after conversion, over the 20 MiB limit; "
            "lower %config GrokMagics.image_max_side"
        )
    return ImagePart(name=name, mime=mime, data=data, width=image.size[0], height=image.size[1])
