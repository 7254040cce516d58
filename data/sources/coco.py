"""COCO captions JSON (``captions_*.json``): one record per image with its first caption by annotation id;
the other captions are kept in the record's metadata. An image or annotation entry of the wrong shape becomes a
quarantined record of its own, so that nothing in the file is dropped unseen."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from data.sources.base import RawRecord, SourceError, expand, read_image_file, read_json_file, require_records
from settings.data import SourceSpec


def _valid_annotation(annotation: Any) -> bool:
    return (isinstance(annotation, dict) and isinstance(annotation.get("image_id"), (int, str))
            and isinstance(annotation.get("caption"), str) and isinstance(annotation.get("id", 0), int))


def _valid_image(image: Any) -> bool:
    return (isinstance(image, dict) and isinstance(image.get("id"), (int, str))
            and isinstance(image.get("file_name"), str) and bool(image["file_name"]))


def by_id(image: Any, index: int) -> tuple:
    """Images in id order (the file's order is arbitrary); malformed entries after them, in file order."""
    return (0, type(image["id"]).__name__, image["id"]) if _valid_image(image) else (1, "", index)


def read_coco_captions(spec: SourceSpec) -> Iterator[RawRecord]:
    position = 0
    for handle in expand(spec):
        data = read_json_file(spec, handle, dict, "a COCO captions file (an object with 'images' and 'annotations')")
        images, annotations = data.get("images"), data.get("annotations", [])
        if not isinstance(images, list) or not isinstance(annotations, list):
            raise SourceError(f"source {spec.name!r}: {handle.path} needs 'images' and 'annotations' lists; it is "
                              "not a COCO captions file.")
        require_records(spec, handle, len(images))
        captions: dict[int | str, list[tuple[int, str]]] = {}
        for index, annotation in enumerate(annotations):
            if _valid_annotation(annotation):
                captions.setdefault(annotation["image_id"], []).append((annotation.get("id", 0), annotation["caption"]))
                continue
            yield RawRecord(source=spec.name, position=position, key=f"annotation[{index}]",
                            problem="malformed_annotation",
                            detail="not {'image_id': int|str, 'caption': str, 'id': int}")
            position += 1
        for index in sorted(range(len(images)), key=lambda i: by_id(images[i], i)):
            yield image_record(spec, position, index, images[index], captions)
            position += 1


def image_record(spec: SourceSpec, position: int, index: int, image: Any,
                 captions: dict[int | str, list[tuple[int, str]]]) -> RawRecord:
    if not _valid_image(image):
        return RawRecord(source=spec.name, position=position, key=f"images[{index}]", problem="malformed_entry",
                         detail="not {'id': int|str, 'file_name': str, ...}")
    record = RawRecord(source=spec.name, position=position, key=str(image["id"]), image_name=image["file_name"])
    texts = [caption for _, caption in sorted(captions.get(image["id"], []), key=lambda pair: pair[0])]
    record.caption = texts[0] if texts else None
    record.meta = {k: image[k] for k in ("width", "height") if isinstance(image.get(k), int)}
    if len(texts) > 1:
        record.meta["other_captions"] = texts[1:]
    record.image, record.problem, record.detail = read_image_file(spec, spec.image_root, record.image_name)
    return record
