"""params.yaml values are type-checked where they are read: a wrong type names the key, the type and the value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from data.settings import SettingsError, check_value, from_section
from data.shards import ShardConfig
from janusflow.config import tiny_config_from_section
from janusflow.foundations.settings import FoundationSettings
from janusflow.params import SamplingSettings, sampling_settings
from janusflow.training.stages import load_stage
from janusflow.training.variants import load_variants

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
    assert from_section(ShardConfig, {"hashes": ["sha1"], "size_limit": 1 << 20}, "s").hashes == ("sha1",)


def test_variants_and_stages_check_their_types():
    params = yaml.safe_load(REPO_PARAMS.read_text())
    params["variants"]["C"]["repa"] = "false"
    with pytest.raises(SettingsError, match=r"^variants.C.repa is 'false' \(str\); expected true or false.$"):
        load_variants(params)
    tiny = params["profiles"]["tiny"]
    tiny["stages"]["stage2"]["steps"] = "300"
    with pytest.raises(SettingsError, match=r"^stages.stage2.steps is '300' \(str\); expected an integer.$"):
        load_stage(tiny, "stage2")
    tiny["stages"]["stage2"]["steps"] = 300
    tiny["stages"]["stage2"]["mixture"][0]["ratio"]["gen"] = "50"
    with pytest.raises(SettingsError, match=r"^stages.stage2.mixture\[0\].ratio.gen is '50' \(str\); expected a "):
        load_stage(tiny, "stage2")


def test_foundation_and_sampling_sections_check_their_types():
    params = yaml.safe_load(REPO_PARAMS.read_text())
    profile = {"seed": 0, **params["profiles"]["tiny"]}
    profile["foundations"]["vae"]["channels"] = "16,32"
    with pytest.raises(SettingsError, match=r"^foundations.vae.channels is '16,32' \(str\); expected a list of "
                                            r"integers.$"):
        FoundationSettings.from_profile(profile)
    assert sampling_settings(params) == SamplingSettings(steps=30, cfg_weight=2.0, template="sft")
    params["sampling"]["steps"] = 30.5
    with pytest.raises(SettingsError, match=r"^sampling.steps is 30.5 \(float\); expected an integer.$"):
        sampling_settings(params)
    del params["sampling"]["steps"]
    with pytest.raises(SettingsError, match=r"^sampling is missing key\(s\) \['steps'\]; valid keys are \['cfg_weight', "):
        sampling_settings(params)


def test_model_and_checks_sections_check_their_types():
    params = yaml.safe_load(REPO_PARAMS.read_text())
    model = dict(params["profiles"]["tiny"]["model"])
    assert tiny_config_from_section(model, 448).language_config["hidden_size"] == 64
    with pytest.raises(SettingsError, match=r"^model.hidden is '64' \(str\); expected an integer.$"):
        tiny_config_from_section({**model, "hidden": "64"}, 448)
    with pytest.raises(SettingsError, match=r"^model has unknown key\(s\) \['hiden'\]; valid keys are \['chat_"):
        tiny_config_from_section({"hiden": 64}, 448)
    with pytest.raises(SettingsError, match=r"^checks.quarantine_rate.min is '1%' \(str\); expected a number.$"):
        check_value({"quarantine_rate": {"min": "1%"}}, dict[str, dict[str, float]], "checks")
