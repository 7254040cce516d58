"""Image decoding that never crashes on bad bytes, colour-mode repair, and the two training-time crops.

``decode_image`` turns file bytes into an RGB image or an ``ImageProblem`` with the quarantine reason; it reads
the header first, so a decompression bomb is rejected before any pixel is allocated.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

GRAY = (127, 127, 127)
WIDE_MODES = {"I;16", "I;16B", "I;16L", "I", "F"}


class ImageProblem(Exception):
    """An image that cannot be used; ``reason`` is the quarantine reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


@dataclass
class DecodedImage:
    """The RGB image and the mode it was stored in (anything but RGB means it was repaired)."""

    image: Image.Image
    source_mode: str


def to_rgb(image: Image.Image, background: tuple[int, int, int] = GRAY) -> Image.Image:
    """RGB for any PIL mode: alpha is composited on ``background``; 16-bit and float images are rescaled."""
    if image.mode in WIDE_MODES:
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I") and array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / top * 255.0, 0, 255).round().astype(np.uint8), mode="L")
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(base, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def decode_image(payload: bytes | None, max_pixels: int, convert_modes: bool = True) -> DecodedImage:
    """Decode and fully load an image; raise ImageProblem(reason) for anything that is not a usable image."""
    if payload is None:
        raise ImageProblem("missing_image", "no image bytes")
    if len(payload) == 0:
        raise ImageProblem("empty_file", "the image file has zero bytes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(payload))
        except Image.DecompressionBombError as error:
            raise ImageProblem("decompression_bomb", str(error)) from None
        except UnidentifiedImageError:
            raise ImageProblem("not_an_image", f"{len(payload):,} bytes in no image format PIL reads") from None
        except (OSError, SyntaxError, ValueError) as error:
            raise ImageProblem("not_an_image", f"{type(error).__name__}: {error}"[:200]) from None
        if image.width * image.height > max_pixels:
            raise ImageProblem("decompression_bomb",
                               f"{image.width}x{image.height} exceeds max_pixels={max_pixels}")
        try:
            image.load()
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise ImageProblem("truncated_image", f"{type(error).__name__}: {error}"[:200]) from None
    mode = image.mode
    if mode != "RGB":
        if not convert_modes:
            raise ImageProblem("unsupported_mode", f"mode {mode}; set convert_modes: true to convert to RGB")
        image = to_rgb(image)
    return DecodedImage(image=image, source_mode=mode)


def pixel_hash(image: Image.Image) -> str:
    """SHA-256 of the RGB pixels and size: equal for the same picture however it was encoded."""
    digest = hashlib.sha256(f"{image.width}x{image.height}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def pad_to_square(image: Image.Image, size: int, background: tuple[int, int, int] = GRAY) -> Image.Image:
    """Understanding path: fit the long side to ``size`` and pad the short side with ``background``."""
    if image.size == (size, size):
        return image
    scale = size / max(image.width, image.height)
    resized = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                           Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (size, size), background)
    canvas.paste(resized, ((size - resized.width) // 2, (size - resized.height) // 2))
    return canvas


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """Generation path: the largest centred square, resized to ``size`` (what the flow learns to produce)."""
    side = min(image.width, image.height)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    return square if side == size else square.resize((size, size), Image.Resampling.BICUBIC)
