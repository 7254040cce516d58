"""The main job's demo runs end to end from params.yaml and writes what it says it writes."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from janusflow.cli.demo import main
from janusflow.modeling import JanusFlowModel
from settings.params import load_params
from settings.typed import SettingsError


def test_demo_writes_model_images_and_chat(tmp_path, capsys):
    main(["--out", str(tmp_path), "--steps", "2"])
    printed = capsys.readouterr().out
    assert f"outputs written to {tmp_path.resolve()}" in printed
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["cfg_weight"] == 2.0
    assert [Image.open(tmp_path / name).size for name in summary["images"]] == [(64, 64)] * 4
    assert Image.open(tmp_path / "samples_grid.png").size == (512, 128)
    chat = json.loads((tmp_path / "chat.json").read_text())
    assert chat["question"].startswith("<image_placeholder>") and isinstance(chat["answer"], str)
    model = JanusFlowModel.from_pretrained(tmp_path / "model")
    assert sum(p.numel() for p in model.parameters()) == summary["parameters"]


def test_params_profiles_are_checked(tmp_path):
    params = load_params()
    assert params.select("tiny").model.image_size == 64
    with pytest.raises(SettingsError, match=r"profile 'huge' is not in params.yaml; choose one of \['paper', 'tiny'\]"):
        params.select("huge")
    (tmp_path / "p.yaml").write_text("seed: 1\n")
    with pytest.raises(ValueError, match="has no 'profiles' section"):
        load_params(tmp_path / "p.yaml")
