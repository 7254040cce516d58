"""Webdataset tar shards (LAION / CC style): members ``<key>.<ext>`` grouped by key, in order.

A sample's image is its first member with an image extension; its caption is ``<key>.txt`` or the caption field
of ``<key>.json``, whose other fields (width, height, aesthetic score) become metadata.
"""

from __future__ import annotations

import posixpath
import tarfile
from collections.abc import Iterator

from data.sources.base import IMAGE_EXTENSIONS, RawRecord, SourceError, SourceSpec, decode_text, expand, parse_json

AESTHETIC_FIELDS = ("aesthetic", "aesthetic_score", "AESTHETIC_SCORE")


def split_key(name: str) -> tuple[str, str]:
    """Webdataset's rule: the key is the path up to the first dot of the basename; the rest is the field."""
    directory, base = posixpath.split(name)
    stem, _, extension = base.partition(".")
    return posixpath.join(directory, stem), extension.lower()


def sample_record(spec: SourceSpec, position: int, key: str, fields: dict[str, bytes]) -> RawRecord:
    record = RawRecord(source=spec.name, position=position, key=key)
    image_field = next((e for e in fields if e in IMAGE_EXTENSIONS), None)
    if image_field is None:
        record.problem, record.detail = "missing_image", f"sample {key} has no image member ({sorted(fields)})"
    else:
        record.image, record.image_name = fields[image_field], f"{key}.{image_field}"
    meta: dict = {}
    if "json" in fields:
        meta, problem, detail = parse_json(fields["json"])
        if problem is not None:
            record.problem, record.detail = record.problem or problem, detail
            meta = {}
        elif not isinstance(meta, dict):
            record.problem, record.detail, meta = record.problem or "malformed_json", "metadata is not an object", {}
    if "txt" in fields:
        record.caption, problem = decode_text(fields["txt"])
        if problem is not None:
            record.problem, record.detail = record.problem or problem, f"{key}.txt is not UTF-8"
    elif isinstance(meta.get(spec.caption_field), str):
        record.caption = meta[spec.caption_field]
    record.meta = {k: meta[k] for k in ("width", "height") if isinstance(meta.get(k), int)}
    score = next((meta[f] for f in AESTHETIC_FIELDS if isinstance(meta.get(f), (int, float))), None)
    if score is not None:
        record.meta["aesthetic"] = float(score)
    return record


def read_webdataset(spec: SourceSpec) -> Iterator[RawRecord]:
    position, readable = 0, 0
    files = expand(spec)
    for handle in files:
        try:
            with handle as stream, tarfile.open(fileobj=stream, mode="r|*") as tar:
                key, fields = None, {}
                for member in tar:
                    if not member.isfile():
                        continue
                    member_key, extension = split_key(member.name)
                    if member_key != key and key is not None:
                        yield sample_record(spec, position, key, fields)
                        position, fields = position + 1, {}
                    key = member_key
                    fields[extension] = tar.extractfile(member).read()
                if key is not None:
                    yield sample_record(spec, position, key, fields)
                    position += 1
            readable += 1
        except (tarfile.TarError, OSError, EOFError) as error:
            yield RawRecord(source=spec.name, position=position, key=handle.path, problem="unreadable_shard",
                            detail=f"{handle.path}: {error}")
            position += 1
    if readable == 0:
        raise SourceError(f"source {spec.name!r}: none of its {len(files)} tar file(s) could be read "
                          f"(first: {files[0].path}); check that {spec.path!r} holds webdataset .tar shards.")
