"""Shard stage: manifests -> MDS shards per data type (und / gen / text), compressed and hashed, with a held-out
validation split beside them (``val/<type>``).

Images are preprocessed once, here, the way each path consumes them: understanding images are padded to a
square at the understanding encoder's resolution, generation images centre-cropped and resized to the
generation resolution. Every image is re-read from its source and checked against the pixel hash the filter
recorded, so a raw file that changed after filtering stops the stage instead of slipping in.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pandas as pd
from PIL import Image
from streaming import MDSWriter
from streaming.base.hashing import get_hash
from tqdm import tqdm

from data.images import center_crop, decode_image, pad_to_square, pixel_hash
from data.manifest import verify_manifests
from data.parallel import ordered_map
from data.publish import publishing
from data.sources import RawRecord, read_source
from settings.data import ShardConfig, SourceSpec
from settings.layout import ManifestLayout, ShardLayout
from settings.provenance import code_version

COLUMNS: dict[str, dict[str, str]] = {
    "und": {"task": "str", "source": "str", "key": "str", "image": "png", "conversation": "json", "meta": "json"},
    "gen": {"task": "str", "source": "str", "key": "str", "image": "png", "caption": "str", "aesthetic": "float64",
            "meta": "json"},
    "text": {"task": "str", "source": "str", "key": "str", "text": "str", "meta": "json"},
}
NO_PIXEL_LIMIT = 1 << 62


class ShardIntegrityError(RuntimeError):
    """A shard file is missing, truncated or fails its hash."""


class ManifestMismatchError(RuntimeError):
    """The raw sources no longer match the manifest the filter wrote."""


def held_out(source: str, key: str, fraction: float) -> bool:
    """Whether a record is in the validation split. It follows from a hash of its source and key, so the split is
    the same on every run and machine, and a record keeps its side when other records come or go."""
    digest = hashlib.sha256(f"{source}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2**64


def _prepare(chunk: list[tuple[RawRecord, dict, str, int]]) -> list[tuple[dict, Image.Image, str]]:
    """Decode, verify and crop one chunk: (manifest row, prepared image, pixel hash of the decoded image)."""
    out = []
    for record, row, task, size in chunk:
        image = decode_image(record.image, NO_PIXEL_LIMIT).image
        prepared = pad_to_square(image, size) if task == "und" else center_crop(image, size)
        out.append((row, prepared, pixel_hash(image)))
    return out


def image_samples(task: str, rows: pd.DataFrame, specs: list[SourceSpec], size: int,
                  workers: int) -> Iterator[tuple[dict, Image.Image]]:
    """The manifest's records with their prepared images, in manifest order, re-read from the sources."""
    wanted = {(r["source"], int(r["position"])): r for r in rows.to_dict("records")}

    def jobs() -> Iterator[tuple[RawRecord, dict, str, int]]:
        for spec in specs:
            if spec.feeds == task and spec.name in set(rows["source"]):
                for record in read_source(spec):
                    row = wanted.pop((spec.name, record.position), None)
                    if row is not None:
                        yield record, row, task, size

    for results in ordered_map(_prepare, jobs(), workers, chunk_size=64):
        for row, image, digest in results:
            if digest != row["pixel_sha256"]:
                raise ManifestMismatchError(
                    f"{row['source']} record {row['position']} ({row['key']}) has different pixels than when it was "
                    "filtered; the raw data changed. Rerun the filter stage (dvc repro filter).")
            yield row, image
    if wanted:
        (source, position), row = next(iter(wanted.items()))
        raise ManifestMismatchError(
            f"{len(wanted)} manifest record(s) of {task} are no longer in the sources, for example {source} record "
            f"{position} ({row['key']}); rerun the filter stage (dvc repro filter).")


def _meta(row: dict) -> dict:
    keep = ("position", "width", "height", "source_mode", "pixel_sha256", "image_name")
    return {k: (int(row[k]) if k in ("position", "width", "height") else row[k]) for k in keep if k in row}


def task_samples(task: str, rows: pd.DataFrame, specs: list[SourceSpec], config: ShardConfig,
                 workers: int) -> Iterator[dict]:
    if task == "text":
        for row in rows.to_dict("records"):
            yield {"task": "text", "source": row["source"], "key": row["key"], "text": row["text"],
                   "meta": {"position": int(row["position"])}}
        return
    size = config.und_image_size if task == "und" else config.gen_image_size
    for row, image in image_samples(task, rows, specs, size, workers):
        sample = {"task": task, "source": row["source"], "key": row["key"], "image": image, "meta": _meta(row)}
        if task == "und":
            sample["conversation"] = json.loads(row["conversation"])
        else:
            aesthetic = row.get("aesthetic")
            sample["caption"] = row["caption"]
            sample["aesthetic"] = float("nan") if aesthetic is None or math.isnan(aesthetic) else float(aesthetic)
        yield sample


def shard_info(directory: Path) -> dict:
    """Samples, shard files and bytes of one MDS directory, from its index."""
    shards = json.loads((directory / "index.json").read_text())["shards"]
    return {"samples": sum(s["samples"] for s in shards), "shards": len(shards),
            "bytes": sum((s["zip_data"] or s["raw_data"])["bytes"] for s in shards)}


def write_shards(specs: list[SourceSpec], manifests: str | Path, out: str | Path, config: ShardConfig,
                 workers: int = 1, progress: bool = True) -> dict:
    """Write ``out/<task>/`` (training) and ``out/val/<task>/`` (held out, ``config.validation_fraction`` of the
    records) MDS shards for every manifest in ``manifests``; returns (and saves) a summary. The manifests are
    checked against the filter's record of them first; the shards are verified (hashes, and samples = manifest
    rows) before they replace the previous ones, all together."""
    manifests = ManifestLayout(Path(manifests))
    recorded = verify_manifests(manifests.root)
    expected = {task: entry["rows"] for task, entry in recorded.items()}
    summary: dict = {"config": asdict(config), "tasks": {}, "code_version": code_version()}
    tasks = [t for t in COLUMNS if t in expected]
    if not tasks:
        raise FileNotFoundError(f"no manifests (und/gen/text .parquet) in {manifests.root}; run the filter stage "
                                "first.")

    def verify(staging: Path) -> None:
        for task in tasks:
            files = ShardLayout(staging)
            written = verify_shards(files.stream(task)) + verify_shards(files.stream(task, validation=True))
            if written != expected[task]:
                raise ShardIntegrityError(f"{task}: {written} samples written for {expected[task]} manifest rows; "
                                          "rerun the shard stage (dvc repro shards).")

    with publishing(out, verify=verify) as staging:
        files = ShardLayout(staging)
        for task in tasks:
            rows = pd.read_parquet(manifests.manifest(task)) if expected[task] else pd.DataFrame()
            targets = {"train": files.stream(task), "val": files.stream(task, validation=True)}
            options = {"columns": COLUMNS[task], "compression": config.compression, "hashes": list(config.hashes),
                       "size_limit": config.size_limit}
            with MDSWriter(out=str(targets["train"]), **options) as train, MDSWriter(out=str(targets["val"]),
                                                                                       **options) as val:
                for sample in tqdm(task_samples(task, rows, specs, config, workers), total=len(rows),
                                   desc=f"writing {task} shards", disable=not progress):
                    held = held_out(sample["source"], sample["key"], config.validation_fraction)
                    (val if held else train).write(sample)
            summary["tasks"][task] = {**shard_info(targets["train"]), "validation": shard_info(targets["val"]),
                                      "manifest_sha256": recorded[task]["sha256"]}
        files.summary.write_text(json.dumps(summary, indent=1))
    return summary


def shard_file_problem(path: Path, info: dict, algorithms: tuple[str, ...] | None = None) -> str | None:
    """What is wrong with one shard file against its index entry (``raw_data`` or ``zip_data``): missing, another
    size, or a hash mismatch (every recorded hash, or only ``algorithms``); None when it is intact."""
    if not path.is_file():
        return f"{info['basename']}: missing"
    data = path.read_bytes()
    if len(data) != info["bytes"]:
        return f"{info['basename']}: {len(data)} bytes, index says {info['bytes']} (truncated?)"
    for algorithm, expected in sorted(info.get("hashes", {}).items()):
        if (algorithms is None or algorithm in algorithms) and get_hash(algorithm, data) != expected:
            return f"{info['basename']}: {algorithm} mismatch"
    return None


def verify_shards(directory: str | Path) -> int:
    """Check every shard file of one MDS directory against its index (size and every hash); returns the number
    of samples. Raises ShardIntegrityError naming each bad shard."""
    directory = Path(directory)
    index_path = directory / "index.json"
    if not index_path.is_file():
        raise ShardIntegrityError(f"{directory} has no index.json; rerun the shard stage (dvc repro shards).")
    index = json.loads(index_path.read_text())
    problems = [problem for shard in index["shards"]
                if (problem := shard_file_problem(directory / (shard["zip_data"] or shard["raw_data"])["basename"],
                                                  shard["zip_data"] or shard["raw_data"]))]
    if problems:
        raise ShardIntegrityError(f"corrupted shard(s) in {directory}: " + "; ".join(problems)
                                  + ". Restore them (dvc checkout) or rerun the shard stage (dvc repro shards).")
    return sum(s["samples"] for s in index["shards"])
