"""Text-only JSONL: one object per line with the text in ``text_field`` (default ``text``); read line by line."""

from __future__ import annotations

from collections.abc import Iterator

from data.sources.base import RawRecord, jsonl_records, parse_json_object
from settings.data import SourceSpec


def read_text_jsonl(spec: SourceSpec) -> Iterator[RawRecord]:
    return jsonl_records(spec, lambda handle, position, number, line: text_record(spec, position, number, line))


def text_record(spec: SourceSpec, position: int, number: int, line: bytes) -> RawRecord:
    record = RawRecord(source=spec.name, position=position, key=str(number))
    entry, problem, detail = parse_json_object(line)
    if entry is None:
        record.problem, record.detail = problem, f"line {number}: {detail}"
        return record
    record.key = str(entry.get("id", number))
    text = entry.get(spec.text_field)
    record.text = text if isinstance(text, str) else None
    if record.text is None:
        record.problem, record.detail = "empty_text", f"line {number} has no string {spec.text_field!r}"
    return record
