"""Streaming datasets and per-stage mixtures: training-ready samples, exact ratios, seeded order, resumption."""

from __future__ import annotations

import collections
import gc

import pytest
import torch
from conftest import parsed, repo_params
from streaming import MDSWriter, StreamingDataLoader

from data.collate import MixedBatchCollator
from data.mixture import MixtureError, active_streams, build_mixture, check_ratio
from data.shards import ShardIntegrityError
from janusflow.processor import IGNORE_INDEX
from settings.training import MixturePhase
from settings.typed import SettingsError

PAPER_STAGE2 = {"und": 14, "gen": 80, "text": 6}


def mixture(small_world, processor, tmp_path, ratio, name="m", **kwargs):
    return build_mixture(small_world["shards"], ratio, processor, tmp_path / "cache", batch_size=4, name=name, **kwargs)


def test_ratio_is_exact_to_the_rounding_rule(small_world, processor, tmp_path):
    dataset = mixture(small_world, processor, tmp_path, PAPER_STAGE2, epoch_size=1000)
    counts = check_ratio(dataset, PAPER_STAGE2)
    assert counts == {"und": 140, "gen": 800, "text": 60}
    seen = collections.Counter(sample["task"] for sample in dataset)
    assert seen == counts
    odd = mixture(small_world, processor, tmp_path, {"und": 1, "gen": 1, "text": 1}, name="odd", epoch_size=100)
    assert sorted(check_ratio(odd, {"und": 1, "gen": 1, "text": 1}).values()) == [33, 33, 34]


def test_zero_weight_streams_are_dropped_and_missing_streams_named(small_world, processor, tmp_path):
    assert active_streams({"und": 50, "gen": 50, "text": 0}) == {"und": 50, "gen": 50}
    dataset = mixture(small_world, processor, tmp_path, {"und": 50, "gen": 50, "text": 0}, epoch_size=10)
    assert [s.remote.rsplit("/", 1)[-1] for s in dataset.streams] == ["und", "gen"]
    with pytest.raises(MixtureError, match="no positive weight"):
        active_streams({"und": 0})
    with pytest.raises(MixtureError, match="needs the 'text' stream \\(weight 6\\) but .*nowhere/text has no MDS"):
        build_mixture(tmp_path / "nowhere", {"text": 6}, processor, tmp_path / "c", batch_size=4)
    empty = tmp_path / "empty" / "val"
    with MDSWriter(out=str(empty / "text"), columns={"text": "str"}):
        pass  # a validation split of fraction 0 writes an index without shards
    with pytest.raises(MixtureError, match="needs the 'text' stream .* holds no samples; .* raise "
                                           "data.shards.validation_fraction"):
        build_mixture(empty, {"text": 6}, processor, tmp_path / "c", batch_size=4)


def test_a_corrupted_shard_stops_the_mixture_when_it_is_read(small_world, processor, tmp_path):
    import shutil

    shards = tmp_path / "shards"
    shutil.copytree(small_world["shards"], shards)
    target = sorted((shards / "und").glob("shard.*.zstd"))[0]   # what a reader fetches: the compressed shard
    target.write_bytes(target.read_bytes()[:-10])
    dataset = build_mixture(shards, PAPER_STAGE2, processor, tmp_path / "c", batch_size=4)
    with pytest.raises(ShardIntegrityError, match=f"a shard of .*/und does not match its index \\(Checksum failure: "
                                                  f".*{target.name}\\); restore it there"):
        list(dataset)


def test_samples_are_training_ready(small_world, processor, tmp_path):
    dataset = mixture(small_world, processor, tmp_path, {"und": 1, "gen": 1, "text": 1}, shuffle=False, epoch_size=30)
    by_task = {}
    for sample in dataset:
        by_task.setdefault(sample["task"], sample)
    und = by_task["und"]
    labels = [t for t in und["sequence"].labels if t != IGNORE_INDEX]
    assert labels[-1] == processor.eos_id and und["sequence"].num_images == 1
    assert und["sequence"].input_ids.count(processor.image_id) == 64 and und["pixel_values"].shape == (1, 3, 64, 64)
    answer_text = processor.decode(labels)
    assert answer_text and "User:" not in answer_text
    gen = by_task["gen"]
    assert gen["prompt_ids"][0] == processor.bos_id
    assert processor.tokenizer.decode(gen["prompt_ids"][1:]) == f"User: {gen['caption'].strip()}\n\nAssistant:"
    assert gen["pixel_values"].shape == (3, 64, 64) and -1.0 <= gen["pixel_values"].min() < gen["pixel_values"].max() <= 1.0
    text = by_task["text"]
    assert text["sequence"].input_ids[0] == processor.bos_id and text["sequence"].labels[0] == IGNORE_INDEX
    assert text["sequence"].labels[1:] == text["sequence"].input_ids[1:] and text["sequence"].input_ids[-1] == processor.eos_id
    pretrain = mixture(small_world, processor, tmp_path, {"gen": 1}, name="pre", shuffle=False, epoch_size=2,
                       generation_template="pretrain")
    first = next(iter(pretrain))
    assert processor.tokenizer.decode(first["prompt_ids"][1:]) == first["caption"].strip()


def test_collator_pads_each_type_for_its_loss(small_world, processor, tmp_path):
    dataset = mixture(small_world, processor, tmp_path, {"und": 1, "gen": 1, "text": 1}, epoch_size=24)
    loader = StreamingDataLoader(dataset, batch_size=12, collate_fn=MixedBatchCollator(processor))
    batch = next(iter(loader))
    assert sum(batch["counts"].values()) == 12
    und = batch["und"]
    assert und["pixel_values"].shape[0] == batch["counts"]["und"] == und["input_ids"].shape[0]
    assert und["image_token_mask"].sum() == 64 * batch["counts"]["und"] and und["image_begin_mask"].sum() == batch["counts"]["und"]
    assert torch.all(und["attention_mask"][:, 0] == 1)  # right padding
    gen = batch["gen"]
    assert torch.all(gen["prefix_attention"][:, -1] == 1)  # left padding: the generation tag follows
    assert gen["pixel_values"].shape == (batch["counts"]["gen"], 3, 64, 64) and len(gen["captions"]) == batch["counts"]["gen"]
    assert set(batch["text"]) == {"input_ids", "attention_mask", "labels"}


def keys(dataset, n: int) -> list[str]:
    out = []
    for sample in dataset:
        out.append(sample["pixel_values"].sum().item() if "pixel_values" in sample else sum(sample["sequence"].input_ids))
        if len(out) == n:
            return out
    return out


def test_order_is_deterministic_for_a_seed(small_world, processor, tmp_path):
    a = keys(mixture(small_world, processor, tmp_path, PAPER_STAGE2, name="a", seed=1, epoch_size=40), 20)
    b = keys(mixture(small_world, processor, tmp_path, PAPER_STAGE2, name="b", seed=1, epoch_size=40), 20)
    c = keys(mixture(small_world, processor, tmp_path, PAPER_STAGE2, name="c", seed=2, epoch_size=40), 20)
    assert a == b and a != c


def batches(loader, n: int) -> list[list[int]]:
    """A fingerprint per batch: token sums of the sequences and pixel sums of the generation images."""
    out = []
    for batch in loader:
        print_ = [int(v) for part in ("und", "text") if part in batch for v in batch[part]["input_ids"].sum(1)]
        if "gen" in batch:
            print_ += [int(v * 1000) for v in batch["gen"]["pixel_values"].sum((1, 2, 3))]
        out.append([*batch["tasks"], *print_])
        if len(out) == n:
            break
    return out


def test_resume_mid_epoch_returns_the_same_next_samples(small_world, processor, tmp_path):
    collate = MixedBatchCollator(processor)
    full = StreamingDataLoader(mixture(small_world, processor, tmp_path, PAPER_STAGE2, name="full", epoch_size=64),
                               batch_size=4, collate_fn=collate)
    expected = batches(full, 6)
    first = StreamingDataLoader(mixture(small_world, processor, tmp_path, PAPER_STAGE2, name="first", epoch_size=64),
                                batch_size=4, collate_fn=collate)
    assert batches(first, 3) == expected[:3]
    state = first.state_dict()
    assert state["sample_in_epoch"] == 12
    resumed = StreamingDataLoader(mixture(small_world, processor, tmp_path, PAPER_STAGE2, name="resumed", epoch_size=64),
                                  batch_size=4, collate_fn=collate)
    resumed.load_state_dict(state)
    assert batches(resumed, 3) == expected[3:6]


def test_stage_phases():
    params = repo_params()
    stage2 = params["profiles"]["paper"]["stages"]["stage2"]
    assert parsed(params).select("paper").stage("stage2").mixture[0] == MixturePhase(
        ratio={"und": 30.0, "gen": 50.0, "text": 20.0}, steps=10000)
    stage2["mixture"] = [{"steps": None, "ratio": {"gen": 1}}, {"steps": None, "ratio": {"gen": 1}}]
    with pytest.raises(SettingsError, match="stages.stage2.mixture\\[0\\] needs 'steps'"):
        parsed(params)
    stage2["mixture"] = [{"steps": None, "ratio": {"gen": -1}}]
    with pytest.raises(SettingsError, match="must map \\['und', 'gen', 'text'\\] to non-negative weights"):
        parsed(params)
    stage2["mixture"] = [{"steps": None, "ratio": {"image": 1}}]
    with pytest.raises(SettingsError, match="ratio key is 'image' \\(str\\); expected one of 'und', 'gen', 'text'"):
        parsed(params)


def test_mixtures_of_one_shard_set_share_its_cache(small_world, processor, tmp_path):
    for name, ratio in (("phase0", {"und": 30, "gen": 50}), ("phase1", {"gen": 1}), ("val", {"gen": 1})):
        dataset = mixture(small_world, processor, tmp_path, ratio, name=name, epoch_size=8)
        assert len(list(dataset)) == 8
        del dataset
        gc.collect()   # Streaming lets one live dataset use a cache folder at a time
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "cache").iterdir()) == ["gen", "und"]


def test_a_damaged_streaming_cache_is_copied_again_before_training_reads_it(small_world, processor, tmp_path):
    def texts() -> list[str]:
        dataset = mixture(small_world, processor, tmp_path, {"text": 1}, name="cached", shuffle=False)
        read = [processor.tokenizer.decode(sample["sequence"].input_ids) for sample in dataset]
        del dataset
        gc.collect()   # Streaming allows one dataset per local folder at a time
        return read

    clean = texts()
    (cached,) = (tmp_path / "cache").glob("text-*")
    shard = sorted(cached.glob("shard.*.mds"))[-1]
    data = bytearray(shard.read_bytes())
    data[-3] ^= 0x20   # a letter of the last text changes case: the sample still decodes
    shard.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match=rf"damaged Streaming cache, copied again from .*/text: .*: {shard.name}: "
                                         "xxh64 mismatch"):
        again = texts()
    assert again == clean
