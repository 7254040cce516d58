"""An image folder with a ``metadata.jsonl`` of ``{"file_name", "caption"}`` lines (the Hugging Face imagefolder
layout); the JSONL path is the source path and images are resolved next to it (or under image_root)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from data.sources.base import RawRecord, SourceSpec, expand, join, parse_json_object, read_bytes


def read_image_folder(spec: SourceSpec) -> Iterator[RawRecord]:
    position = 0
    for handle in expand(spec):
        root = spec.image_root or handle.fs.unstrip_protocol(posixpath.dirname(handle.path))
        with handle as stream:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                yield folder_record(spec, root, position, f"{posixpath.basename(handle.path)}:{number}", line)
                position += 1


def folder_record(spec: SourceSpec, root: str, position: int, key: str, line: bytes) -> RawRecord:
    record = RawRecord(source=spec.name, position=position, key=key)
    entry, problem, detail = parse_json_object(line)
    if entry is None:
        record.problem, record.detail = problem, f"{key}: {detail}"
        return record
    caption = entry.get(spec.caption_field, entry.get("text"))
    record.caption = caption if isinstance(caption, str) else None
    record.image_name = str(entry.get("file_name", ""))
    record.image = read_bytes(join(root, record.image_name)) if record.image_name else None
    if record.image is None:
        record.problem, record.detail = "missing_image", f"{record.image_name or 'no file_name'} not found under {root}"
    return record
