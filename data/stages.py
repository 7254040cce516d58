"""The three stages of the data lineage as library calls, each one DVC stage and one Dagster asset: the shapes
world (tiny profile), the filter (raw sources -> manifests + quarantine report) and the shards (manifests ->
verified MDS shards, uploaded to ``data.paths.remote`` when it is set). Each reads its settings from the profile and
returns what it records."""

from __future__ import annotations

from data.manifest import build_manifests
from data.shapes.world import write_shapes_world
from data.shard_store import upload
from data.shards import write_shards
from settings.params import Profile
from settings.typed import SettingsError


def shapes_world(profile: Profile, progress: bool) -> dict:
    """Write the raw shapes world; returns its record counts."""
    data = profile.data
    if data.shapes_world is None:
        raise SettingsError(f"profile {profile.name} has no data.shapes_world section; the shapes world belongs to "
                            "the tiny profile.")
    return write_shapes_world(data.shapes_world, data.paths.raw, progress=progress)


def filter_sources(profile: Profile, progress: bool) -> dict:
    """Filter every raw source into the manifests and the quarantine report; returns the report."""
    data = profile.data
    return build_manifests(data.sources, data.filters, data.paths.manifests, seed=profile.seed,
                           workers=data.workers, progress=progress)


def shards(profile: Profile, progress: bool) -> dict:
    """Write and verify the MDS shards of every manifest, then upload them to ``data.paths.remote`` when it is set
    (training reads them there); returns their summary, with the URLs uploaded to under ``uploaded``."""
    data = profile.data
    summary = write_shards(data.sources, data.paths.manifests, data.paths.shards, data.shards, workers=data.workers,
                           progress=progress)
    uploaded = upload(data.paths.shards, data.paths.remote, progress) if data.paths.remote else []
    return {**summary, "uploaded": uploaded}
