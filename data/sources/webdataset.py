"""Webdataset tar shards (LAION / CC style): members ``<key>.<ext>`` grouped by key, in order.

A sample's image is its first member with an image extension; its caption is ``<key>.txt`` or the caption field
of ``<key>.json``, whose other fields (width, height, aesthetic score) become metadata.
"""

from __future__ import annotations

import math
import posixpath
import tarfile
from collections.abc import Iterator

import fsspec

from data.sources.base import (
    IMAGE_EXTENSIONS,
    RawRecord,
    SourceError,
    decode_text,
    expand,
    opened,
    parse_json,
    require_records,
)
from settings.data import SourceSpec

AESTHETIC_FIELDS = ("aesthetic", "aesthetic_score", "AESTHETIC_SCORE")
USED_FIELDS = frozenset((*IMAGE_EXTENSIONS, "txt", "json"))   # other members are skipped without being read


class _EndMarkedTarInfo(tarfile.TarInfo):
    """Notes on the archive whether it ended with tar's end-of-archive block: tarfile stops silently at a tar cut
    at a member boundary, which would otherwise lose the rest of the shard unseen."""

    @classmethod
    def fromtarfile(cls, tar: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(tar)
        except tarfile.EOFHeaderError:
            tar.end_marked = True
            raise


def split_key(name: str) -> tuple[str, str]:
    """Webdataset's rule: the key is the path up to the first dot of the basename; the rest is the field."""
    directory, base = posixpath.split(name)
    stem, _, extension = base.partition(".")
    return posixpath.join(directory, stem), extension.lower()


def aesthetic_of(meta: dict) -> tuple[float | None, str | None]:
    """(score, None), (None, None) when the metadata has no score, or (None, why) for one that is not a finite
    number: a string or NaN would otherwise pass ``min_aesthetic``."""
    field = next((f for f in AESTHETIC_FIELDS if f in meta), None)
    if field is None:
        return None, None
    value = meta[field]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None, f"{field} is {type(value).__name__} {value!r:.40}, not a finite number"
    return float(value), None


def sample_record(spec: SourceSpec, position: int, key: str, fields: dict[str, bytes],
                  problem: tuple[str, str] | None = None) -> RawRecord:
    record = RawRecord(source=spec.name, position=position, key=key)
    if problem is not None:
        record.problem, record.detail = problem
        return record
    image_field = next((e for e in fields if e in IMAGE_EXTENSIONS), None)
    if image_field is None:
        record.problem, record.detail = "missing_image", f"sample {key} has no image member ({sorted(fields)})"
    else:
        record.image, record.image_name = fields[image_field], f"{key}.{image_field}"
    meta: dict = {}
    if "json" in fields:
        meta, problem_name, detail = parse_json(fields["json"])
        if problem_name is not None:
            record.problem, record.detail = record.problem or problem_name, detail
            meta = {}
        elif not isinstance(meta, dict):
            record.problem, record.detail, meta = record.problem or "malformed_json", "metadata is not an object", {}
    if "txt" in fields:
        record.caption, problem_name = decode_text(fields["txt"])
        if problem_name is not None:
            record.problem, record.detail = record.problem or problem_name, f"{key}.txt is not UTF-8"
    elif isinstance(meta.get(spec.caption_field), str):
        record.caption = meta[spec.caption_field]
    record.meta = {k: meta[k] for k in ("width", "height") if isinstance(meta.get(k), int)}
    score, why = aesthetic_of(meta)
    if why is not None:
        record.problem, record.detail = record.problem or "invalid_aesthetic", record.detail or why
    elif score is not None:
        record.meta["aesthetic"] = score
    return record


class _Sample:
    """The members of the sample being read: its fields, and the first thing wrong with it."""

    def __init__(self, key: str) -> None:
        self.key, self.fields, self.problem = key, {}, None

    def flag(self, reason: str, detail: str) -> None:
        self.problem = self.problem or (reason, detail)


def tar_records(spec: SourceSpec, handle: fsspec.core.OpenFile, start: int) -> Iterator[RawRecord]:
    """The records of one tar shard from position ``start``. What the shard loses is a record of its own: a link or
    device member, a sample cut by damage, and a shard that ends without tar's end-of-archive block."""
    position, sample = start, None
    with opened(spec, handle) as stream, tarfile.open(fileobj=stream, mode="r|*", tarinfo=_EndMarkedTarInfo) as tar:
        try:
            for member in tar:
                if member.isdir():
                    continue
                member_key, extension = split_key(member.name)
                if sample is not None and member_key != sample.key:
                    yield sample_record(spec, position, sample.key, sample.fields, sample.problem)
                    position, sample = position + 1, None
                sample = sample or _Sample(member_key)
                if not member.isfile():
                    sample.flag("unsupported_member", f"{member.name} is a link or special file, not a file")
                elif extension in sample.fields:
                    sample.flag("duplicate_member", f"{member.name} appears twice in sample {member_key}")
                elif member.size > spec.max_file_bytes:
                    sample.flag("file_too_large", f"{member.name} has {member.size:,} bytes > max_file_bytes="
                                                  f"{spec.max_file_bytes:,}")
                elif extension in USED_FIELDS:
                    sample.fields[extension] = tar.extractfile(member).read()
        except (tarfile.TarError, OSError, EOFError) as error:
            where = f"sample {sample.key}" if sample is not None else "the shard"
            yield RawRecord(source=spec.name, position=position, key=sample.key if sample else handle.path,
                            problem="unreadable_shard", detail=f"{handle.path}: {where} is damaged ({error})")
            return
        if sample is not None:
            yield sample_record(spec, position, sample.key, sample.fields, sample.problem)
            position += 1
        if not getattr(tar, "end_marked", False):
            yield RawRecord(source=spec.name, position=position, key=handle.path, problem="truncated_shard",
                            detail=f"{handle.path} ends without tar's end-of-archive block after {position - start} "
                                   "sample(s); the rest of the shard is missing")
        elif position == start:
            require_records(spec, handle, 0)


def read_webdataset(spec: SourceSpec) -> Iterator[RawRecord]:
    position, readable = 0, 0
    files = expand(spec)
    for handle in files:
        try:
            for record in tar_records(spec, handle, position):
                yield record
                position += 1
            readable += 1
        except (tarfile.TarError, OSError, EOFError) as error:   # not a tar at all (the header does not parse)
            yield RawRecord(source=spec.name, position=position, key=handle.path, problem="unreadable_shard",
                            detail=f"{handle.path}: {error}")
            position += 1
    if readable == 0:
        raise SourceError(f"source {spec.name!r}: none of its {len(files)} tar file(s) could be read "
                          f"(first: {files[0].path}); check that {spec.path!r} holds webdataset .tar shards.")
