"""params.yaml values are type-checked where they are read: a wrong type names the key, the type and the value."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import parsed, repo_params

from janusflow.config import tiny_config
from settings.data import ShardConfig
from settings.params import load_params
from settings.sampling import SamplingSettings
from settings.typed import SettingsError, check_value, from_section

REPO_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


@pytest.mark.parametrize(("value", "hint", "expected"), [
    ([0.9, 0.95], tuple[float, float], (0.9, 0.95)),
    (["sha1", "xxh64"], tuple[str, ...], ("sha1", "xxh64")),
    (3, float, 3.0),
    (None, int | None, None),
    (7, int | None, 7),
    ("64mb", str | int, "64mb"),
    ({"F": "judge {images}"}, dict[str, str], {"F": "judge {images}"}),
    ("artifacts/x", Path, Path("artifacts/x")),
])
def test_values_of_the_right_type_come_back_in_the_form_the_code_uses(value, hint, expected):
    assert check_value(value, hint, "key") == expected
    assert type(check_value(value, hint, "key")) is type(expected)


@pytest.mark.parametrize(("value", "hint", "message"), [
    ("false", bool, "x.repa is 'false' (str); expected true or false."),
    ("sha1", tuple[str, ...], "x.repa is 'sha1' (str); expected a list of strings."),
    (True, int, "x.repa is True (bool); expected an integer."),
    (2.5, int, "x.repa is 2.5 (float); expected an integer."),
    ("1e-3", float, "x.repa is '1e-3' (str); expected a number."),
    ([1, "a"], tuple[int, ...], "x.repa[1] is 'a' (str); expected an integer."),
    ([0.9], tuple[float, float], "x.repa is [0.9] (list); expected a list of 2 numbers."),
    ("2", int | None, "x.repa is '2' (str); expected an integer or null."),
])
def test_a_wrong_type_names_the_key_the_expected_type_and_the_value(value, hint, message):
    with pytest.raises(SettingsError) as error:
        check_value(value, hint, "x.repa")
    assert str(error.value) == message


def test_sections_check_every_key():
    with pytest.raises(SettingsError, match=r"^data.shards.hashes is 'sha1' \(str\); expected a list of strings.$"):
        from_section(ShardConfig, {"hashes": "sha1"}, "data.shards")
    with pytest.raises(SettingsError, match=r"^data.shards is \['zstd'\]; expected a mapping with keys"):
        from_section(ShardConfig, ["zstd"], "data.shards")
    full = {"und_image_size": 64, "gen_image_size": 64, "compression": "zstd", "hashes": ["sha1"],
            "size_limit": 1 << 20, "validation_fraction": 0.0}
    assert from_section(ShardConfig, full, "s").hashes == ("sha1",)
    with pytest.raises(SettingsError, match=r"^s is missing key\(s\) \['compression'\]"):
        from_section(ShardConfig, {k: v for k, v in full.items() if k != "compression"}, "s")


def test_variants_and_stages_check_their_types():
    params = repo_params()
    params["variants"]["C"]["repa"] = "false"
    with pytest.raises(SettingsError, match=r"^params.yaml: variants.C.repa is 'false' \(str\); expected true or false.$"):
        parsed(params)
    params = repo_params()
    tiny = params["profiles"]["tiny"]
    tiny["stages"]["stage2"]["steps"] = "300"
    with pytest.raises(SettingsError, match=r"^params.yaml: profiles.tiny.stages.stage2.steps is '300' \(str\); "
                                            r"expected an integer.$"):
        parsed(params)
    tiny["stages"]["stage2"]["steps"] = 300
    tiny["stages"]["stage2"]["mixture"][0]["ratio"]["gen"] = "50"
    with pytest.raises(SettingsError, match=r"^params.yaml: profiles.tiny.stages.stage2.mixture\[0\].ratio.gen is '50' "
                                            r"\(str\); expected a "):
        parsed(params)


def test_foundation_and_sampling_sections_check_their_types():
    params = repo_params()
    params["profiles"]["tiny"]["foundations"]["vae"]["channels"] = "16,32"
    with pytest.raises(SettingsError, match=r"^params.yaml: profiles.tiny.foundations.vae.channels is '16,32' \(str\); "
                                            r"expected a list of integers.$"):
        parsed(params)
    params = repo_params()
    assert parsed(params).sampling == SamplingSettings(steps=30, cfg_weight=2.0, template="sft")
    params["sampling"]["steps"] = 30.5
    with pytest.raises(SettingsError, match=r"^params.yaml: sampling.steps is 30.5 \(float\); expected an integer.$"):
        parsed(params)
    del params["sampling"]["steps"]
    with pytest.raises(SettingsError, match=r"^params.yaml: sampling is missing key\(s\) \['steps'\]; valid keys are "
                                            r"\['cfg_weight', "):
        parsed(params)


def test_model_and_checks_sections_check_their_types():
    params = repo_params()
    assert tiny_config(parsed(params).select("tiny").model, 448).language_config["hidden_size"] == 64
    params["profiles"]["tiny"]["model"]["hidden"] = "64"
    with pytest.raises(SettingsError, match=r"^params.yaml: profiles.tiny.model.hidden is '64' \(str\); expected an "
                                            r"integer.$"):
        parsed(params)
    params = repo_params()
    params["profiles"]["tiny"]["model"]["hiden"] = 64
    with pytest.raises(SettingsError, match=r"^params.yaml: profiles.tiny.model has unknown key\(s\) \['hiden'\]; "
                                            r"valid keys are \['chat_"):
        parsed(params)
    params = repo_params()
    params["profiles"]["tiny"]["checks"]["quarantine_rate"]["min"] = "1%"
    with pytest.raises(SettingsError, match=r"^params.yaml: profiles.tiny.checks.quarantine_rate.min is '1%' \(str\); "
                                            r"expected a number.$"):
        parsed(params)


def test_the_params_file_is_parsed_once_per_process_and_again_when_it_changes(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text((REPO_PARAMS).read_text())
    first = load_params(path)
    assert load_params(path) is first and load_params(str(path)) is first
    path.write_text(REPO_PARAMS.read_text().replace("seeds: [0]", "seeds: [0, 1]"))
    again = load_params(path)
    assert again is not first and again.seeds == (0, 1) and first.seeds == (0,)
    assert [run.name for run in again.runs()][:3] == ["A-0", "A-1", "B-0"]


def test_the_launcher_must_run_a_module():
    params = repo_params()
    assert parsed(params).launcher == "python -m"
    params["launcher"] = "composer -n 8"
    with pytest.raises(SettingsError, match=r"^params.yaml: launcher in params.yaml is 'composer -n 8'; give a command "
                                            r"that runs a Python module and ends in -m: python -m, composer -n 8 -m"):
        parsed(params)
