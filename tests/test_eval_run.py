"""One variant's whole evaluation on the tiny profile: every benchmark from an exported checkpoint, metrics.json
and tables, resuming without redoing work, fresh results for new weights, and tasks a variant never trained."""

from __future__ import annotations

import json

import pytest
import yaml

from data.integrity import record_digests
from evals.cli import main
from janusflow.checkpoint import DIGESTS_NAME
from janusflow.processor import JanusFlowProcessor
from janusflow.training.run import StageRun
from settings.params import load_params


def export(params, variant: str) -> None:
    """What stage 3 exports, made directly from the foundations (untrained JanusFlow parts)."""
    run = StageRun.from_params(params, "tiny", variant, "stage1")
    tokenizer = run.tokenizer()
    model = run.initial_model(len(tokenizer))
    JanusFlowProcessor.for_model(tokenizer, model.config)
    folder = run.settings.layout.export(run.key)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


@pytest.fixture()
def eval_params(pipeline_params, tmp_path):
    params = yaml.safe_load(pipeline_params.read_text())
    tiny = params["profiles"]["tiny"]
    tiny["training"]["out"] = str(tmp_path / "training")
    tiny["evaluation"]["out"] = str(tmp_path / "evals")
    tiny["evaluation"]["generation"].update(
        sampling={"steps": 2}, batch_size=16, geneval_per_tag=1, dpg_items=2, fid_images=24,
        fid_reference=f"{tiny['data']['paths']['raw']}/eval/images", sweep_cfg_weights=[1.0, 3.0], sweep_steps=[2],
        sweep_prompts=8)
    tiny["evaluation"]["understanding"].update(questions=8, batch_size=16, max_new_tokens=3)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    for variant in ("D", "F"):
        export(path, variant)
    return path


def test_a_variant_is_evaluated_resumed_and_tabled(eval_params, tmp_path, capsys):
    with pytest.warns(UserWarning, match=r"has 24 images but the features have 32 dimensions.*at least 33"):
        assert main(["variant", "--variant", "F", "--params", str(eval_params), "--sweep", "--no-progress"]) == 0
    out = tmp_path / "evals"
    metrics = json.loads((out / "F" / "seed0" / "metrics.json").read_text())
    summary = metrics["summary"]
    assert set(summary) >= {"geneval_overall", "dpg_score", "fid", "kid", "clip_score", "vqa", "pope", "mmbench"}
    assert all(summary[k] is not None for k in ("geneval_overall", "dpg_score", "fid", "vqa", "pope", "mmbench"))
    assert 0.0 <= summary["geneval_overall"] <= 100.0 and summary["fid"] > 0
    generation = metrics["generation"]
    assert generation["geneval"]["images"] == 6 * 1 * 4 and generation["dpg"]["images"] == 2 * 4
    assert generation["fid"]["extractor"] == "tiny_understanding_encoder" and generation["fid"]["reliable"] is False
    assert generation["detector"]["exact_rate"] >= 0.95
    bounds = generation["bounds"]                                   # every generation number has its floor and ceilings
    assert bounds["ceiling"]["geneval"]["overall"] == 100.0 and bounds["ceiling"]["dpg"]["dpg_score"] >= 99.0
    assert bounds["floor"]["geneval"]["overall"] < 100.0 and "fid" not in bounds["floor"]
    assert bounds["through_vae"]["geneval"]["overall"] <= 100.0 and bounds["through_vae"]["fid"] >= 0
    low, high = generation["geneval"]["interval_95"]["overall"]
    assert low <= generation["geneval"]["overall"] <= high
    assert len(list((out / "F" / "seed0" / "generation" / "dpg" / "grids").glob("*.png"))) == 2
    assert [(r["cfg_weight"], r["steps"]) for r in metrics["sweep"]] == [(1.0, 2), (3.0, 2)]
    assert metrics["understanding"]["pope"]["questions"] == 3 * 8
    for benchmark in ("vqa", "pope", "mmbench"):                       # every number comes with its control
        control = metrics["understanding"][benchmark]["shuffled"]
        assert control["questions"] == metrics["understanding"][benchmark]["questions"]
        assert summary[f"{benchmark}_shuffled"] == control["score"]
        assert (out / "F" / "seed0" / "understanding" / benchmark / "shuffled" / "predictions.jsonl").is_file()
    assert "F (tiny" in capsys.readouterr().out

    assert main(["variant", "--variant", "F", "--params", str(eval_params), "--no-progress"]) == 0
    again = json.loads((out / "F" / "seed0" / "metrics.json").read_text())
    assert all(step["sampled"] == 0 for step in again["generation"]["sampling"].values())
    assert again["summary"] == summary

    assert main(["variant", "--variant", "D", "--params", str(eval_params), "--no-progress"]) == 0
    only_und = json.loads((out / "D" / "seed0" / "metrics.json").read_text())
    assert only_und["generation"] is None and only_und["summary"]["fid"] is None and only_und["summary"]["vqa"] >= 0
    assert main(["tables", "--params", str(eval_params)]) == 0
    assert "ours D" in (out / "tables" / "table4_understanding.md").read_text()


def test_new_weights_are_evaluated_afresh(eval_params, tmp_path):
    args = ["variant", "--variant", "D", "--params", str(eval_params), "--no-progress"]
    assert main(args) == 0
    predictions = tmp_path / "evals" / "D" / "seed0" / "understanding" / "vqa" / "predictions.jsonl"
    predictions.write_text(predictions.read_text().replace('"prediction": "', '"prediction": "stale '))
    assert main(args) == 0 and "stale" in predictions.read_text()          # same weights: finished work kept
    export(eval_params, "D")                                               # same path, new weights (new seed state)
    weights = tmp_path / "training" / "D" / "seed0" / "stage3" / "export" / "model.safetensors"
    import safetensors.torch as st

    tensors = st.load_file(weights)
    tensors["beg_of_und_embed"] = tensors["beg_of_und_embed"] + 1.0
    st.save_file(tensors, weights)
    record_digests(weights.parent, [weights.name], DIGESTS_NAME)   # new weights, exported properly
    assert main(args) == 0 and "stale" not in predictions.read_text()


def test_a_missing_checkpoint_names_the_stage_to_run(eval_params, capsys):
    assert main(["variant", "--variant", "A", "--params", str(eval_params), "--no-progress"]) == 1
    assert "train it first (python -m janusflow.training.cli stage3" in capsys.readouterr().err


def test_vae_ceiling_reports_what_the_vae_foundation_reports_and_the_bounds_through_it(eval_params, capsys):
    vae = load_params(eval_params).select("tiny").foundations.directory("vae")
    assert main(["vae-ceiling", "--vae", str(vae), "--params", str(eval_params)]) == 0
    found = json.loads(capsys.readouterr().out)
    recorded = json.loads((vae / "metrics.json").read_text())["metrics"]
    assert found["heldout_detected_exactly"] == recorded["heldout_detected_exactly"]
    assert found["heldout_psnr_db"] == recorded["heldout_psnr_db"]
    assert 0 <= found["geneval"]["overall"] <= 100 and found["fid"] >= 0 and "clip_cosine" in found
    assert main(["vae-ceiling", "--params", str(eval_params)]) == 1
    assert "vae-ceiling needs --vae" in capsys.readouterr().err
