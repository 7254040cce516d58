"""Official-format save/load: exact round trip, sharding, strict keys with readable errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from data.integrity import IntegrityError, file_digest
from janusflow.checkpoint import CheckpointMismatchError, compare_state_dicts
from janusflow.modeling import JanusFlowModel
from janusflow.sampling import FlowSampler


def _outputs(model, processor, red_image):
    batch = processor.chat_batch([[{"role": "User", "content": "<image_placeholder>\nWhat colour is the circle?"}]],
                                 [[red_image]])
    logits = model.understanding_logits(batch.input_ids, batch.attention_mask, batch.pixel_values,
                                        batch.image_token_mask, batch.image_begin_mask)
    latents = FlowSampler(model, processor, latent_size=16).sample(["a red circle"], [3], steps=3, cfg_weight=2.0,
                                                                   template="sft").latents
    return logits, latents


@pytest.mark.parametrize("max_shard_size", ["5GB", 200_000])
def test_round_trip_reproduces_outputs_exactly(tmp_path, model, processor, red_image, max_shard_size):
    path = model.save_pretrained(tmp_path / "ckpt", max_shard_size=max_shard_size)
    sharded = (path / "model.safetensors.index.json").is_file()
    assert sharded == (max_shard_size != "5GB")
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == "multi_modality"
    assert config["vision_gen_enc_config"]["cls"] == "ShallowUViTEncoder"
    loaded = JanusFlowModel.from_pretrained(path)
    with torch.no_grad():
        before, after = _outputs(model, processor, red_image), _outputs(loaded, processor, red_image)
    assert torch.equal(before[0], after[0])
    assert torch.equal(before[1], after[1])
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


def test_official_weights_without_repa_head_load(tmp_path, model):
    path = model.save_pretrained(tmp_path / "official", include_repa_head=False)
    assert not any(k.startswith("repa_head.") for k in load_file(path / "model.safetensors"))
    loaded = JanusFlowModel.from_pretrained(path)
    assert loaded.repa_head is not None
    assert torch.equal(loaded.vision_gen_enc_aligner.weight, model.vision_gen_enc_aligner.weight)


def test_bfloat16_load_keeps_rotary_in_float32(tmp_path, model):
    loaded = JanusFlowModel.from_pretrained(model.save_pretrained(tmp_path / "c"), dtype=torch.bfloat16)
    assert loaded.dtype == torch.bfloat16
    assert loaded.language_model.model.rotary_emb.inv_freq.dtype == torch.float32


def test_mismatched_checkpoint_lists_missing_unexpected_and_shapes(tmp_path, model):
    path = model.save_pretrained(tmp_path / "bad")
    state = load_file(path / "model.safetensors")
    del state["beg_of_und_embed"]
    state["vision_gen_enc_aligner.weight"] = torch.zeros(3, 3)
    state["lm_head.extra"] = torch.zeros(1)
    save_file(state, path / "model.safetensors")
    (path / "weights.sha256.json").unlink()   # as for weights written by another tool: no recorded digest
    with pytest.raises(CheckpointMismatchError) as err:
        JanusFlowModel.from_pretrained(path)
    message = str(err.value)
    assert "missing keys (1):\n    beg_of_und_embed" in message
    assert "unexpected keys (1):\n    lm_head.extra" in message
    assert "vision_gen_enc_aligner.weight: checkpoint [3, 3] vs model [32, 32]" in message


def test_a_flipped_byte_in_tensor_data_is_refused_by_the_recorded_sha256(tmp_path, model):
    path = model.save_pretrained(tmp_path / "export")
    assert json.loads((path / "weights.sha256.json").read_text()) == {"model.safetensors": file_digest(
        path / "model.safetensors")}
    weights = bytearray((path / "model.safetensors").read_bytes())
    weights[-5] ^= 0x01   # inside the last tensor's data: the header still parses and the shapes still match
    (path / "model.safetensors").write_bytes(bytes(weights))
    with pytest.raises(IntegrityError, match="model.safetensors differs from the file that was written"):
        JanusFlowModel.from_pretrained(path)


def test_checkpoint_from_another_model_is_rejected(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 64}))
    with pytest.raises(ValueError, match="not a JanusFlow checkpoint"):
        JanusFlowModel.from_pretrained(tmp_path)


def test_missing_files_name_what_is_expected(tmp_path, model):
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        JanusFlowModel.from_pretrained(tmp_path)
    model.config.to_json_file(tmp_path / "config.json")
    with pytest.raises(FileNotFoundError, match="has no model.safetensors or model.safetensors.index.json"):
        JanusFlowModel.from_pretrained(tmp_path)


def test_compare_state_dicts_treats_repa_head_as_optional():
    expected = {"a": (2,), "repa_head.mlp.0.weight": (4, 2)}
    assert compare_state_dicts(expected, {"a": (2,)}) == []
    assert compare_state_dicts(expected, {"a": (3,)}) == ["  shape mismatches (1):\n    a: checkpoint [3] vs model [2]"]
