"""Per-stage data mixtures: und / gen / text MDS streams sampled in the ratio params.yaml gives each stage.

A stage's ``mixture`` is a list of phases, each ``{ratio: {und, gen, text}, steps: N}`` (the last phase has no
``steps``): stage 2 of the paper runs 30:50:20 for its first 10,000 steps and 14:80:6 after. Streams with zero
weight are dropped before the dataset is built. Streaming draws ``floor(epoch_size * share)`` samples per stream
and hands the remainder out one by one with a seeded choice; ``check_ratio`` holds the realised counts to that
rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streaming import Stream

from data.shards import index_digest, validate_cache, verify_shards
from data.streaming import JanusFlowStreamingDataset, SampleProcessor
from settings.data import TASKS
from settings.layout import ShardLayout


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
                  generation_template: str = "sft", shuffle: bool = True, verify: bool = True,
                  predownload: int | None = None, **kwargs: Any) -> JanusFlowStreamingDataset:
    """A JanusFlowStreamingDataset over ``shards/<task>`` in ``ratio``. ``name`` keeps the local cache of this
    mixture apart from others built in the same process (Streaming refuses to share one). ``predownload`` is how
    many samples Streaming prepares ahead of the reader (None: its default of 8 batches); see LoaderConfig."""
    shards, cache_dir = Path(shards), Path(cache_dir)
    streams = []
    for task, weight in active_streams(ratio).items():
        directory = ShardLayout(shards).stream(task)
        if not (directory / "index.json").is_file():
            raise MixtureError(f"mixture {name!r} needs the {task!r} stream (weight {weight:g}) but {directory} has no "
                               "MDS index.json; produce it with the shard stage (dvc repro shards) or set its weight to 0.")
        if verify and not verify_shards(directory):
            raise MixtureError(f"mixture {name!r} needs the {task!r} stream (weight {weight:g}) but {directory} holds no "
                               "samples; for the validation shards (val/), raise data.shards.validation_fraction.")
        local = cache_dir / f"{name}-{task}-{index_digest(directory)}"
        validate_cache(directory, local)
        streams.append(Stream(remote=str(directory), local=str(local), proportion=weight, validate_hash="xxh64"))
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
