"""Deliberately broken records, as they occur in scraped data, so that the filtering path is always exercised.

Each kind names what is wrong and the outcome the filter must reach: a quarantine reason, or ``repaired`` for
valid images in another colour mode (grayscale, RGBA, CMYK, 16-bit), which are converted to RGB and kept.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

REPAIRED = "repaired"

IMAGE_KINDS: dict[str, str] = {
    "truncated_image": "truncated_image",
    "zero_byte_file": "empty_file",
    "non_image_bytes": "not_an_image",
    "decompression_bomb": "decompression_bomb",
    "grayscale": REPAIRED,
    "rgba": REPAIRED,
    "cmyk": REPAIRED,
    "16_bit": REPAIRED,
    "extreme_aspect_ratio": "aspect_ratio",
    "tiny_image": "too_small",
    "missing_image": "missing_image",
}
GEN_KINDS: dict[str, str] = {
    **IMAGE_KINDS,
    "empty_caption": "empty_caption",
    "overlong_caption": "caption_too_long",
    "invalid_utf8": "invalid_utf8",
    "malformed_json": "malformed_json",
    "duplicate_image": "duplicate",
}
UND_KINDS: dict[str, str] = {**IMAGE_KINDS, "empty_answer": "malformed_conversation", "duplicate_record": "duplicate"}
TEXT_KINDS: dict[str, str] = {
    "malformed_json": "malformed_json",
    "invalid_utf8": "invalid_utf8",
    "empty_text": "empty_text",
    "overlong_text": "text_too_long",
}
BOMB_SIDE = 60_000
NOT_AN_IMAGE = b"<html><head><title>404 Not Found</title></head><body>Not Found</body></html>\n"
INVALID_UTF8 = b"a red circle \xff\xfe on a \xc3\x28 background"


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def decompression_bomb() -> bytes:
    """A valid PNG whose header claims BOMB_SIDE x BOMB_SIDE pixels (3.6 gigapixels) in a few hundred bytes."""
    data = bytearray(png_bytes(Image.new("L", (8, 8))))
    ihdr = 8 + 8  # signature, then the IHDR length and type
    data[ihdr:ihdr + 8] = struct.pack(">II", BOMB_SIDE, BOMB_SIDE)
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4:ihdr + 13])))
    return bytes(data)


def broken_image(kind: str, image: Image.Image) -> tuple[bytes, str]:
    """(file bytes, file extension) of ``image`` broken as ``kind``."""
    if kind == "truncated_image":
        full = png_bytes(image)
        return full[: len(full) // 2], "png"
    if kind == "zero_byte_file":
        return b"", "png"
    if kind == "non_image_bytes":
        return NOT_AN_IMAGE, "png"
    if kind == "decompression_bomb":
        return decompression_bomb(), "png"
    if kind == "grayscale":
        return png_bytes(image.convert("L")), "png"
    if kind == "rgba":
        rgba = image.convert("RGBA")
        alpha = np.full(image.size[::-1], 255, dtype=np.uint8)
        alpha[: alpha.shape[0] // 8] = 0
        rgba.putalpha(Image.fromarray(alpha))
        return png_bytes(rgba), "png"
    if kind == "cmyk":
        buffer = io.BytesIO()
        image.convert("CMYK").save(buffer, format="JPEG", quality=95)
        return buffer.getvalue(), "jpg"
    if kind == "16_bit":
        wide = (np.asarray(image.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
        return png_bytes(Image.fromarray(wide, mode="I;16")), "png"
    if kind == "extreme_aspect_ratio":
        return png_bytes(image.resize((image.width * 4, max(1, image.height // 2)))), "png"
    if kind == "tiny_image":
        return png_bytes(image.resize((8, 8))), "png"
    raise ValueError(f"{kind!r} is not an image corruption; use one of {sorted(IMAGE_KINDS)}.")


def broken_counts(clean: int, fraction: float, kinds: dict[str, str]) -> int:
    """How many broken records to mix into ``clean`` ones: the share, but at least one of each kind."""
    if fraction <= 0:
        return 0
    return max(len(kinds), round(clean * fraction))
