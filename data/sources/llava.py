"""LLaVA / ShareGPT4V conversation JSON: a list of ``{id, image, conversations: [{from, value}]}``, with image
paths relative to an image root (a folder or fsspec URL)."""

from __future__ import annotations

from collections.abc import Iterator

from data.sources.base import (
    RawRecord,
    SourceSpec,
    expand,
    join,
    normalise_conversation,
    read_bytes,
    read_json_file,
)


def read_llava(spec: SourceSpec) -> Iterator[RawRecord]:
    position = 0
    for handle in expand(spec):
        entries = read_json_file(spec, handle, list, "a JSON list of conversations")
        for index, entry in enumerate(entries):
            key = str(entry.get("id", index)) if isinstance(entry, dict) else str(index)
            record = RawRecord(source=spec.name, position=position, key=key)
            position += 1
            if not isinstance(entry, dict):
                record.problem, record.detail = "malformed_conversation", "entry is not an object"
                yield record
                continue
            record.conversation, why = normalise_conversation(entry.get("conversations"))
            if record.conversation is None:
                record.problem, record.detail = "malformed_conversation", why
            image = entry.get("image")
            if not isinstance(image, str) or not image:
                record.problem, record.detail = record.problem or "missing_image", "entry has no 'image' path"
            else:
                record.image_name = image
                record.image = read_bytes(join(spec.image_root, image))
                if record.image is None:
                    record.problem = record.problem or "missing_image"
                    record.detail = record.detail or f"{join(spec.image_root, image)} does not exist"
            yield record
