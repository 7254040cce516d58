"""COCO captions JSON (``captions_*.json``): one record per image with its first caption by annotation id;
the other captions are kept in the record's metadata."""

from __future__ import annotations

from collections.abc import Iterator

from data.sources.base import RawRecord, SourceError, SourceSpec, expand, join, read_bytes, read_json_file


def read_coco_captions(spec: SourceSpec) -> Iterator[RawRecord]:
    position = 0
    for handle in expand(spec):
        data = read_json_file(spec, handle, dict, "a COCO captions file (an object with 'images' and 'annotations')")
        if not isinstance(data.get("images"), list):
            raise SourceError(f"source {spec.name!r}: {handle.path} has no 'images' list; it is not a COCO captions file.")
        captions: dict[int, list[tuple[int, str]]] = {}
        for annotation in data.get("annotations", []):
            captions.setdefault(annotation.get("image_id"), []).append((annotation.get("id", 0), annotation.get("caption")))
        for image in sorted(data["images"], key=lambda i: i.get("id", 0)):
            record = RawRecord(source=spec.name, position=position, key=str(image.get("id")),
                               image_name=str(image.get("file_name", "")))
            position += 1
            texts = [c for _, c in sorted(captions.get(image.get("id"), []), key=lambda p: p[0]) if isinstance(c, str)]
            record.caption = texts[0] if texts else None
            record.meta = {k: image[k] for k in ("width", "height") if isinstance(image.get(k), int)}
            if len(texts) > 1:
                record.meta["other_captions"] = texts[1:]
            record.image = read_bytes(join(spec.image_root, record.image_name)) if record.image_name else None
            if record.image is None:
                record.problem, record.detail = "missing_image", f"{record.image_name or 'no file_name'} not found"
            yield record
