"""LLaVA / ShareGPT4V conversation JSON: a list of ``{id, image, conversations: [{from, value}]}``, with image
paths relative to an image root (a folder or fsspec URL)."""

from __future__ import annotations

from collections.abc import Iterator

from data.sources.base import (
    RawRecord,
    expand,
    normalise_conversation,
    read_image_file,
    read_json_file,
    require_records,
)
from settings.data import SourceSpec


def read_llava(spec: SourceSpec) -> Iterator[RawRecord]:
    position = 0
    for handle in expand(spec):
        entries = read_json_file(spec, handle, list, "a JSON list of conversations")
        require_records(spec, handle, len(entries))
        for index, entry in enumerate(entries):
            yield entry_record(spec, position, index, entry)
            position += 1


def entry_record(spec: SourceSpec, position: int, index: int, entry: object) -> RawRecord:
    key = str(entry.get("id", index)) if isinstance(entry, dict) else str(index)
    record = RawRecord(source=spec.name, position=position, key=key)
    if not isinstance(entry, dict):
        record.problem, record.detail = "malformed_conversation", "entry is not an object"
        return record
    record.conversation, why = normalise_conversation(entry.get("conversations"))
    if record.conversation is None:
        record.problem, record.detail = "malformed_conversation", why
    image = entry.get("image")
    if not isinstance(image, str) or not image:
        record.problem, record.detail = record.problem or "missing_image", record.detail or "entry has no 'image' path"
        return record
    record.image_name = image
    record.image, problem, detail = read_image_file(spec, spec.image_root, image)
    if problem is not None and record.problem is None:
        record.problem, record.detail = problem, detail
    return record
