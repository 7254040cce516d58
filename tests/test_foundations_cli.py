"""The foundation commands on the session's small world: every builder runs from the shards, writes its
metrics with the gate verdict, and a failing gate fails the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from data.settings import SettingsError, load_profile
from data.shapes.conversations import CATEGORIES
from janusflow.foundations.cli import main
from janusflow.foundations.reading import ReadingPhase
from janusflow.foundations.settings import FoundationSettings

REPO_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


def test_builders_record_metrics_and_a_failing_gate_fails_the_command(quick_params, tmp_path, capsys):
    params = str(quick_params(psnr_gate=60.0))
    assert main(["all", "--params", params, "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "vae: quality gates FAILED: vae.heldout_psnr_db" in out and "tokenizer: quality gates passed" in out
    root = tmp_path / "foundations"
    for name in ("tokenizer", "llm", "encoder", "vae"):
        report = json.loads((root / name / "metrics.json").read_text())
        assert report["passed"] == (name != "vae") and report["code_version"]
    assert (root / "llm/model.safetensors").is_file() and (root / "vae/diffusion_pytorch_model.safetensors").is_file()
    assert json.loads((root / "encoder/metrics.json").read_text())["metrics"]["patch_grid"] == 8
    llm = json.loads((root / "llm/metrics.json").read_text())["metrics"]
    assert {"reading_color", "reading_count", "reading_existence", "reading_position", "reading_mean"} <= set(llm)
    for name, gates in FoundationSettings.from_profile(load_profile(REPO_PARAMS, "tiny")).gates.items():
        reported = json.loads((root / name / "metrics.json").read_text())["metrics"]
        assert set(gates) <= set(reported), f"params.yaml gates {name} on metrics it does not report"


def test_llm_needs_the_tokenizer_first(quick_params):
    params = str(quick_params())
    with pytest.raises(FileNotFoundError, match="no tokenizer in .*build it first: python -m janusflow.foundations.cli tokenizer"):
        main(["llm", "--params", params, "--no-progress"])


def test_foundation_settings_are_checked():
    profile = load_profile(REPO_PARAMS, "tiny")
    settings = FoundationSettings.from_profile(profile)
    assert settings.vae_channels == (16, 32, 32) and settings.llm_training.seed == profile["seed"]
    bad = {**profile, "foundations": {**profile["foundations"], "vae": {**profile["foundations"]["vae"], "chanels": 1}}}
    with pytest.raises(SettingsError, match="foundations.vae has unknown key\\(s\\) \\['chanels'\\]"):
        FoundationSettings.from_profile(bad)
    unweighted = {k: v for k, v in profile["foundations"]["vae"].items() if k != "object_weight"}
    with pytest.raises(SettingsError, match="foundations.vae needs object_weight"):
        FoundationSettings.from_profile({**profile, "foundations": {**profile["foundations"], "vae": unweighted}})
    assert settings.vae_object_weight == 1.0
    bad = {**profile, "foundations": {**profile["foundations"], "llm": {"sequence_length": 8}}}
    with pytest.raises(SettingsError, match="foundations.llm needs initializer_range"):
        FoundationSettings.from_profile(bad)
    assert settings.llm_initializer_range == 0.125
    bad = {**profile, "foundations": {**profile["foundations"], "llm": {"sequence_length": 8, "initializer_range": 0.1,
                                                                        "training": {"step": 1}}}}
    with pytest.raises(SettingsError, match="foundations.llm.training has unknown key\\(s\\) \\['step'\\]"):
        FoundationSettings.from_profile(bad)
    assert settings.llm_reading_batch_size == 32
    llm = profile["foundations"]["llm"]
    bad = {**profile, "foundations": {**profile["foundations"], "llm": {**llm, "reading": {"batch": 4}}}}
    with pytest.raises(SettingsError, match="foundations.llm.reading is \\{'batch': 4\\}; give \\{batch_size: N, "):
        FoundationSettings.from_profile(bad)
    phases = [{"steps": 1000, "categories": ["color"]}, {"categories": list(CATEGORIES)}]
    assert settings.llm_reading_curriculum == (ReadingPhase(("color",), 1000), ReadingPhase(CATEGORIES))
    assert llm["reading"]["curriculum"] == phases
    plain = {**profile, "foundations": {**profile["foundations"], "llm": {**llm, "reading": {"batch_size": 4}}}}
    assert FoundationSettings.from_profile(plain).llm_reading_curriculum == (ReadingPhase(CATEGORIES),)
    endless = {**profile, "foundations": {**profile["foundations"], "llm": {
        **llm, "reading": {"batch_size": 4, "curriculum": [{"categories": ["color"]}, {"categories": ["count"]}]}}}}
    with pytest.raises(SettingsError, match="reading.curriculum is .*phase 0 has steps=None"):
        FoundationSettings.from_profile(endless)
    text_only = {**profile, "foundations": {**profile["foundations"], "llm": {**llm, "reading": {"batch_size": 0}}}}
    assert FoundationSettings.from_profile(text_only).llm_reading_batch_size == 0
