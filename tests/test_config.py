"""The config mirrors the official config.json, builds the official layout, and rejects unknown fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from janusflow.config import ConfigError, JanusFlowConfig, official_janusflow_1_3b_config
from janusflow.modeling import JanusFlowModel

INVENTORY = Path(__file__).resolve().parents[1] / "evals" / "reference" / "janusflow_1.3b_state_dict_inventory.json"


def _inventory() -> dict:
    if not INVENTORY.is_file():
        pytest.fail(f"reference inventory not found at {INVENTORY}; restore it with git checkout -- evals/reference.")
    return json.loads(INVENTORY.read_text())


def test_official_config_builds_every_checkpoint_key_and_shape_on_meta():
    inventory = _inventory()
    config = JanusFlowConfig.from_dict(inventory["config"], source="inventory config")
    with torch.device("meta"):
        model = JanusFlowModel(config)
    ours = {k: list(v.shape) for k, v in model.state_dict().items() if not k.startswith("repa_head.")}
    assert ours == inventory["state_dict"]
    assert len(ours) == 587
    assert sum(torch.Size(s).numel() for s in ours.values()) == inventory["num_parameters"] == 2_046_367_504
    assert next(model.parameters()).is_meta


def test_builtin_official_config_equals_the_released_one():
    inventory = _inventory()
    ours = official_janusflow_1_3b_config().to_dict()
    released = inventory["config"]
    for key in ("vision_und_enc_config", "vision_gen_enc_config", "vision_gen_dec_config"):
        assert ours[key] == released[key]
    for key, value in released["language_config"].items():
        assert ours["language_config"][key] == value


def test_config_round_trips_through_json(tmp_path):
    config = official_janusflow_1_3b_config()
    config.to_json_file(tmp_path / "config.json")
    again = JanusFlowConfig.from_json_file(tmp_path / "config.json")
    assert again.to_dict() == config.to_dict()
    assert again.und_encoder_spec().num_tokens == 576


def _raw() -> dict:
    return official_janusflow_1_3b_config().to_dict()


def test_unknown_top_level_field_is_named_with_the_valid_ones():
    raw = _raw() | {"hiden_size": 3}
    with pytest.raises(ConfigError, match=r"unknown field\(s\) \['hiden_size'\]. Valid fields are \[.*'language_config'"):
        JanusFlowConfig.from_dict(raw)


def test_unknown_vision_param_is_named():
    raw = _raw()
    raw["vision_gen_dec_config"]["params"]["upsample"] = 1
    with pytest.raises(ConfigError, match=r"vision_gen_dec_config.params: unknown field\(s\) \['upsample'\]"):
        JanusFlowConfig.from_dict(raw)


def test_unknown_language_field_is_named():
    raw = _raw()
    raw["language_config"]["num_layers"] = 2
    with pytest.raises(ConfigError, match=r"language_config: unknown field\(s\) \['num_layers'\]"):
        JanusFlowConfig.from_dict(raw)


def test_config_of_another_model_is_rejected():
    with pytest.raises(ConfigError, match="model_type is 'llama', not 'multi_modality'; this is not a JanusFlow"):
        JanusFlowConfig.from_dict({"model_type": "llama", "hidden_size": 8})


def test_wrong_vision_class_is_rejected():
    raw = _raw()
    raw["vision_gen_enc_config"]["cls"] = "VQModel"
    with pytest.raises(ConfigError, match="vision_gen_enc_config.cls is 'VQModel'; JanusFlow expects 'ShallowUViTEncoder'"):
        JanusFlowConfig.from_dict(raw)


def test_inconsistent_sizes_are_rejected():
    raw = _raw()
    raw["vision_gen_enc_config"]["params"]["hidden_size"] = 1024
    with pytest.raises(ConfigError, match="hidden_size is 1024 but language_config.hidden_size is 2048"):
        JanusFlowConfig.from_dict(raw)
    raw = _raw()
    raw["repa_config"]["layer"] = 30
    with pytest.raises(ConfigError, match="repa_config.layer is 30; it must be between 1 and the LLM's 24 layers"):
        JanusFlowConfig.from_dict(raw)


def test_official_config_without_repa_config_loads_without_a_repa_head():
    """Official config.json files never carry repa_config; a shallow LLM must not fail REPA's default layer 6."""
    raw = _inventory()["config"]
    assert "repa_config" not in raw
    raw = json.loads(json.dumps(raw))
    raw["language_config"]["num_hidden_layers"] = 4
    config = JanusFlowConfig.from_dict(raw, source="shallow official config")
    assert config.repa_config.enabled is False
    assert JanusFlowConfig.from_dict(config.to_dict()).repa_config.enabled is False
    with torch.device("meta"):
        assert JanusFlowModel(config).repa_head is None
    raw["repa_config"] = {"enabled": True, "layer": 6, "hidden_size": 2048}
    with pytest.raises(ConfigError, match="repa_config.layer is 6; it must be between 1 and the LLM's 4 layers"):
        JanusFlowConfig.from_dict(raw)


def test_unknown_encoder_name_needs_explicit_sizes():
    raw = _raw()
    raw["vision_und_enc_config"]["params"]["model_name"] = "my_vit"
    with pytest.raises(ConfigError, match=r"explicit size field\(s\) \['width', 'layers', 'heads', 'patch_size', 'mlp_ratio'\]"):
        JanusFlowConfig.from_dict(raw)


def test_small_config_sets_aligner_sizes_from_sub_configs(tiny_config):
    model = JanusFlowModel(tiny_config)
    spec = tiny_config.und_encoder_spec()
    assert model.vision_und_enc_aligner.weight.shape == (32, spec.width)
    assert model.vision_gen_enc_aligner.weight.shape == (32, tiny_config.gen_enc_channels)
    assert model.vision_gen_dec_aligner.weight.shape == (tiny_config.gen_dec_in_channels, 32)
    assert model.repa_head.mlp[-1].weight.shape == (spec.width, tiny_config.repa_config.hidden_size)
    assert spec.num_tokens == 64


def test_chat_system_prompt_is_kept_only_when_set_and_must_be_text(tmp_path):
    assert "chat_system_prompt" not in _raw()  # the released layout, unchanged
    silent = JanusFlowConfig.from_dict(_raw() | {"chat_system_prompt": ""})
    silent.to_json_file(tmp_path / "config.json")
    assert JanusFlowConfig.from_json_file(tmp_path / "config.json").chat_system_prompt == ""
    with pytest.raises(ConfigError, match=r"chat_system_prompt is 0; give a string"):
        JanusFlowConfig.from_dict(_raw() | {"chat_system_prompt": 0})
