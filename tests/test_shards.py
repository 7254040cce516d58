"""MDS shards: round trip against the raw data, determinism, integrity errors that name the shard."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_SHARDS
from PIL import Image
from streaming import StreamingDataset

from data.images import center_crop, decode_image, pad_to_square
from data.shards import ManifestMismatchError, ShardIntegrityError, held_out, verify_shards, write_shards
from settings.data import ShardConfig


def read_all(directory, cache) -> list[dict]:
    dataset = StreamingDataset(remote=str(directory), local=str(cache), shuffle=False, batch_size=1)
    return [dataset[i] for i in range(len(dataset))]


def raw_gen_sample(raw, key: str) -> tuple[bytes, str]:
    for path in sorted((raw / "gen").glob("*.tar")):
        with tarfile.open(path) as tar:
            names = tar.getnames()
            if f"{key}.png" in names:
                return tar.extractfile(f"{key}.png").read(), tar.extractfile(f"{key}.txt").read().decode()
    raise KeyError(key)


def training_rows(manifest) -> pd.DataFrame:
    """The manifest's rows that the training shards hold, in order: all but the held-out ones."""
    rows = pd.read_parquet(manifest)
    kept = [not held_out(s, k, SMALL_SHARDS["validation_fraction"]) for s, k in zip(rows.source, rows.key)]
    return rows[kept].reset_index(drop=True)


def test_round_trip_matches_manifest_and_raw_images(small_world, tmp_path):
    shards, manifests, raw = small_world["shards"], small_world["manifests"], small_world["raw"]
    gen = read_all(shards / "gen", tmp_path / "gen")
    rows = training_rows(manifests / "gen.parquet")
    assert [s["key"] for s in gen] == list(rows.key) and [s["caption"] for s in gen] == list(rows.caption)
    assert all(s["task"] == "gen" and s["source"] == "shapes_gen" for s in gen)
    payload, caption = raw_gen_sample(raw, gen[5]["key"])
    assert gen[5]["caption"] == caption
    expected = center_crop(decode_image(payload, 10**8).image, 64)
    assert np.array_equal(np.asarray(gen[5]["image"]), np.asarray(expected))
    assert gen[5]["meta"]["pixel_sha256"] == rows.pixel_sha256[5]

    und = read_all(shards / "und", tmp_path / "und")
    und_rows = training_rows(manifests / "und.parquet")
    assert [s["conversation"] for s in und] == [json.loads(c) for c in und_rows.conversation]
    entry = und[0]
    original = decode_image((raw / "und/images" / entry["meta"]["image_name"]).read_bytes(), 10**8).image
    assert np.array_equal(np.asarray(entry["image"]), np.asarray(pad_to_square(original, 64)))

    text = read_all(shards / "text", tmp_path / "text")
    assert [s["text"] for s in text] == list(training_rows(manifests / "text.parquet").text)


def test_preprocessing_pads_understanding_and_crops_generation():
    wide = Image.new("RGB", (80, 40), (250, 0, 0))
    wide.paste((0, 0, 250), (0, 0, 20, 40))
    padded = np.asarray(pad_to_square(wide, 64))
    assert tuple(padded[0, 32]) == (127, 127, 127) and tuple(padded[32, 40]) == (250, 0, 0)
    cropped = np.asarray(center_crop(wide, 40))
    assert cropped.shape == (40, 40, 3) and tuple(cropped[20, 0]) == (250, 0, 0)


def test_writing_twice_gives_identical_shards(small_world, tmp_path):
    write_shards(small_world["specs"], small_world["manifests"], tmp_path, ShardConfig(**SMALL_SHARDS), progress=False)
    for task in ("und", "gen", "text", "val/und", "val/gen", "val/text"):
        ours = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / task).iterdir()}
        theirs = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (small_world["shards"] / task).iterdir()}
        assert ours == theirs
        assert len(ours) > (1 if "text" in task or "val" in task else 2)  # index + shards (64 KB each)
    index = json.loads((tmp_path / "gen/index.json").read_text())
    shard = index["shards"][0]
    assert shard["compression"].startswith("zstd") and set(shard["zip_data"]["hashes"]) == {"sha1", "xxh64"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    for task, info in summary["tasks"].items():
        assert info["samples"] + info["validation"]["samples"] == small_world["report"]["tasks"][task]["kept"]
        assert 0 < info["validation"]["samples"] < 0.2 * info["samples"]


def test_the_validation_split_holds_out_a_stable_share_of_records(small_world, tmp_path):
    """A record's side follows from its source and key alone: the share is the fraction asked for, the sides are
    disjoint and together hold the manifest, and the training shards never see a held-out key."""
    keys = [f"record-{i}" for i in range(20_000)]
    share = sum(held_out("shapes_gen", k, 0.1) for k in keys) / len(keys)
    assert abs(share - 0.1) < 0.006
    assert [held_out("shapes_gen", k, 0.1) for k in keys[:500]] == [held_out("shapes_gen", k, 0.1) for k in keys[:500]]
    assert not any(held_out("shapes_gen", k, 0.0) for k in keys)
    for task in ("und", "gen", "text"):
        manifest = pd.read_parquet(small_world["manifests"] / f"{task}.parquet")
        sides = {side: {(sample["source"], sample["key"]) for sample in read_all(folder, tmp_path / f"{task}-{side}")}
                 for side, folder in (("train", small_world["shards"] / task),
                                      ("val", small_world["shards"] / "val" / task))}
        assert not sides["train"] & sides["val"]
        assert sides["train"] | sides["val"] == set(zip(manifest["source"], manifest["key"]))
        assert all(held_out(source, key, 0.1) for source, key in sides["val"])
    with pytest.raises(ValueError, match=r"shards.validation_fraction is 1.0; use a share in \[0, 1\)"):
        ShardConfig(validation_fraction=1.0)


def test_corrupted_and_truncated_shards_are_named(small_world, tmp_path):
    write_shards(small_world["specs"], small_world["manifests"], tmp_path, ShardConfig(**SMALL_SHARDS), progress=False)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert verify_shards(tmp_path / "gen") == summary["tasks"]["gen"]["samples"]
    shard = tmp_path / "gen/shard.00001.mds.zstd"
    data = bytearray(shard.read_bytes())
    data[100] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ShardIntegrityError, match="shard.00001.mds.zstd: sha1 mismatch"):
        verify_shards(tmp_path / "gen")
    shard.write_bytes(bytes(data[:50]))
    with pytest.raises(ShardIntegrityError, match="shard.00001.mds.zstd: 50 bytes, index says .* \\(truncated\\?\\)"):
        verify_shards(tmp_path / "gen")
    shard.unlink()
    with pytest.raises(ShardIntegrityError, match="shard.00001.mds.zstd: missing"):
        verify_shards(tmp_path / "gen")


def test_raw_data_changed_after_filtering_stops_the_shard_stage(small_world, tmp_path):
    import shutil

    raw = tmp_path / "raw"
    shutil.copytree(small_world["raw"], raw)
    from conftest import small_sources

    first = pd.read_parquet(small_world["manifests"] / "und.parquet").iloc[0]
    (raw / "und/images" / first.image_name).write_bytes(
        _png(Image.new("RGB", (64, 64), (1, 2, 3))))
    with pytest.raises(ManifestMismatchError, match=f"shapes_und record {first.position} .* Rerun the filter stage"):
        write_shards(small_sources(raw), small_world["manifests"], tmp_path / "shards", ShardConfig(), progress=False)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
