"""Stages trained with Composer on the session's small world: the stage chain freezes what Table 1 freezes and
exports EMA weights in the official format; a run killed with SIGKILL resumes to the same weights; a
non-finite loss stops the run and keeps the last good checkpoint; missing upstream weights name their stage."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import torch
import yaml
from composer.core import Callback, State
from composer.loggers import Logger
from conftest import object_store
from huggingface_hub import ModelCard
from PIL import Image
from safetensors.torch import load_file
from transformers import LlamaForCausalLM

from data.mixture import MixtureError
from janusflow.hub import CARD_NAME
from janusflow.modeling import JanusFlowModel
from janusflow.processor import PREPROCESSOR_CONFIG, PROCESSOR_CONFIG
from janusflow.training.callbacks import NonFiniteLossError
from janusflow.training.cli import main
from janusflow.training.latents import main as build_latents
from janusflow.training.run import MissingUpstreamError, StageRun, claim_checkpoints, run_fingerprint, run_stage
from orchestration.nodes import free_port

KILL_SCRIPT = """
import os, signal, sys
from composer.core import Callback
from janusflow.training.run import StageRun, run_stage

class KillAt(Callback):
    def batch_end(self, state, logger):
        if int(state.timestamp.batch) == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)

run_stage(StageRun.from_params(sys.argv[1], "tiny", sys.argv[3], sys.argv[4]), "cpu", [KillAt()])
"""


def with_out(params: Path, out: Path) -> Path:
    """A copy of ``params`` whose training output goes to ``out`` (foundations and data shared)."""
    raw = yaml.safe_load(params.read_text())
    raw["profiles"]["tiny"]["training"]["out"] = str(out)
    path = out.parent / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(directory / "model.safetensors")


def test_stages_freeze_per_table_1_and_export_ema_weights(pipeline_params, tmp_path):
    params = with_out(pipeline_params, tmp_path / "chain")
    stage1 = run_stage(StageRun.from_params(params, "tiny", "F", "stage1"), "cpu")
    out = tmp_path / "chain" / "F" / "seed0"
    model = JanusFlowModel.from_pretrained(out / "stage1" / "export")
    foundations = Path(yaml.safe_load(params.read_text())["profiles"]["tiny"]["foundations"]["out"])
    llm = LlamaForCausalLM.from_pretrained(foundations / "llm")
    assert all(torch.equal(a, b) for a, b in zip(model.language_model.state_dict().values(),
                                                 llm.state_dict().values()))  # frozen in stage 1
    assert set(stage1["losses"]) >= {"loss/train/ar", "loss/train/rf", "loss/train/repa", "loss/train/total",
                                     "metrics/val/val_rf"}
    assert stage1["batches"] == 6 and stage1["losses"]["loss/train/total"]["points"] == 6
    assert json.loads((out / "stage1" / "metrics.json").read_text())["trainable_parts"] == stage1["trainable_parts"]
    assert "language_model" not in stage1["trainable_parts"] and "vision_gen_dec_model" in stage1["trainable_parts"]
    assert set(stage1["understanding_alignment"]) == {"relative_error", "object_patches_nearest_own"}
    with Image.open(out / "stage1" / "samples" / "ba6.png") as grid:  # the four sample prompts, 128 px each
        assert grid.size == (4 * 128, 128)

    stage2 = run_stage(StageRun.from_params(params, "tiny", "F", "stage2"), "cpu")
    first, second = weights(out / "stage1" / "export"), weights(out / "stage2" / "export")
    changed = {k.split(".")[0] for k in first if not torch.equal(first[k], second[k])}
    assert "language_model" in changed and "vision_und_enc_model" not in changed
    assert stage2["resumed_at_batch"] == 0 and stage2["batches"] == 6
    assert stage2["understanding_alignment"] is None  # only stage 1 starts the aligner from the fit
    log = (out / "stage2" / "logs" / "log-rank0.txt").read_text()
    assert "loss/train/repa" in log and "metrics/val/val_ar" in log
    assert "throughput/batches_per_sec" in log and "lr-AdamW/group0" in log
    card = ModelCard.load(out / "stage2" / "export" / CARD_NAME)   # the stages so far, chained through the exports
    assert [stage["name"] for stage in card.data.janusflow["stages"]] == ["stage1", "stage2"]
    assert card.data.janusflow["variant"]["name"] == "F" and set(card.data.janusflow["data"]) == {"und", "gen", "text"}
    assert f"| total | {stage2['losses']['loss/train/total']['last10_mean']:.4f} |" in card.text
    assert all((out / "stage2" / "export" / name).is_file() for name in (PROCESSOR_CONFIG, PREPROCESSOR_CONFIG))


def test_a_stage_without_its_upstream_names_the_stage_that_makes_it(pipeline_params, tmp_path):
    params = with_out(pipeline_params, tmp_path / "lonely")
    with pytest.raises(MissingUpstreamError, match="stage3 of variant A starts from .*which stage2 produces; run it "
                                                   "first: python -m janusflow.training.cli stage2 --variant A"):
        run_stage(StageRun.from_params(params, "tiny", "A", "stage3"), "cpu")


def test_a_mixture_without_a_required_stream_says_which_and_how_to_make_it(pipeline_params, tmp_path, capfd):
    raw = yaml.safe_load(pipeline_params.read_text())
    tiny = raw["profiles"]["tiny"]
    shards = tmp_path / "shards"
    (shards / "val").mkdir(parents=True)
    for task in ("und", "gen", "val/und", "val/gen"):  # no text shards; stage 2's first phase mixes 30:50:20
        (shards / task).symlink_to(Path(tiny["data"]["paths"]["shards"]) / task)
    tiny["data"]["paths"]["shards"] = str(shards)
    tiny["training"]["out"] = str(tmp_path / "out")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    assert main(["stage1", "--variant", "F", "--params", str(params), "--device", "cpu"]) == 0
    assert main(["stage2", "--variant", "F", "--params", str(params), "--device", "cpu"]) == 1
    err = capfd.readouterr().err
    assert "mixture 'F-0-stage2-val' needs the 'text' stream (weight 6)" in err and "produce it with the shard stage" in err


def test_a_run_killed_mid_stage_resumes_to_the_same_weights(pipeline_params, tmp_path):
    killed = with_out(pipeline_params, tmp_path / "killed")
    first = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(killed), "5", "F", "stage1"], capture_output=True,
                           text=True)
    assert first.returncode == -9, first.stderr[-2000:]
    checkpoints = tmp_path / "killed" / "F" / "seed0" / "stage1" / "checkpoints"
    assert (checkpoints / "ep0-ba4-rank0.pt").is_file() and not (tmp_path / "killed" / "F" / "seed0" / "stage1" / "export").exists()
    resumed = run_stage(StageRun.from_params(killed, "tiny", "F", "stage1"), "cpu")
    assert resumed["resumed_at_batch"] == 4 and resumed["batches"] == 6
    straight = run_stage(StageRun.from_params(with_out(pipeline_params, tmp_path / "straight"), "tiny", "F", "stage1"),
                         "cpu")
    assert straight["resumed_at_batch"] == 0
    a = weights(tmp_path / "killed" / "F" / "seed0" / "stage1" / "export")
    b = weights(tmp_path / "straight" / "F" / "seed0" / "stage1" / "export")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    curves = [(tmp_path / name / "F" / "seed0" / "stage1" / "losses.csv").read_text().splitlines() for name in ("killed", "straight")]
    assert curves[0][0] == "step,ar,rf,repa,total,val_ar,val_rf,val_repa"
    assert [line.split(",")[0] for line in curves[0][1:]] == ["0", "1", "2", "3", "4", "5"]
    assert curves[0] == curves[1]  # rows before the kill were kept, the rest continued identically
    validated = [line.split(",")[0] for line in curves[0][1:] if line.split(",")[5]]
    assert validated == ["2", "5"]  # after batches 3 and 6; the second evaluation ran in the resumed process


def test_a_changed_setting_discards_finished_checkpoints_instead_of_resuming(pipeline_params, tmp_path):
    params = with_out(pipeline_params, tmp_path / "changed")
    assert run_stage(StageRun.from_params(params, "tiny", "F", "stage1"), "cpu")["batches"] == 6
    raw = yaml.safe_load(params.read_text())
    raw["profiles"]["tiny"]["stages"]["stage1"]["learning_rate"] = 5.0e-4
    params.write_text(yaml.safe_dump(raw))
    again = run_stage(StageRun.from_params(params, "tiny", "F", "stage1"), "cpu")
    assert again["discarded_stale_checkpoints"] is True
    assert again["resumed_at_batch"] == 0 and again["batches"] == 6
    checkpoints = tmp_path / "changed" / "F" / "seed0" / "stage1" / "checkpoints"
    kept = sorted(p.name for p in checkpoints.iterdir())
    run = StageRun.from_params(params, "tiny", "F", "stage1")
    assert claim_checkpoints(run, run_fingerprint(run)) is False  # same settings: kept
    assert sorted(p.name for p in checkpoints.iterdir()) == kept and "ep0-ba6-rank0.pt" in kept


def test_checkpoints_in_a_shared_directory_resume_on_a_machine_without_local_ones(pipeline_params, tmp_path):
    raw = yaml.safe_load(with_out(pipeline_params, tmp_path / "first").read_text())
    raw["profiles"]["tiny"]["training"]["save_folder"] = str(tmp_path / "shared")
    params = tmp_path / "shared.yaml"
    params.write_text(yaml.safe_dump(raw))
    first = run_stage(StageRun.from_params(params, "tiny", "F", "stage1"), "cpu")
    assert Path(first["checkpoints"]).parent == tmp_path / "shared" / "tiny" / "F" / "seed0" / "stage1"
    assert (Path(first["checkpoints"]) / "ep0-ba6-rank0.pt").is_file()
    raw["profiles"]["tiny"]["training"]["out"] = str(tmp_path / "second")
    params.write_text(yaml.safe_dump(raw))
    second = run_stage(StageRun.from_params(params, "tiny", "F", "stage1"), "cpu")
    assert second["resumed_at_batch"] == 6 and second["checkpoints"] == first["checkpoints"]


def test_checkpoints_on_an_object_store_resume_on_a_machine_without_local_ones(pipeline_params, tmp_path, monkeypatch):
    with object_store(monkeypatch) as endpoint:
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="runs")
        raw = yaml.safe_load(with_out(pipeline_params, tmp_path / "first").read_text())
        raw["profiles"]["tiny"]["training"]["save_folder"] = "s3://runs/janusflow"
        params = tmp_path / "remote.yaml"
        params.write_text(yaml.safe_dump(raw))
        run = StageRun.from_params(params, "tiny", "F", "stage1")
        first = run_stage(run, "cpu")
        prefix = f"janusflow/tiny/F/seed0/stage1/{run_fingerprint(run)}"
        assert first["checkpoints"] == f"s3://runs/{prefix}" and first["batches"] == 6
        assert not (tmp_path / "first" / "F" / "seed0" / "stage1" / "checkpoints").exists()
        keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="runs", Prefix=prefix)["Contents"]}
        assert {f"{prefix}/ep0-ba6-rank0.pt", f"{prefix}/latest-rank0.pt.symlink"} <= keys
        raw["profiles"]["tiny"]["training"]["out"] = str(tmp_path / "second")   # another machine: nothing local
        params.write_text(yaml.safe_dump(raw))
        second = run_stage(StageRun.from_params(params, "tiny", "F", "stage1"), "cpu")
    assert second["resumed_at_batch"] == 6 and second["batches"] == 6
    assert not Path("s3:").exists()   # the download went to a temporary folder, not one named after the URL
    a, b = (weights(tmp_path / name / "F" / "seed0" / "stage1" / "export") for name in ("first", "second"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_stage_logs_its_metrics_to_mlflow_when_asked(pipeline_params, tmp_path):
    import mlflow

    raw = yaml.safe_load(with_out(pipeline_params, tmp_path / "tracked").read_text())
    raw["profiles"]["tiny"]["training"]["mlflow"].update(enabled=True, experiment="ablations")
    params = tmp_path / "tracked.yaml"
    params.write_text(yaml.safe_dump(raw))
    report = run_stage(StageRun.from_params(params, "tiny", "F", "stage1"), "cpu")
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'tracked' / 'mlflow.db'}")
    (found,) = client.search_runs([client.get_experiment_by_name("ablations").experiment_id])
    assert found.info.run_name == "F-0-stage1" and found.info.status == "FINISHED"
    assert {k: found.data.tags[k] for k in ("profile", "variant", "seed", "stage")} == {
        "profile": "tiny", "variant": "F", "seed": "0", "stage": "stage1"}
    total = [m.value for m in client.get_metric_history(found.info.run_id, "loss/train/total")]
    assert len(total) == report["batches"] == 6
    assert round(total[0], 4) == report["losses"]["loss/train/total"]["first"]
    assert {"metrics/val/val_rf", "lr-AdamW/group0", "throughput/batches_per_sec"} <= set(found.data.metrics)
    remaining = [m.value for m in client.get_metric_history(found.info.run_id, "time/remaining_estimate")]
    assert len(remaining) == 5 and 0 < remaining[-1] < remaining[0] / 2   # hours, after each batch but the first


def test_every_speed_option_together_trains_the_same_stage(pipeline_params, tmp_path):
    """Channels-last generation blocks, the fused cross-entropy, the latents encoded ahead of training and compiled
    decoder layers: the same losses at every batch and the same exported weights, to float rounding."""
    raw = yaml.safe_load(with_out(pipeline_params, tmp_path / "fast").read_text())
    raw["profiles"]["tiny"]["data"]["paths"]["latents"] = str(tmp_path / "latents")
    raw["profiles"]["tiny"]["training"]["speed"] = {"channels_last": True, "fused_cross_entropy": 3,
                                                    "precomputed_latents": True, "compile_layers": True}
    fast = tmp_path / "fast.yaml"
    fast.write_text(yaml.safe_dump(raw))
    with pytest.raises(MixtureError, match="produce it with the latents node \\(dvc repro latents\\)"):
        run_stage(StageRun.from_params(fast, "tiny", "F", "stage1"), "cpu")
    assert build_latents(["--params", str(fast), "--no-progress"]) == 0
    shards = json.loads((Path(raw["profiles"]["tiny"]["data"]["paths"]["shards"]) / "summary.json").read_text())
    summary = json.loads((tmp_path / "latents" / "summary.json").read_text())
    gen = shards["tasks"]["gen"]
    assert summary["sets"] == {"gen": gen["samples"], "val/gen": gen["validation"]["samples"]}
    reports = {name: run_stage(StageRun.from_params(params, "tiny", "F", "stage1"), "cpu")
               for name, params in (("fast", fast), ("plain", with_out(pipeline_params, tmp_path / "plain")))}
    curves = {name: [line.split(",") for line in (tmp_path / name / "F" / "seed0" / "stage1" / "losses.csv")
                     .read_text().splitlines()[1:]] for name in reports}
    assert len(curves["fast"]) == len(curves["plain"]) == 6
    for fast_row, plain_row in zip(curves["fast"], curves["plain"]):
        assert [float(v) if v else None for v in fast_row] == pytest.approx(
            [float(v) if v else None for v in plain_row], rel=1e-4, abs=1e-6)
    a, b = (weights(tmp_path / name / "F" / "seed0" / "stage1" / "export") for name in ("fast", "plain"))
    assert all(torch.allclose(a[k], b[k], rtol=1e-3, atol=1e-5) for k in a)


class NaNAt(Callback):
    """Makes the loss of one batch NaN, as a diverging run would."""

    def __init__(self, batch: int) -> None:
        self.batch = batch

    def after_forward(self, state: State, logger: Logger) -> None:
        if int(state.timestamp.batch) == self.batch:
            state.outputs["total"] = torch.tensor(float("nan"))


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(pipeline_params, tmp_path):
    params = with_out(pipeline_params, tmp_path / "nan")
    checkpoints = tmp_path / "nan" / "F" / "seed0" / "stage1" / "checkpoints"
    with pytest.raises(NonFiniteLossError, match=rf"loss became non-finite at batch 3 .*last good checkpoint is in "
                                                 rf"{checkpoints}"):
        run_stage(StageRun.from_params(params, "tiny", "F", "stage1"), "cpu", [NaNAt(3)])
    assert sorted(p.name for p in checkpoints.glob("ep*.pt")) == ["ep0-ba2-rank0.pt"]
    again = run_stage(StageRun.from_params(params, "tiny", "F", "stage1"), "cpu")
    assert again["resumed_at_batch"] == 2 and again["batches"] == 6
    exported = weights(tmp_path / "nan" / "F" / "seed0" / "stage1" / "export")
    assert all(torch.isfinite(v).all() for v in exported.values())


def logged(log: Path, key: str) -> list[float]:
    """Every value of one metric in Composer's file log, in order."""
    return [float(line.split()[-1]) for line in log.read_text().splitlines()
            if line.startswith("[metric]") and f" {key}: " in line]


def test_two_processes_match_one_at_the_same_global_batch(pipeline_params, tmp_path):
    """Composer's launcher, 2 CPU processes over gloo, global batch 16 (8 per process). The AR loss of every batch
    matches the single-process run to 1e-4 (the same samples; the ranks divide by the global batch's token count).
    The generation terms differ by their noise (each process draws its own flow noise for its share), so the
    total's mean over the run must be within 3% and the validation losses within 5%."""
    runs = {}
    for n in (1, 2):
        raw = yaml.safe_load(pipeline_params.read_text())
        tiny = raw["profiles"]["tiny"]
        tiny["training"].update(out=str(tmp_path / f"world{n}"), eval_interval=5, eval_batches=2)
        tiny["stages"]["stage1"].update(steps=10, batch_size=16)
        params = tmp_path / f"world{n}.yaml"
        params.write_text(yaml.safe_dump(raw))
        launcher = ([sys.executable, "-m", "janusflow.training.cli"] if n == 1 else
                    [str(Path(sys.executable).parent / "composer"), "-n", "2", "--master_port", str(free_port()),
                     "-m", "janusflow.training.cli"])
        done = subprocess.run([*launcher, "stage1", "--variant", "F", "--params", str(params), "--device", "cpu"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        report = json.loads((tmp_path / f"world{n}" / "F" / "seed0" / "stage1" / "metrics.json").read_text())
        assert report["world_size"] == n
        runs[n] = tmp_path / f"world{n}" / "F" / "seed0" / "stage1" / "logs" / "log-rank0.txt"
    one, two = logged(runs[1], "loss/train/total"), logged(runs[2], "loss/train/total")
    assert len(one) == len(two) == 10
    ar_one, ar_two = logged(runs[1], "loss/train/ar"), logged(runs[2], "loss/train/ar")
    assert len(ar_one) == len(ar_two) == 10
    assert max(abs(a - b) / a for a, b in zip(ar_one, ar_two)) < 1e-4   # same samples, same global token mean
    assert abs(sum(one) - sum(two)) / sum(one) < 0.03
    for term in ("ar", "rf", "repa"):
        a, b = logged(runs[1], f"metrics/val/val_{term}"), logged(runs[2], f"metrics/val/val_{term}")
        assert len(a) == len(b) == 2 and abs(a[-1] - b[-1]) <= 0.05 * abs(a[-1])


def test_fully_sharded_training_matches_data_parallel_and_resumes(pipeline_params, tmp_path):
    """The paper profile's FSDP (Composer's wrapping: full sharding, one unit per decoder layer, activation
    checkpointing) and FSDP2 with each decoder layer compiled, on 2 CPU processes, against DDP on 2, all
    accumulating gradients over 2 microbatches and training what stage 2 trains (the LLM's layers included). Each
    sharded run is killed with SIGKILL after batch 5 and resumed from its batch-4 checkpoint. With the same samples
    and noise on each rank, every training loss of every batch agrees, and so do the exported EMA weights. FSDP
    gathers a module's weights only around its forward; a computation that went around it would fail here, and so
    would a rank that ran a decoder layer more often than another (each rank draws its own mix of data types)."""
    composer = str(Path(sys.executable).parent / "composer")
    runs = {}
    for parallelism in ("ddp", "fsdp", "fsdp2"):
        raw = yaml.safe_load(pipeline_params.read_text())
        tiny = raw["profiles"]["tiny"]
        sharded = parallelism != "ddp"
        tiny["training"].update(out=str(tmp_path / parallelism), eval_interval=3, eval_batches=1,
                                checkpoint_interval=2, parallelism=parallelism if sharded else None,
                                activation_checkpointing=sharded, device_microbatch_size=2)
        tiny["training"]["speed"]["compile_layers"] = parallelism == "fsdp2"
        tiny["stages"]["stage1"].update(steps=6, batch_size=8, trainable="all_but_understanding_encoder")
        params = tmp_path / f"{parallelism}.yaml"
        params.write_text(yaml.safe_dump(raw))
        if sharded:
            script = [str(Path(__file__).parent / "fsdp_on_cpu.py"), str(params), "F", "stage1"]
            killed = subprocess.run([composer, "-n", "2", "--master_port", str(free_port()), *script, "5"],
                                    capture_output=True, text=True, timeout=600)
            assert killed.returncode != 0 and "exited with code -9" in killed.stderr, killed.stderr[-3000:]
        else:
            script = ["-m", "janusflow.training.cli", "stage1", "--variant", "F", "--params", str(params)]
        done = subprocess.run([composer, "-n", "2", "--master_port", str(free_port()), *script],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[parallelism] = tmp_path / parallelism / "F" / "seed0" / "stage1"
        report = json.loads((runs[parallelism] / "metrics.json").read_text())
        assert (report["world_size"], report["distribution"]) == (2, parallelism)
        layers = {key.split(".")[3] for key in weights(runs[parallelism] / "export")
                  if key.startswith("language_model.model.layers.")}
        assert report["sharded_units"] == (len(layers) + 1 if sharded else 0)   # each decoder layer, and the root
        assert report["resumed_at_batch"] == (4 if sharded else 0) and report["batches"] == 6
    curves = {p: list(csv.DictReader((runs[p] / "losses.csv").open())) for p in runs}
    weights_of = {p: weights(runs[p] / "export") for p in runs}
    for sharded in ("fsdp", "fsdp2"):
        assert [r["step"] for r in curves["ddp"]] == [r["step"] for r in curves[sharded]] == [str(i) for i in range(6)]
        for term in ("ar", "rf", "repa", "total", "val_ar", "val_rf", "val_repa"):   # val_*: the EMA weights
            pairs = [(float(a[term]), float(b[term])) for a, b in zip(curves["ddp"], curves[sharded]) if a[term]]
            assert len(pairs) == (2 if term.startswith("val") else 6)
            assert max(abs(a - b) / abs(a) for a, b in pairs) < 1e-5, (sharded, term)
        assert weights_of["ddp"].keys() == weights_of[sharded].keys()
        assert max((weights_of["ddp"][k] - weights_of[sharded][k]).abs().max().item() for k in weights_of["ddp"]) < 1e-6
        assert (runs[sharded] / "samples" / "ba6.png").is_file()  # the sample grid gathers the sharded weights
    llm = Path(yaml.safe_load(pipeline_params.read_text())["profiles"]["tiny"]["foundations"]["out"]) / "llm"
    key = "model.layers.0.mlp.up_proj.weight"
    assert not torch.equal(weights_of["fsdp2"][f"language_model.{key}"], load_file(llm / "model.safetensors")[key])


def test_a_variant_with_parts_it_never_uses_resumes_too(pipeline_params, tmp_path):
    """C's SigLIP aligner and the REPA-free parts get no gradient; the optimizer must still cover them, or
    Composer cannot restore its state on resume."""
    params = with_out(pipeline_params, tmp_path / "c")
    run_stage(StageRun.from_params(params, "tiny", "C", "stage1"), "cpu")
    killed = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(params), "5", "C", "stage2"], capture_output=True,
                            text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    resumed = run_stage(StageRun.from_params(params, "tiny", "C", "stage2"), "cpu")
    assert resumed["resumed_at_batch"] == 4 and resumed["batches"] == 6
    report = json.loads((tmp_path / "c" / "C" / "seed0" / "stage1" / "metrics.json").read_text())
    assert report["understanding_alignment"] is None  # C reads images through its own VAE+ConvNeXt encoder


@pytest.mark.parametrize("fused", [False, True])
def test_prefilled_optimizer_state_is_what_adamw_creates_itself(fused):
    """A parameter without a gradient for its first steps trains exactly as if AdamW had made its state (the
    fused AdamW of GPU runs included; torch runs it on CPU too)."""
    from janusflow.training.callbacks import initial_adamw_state

    def train(prefill: bool) -> torch.Tensor:
        torch.manual_seed(0)
        late = torch.nn.Parameter(torch.randn(4))
        optimizer = torch.optim.AdamW([late], lr=0.1, betas=(0.9, 0.95), fused=fused)
        for step in range(5):
            if prefill and not optimizer.state.get(late):
                optimizer.state[late] = initial_adamw_state(late, fused)
            late.grad = None if step < 2 else torch.full((4,), float(step))  # unused in the first two steps
            optimizer.step()
        return late.detach().clone()

    assert torch.equal(train(prefill=True), train(prefill=False))


def test_a_damaged_latest_checkpoint_falls_back_to_the_one_before_with_a_warning(pipeline_params, tmp_path):
    params = with_out(pipeline_params, tmp_path / "damaged")
    assert run_stage(StageRun.from_params(params, "tiny", "F", "stage1"), "cpu")["batches"] == 6
    checkpoints = tmp_path / "damaged" / "F" / "seed0" / "stage1" / "checkpoints"
    latest = checkpoints / "ep0-ba6-rank0.pt"
    latest.write_bytes(latest.read_bytes()[:-4096])   # a disk that filled up mid-save
    with pytest.warns(UserWarning, match=r"checkpoint at batch 6 .* is damaged \(ep0-ba6-rank0.pt: not a complete "
                                         r"checkpoint archive"):
        again = run_stage(StageRun.from_params(params, "tiny", "F", "stage1"), "cpu")
    assert again["resumed_at_batch"] == 4 and again["batches"] == 6
    assert os.readlink(checkpoints / "latest-rank0.pt") == "ep0-ba6-rank0.pt"   # saved anew after batch 6
