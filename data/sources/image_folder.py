"""An image folder with a ``metadata.jsonl`` of ``{"file_name", "caption"}`` lines (the Hugging Face imagefolder
layout); the JSONL path is the source path and images are resolved next to it (or under image_root)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

import fsspec

from data.sources.base import RawRecord, jsonl_records, parse_json_object, read_image_file
from settings.data import SourceSpec


def read_image_folder(spec: SourceSpec) -> Iterator[RawRecord]:
    def parse(handle: fsspec.core.OpenFile, position: int, number: int, line: bytes) -> RawRecord:
        root = spec.image_root or handle.fs.unstrip_protocol(posixpath.dirname(handle.path))
        return folder_record(spec, root, position, f"{posixpath.basename(handle.path)}:{number}", line)

    return jsonl_records(spec, parse)


def folder_record(spec: SourceSpec, root: str, position: int, key: str, line: bytes) -> RawRecord:
    record = RawRecord(source=spec.name, position=position, key=key)
    entry, problem, detail = parse_json_object(line)
    if entry is None:
        record.problem, record.detail = problem, f"{key}: {detail}"
        return record
    caption = entry.get(spec.caption_field, entry.get("text"))
    record.caption = caption if isinstance(caption, str) else None
    name = entry.get("file_name")
    if not isinstance(name, str) or not name:
        record.problem, record.detail = "missing_image", f"{key}: no string 'file_name'"
        return record
    record.image_name = name
    record.image, record.problem, record.detail = read_image_file(spec, root, name)
    return record
