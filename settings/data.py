"""params.yaml ``profiles.<p>.data``: where the data lineage lives, which raw sources feed which data type, the
filters, the shard layout, the loader and the shapes world (tiny profile only).

The record classes (``SourceSpec``, ``FilterConfig``, ...) are also the data library's own arguments; their defaults
serve library callers. A run reads every one of their keys from params.yaml (``settings.params``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from settings.layout import VALIDATION_SPLIT, DataLayout
from settings.typed import SET_BY, SettingsError, check_value

Task = Literal["und", "gen", "text"]
TASKS: tuple[str, ...] = get_args(Task)
QuestionCategory = Literal["color", "count", "position", "existence"]
CATEGORIES: tuple[str, ...] = get_args(QuestionCategory)   # what the shapes world's questions ask about
# The raw formats the adapters read, and the data types each can feed.
FORMAT_FEEDS: dict[str, tuple[str, ...]] = {
    "webdataset": ("gen", "und"), "llava": ("und",), "coco_captions": ("gen", "und"),
    "image_folder": ("gen", "und"), "text_jsonl": ("text",)}
NEEDS_IMAGE_ROOT = {"llava": "the folder its 'image' paths are under", "coco_captions": "the folder of the image files"}


@dataclass(frozen=True)
class SourceSpec:
    """One raw source in params.yaml: where it is, its format, and which data type it feeds. ``max_file_bytes``
    caps one image file, tar member or JSONL line: a larger one is quarantined unread (a small gzip can hide a
    huge member)."""

    name: str
    format: str      # a key of FORMAT_FEEDS
    path: str
    feeds: str       # a data type the format can feed
    image_root: str | None = None
    text_field: str = "text"
    caption_field: str = "caption"
    max_file_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        if self.format not in FORMAT_FEEDS:
            raise SettingsError(f"source {self.name!r} has format {self.format!r}; use one of {sorted(FORMAT_FEEDS)}.")
        if self.format in NEEDS_IMAGE_ROOT and not self.image_root:
            raise SettingsError(f"source {self.name!r} ({self.format}) needs image_root: "
                                f"{NEEDS_IMAGE_ROOT[self.format]}.")
        if self.feeds not in FORMAT_FEEDS[self.format]:
            raise SettingsError(f"source {self.name!r} ({self.format}) cannot feed {self.feeds!r}; it can feed "
                                f"{list(FORMAT_FEEDS[self.format])} (data types: {list(TASKS)}).")


@dataclass(frozen=True)
class FilterConfig:
    """Thresholds for one data type (params.yaml ``data.filters.<type>``); fields a type has no use for are ignored."""

    min_side: int = 32
    max_aspect_ratio: float = 3.0
    max_pixels: int = 40_000_000
    min_aesthetic: float | None = None
    min_words: int = 1
    max_words: int = 300
    max_chars: int = 20_000
    convert_modes: bool = True
    dedup: bool = True
    keep_fraction: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.keep_fraction <= 1.0:
            raise ValueError(f"keep_fraction={self.keep_fraction} must be in (0, 1]; 1 keeps every passing record.")
        if self.max_aspect_ratio < 1.0:
            raise ValueError(f"max_aspect_ratio={self.max_aspect_ratio} must be >= 1 (long side / short side).")


@dataclass(frozen=True)
class ShardConfig:
    und_image_size: int = 64
    gen_image_size: int = 64
    compression: str = "zstd"
    hashes: tuple[str, ...] = ("sha1", "xxh64")
    size_limit: str | int = "8mb"   # bytes, or a size such as "64mb" (Streaming reads both)
    validation_fraction: float = 0.0    # share of each data type's records held out for validation losses

    def __post_init__(self) -> None:
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"shards.validation_fraction is {self.validation_fraction}; use a share in [0, 1).")


@dataclass(frozen=True)
class LoaderConfig:
    """How training reads a mixture (params.yaml ``data.loader``).

    ``predownload``: samples Streaming prepares ahead of the reader. While it runs ahead, Streaming takes a file
    lock per sample, which halves iteration speed on fast local shards; a value at least the epoch size prepares
    everything at the start instead (the tiny profile's setting). Leave it None (8 batches) for remote shards.
    """

    predownload: int | None = None
    num_workers: int = 0
    prefetch_factor: int | None = None


@dataclass(frozen=True)
class ShapesWorldConfig:
    """params.yaml ``data.shapes_world``; ``seed`` is the top-level seed."""

    seed: int = field(default=0, metadata={SET_BY: "seed"})
    resolution: int = 64
    max_objects: int = 4
    gen_pairs: int = 4000
    conversations: int = 4000
    text_documents: int = 4000
    eval_scenes: int = 1024
    eval_fraction: float = 0.15
    short_caption_fraction: float = 0.25
    degraded_fraction: float = 0.08
    broken_fraction: float = 0.03
    samples_per_tar: int = 1000


@dataclass(frozen=True)
class DataPaths:
    raw: Path         # the raw sources (the shapes world writes here)
    manifests: Path   # <type>.parquet + quarantine.parquet + report.json/md
    shards: Path      # MDS: und/ gen/ text/, val/{und,gen,text}/
    cache: Path       # Streaming's local copies: one folder per shard set, on each node
    latents: Path     # gen/, val/gen/: the generation shards with their VAE posteriors (the latents node)
    remote: str | None = None   # an object-store URL (s3://, gs://, ...) the shard stage uploads to and readers read


LATENTS = "latents"   # the latents sets' folder under data.paths.remote


def resolve_workers(value: int | str) -> int:
    """``workers`` from params: a count, or ``auto`` for every core this process may use."""
    if value == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise SettingsError(f"workers={value!r}; use a positive integer or 'auto'.")


@dataclass(frozen=True)
class DataSettings:
    paths: DataPaths
    sources: tuple[SourceSpec, ...]
    filters: dict[Task, FilterConfig]
    shards: ShardConfig
    loader: LoaderConfig
    workers: int | Literal["auto"]
    shapes_world: ShapesWorldConfig | None   # null: the profile reads real sources

    def __post_init__(self) -> None:
        check_unique_names(self.sources)
        object.__setattr__(self, "workers", resolve_workers(self.workers))

    @property
    def layout(self) -> DataLayout:
        return DataLayout.of(self.paths.raw, self.paths.manifests, self.paths.shards, self.paths.cache,
                             self.paths.latents)

    def shard_source(self, validation: bool = False) -> str:
        """Where readers find a split's shard sets (``<type>/`` under it): ``paths.remote`` when set, otherwise the
        local shards folder the shard stage writes."""
        root = self.paths.remote.rstrip("/") if self.paths.remote else str(self.paths.shards)
        return f"{root}/{VALIDATION_SPLIT}" if validation else root

    def latent_source(self, validation: bool = False) -> str:
        """Where readers find a split's latents set (``gen/`` under it): ``<paths.remote>/latents`` when the shards
        are remote, otherwise the local latents folder."""
        root = f"{self.paths.remote.rstrip('/')}/{LATENTS}" if self.paths.remote else str(self.paths.latents)
        return f"{root}/{VALIDATION_SPLIT}" if validation else root


def check_unique_names(sources: Sequence[SourceSpec]) -> None:
    names = [spec.name for spec in sources]
    repeated = [name for index, name in enumerate(names) if name in names[:index]]
    if repeated:
        raise SettingsError(f"data.sources has two sources named {repeated[0]!r}; give each a unique name.")


def source_specs(section: Any) -> tuple[SourceSpec, ...]:
    """A ``data.sources`` list, checked: every key of every source, known formats, unique names, a data type each
    can feed."""
    specs = check_value(section, tuple[SourceSpec, ...], "data.sources")
    check_unique_names(specs)
    return specs
