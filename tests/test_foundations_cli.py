"""The foundation commands on the session's small world: every builder runs from the shards, writes its
metrics with the gate verdict, and a failing gate fails the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import parsed, repo_params

from data.shapes.conversations import CATEGORIES
from janusflow.foundations.cli import main
from settings.foundations import ReadingPhase
from settings.params import load_params
from settings.typed import SettingsError

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
    for name, gates in load_params(REPO_PARAMS).select("tiny").foundations.gates.items():
        reported = json.loads((root / name / "metrics.json").read_text())["metrics"]
        assert set(gates) <= set(reported), f"params.yaml gates {name} on metrics it does not report"


def test_llm_needs_the_tokenizer_first(quick_params):
    params = str(quick_params())
    with pytest.raises(FileNotFoundError, match="no tokenizer in .*build it first: python -m janusflow.foundations.cli tokenizer"):
        main(["llm", "--params", params, "--no-progress"])


def test_foundation_settings_are_checked():
    params = load_params(REPO_PARAMS)
    settings = params.select("tiny").foundations
    assert settings.vae.channels == (16, 32, 32) and settings.llm.training.seed == params.seed
    raw = repo_params()
    foundations = raw["profiles"]["tiny"]["foundations"]

    def rejected(section: str, value, message: str) -> None:
        changed = repo_params()
        changed["profiles"]["tiny"]["foundations"][section] = value
        with pytest.raises(SettingsError, match=message):
            parsed(changed)

    rejected("vae", {**foundations["vae"], "chanels": 1}, "foundations.vae has unknown key\\(s\\) \\['chanels'\\]")
    rejected("vae", {k: v for k, v in foundations["vae"].items() if k != "object_weight"},
             "foundations.vae is missing key\\(s\\) \\['object_weight'\\]")
    assert settings.vae.object_weight == 1.0
    rejected("llm", {**foundations["llm"], "initializer_range": None},
             "foundations.llm.initializer_range is None \\(NoneType\\); expected a number")
    assert settings.llm.initializer_range == 0.125
    rejected("llm", {**foundations["llm"], "training": {"step": 1}},
             "foundations.llm.training has unknown key\\(s\\) \\['step'\\]")
    assert settings.llm.reading.batch_size == 32
    llm = foundations["llm"]
    rejected("llm", {**llm, "reading": {"batch": 4}}, "foundations.llm.reading has unknown key\\(s\\) \\['batch'\\]")
    phases = [{"steps": 1000, "categories": ["color"]}, {"steps": None, "categories": list(CATEGORIES)}]
    assert settings.llm.reading.curriculum == (ReadingPhase(("color",), 1000), ReadingPhase(CATEGORIES))
    assert llm["reading"]["curriculum"] == phases
    rejected("llm", {**llm, "reading": {"batch_size": 4, "curriculum": [{"steps": None, "categories": ["color"]},
                                                                         {"steps": None, "categories": ["count"]}]}},
             "reading.*phase 0 has steps=None")
    rejected("llm", {**llm, "reading": {"batch_size": 4, "curriculum": [{"steps": None, "categories": ["colour"]}]}},
             "categories\\[0\\] is 'colour' \\(str\\); expected one of 'color', 'count', 'position', 'existence'")
    text_only = repo_params()
    text_only["profiles"]["tiny"]["foundations"]["llm"]["reading"]["batch_size"] = 0
    assert parsed(text_only).select("tiny").foundations.llm.reading.batch_size == 0
