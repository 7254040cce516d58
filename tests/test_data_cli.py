"""The data commands as DVC and Dagster run them: params.yaml in, lineage folders out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import parsed, repo_params, small_data_params

from data.cli import main
from settings.params import load_params
from settings.typed import SettingsError

REPO_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


def test_the_three_commands_build_the_lineage(tmp_path, capsys):
    params = str(small_data_params(tmp_path))
    for command in ("shapes-world", "filter", "shards"):
        assert main([command, "--params", params, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "| gen | 56 |" in out and "hashes verified" in out  # 40 clean + 16 broken generation records
    summary = json.loads((tmp_path / "shards/summary.json").read_text())
    report = json.loads((tmp_path / "manifests/report.json").read_text())
    assert {t: v["samples"] + v["validation"]["samples"] for t, v in summary["tasks"].items()} == {
        t: v["kept"] for t, v in report["tasks"].items()}
    assert summary["code_version"] and report["code_version"]


def test_commands_run_the_profile_params_yaml_selects_unless_told(tmp_path):
    path = small_data_params(tmp_path)
    params = yaml.safe_load(path.read_text())
    params["profiles"]["small"] = params["profiles"].pop("tiny")
    params["profile"] = "small"
    path.write_text(yaml.safe_dump(params))
    assert load_params(path).select().name == "small" and load_params(path).select("paper").name == "paper"
    assert main(["shapes-world", "--params", str(path), "--no-progress"]) == 0
    assert (tmp_path / "raw" / "gen").is_dir()
    with pytest.raises(SettingsError, match="profile 'tiny' is not in"):
        main(["shapes-world", "--params", str(path), "--profile", "tiny", "--no-progress"])
    params["profile"] = ""
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(SettingsError, match="profile '' is not in params.yaml; choose one of"):
        load_params(path)
    with pytest.raises(SystemExit) as usage:  # the command names the problem instead of a traceback
        main(["shapes-world", "--params", str(path), "--no-progress"])
    assert usage.value.code == 2


def test_both_profiles_of_the_repository_params_parse():
    tiny = load_params(REPO_PARAMS).select("tiny").data
    paper = load_params(REPO_PARAMS).select("paper").data
    assert tiny.shapes_world is not None and paper.shapes_world is None
    assert {s.feeds for s in tiny.sources} == {s.feeds for s in paper.sources} == {"und", "gen", "text"}
    assert paper.shards.und_image_size == 384 and tiny.shards.hashes == ("sha1", "xxh64")


def test_bad_data_settings_name_the_key():
    bad = repo_params()
    bad["profiles"]["tiny"]["data"]["shard"] = {}
    with pytest.raises(SettingsError, match="data has unknown key\\(s\\) \\['shard'\\]; valid keys are"):
        parsed(bad)
    bad = repo_params()
    bad["profiles"]["tiny"]["data"]["filters"] = {"gen": {"min_size": 3}}
    with pytest.raises(SettingsError, match="data.filters.gen has unknown key\\(s\\) \\['min_size'\\]"):
        parsed(bad)
    with pytest.raises(SettingsError, match="profile 'huge' is not in"):
        load_params(REPO_PARAMS).select("huge")
