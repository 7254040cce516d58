"""Raw-source adapters: each reads one format from a local path, glob or fsspec URL into ``RawRecord``s."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from data.settings import SettingsError, from_section
from data.sources.base import TASKS, RawRecord, SourceError, SourceSpec, records_from
from data.sources.coco import read_coco_captions
from data.sources.image_folder import read_image_folder
from data.sources.llava import read_llava
from data.sources.text_jsonl import read_text_jsonl
from data.sources.webdataset import read_webdataset

Reader = Callable[[SourceSpec], Iterator[RawRecord]]
NEEDS_IMAGE_ROOT = {"llava": "the folder its 'image' paths are under", "coco_captions": "the folder of the image files"}
FORMATS: dict[str, tuple[Reader, tuple[str, ...]]] = {
    "webdataset": (read_webdataset, ("gen", "und")),
    "llava": (read_llava, ("und",)),
    "coco_captions": (read_coco_captions, ("gen", "und")),
    "image_folder": (read_image_folder, ("gen", "und")),
    "text_jsonl": (read_text_jsonl, ("text",)),
}


def source_specs(section: list[dict] | None) -> list[SourceSpec]:
    """The ``data.sources`` list of params.yaml, checked: known formats, unique names, a data type each can feed."""
    specs = [from_section(SourceSpec, entry, f"data.sources[{i}]") for i, entry in enumerate(section or [])]
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise SettingsError(f"data.sources has two sources named {spec.name!r}; give each a unique name.")
        seen.add(spec.name)
        if spec.format not in FORMATS:
            raise SettingsError(f"source {spec.name!r} has format {spec.format!r}; use one of {sorted(FORMATS)}.")
        if spec.format in NEEDS_IMAGE_ROOT and not spec.image_root:
            raise SettingsError(f"source {spec.name!r} ({spec.format}) needs image_root: {NEEDS_IMAGE_ROOT[spec.format]}.")
        if spec.feeds not in FORMATS[spec.format][1]:
            raise SettingsError(f"source {spec.name!r} ({spec.format}) cannot feed {spec.feeds!r}; it can feed "
                                f"{list(FORMATS[spec.format][1])} (data types: {list(TASKS)}).")
    return specs


def read_source(spec: SourceSpec) -> Iterator[RawRecord]:
    """Every record of the source in reading order, adapted to the data type it feeds."""
    return records_from(spec, FORMATS[spec.format][0](spec))


__all__ = ["FORMATS", "RawRecord", "SourceError", "SourceSpec", "read_source", "source_specs"]
