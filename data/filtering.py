"""The paper's data filters as pure per-record checks: each record gets a verdict, kept or a quarantine reason.

Checks run in a fixed order (read problems, image, text, aesthetic), so a record's reason is the first thing
wrong with it. Duplicate removal and the keep fraction need the whole stream and live in ``manifest``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from data.images import ImageProblem, decode_image, pixel_hash
from data.sources.base import IMAGE_TAG, RawRecord
from settings.data import FilterConfig


@dataclass
class Verdict:
    """The outcome for one record: ``reason`` None means it passed; ``info`` is what the manifest keeps."""

    reason: str | None
    detail: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    dedup_key: str | None = None


def check_image(record: RawRecord, config: FilterConfig) -> tuple[str | None, str, dict[str, Any]]:
    try:
        decoded = decode_image(record.image, config.max_pixels, config.convert_modes)
    except ImageProblem as problem:
        return problem.reason, problem.detail, {}
    image = decoded.image
    info = {"width": image.width, "height": image.height, "source_mode": decoded.source_mode,
            "pixel_sha256": pixel_hash(image)}
    if min(image.size) < config.min_side:
        return "too_small", f"{image.width}x{image.height} < min_side={config.min_side}", info
    ratio = max(image.size) / min(image.size)
    if ratio > config.max_aspect_ratio:
        return "aspect_ratio", f"aspect ratio {ratio:.2f} > {config.max_aspect_ratio}", info
    return None, "", info


def check_words(text: str | None, config: FilterConfig, what: str) -> tuple[str | None, str]:
    if text is None or not text.strip():
        return f"empty_{what}", f"the {what} is empty or whitespace"
    if len(text) > config.max_chars:   # before splitting: a 5 MB word is one word
        return f"{what}_too_long", f"{len(text):,} characters > max_chars={config.max_chars:,}"
    words = len(text.split())
    if words < config.min_words:
        return f"{what}_too_short", f"{words} words < min_words={config.min_words}"
    if words > config.max_words:
        return f"{what}_too_long", f"{words} words > max_words={config.max_words}"
    return None, ""


def check_conversation(turns: list[dict[str, str]] | None, has_image: bool, config: FilterConfig) -> tuple[str | None, str]:
    """User/Assistant turns alternating from User, none empty, one ``<image>`` tag per image, within max_words."""
    if not turns:
        return "malformed_conversation", "no turns"
    for index, turn in enumerate(turns):
        expected = "User" if index % 2 == 0 else "Assistant"
        if turn["role"] != expected:
            return "malformed_conversation", f"turn {index} is {turn['role']}, expected {expected}"
        if not turn["content"].strip():
            return "malformed_conversation", f"turn {index} ({turn['role']}) is empty"
    if turns[-1]["role"] != "Assistant":
        return "malformed_conversation", "the last turn is not an Assistant answer"
    characters = sum(len(t["content"]) for t in turns)
    if characters > config.max_chars:
        return "conversation_too_long", f"{characters:,} characters > max_chars={config.max_chars:,}"
    tags = sum(t["content"].count(IMAGE_TAG) for t in turns)
    if tags != int(has_image):
        return "malformed_conversation", f"{tags} {IMAGE_TAG} tag(s) for {int(has_image)} image"
    words = sum(len(t["content"].split()) for t in turns)
    if words > config.max_words:
        return "conversation_too_long", f"{words} words > max_words={config.max_words}"
    return None, ""


def conversation_digest(turns: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(turns, sort_keys=True).encode()).hexdigest()


def not_utf8(record: RawRecord) -> str | None:
    """The first text field of the record that cannot be written as UTF-8 (a lone surrogate, which JSON's
    ``\\ud800`` escapes can carry), or None."""
    fields = {"key": record.key, "image name": record.image_name, "caption": record.caption, "text": record.text,
              **{f"turn {i}": turn["content"] for i, turn in enumerate(record.conversation or [])}}
    for name, value in fields.items():
        if value is None:
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return name
    return None


def check_record(record: RawRecord, task: str, config: FilterConfig) -> Verdict:
    """The verdict for one record of data type ``task`` ("gen", "und" or "text")."""
    if record.problem is not None:
        return Verdict(record.problem, record.detail)
    field_name = not_utf8(record)
    if field_name is not None:
        return Verdict("invalid_utf8", f"the {field_name} holds a lone surrogate; it is not valid UTF-8")
    if task == "text":
        if record.text is None or not record.text.strip():
            return Verdict("empty_text", "the text is empty or whitespace")
        if len(record.text) > config.max_chars:
            return Verdict("text_too_long", f"{len(record.text)} characters > max_chars={config.max_chars}")
        return Verdict(None, info={"text": record.text})
    reason, detail, info = check_image(record, config)
    if reason is not None:
        return Verdict(reason, detail, info)
    info["image_name"] = record.image_name
    if task == "gen":
        reason, detail = check_words(record.caption, config, "caption")
        score = record.meta.get("aesthetic")
        if reason is None and config.min_aesthetic is not None and score is not None and score < config.min_aesthetic:
            reason, detail = "low_aesthetic", f"aesthetic score {score:.2f} < {config.min_aesthetic}"
        info.update(caption=record.caption, aesthetic=score)
        return Verdict(reason, detail, info, dedup_key=info["pixel_sha256"])
    reason, detail = check_conversation(record.conversation, True, config)
    if reason is not None:
        return Verdict(reason, detail, info)
    info["conversation"] = json.dumps(record.conversation)
    return Verdict(None, info=info, dedup_key=info["pixel_sha256"] + conversation_digest(record.conversation))
