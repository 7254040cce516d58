"""The latents node: every generation image's VAE posterior, encoded once ahead of training.

The VAE is frozen in every stage, so encoding the same images at every step of every stage and variant repeats
work (a tenth to a fifth of a generation step). This node writes ``<data.paths.latents>/gen`` and ``val/gen``: the
generation shards with one more column, ``latent_moments`` (the posterior's means and log-variances, float32),
and uploads them beside the shards when ``data.paths.remote`` is set. With ``training.speed.precomputed_latents``
the stages read their generation stream from there and draw each step's latents from the stored posterior with the
step's generator: the draw encoding would make (``LatentCodec.sample``), so the losses are the same.

    python -m janusflow.training.latents --profile tiny
"""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from streaming import MDSWriter
from streaming.base.util import merge_index
from tqdm import tqdm

from data.publish import publishing
from data.shard_store import join, read_index, sample_count, upload
from data.shards import COLUMNS, verify_shards
from data.streaming import image_tensor, set_samples
from janusflow.foundations.codec import profile_codec
from janusflow.vae import LatentCodec
from settings.cli import command_parser, parse_with_profile, progress_option
from settings.data import LATENTS
from settings.foundations import FoundationSettings
from settings.layout import ShardLayout
from settings.params import Profile, load_params
from settings.provenance import code_version

COLUMN = "latent_moments"
BATCH = 32


def with_moments(samples: list[dict], codec: LatentCodec) -> list[dict]:
    """``samples`` with their VAE posteriors."""
    pixels = torch.stack([image_tensor(sample["image"]) for sample in samples])
    with torch.no_grad():
        moments = codec.moments(pixels).float().cpu().numpy()
    return [{**sample, COLUMN: np.ascontiguousarray(m)} for sample, m in zip(samples, moments)]


def encode_set(location: str, cache: Path, codec: LatentCodec, target: Path, options: dict, progress: bool) -> int:
    """Write every sample of the set at ``location`` with its posterior into ``target``, shard for shard: one MDS
    partition per source shard, merged into one index (Streaming's ``merge_index``), so the latents set has the
    source's shard boundaries, Streaming shuffles both alike, and a stage reads the same samples in the same order
    from either. Returns how many samples it wrote."""
    index = read_index(location)
    samples = iter(tqdm(set_samples(location, cache), total=sample_count(index),
                        desc=f"encoding {location}", disable=not progress))
    written = 0
    for number, shard in enumerate(json.loads(index)["shards"]):
        with MDSWriter(out=str(target / f"part{number:05d}"), size_limit=None, **options) as writer:
            left = shard["samples"]
            while left:
                batch = list(itertools.islice(samples, min(BATCH, left)))
                for sample in with_moments(batch, codec):
                    writer.write(sample)
                left -= len(batch)
                written += len(batch)
    merge_index(str(target), keep_local=True)
    return written


def vae_of(profile: Profile) -> str:
    """Which VAE encodes: the tiny VAE foundation's folder, or the configured directory or hub id."""
    foundations = profile.foundations
    return str(foundations.directory("vae")) if isinstance(foundations, FoundationSettings) else str(foundations.vae)


def write_latents(profile: Profile, progress: bool = True) -> dict:
    """Encode the generation shards of both splits into ``data.paths.latents`` (verified, then published together)
    and upload them to ``<data.paths.remote>/latents`` when it is set; returns the summary it records."""
    data = profile.data
    codec = profile_codec(profile)
    config = data.shards
    columns = {**COLUMNS["gen"], COLUMN: "ndarray:float32"}
    summary: dict = {"vae": vae_of(profile), "code_version": code_version(), "sets": {}}

    def verify(staging: Path) -> None:
        for validation in (False, True):
            verify_shards(ShardLayout(staging).stream("gen", validation))

    with publishing(data.paths.latents, verify=verify) as staging:
        for validation in (False, True):
            source = join(data.shard_source(validation), "gen")
            target = ShardLayout(staging).stream("gen", validation)
            options = {"columns": columns, "compression": config.compression, "hashes": list(config.hashes)}
            summary["sets"][str(target.relative_to(staging))] = encode_set(source, data.paths.cache, codec, target,
                                                                           options, progress)
        (staging / "summary.json").write_text(json.dumps({**summary, "shards": asdict(config)}, indent=1))
    if data.paths.remote:
        summary["uploaded"] = upload(data.paths.latents, join(data.paths.remote, LATENTS), progress)
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_with_profile(command_parser(__doc__, progress_option()), argv)
    summary = write_latents(load_params(args.params).select(args.profile), progress=not args.no_progress)
    for name, count in summary["sets"].items():
        print(f"{name}: {count} generation samples with their VAE posteriors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
