"""Per-stage data mixtures: und / gen / text MDS streams sampled in the ratio params.yaml gives each stage.

A stage's ``mixture`` is a list of phases, each ``{ratio: {und, gen, text}, steps: N}`` (the last phase has no
``steps``): stage 2 of the paper runs 30:50:20 for its first 10,000 steps and 14:80:6 after. Streams with zero
weight are dropped before the dataset is built. Streaming draws ``floor(epoch_size * share)`` samples per stream
and hands the remainder out one by one with a seeded choice; ``check_ratio`` holds the realised counts to that
rule.

``shards`` is a local folder or an object-store URL (``data.shard_store``); each stream is read through the one
node-local cache of its shard set, which every mixture shares. Streaming lets one live dataset use a cache folder at
a time, so a mixture must be released before the next one over the same set is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streaming import Stream

from data.shard_store import ShardStoreError, join, read_index, sample_count, shared_cache
from data.streaming import JanusFlowStreamingDataset, SampleProcessor
from settings.data import TASKS


class MixtureError(ValueError):
    """A mixture that cannot be built: a required stream is missing, or the ratio is empty or malformed."""


def active_streams(ratio: dict[str, float]) -> dict[str, float]:
    """The ratio without zero-weight streams, in the canonical order und, gen, text."""
    active = {task: ratio[task] for task in TASKS if ratio.get(task, 0) > 0}
    if not active:
        raise MixtureError(f"mixture ratio {ratio} has no positive weight; give at least one of {list(TASKS)} a weight.")
    return active


def build_mixture(shards: str | Path, ratio: dict[str, float], processor: SampleProcessor, cache_dir: str | Path,
                  batch_size: int, *, seed: int = 0, name: str = "mixture", epoch_size: int | None = None,
                  generation_template: str = "sft", shuffle: bool = True, predownload: int | None = None,
                  latents: str | Path | None = None, **kwargs: Any) -> JanusFlowStreamingDataset:
    """A JanusFlowStreamingDataset over ``shards/<task>`` in ``ratio``; ``name`` names the mixture in errors.
    ``predownload`` is how many samples Streaming prepares ahead of the reader (None: its default of 8 batches);
    see LoaderConfig. ``latents``: the generation stream is ``latents/gen`` instead, the same samples with their
    VAE posteriors (``janusflow.training.latents``)."""
    streams = []
    for task, weight in active_streams(ratio).items():
        location = join(latents if task == "gen" and latents is not None else shards, task)
        try:
            index = read_index(location)
        except ShardStoreError as error:
            maker = "the latents node (dvc repro latents)" if location != join(shards, task) else \
                "the shard stage (dvc repro shards)"
            raise MixtureError(f"mixture {name!r} needs the {task!r} stream (weight {weight:g}) but {error}; produce "
                               f"it with {maker} or set its weight to 0.") from error
        if not sample_count(index):
            raise MixtureError(f"mixture {name!r} needs the {task!r} stream (weight {weight:g}) but {location} holds no "
                               "samples; for the validation shards (val/), raise data.shards.validation_fraction.")
        streams.append(Stream(remote=location, local=str(shared_cache(cache_dir, location, index)),
                              proportion=weight, validate_hash="xxh64"))
    return JanusFlowStreamingDataset(processor=processor, generation_template=generation_template, streams=streams,
                                     batch_size=batch_size, shuffle=shuffle, shuffle_seed=seed,
                                     epoch_size=epoch_size, predownload=predownload, **kwargs)


def realised_counts(dataset: JanusFlowStreamingDataset) -> dict[str, int]:
    """Samples per epoch that Streaming draws from each stream, by data type."""
    return {Path(stream.remote).name: int(stream.choose) for stream in dataset.streams}


def check_ratio(dataset: JanusFlowStreamingDataset, ratio: dict[str, float]) -> dict[str, int]:
    """Raise MixtureError unless every stream's count is the target share of the epoch, floored or floored + 1."""
    active = active_streams(ratio)
    total = sum(active.values())
    counts = realised_counts(dataset)
    for task, weight in active.items():
        target = dataset.epoch_size * weight / total
        if not int(target) <= counts.get(task, -1) <= int(target) + 1:
            raise MixtureError(f"stream {task!r} draws {counts.get(task)} samples per epoch; the ratio asks for "
                               f"{target:.2f} of {dataset.epoch_size}.")
    return counts
