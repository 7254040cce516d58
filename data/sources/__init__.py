"""Raw-source adapters: each reads one format from a local path, glob or fsspec URL into ``RawRecord``s."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from data.sources.base import RawRecord, SourceError, records_from
from data.sources.coco import read_coco_captions
from data.sources.image_folder import read_image_folder
from data.sources.llava import read_llava
from data.sources.text_jsonl import read_text_jsonl
from data.sources.webdataset import read_webdataset
from settings.data import SourceSpec

Reader = Callable[[SourceSpec], Iterator[RawRecord]]
READERS: dict[str, Reader] = {   # one per format of settings.data.FORMAT_FEEDS
    "webdataset": read_webdataset,
    "llava": read_llava,
    "coco_captions": read_coco_captions,
    "image_folder": read_image_folder,
    "text_jsonl": read_text_jsonl,
}


def read_source(spec: SourceSpec) -> Iterator[RawRecord]:
    """Every record of the source in reading order, adapted to the data type it feeds."""
    return records_from(spec, READERS[spec.format](spec))


__all__ = ["READERS", "RawRecord", "SourceError", "read_source"]
