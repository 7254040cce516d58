"""Per-stage data mixtures: und / gen / text MDS streams sampled in the ratio params.yaml gives each stage.

A stage's ``mixture`` is a list of phases, each ``{ratio: {und, gen, text}, steps: N}`` (the last phase has no
``steps``): stage 2 of the paper runs 30:50:20 for its first 10,000 steps and 14:80:6 after. Streams with zero
weight are dropped before the dataset is built. Streaming draws ``floor(epoch_size * share)`` samples per stream
and hands the remainder out one by one with a seeded choice; ``check_ratio`` holds the realised counts to that
rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streaming import Stream

from data.settings import SettingsError, check_value
from data.shards import index_digest, validate_cache, verify_shards
from data.sources.base import TASKS
from data.streaming import JanusFlowStreamingDataset, SampleProcessor


class MixtureError(ValueError):
    """A mixture that cannot be built: a required stream is missing, or the ratio is empty or malformed."""


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
class MixturePhase:
    ratio: dict[str, float]
    steps: int | None = None


def mixture_phases(section: list[dict[str, Any]], where: str) -> list[MixturePhase]:
    """Parse a stage's ``mixture`` list; every phase but the last needs ``steps``."""
    if not section:
        raise SettingsError(f"{where} is empty; give at least one phase {{ratio: {{und: .., gen: .., text: ..}}}}.")
    phases = []
    for index, entry in enumerate(section):
        unknown = sorted(set(entry) - {"ratio", "steps"})
        if unknown:
            raise SettingsError(f"{where}[{index}] has unknown key(s) {unknown}; valid keys are ['ratio', 'steps'].")
        ratio = {task: check_value(weight, float, f"{where}[{index}].ratio.{task}")
                 for task, weight in dict(entry.get("ratio") or {}).items()}
        bad = sorted(set(ratio) - set(TASKS))
        if bad or any(v < 0 for v in ratio.values()):
            raise SettingsError(f"{where}[{index}].ratio must map {list(TASKS)} to non-negative weights, got {ratio}.")
        steps = check_value(entry.get("steps"), int | None, f"{where}[{index}].steps")
        if steps is None and index < len(section) - 1:
            raise SettingsError(f"{where}[{index}] needs 'steps' (how long it lasts); only the last phase may omit it.")
        phases.append(MixturePhase(ratio=ratio, steps=steps))
    return phases


def active_streams(ratio: dict[str, float]) -> dict[str, float]:
    """The ratio without zero-weight streams, in the canonical order und, gen, text."""
    active = {task: ratio[task] for task in TASKS if ratio.get(task, 0) > 0}
    if not active:
        raise MixtureError(f"mixture ratio {ratio} has no positive weight; give at least one of {list(TASKS)} a weight.")
    return active


def build_mixture(shards: str | Path, ratio: dict[str, float], processor: SampleProcessor, cache_dir: str | Path,
                  batch_size: int, seed: int = 0, name: str = "mixture", epoch_size: int | None = None,
                  generation_template: str = "sft", shuffle: bool = True, verify: bool = True,
                  predownload: int | None = None, **kwargs: Any) -> JanusFlowStreamingDataset:
    """A JanusFlowStreamingDataset over ``shards/<task>`` in ``ratio``. ``name`` keeps the local cache of this
    mixture apart from others built in the same process (Streaming refuses to share one). ``predownload`` is how
    many samples Streaming prepares ahead of the reader (None: its default of 8 batches); see LoaderConfig."""
    shards, cache_dir = Path(shards), Path(cache_dir)
    streams = []
    for task, weight in active_streams(ratio).items():
        directory = shards / task
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
