"""The ``data`` section of a params.yaml profile as typed settings: where the lineage lives, which sources feed
which data type, the filters, the shard layout and the shapes world (tiny profile only)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from data.filtering import FilterConfig
from data.mixture import LoaderConfig
from data.settings import SettingsError, from_section, resolve_workers
from data.shapes.world import ShapesWorldConfig
from data.shards import ShardConfig
from data.sources import SourceSpec, source_specs

SECTION_KEYS = ("paths", "shapes_world", "sources", "filters", "shards", "loader", "workers")
PATH_KEYS = ("raw", "manifests", "shards", "cache")


@dataclass(frozen=True)
class DataProfile:
    paths: dict[str, Path]
    sources: list[SourceSpec]
    filters: dict[str, FilterConfig]
    shards: ShardConfig
    loader: LoaderConfig
    workers: int
    seed: int
    shapes_world: ShapesWorldConfig | None = None

    @classmethod
    def from_profile(cls, profile: dict[str, Any], where: str = "data") -> DataProfile:
        """``profile`` is a ``profiles.<name>`` section plus the top-level ``seed`` (see settings.load_profile)."""
        section = profile.get("data")
        if not isinstance(section, dict):
            raise SettingsError(f"the profile has no '{where}' section; copy it from the repository's params.yaml.")
        unknown = sorted(set(section) - set(SECTION_KEYS))
        if unknown:
            raise SettingsError(f"{where} has unknown key(s) {unknown}; valid keys are {list(SECTION_KEYS)}.")
        paths = dict(section.get("paths") or {})
        missing = [k for k in PATH_KEYS if k not in paths]
        if missing or set(paths) - set(PATH_KEYS):
            raise SettingsError(f"{where}.paths needs exactly the keys {list(PATH_KEYS)}; got {sorted(paths)}.")
        seed = int(profile.get("seed", 0))
        shapes = section.get("shapes_world")
        world = None if shapes is None else replace(from_section(ShapesWorldConfig, shapes, f"{where}.shapes_world"),
                                                   seed=seed)
        shard_section = dict(section.get("shards") or {})
        if "hashes" in shard_section:
            shard_section["hashes"] = tuple(shard_section["hashes"])
        return cls(
            paths={k: Path(v) for k, v in paths.items()},
            sources=source_specs(section.get("sources")),
            filters={task: from_section(FilterConfig, values, f"{where}.filters.{task}")
                     for task, values in (section.get("filters") or {}).items()},
            shards=from_section(ShardConfig, shard_section, f"{where}.shards"),
            loader=from_section(LoaderConfig, section.get("loader"), f"{where}.loader"),
            workers=resolve_workers(section.get("workers", 1)),
            seed=seed,
            shapes_world=world,
        )
