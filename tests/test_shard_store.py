"""Shard sets in local folders and on an S3-compatible object store (moto's server on 127.0.0.1, started here):
uploads put the index last, readers share one node-local cache per set, and each reader checks only the cached
shards it reads."""

from __future__ import annotations

import gc
import json
import warnings
from pathlib import Path

import boto3
import pytest
from conftest import object_store
from streaming import MDSWriter
from streaming.base.util import merge_index

from data.mixture import MixtureError, build_mixture
from data.shard_store import (
    ShardStoreError,
    index_digest,
    is_url,
    join,
    read_index,
    sample_count,
    shard_sets,
    shared_cache,
    upload,
)
from data.streaming import VerifiedStreamingDataset

TEXTS = [f"document {i}: " + "shapes and colours " * 8 for i in range(60)]


def text_set(folder: Path) -> Path:
    """60 text samples in several small compressed shards."""
    with MDSWriter(out=str(folder), columns={"text": "str"}, compression="zstd", hashes=["sha1", "xxh64"],
                   size_limit=1024) as writer:
        for text in TEXTS:
            writer.write({"text": text})
    return folder


def read_all(location: str, cache: Path) -> list[str]:
    dataset = VerifiedStreamingDataset(remote=location, local=str(shared_cache(cache, location, read_index(location))),
                                       shuffle=False, batch_size=1, validate_hash="xxh64")
    texts = [sample["text"] for sample in dataset]
    del dataset
    gc.collect()   # Streaming lets one live dataset use a cache folder at a time
    return texts


def test_locations_join_as_urls_or_paths():
    assert is_url("s3://bucket/prefix") and not is_url("artifacts/tiny/shards")
    assert join("s3://bucket/prefix/", "val", "und") == "s3://bucket/prefix/val/und"
    assert join("artifacts/tiny/shards", "und") == str(Path("artifacts/tiny/shards/und"))


def test_the_partitions_of_a_merged_set_are_part_of_it(tmp_path):
    for part in ("part00000", "part00001"):
        text_set(tmp_path / "latents" / "gen" / part)
    merge_index(str(tmp_path / "latents" / "gen"), keep_local=True)
    text_set(tmp_path / "latents" / "val" / "gen")
    assert shard_sets(tmp_path / "latents") == [tmp_path / "latents" / "gen", tmp_path / "latents" / "val" / "gen"]
    assert sample_count(read_index(tmp_path / "latents" / "gen")) == 2 * len(TEXTS)


def test_a_missing_set_is_named(tmp_path):
    with pytest.raises(ShardStoreError, match=f"{tmp_path / 'none'} has no MDS index.json"):
        read_index(tmp_path / "none")


def test_one_cache_per_set_whatever_reads_it_and_a_damaged_cached_index_is_dropped(tmp_path):
    source = text_set(tmp_path / "shards" / "text")
    index = read_index(source)
    first = shared_cache(tmp_path / "cache", source, index)
    assert first == tmp_path / "cache" / f"text-{index_digest(source)}"
    assert read_all(str(source), tmp_path / "cache") == TEXTS
    assert read_all(str(source), tmp_path / "cache") == TEXTS   # a second reader, the same folder
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.name]
    (first / "index.json").write_text("{}")
    assert shared_cache(tmp_path / "cache", source, index) == first and not (first / "index.json").exists()


def test_each_reader_checks_only_the_cached_shards_it_reads(tmp_path):
    source = text_set(tmp_path / "shards" / "text")
    assert read_all(str(source), tmp_path / "cache") == TEXTS
    cache = shared_cache(tmp_path / "cache", source, read_index(source))
    shards = sorted(cache.glob("shard.*.mds"))
    assert len(shards) >= 4
    for shard in (shards[0], shards[-1]):
        data = bytearray(shard.read_bytes())
        data[-3] ^= 0x20   # a letter of the last text changes case: the sample still decodes
        shard.write_bytes(bytes(data))
    damaged = shards[-1].read_bytes()
    dataset = VerifiedStreamingDataset(remote=str(source), local=str(cache), shuffle=False, batch_size=1,
                                       validate_hash="xxh64")
    with pytest.warns(UserWarning, match=rf"damaged Streaming cache, copied again from {source}: .*{shards[0].name}: "
                                         "xxh64 mismatch") as caught:
        assert dataset[0]["text"] == TEXTS[0]
    assert len([w for w in caught if "damaged Streaming cache" in str(w.message)]) == 1
    assert shards[-1].read_bytes() == damaged   # not read, so not hashed: still the damaged copy
    with pytest.warns(UserWarning, match=rf"{shards[-1].name}: xxh64 mismatch"):
        assert dataset[len(TEXTS) - 1]["text"] == TEXTS[-1]
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "damaged Streaming cache")
        assert dataset[0]["text"] == TEXTS[0]   # checked once per reader


@pytest.fixture
def bucket(monkeypatch):
    """An empty bucket on a moto S3 server of this test's own; Streaming finds it through S3_ENDPOINT_URL."""
    with object_store(monkeypatch) as endpoint:
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="janusflow")
        yield "s3://janusflow"


def captions(shards: str, processor, cache: Path) -> list[str]:
    dataset = build_mixture(shards, {"gen": 1}, processor, cache, batch_size=4, shuffle=False)
    read = [sample["caption"] for sample in dataset]
    del dataset
    gc.collect()
    return read


def test_shards_copied_to_a_local_directory_remote_read_like_the_originals(small_world, processor, tmp_path):
    mirror = tmp_path / "shared" / "shards"   # a shared filesystem's path works as the remote as well
    upload(small_world["shards"], str(mirror), progress=False)
    assert sorted(p.name for p in (mirror / "gen").iterdir()) == sorted(
        ["index.json", *(s["zip_data"]["basename"] for s in json.loads(read_index(mirror / "gen"))["shards"])])
    assert captions(str(mirror), processor, tmp_path / "c1") == captions(str(small_world["shards"]), processor,
                                                                          tmp_path / "c2")


def test_shards_uploaded_to_s3_read_like_the_local_ones(small_world, processor, tmp_path, bucket):
    uploaded = upload(small_world["shards"], f"{bucket}/tiny/shards", progress=False)
    assert uploaded == [f"{bucket}/tiny/shards/{split}" for split in
                        ("gen", "text", "und", "val/gen", "val/text", "val/und")]
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="janusflow")["Contents"]]
    assert all(key.endswith(("index.json", ".zstd")) for key in keys)   # the files readers fetch, no raw copies
    assert read_index(f"{bucket}/tiny/shards/und") == (small_world["shards"] / "und" / "index.json").read_bytes()

    assert captions(f"{bucket}/tiny/shards", processor, tmp_path / "s3-cache") == captions(
        str(small_world["shards"]), processor, tmp_path / "local-cache")
    with pytest.raises(MixtureError, match=f"needs the 'text' stream .* {bucket}/elsewhere/text has no MDS index.json "
                                           "that can be read"):
        build_mixture(f"{bucket}/elsewhere", {"text": 1}, processor, tmp_path / "c", batch_size=4)
