"""The Dagster definitions and their DVC twin: every lineage node is an asset and a DVC stage, variants are
partitions and matrix items (variant x seed) read from params.yaml, blocking checks stop what follows a bad result, training
stages materialize in-process with their metadata, and DVC commits from two materializations at once leave a
valid dvc.lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey, AssetRecordsFilter, AssetSelection, DagsterInstance, materialize
from dagster_k8s import PipesK8sClient
from dagster_k8s.pipes import build_pod_body

from orchestration import node_metadata
from orchestration.assets import ASSETS, foundation_tokenizer, manifests, shards, stage1, stage2, stage3
from orchestration.checks import CHECKS, loss_fell, result_problems
from orchestration.definitions import defs
from orchestration.dvc_state import record_dvc_state
from orchestration.lineage import foundation, training_stage
from orchestration.metadata import content_digest, data_version
from orchestration.nodes import free_port
from orchestration.resources import (
    DvcResource,
    PipelinePaths,
    TrainerLauncher,
    default_dvc,
    in_image,
    job_pod_spec,
    pipes_client,
)

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
LINEAGE = ["raw_sources", "manifests", "shards_und", "shards_gen", "shards_text", "foundation_tokenizer",
           "foundation_llm", "foundation_encoder", "foundation_vae", "latents", "stage1", "stage2", "stage3",
           "benchmark_prompts",
           "benchmark_results", "external_judgements", "benchmark_tables", "comparison_report"]


def graph():
    return defs.get_repository_def().asset_graph


def test_every_lineage_node_is_an_asset_and_runs_are_partitions_from_params():
    assets = graph()
    assert sorted(k.to_user_string() for k in assets.get_all_asset_keys()) == sorted(LINEAGE)
    for name in ("stage1", "stage2", "stage3", "benchmark_results", "external_judgements"):
        node = assets.get(AssetKey(name))
        assert node.partitions_def.get_partition_keys() == [f"0|{v}" for v in PARAMS["variants"]] == \
            [f"0|{v}" for v in "ABCDEF"]  # seed | variant, with params.yaml's seeds: [0]
        assert node.partitions_def.partition_dimension_names == ["seed", "variant"]
    assert {k.to_user_string() for k in assets.get(AssetKey("stage1")).parent_keys} == {
        "foundation_tokenizer", "foundation_llm", "foundation_encoder", "foundation_vae", "shards_und", "shards_gen",
        "shards_text", "latents"}
    assert {k.to_user_string() for k in assets.get(AssetKey("comparison_report")).parent_keys} == {
        "benchmark_tables", "benchmark_results", "external_judgements", "stage1", "stage2", "stage3"}  # + loss curves
    assert {a.op.pool for a in ASSETS} == {"janusflow"}  # one pool: one asset writes artifacts and dvc.lock at a time


def test_checks_block_and_the_benchmarks_regenerate_on_schedule_and_on_new_checkpoints():
    specs = [spec for check in CHECKS for spec in check.check_specs]
    assert len(specs) == 13 and all(spec.blocking for spec in specs)
    assert {s.asset_key.to_user_string() for s in specs} == set(LINEAGE) - {
        "raw_sources", "benchmark_prompts", "external_judgements", "benchmark_tables", "comparison_report"}
    repo = defs.get_repository_def()
    schedule = repo.get_schedule_def("nightly_benchmarks")
    assert schedule.cron_schedule == "0 3 * * *" and schedule.default_status.value == "RUNNING"
    sensor = repo.get_sensor_def("benchmarks_on_new_checkpoints")
    assert sensor.default_status.value == "RUNNING"
    eager = {k.to_user_string() for k, n in ((k, graph().get(k)) for k in graph().get_all_asset_keys())
             if n.automation_condition is not None}
    assert eager == {"benchmark_results", "external_judgements", "benchmark_tables", "comparison_report"}
    assert {job.name for job in repo.get_all_jobs()} >= {"regenerate_benchmarks", "regenerate_report"}


def test_the_project_configures_its_own_dagster_instance_and_code_location():
    instance = yaml.safe_load((ROOT / ".dagster_home" / "dagster.yaml").read_text())
    assert instance["telemetry"] == {"enabled": False} and instance["concurrency"]["pools"]["default_limit"] == 1
    location = yaml.safe_load((ROOT / "workspace.yaml").read_text())["load_from"][0]["python_module"]
    assert location["module_name"] == "orchestration.definitions"
    assert 'module_name = "orchestration.definitions"' in (ROOT / "pyproject.toml").read_text()
    assert "analytics = false" in (ROOT / ".dvc" / "config").read_text()


def test_each_dvc_stage_mirrors_an_asset_and_reads_only_its_own_variant():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert list(stages) == ["raw_sources", "manifests", "shards", "foundation_tokenizer", "foundation_llm",
                            "foundation_encoder", "foundation_vae", "latents", "stage1", "stage2", "stage3",
                            "benchmark_prompts",
                            "benchmark_results", "external_judgements", "benchmark_tables", "comparison_report"]
    for name in ("stage1", "stage2", "stage3", "benchmark_results", "external_judgements"):
        assert stages[name]["matrix"] == {"variant": "${variants}", "seed": "${seeds}"}
        params = stages[name]["params"]
        assert "variants" not in params and "seeds" not in params  # a change to C reruns only C's runs
        assert ("variants.${item.variant}" in params) == (name != "external_judgements")  # judges: their commands
    listed = subprocess.run([default_dvc(), "stage", "list", "--name-only"], cwd=ROOT,
                            capture_output=True, text=True, env={"DVC_NO_ANALYTICS": "1", "PATH": "/usr/bin:/bin"})
    assert listed.returncode == 0, listed.stderr
    names = listed.stdout.split()
    assert [n for n in names if n.startswith("stage3@")] == [f"stage3@{v}-0" for v in "ABCDEF"]
    assert len(names) == 8 + 5 * 6 + 3


def quick_resources(params: Path, **paths) -> dict:
    return {"paths": PipelinePaths(params=str(params), profile="tiny"), "dvc": DvcResource(enabled=False),
            "launcher": TrainerLauncher(mode="in_process"), "pipes_client": pipes_client("subprocess")}


def test_a_failing_quarantine_check_blocks_the_shards(small_world, tmp_path):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    tiny = raw["profiles"]["tiny"]
    tiny["data"]["paths"] = {"raw": str(small_world["raw"]), "manifests": str(tmp_path / "manifests"),
                             "shards": str(tmp_path / "shards"), "cache": str(tmp_path / "cache"),
                             "latents": str(tmp_path / "latents"), "remote": None}
    tiny["data"]["workers"] = 1
    tiny["data"]["sources"] = [asdict(s) for s in small_world["specs"]]
    tiny["checks"] = {"quarantine_rate": {"min": 0.0, "max": 0.01}}  # the small world has 10% broken records
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    result = materialize([*ASSETS, *CHECKS], selection=[manifests, shards], resources=quick_resources(params),
                         raise_on_error=False)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations["quarantine_rate_in_bounds"].passed is False
    assert "[0.0, 0.01]" in str(evaluations["quarantine_rate_in_bounds"].metadata["bounds"])
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"manifests"} and not (tmp_path / "shards").exists()


def test_training_stages_materialize_a_variant_with_checks_and_pictures(pipeline_params, tmp_path):
    raw = yaml.safe_load(pipeline_params.read_text())
    raw["profiles"]["tiny"]["training"]["out"] = str(tmp_path / "training")
    for stage in raw["profiles"]["tiny"]["stages"].values():
        stage["batch_size"] = 8  # the blocking loss check reads 3 batches a side: batches of 4 are mostly noise
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    result = materialize([*ASSETS, *CHECKS], selection=[stage1, stage2, stage3], partition_key="0|F",
                         resources=quick_resources(params), raise_on_error=False)
    checks = {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}
    assert sorted(checks) == ["stage1", "stage2", "stage3"]
    for stage, evaluation in checks.items():
        first, last = (evaluation.metadata[k].value for k in ("loss_first_tenth", "loss_last_tenth"))
        assert evaluation.passed == (last < first) and evaluation.metadata["non_finite"].value == "none"
    assert checks["stage1"].passed  # six batches at the stage-1 rate: the loss falls
    stage3_events = result.asset_materializations_for_node("stage3")
    metadata = stage3_events[0].metadata
    assert metadata["batches"].value == 4
    assert metadata["loss_curve"].value.startswith("![loss curve](data:image/png;base64,")
    assert metadata["samples"].value.startswith("![sample grid](data:image/png;base64,")
    assert (tmp_path / "training" / "F" / "seed0" / "stage3" / "export" / "model.safetensors").is_file()


def git_dvc_repo(root: Path) -> None:
    env = {"DVC_NO_ANALYTICS": "1", "PATH": "/usr/bin:/bin", "HOME": str(root)}
    subprocess.run(["git", "init", "-q"], cwd=root, check=True, env=env)
    subprocess.run([default_dvc(), "init", "-q"], cwd=root, check=True, env=env)
    stages = {f"make_{i}": {"cmd": f"echo {i} > out_{i}.txt", "outs": [f"out_{i}.txt"]} for i in range(2)}
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    for i in range(2):
        (root / f"out_{i}.txt").write_text(f"{i}\n")


def test_two_commits_at_once_queue_on_the_dvc_lock_and_leave_a_valid_lock_file(tmp_path):
    git_dvc_repo(tmp_path)
    dvc = DvcResource(root=str(tmp_path), lock_wait_seconds=120)
    hashes: dict[str, dict] = {}
    threads = [threading.Thread(target=lambda s=s: hashes.__setitem__(s, dvc.commit(s))) for s in ("make_0", "make_1")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lock = yaml.safe_load((tmp_path / "dvc.lock").read_text())["stages"]
    assert set(lock) == {"make_0", "make_1"}
    assert hashes["make_0"] == {"out_0.txt": lock["make_0"]["outs"][0]["md5"]}
    status = subprocess.run([default_dvc(), "status", "--quiet"], cwd=tmp_path,
                            env={"DVC_NO_ANALYTICS": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert status.returncode == 0  # both stages up to date: nothing for dvc repro to redo
    (tmp_path / "out_0.txt").write_text("corrupted\n")
    changed = subprocess.run([default_dvc(), "status"], cwd=tmp_path, capture_output=True, text=True,
                             env={"DVC_NO_ANALYTICS": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert "make_0:" in changed.stdout and "modified:           out_0.txt" in changed.stdout
    assert "make_1" not in changed.stdout  # the corrupted output is found, and only its stage would rerun


RESUMING_STEP = """
import pathlib, sys
for path in sys.argv[1:]:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write("one more step\\n")
interrupt = pathlib.Path("interrupt")
if interrupt.exists():
    interrupt.unlink()
    sys.exit(1)
"""


def test_an_interrupted_stage_keeps_what_it_wrote_under_the_repositorys_output_declarations(tmp_path):
    """DVC deletes a stage's outputs before running it unless they are persistent: a killed evaluation would
    resample every image and a resumed training stage would lose its earlier loss rows. A stand-in stage with the
    evaluation's and the loss curve's declarations from dvc.yaml is interrupted once and rerun."""
    real = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    (evaluation, evaluation_options), = real["benchmark_results"]["outs"][0].items()
    (curve, curve_options), = real["stage2"]["plots"][0].items()
    def concrete(path: str) -> str:
        return path.replace("${profile}", "tiny").replace("${item.variant}", "F").replace("${item.seed}", "0")

    evaluation, curve = concrete(evaluation) + "/samples.txt", concrete(curve)
    env = {"DVC_NO_ANALYTICS": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, env=env)
    subprocess.run([default_dvc(), "init", "-q"], cwd=tmp_path, check=True, env=env)
    (tmp_path / "step.py").write_text(RESUMING_STEP)
    out_folder = str(Path(evaluation).parent)
    stage = {"cmd": f"{sys.executable} step.py {evaluation} {curve}", "deps": ["step.py"],
             "outs": [{out_folder: evaluation_options}], "plots": [{curve: curve_options}]}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"benchmark_results": stage}}))
    (tmp_path / "interrupt").touch()
    repro = [default_dvc(), "repro", "-q"]
    assert subprocess.run(repro, cwd=tmp_path, env=env, capture_output=True).returncode != 0
    finished = subprocess.run(repro, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert (tmp_path / evaluation).read_text().count("one more step") == 2
    assert (tmp_path / curve).read_text().count("one more step") == 2


def test_asset_selection_strings_resolve_and_the_cli_materializes_a_selection(tmp_path):
    """Dagster's selection grammar needs antlr4 4.13, which DVC's hydra forbids: DVC lives in .venv-dvc."""
    chosen = AssetSelection.from_string('key:"shards_*" or key:benchmark_prompts+1').resolve(graph())
    assert sorted(k.to_user_string() for k in chosen) == ["benchmark_prompts", "benchmark_results", "shards_gen",
                                                          "shards_text", "shards_und"]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    data = params["profiles"]["tiny"]["data"]
    data["paths"]["raw"] = str(tmp_path / "raw")
    data["shapes_world"].update(gen_pairs=20, conversations=20, text_documents=20, eval_scenes=4)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    config = {"resources": {"paths": {"config": {"params": str(tmp_path / "params.yaml")}},
                            "dvc": {"config": {"enabled": False}}}}
    (tmp_path / "home").mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "DAGSTER_DISABLE_TELEMETRY": "1"}
    done = subprocess.run([str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m",
                           "orchestration.definitions", "--select", "key:raw_sources", "--config-json",
                           json.dumps(config)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RUN_SUCCESS" in done.stderr + done.stdout
    assert len(list((tmp_path / "raw" / "gen").glob("*.tar"))) >= 1


def test_dvc_experiments_still_take_parameter_overrides(tmp_path):
    """``dvc exp run -S`` parses overrides with hydra, which is why DVC keeps its own environment."""
    env = {"DVC_NO_ANALYTICS": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_AUTHOR_NAME": "test",
           "GIT_AUTHOR_EMAIL": "test@example.com", "GIT_COMMITTER_NAME": "test",
           "GIT_COMMITTER_EMAIL": "test@example.com"}
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, env=env)
    subprocess.run([default_dvc(), "init", "-q"], cwd=tmp_path, check=True, env=env)
    (tmp_path / "params.yaml").write_text("variants:\n  C:\n    repa: true\n")
    stage = {"cmd": "cp params.yaml used.yaml", "params": ["variants.C"], "outs": ["used.yaml"]}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"train": stage}}))
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=tmp_path, check=True, env=env)
    done = subprocess.run([default_dvc(), "exp", "run", "-S", "variants.C.repa=false"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert yaml.safe_load((tmp_path / "used.yaml").read_text()) == {"variants": {"C": {"repa": False}}}


def test_a_dvc_failure_other_than_the_lock_names_the_command(tmp_path):
    git_dvc_repo(tmp_path)
    with pytest.raises(RuntimeError, match=r"dvc commit --force --quiet no_such_stage failed in"):
        DvcResource(root=str(tmp_path)).commit("no_such_stage")


def test_metric_sanity_names_every_problem():
    good = {"tasks": ["und", "gen"], "summary": {"fid": 50.0, "vqa": 40.0, "pope": 66.0},
            "understanding": {"vqa": {"questions": 400, "errors": 0}}}
    assert result_problems(good) == []
    bad = {"tasks": ["und", "gen"], "summary": {"fid": float("nan"), "vqa": 140.0, "pope": None},
           "understanding": {"vqa": {"questions": 400, "errors": 400}}}
    assert result_problems(bad) == ["fid is nan", "vqa = 140.0 is outside 0-100",
                                    "vqa: 400 of 400 questions failed to run"]
    assert result_problems({"tasks": ["gen"], "summary": {"vqa": 1.0}}) == ["a generating variant has no FID"]
    assert result_problems({}) == ["no results"]


def test_the_loss_check_compares_the_first_and_last_tenth_of_each_term():
    import pandas as pd

    falling = pd.DataFrame({"ar": [2.0] * 10 + [1.5] * 80 + [1.0] * 10, "rf": [0.5] * 100, "repa": [0.0] * 100})
    assert loss_fell(falling) == (2.5, 1.5)  # repa is 0 throughout: a variant without REPA
    short = pd.DataFrame({"ar": [3.0, 2.0, 1.0, 0.5], "rf": [1.0] * 4, "repa": [0.0] * 4})
    assert loss_fell(short) == (3.5, 1.75)  # short stage: halves
    # batch 0 drew no generation sample, so its total is low; each term falls, and so does the check's sum
    mixed = pd.DataFrame({"ar": [5.5, 5.6, 5.4, 5.3, 5.2, 5.1], "rf": [0.0, 2.5, 2.4, 2.3, 2.2, 2.1],
                          "repa": [0.0] * 6})
    assert (mixed.ar + mixed.rf).head(3).mean() < (mixed.ar + mixed.rf).tail(3).mean()
    first, last = loss_fell(mixed)
    assert (round(first, 4), round(last, 4)) == (round(5.5 + 2.45, 4), round(5.2 + 2.15, 4))  # rf: 5 batches


def test_two_processes_launched_through_the_pipes_client_report_through_rank_0(pipeline_params, tmp_path, monkeypatch):
    raw = yaml.safe_load(pipeline_params.read_text())
    raw["profiles"]["tiny"]["training"]["out"] = str(tmp_path / "training")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    composer = [str(Path(sys.executable).parent / "composer"), "-n", "2", "--master_port", str(free_port()), "-m"]
    resources = quick_resources(params) | {"launcher": TrainerLauncher(mode="pipes", command=composer)}

    def no_disk(*args):
        raise AssertionError("the asset read the stage's files; rank 0 reports them through Pipes")

    monkeypatch.setattr(node_metadata, "training_stage", no_disk)   # the orchestrator's copy, not the subprocess's
    instance = DagsterInstance.ephemeral()
    result = materialize([*ASSETS, *CHECKS], selection=[stage1], partition_key="0|F", resources=resources,
                         instance=instance)
    assert result.success
    materialization = result.asset_materializations_for_node("stage1")[0]
    metadata = materialization.metadata
    assert metadata["batches"].value == 6 and metadata["world_size"].value == 2
    assert metadata["loss_curve"].value.startswith("![loss curve](data:image/png;base64,")
    assert metadata["samples"].value.startswith("![sample grid](data:image/png;base64,")
    assert metadata["loss_train_total_last10"].value > 0
    export = tmp_path / "training" / "F" / "seed0" / "stage1" / "export"
    assert materialization.tags["dagster/data_version"] == content_digest({}, [export])
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    opened = [m for m in messages if "python -m janusflow.training.cli stage1 --variant F" in m]
    assert len(opened) == 1 and opened[0].endswith("(rank 0 of 2)")   # one Pipes session, rank 0's
    assert any("training exited with status 0" in m for m in messages)
    assert TrainerLauncher(mode="auto").resolved_mode("paper") == "pipes"
    assert TrainerLauncher(mode="auto").resolved_mode("tiny") == "in_process"


def test_the_kubernetes_switch_names_what_it_needs_and_its_job_template_runs_the_image(tmp_path, monkeypatch):
    assert isinstance(pipes_client("k8s"), PipesK8sClient)
    with pytest.raises(ValueError, match="JANUSFLOW_PIPES is 'docker'; use one of \\['subprocess', 'k8s', 'local-nodes', "
                                         "'k8s-nodes'\\]"):
        pipes_client("docker")
    launcher = TrainerLauncher(mode="pipes", image="registry.example.com/janusflow:abc1234")
    command = [*launcher.runner("composer -n 8 -m", local=False), "orchestration.pipes_stage", "stage2"]
    pod_arguments = launcher.pod_arguments(command)   # what launch hands PipesK8sClient.run, which builds:
    pod = build_pod_body("janusflow-stage2", pod_arguments["image"], pod_arguments["command"],
                         {"DAGSTER_PIPES_CONTEXT": "ctx"}, None, pod_arguments["base_pod_spec"])
    assert pod.spec.restart_policy == "Never"
    (trainer,) = pod.spec.containers
    assert (trainer.image, trainer.command) == (launcher.image, ["composer", "-n", "8", "-m",
                                                                 "orchestration.pipes_stage", "stage2"])
    assert trainer.resources.limits == {"nvidia.com/gpu": "8"}
    assert {m.mount_path for m in trainer.volume_mounts} == {"/dev/shm", "/local_nvme"}
    assert trainer.env_from[0].secret_ref.name == "janusflow-object-store"
    assert [(e.name, e.value) for e in trainer.env] == [("DAGSTER_PIPES_CONTEXT", "ctx")]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"WORKDIR {trainer.working_dir}" in dockerfile and "requirements.lock" in dockerfile
    assert in_image(str(ROOT / "params.yaml")) == "params.yaml" and in_image(str(tmp_path)) == str(tmp_path)
    assert TrainerLauncher().runner("python -m", local=False) == ["python", "-m"]   # the image's python
    with pytest.raises(ValueError, match="is not a Kubernetes Job \\(it has no spec.template.spec with a container\\)"):
        job_pod_spec(ROOT / "params.yaml")
    monkeypatch.setitem(sys.modules, "dagster_k8s", None)   # an environment installed without it
    with pytest.raises(RuntimeError, match="JANUSFLOW_PIPES=k8s needs dagster-k8s, the release of the installed "
                                           "dagster \\(pip install -r requirements.lock, or the kubernetes extra\\)"):
        pipes_client("k8s")


def test_the_pipes_launcher_runs_the_stage_under_params_launcher_unless_told_otherwise():
    assert TrainerLauncher().runner("python -m") == [sys.executable, "-m"]   # dvc repro's python is this one
    assert TrainerLauncher().runner("composer -n 8 -m") == ["composer", "-n", "8", "-m"]
    assert TrainerLauncher(command=["torchrun", "--nproc_per_node", "2", "-m"]).runner("python -m") == \
        ["torchrun", "--nproc_per_node", "2", "-m"]
    with pytest.raises(ValueError, match="TrainerLauncher.command is \\['composer', '-n', '8'\\]; end it with -m"):
        TrainerLauncher(command=["composer", "-n", "8"]).runner("python -m")
    assert training_stage("stage2").command.startswith("${launcher} janusflow.training.cli stage2 ")
    assert foundation("llm").command.startswith("python -m janusflow.foundations.cli llm ")


def test_what_dvc_built_is_recorded_in_dagster_with_its_data_versions_once(quick_params, tmp_path):
    """make run builds the lineage with dvc repro; afterwards the UI must show each node as materialized."""
    params = quick_params()
    lock = {"schema": "2.0", "stages": {
        "raw_sources": {"cmd": "x", "outs": [{"path": "artifacts/tiny/raw/shapes", "md5": "a1.dir"}]},
        "shards": {"cmd": "x", "outs": [{"path": f"artifacts/tiny/shards/{part}{task}", "md5": f"{part}{task}"}
                                        for task in ("und", "gen", "text") for part in ("", "val/")]},
        "foundation_vae": {"cmd": "x", "outs": [{"path": "artifacts/tiny/foundations/vae/config.json", "md5": "v"}]},
        "stage1@F-0": {"cmd": "x", "outs": [{"path": "artifacts/tiny/training/F/seed0/stage1/export", "md5": "s.dir"}]},
        "benchmark_results@F-0": {"cmd": "x", "outs": [{"path": "artifacts/tiny/evals/F/seed0", "md5": "e.dir"}]},
        "benchmark_results@Z-0": {"cmd": "x", "outs": [{"path": "artifacts/tiny/evals/Z/seed0", "md5": "z.dir"}]},
        "benchmark_results@F-3": {"cmd": "x", "outs": [{"path": "artifacts/tiny/evals/F/seed3", "md5": "3.dir"}]},
        "evaluate@F": {"cmd": "x", "outs": [{"path": "artifacts/tiny/evals/F", "md5": "old.dir"}]},  # renamed since
        "comparison_report": {"cmd": "x", "outs": [{"path": "artifacts/tiny/report", "md5": "r.dir"}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    instance = DagsterInstance.ephemeral()
    paths, dvc = PipelinePaths(params=str(params), profile="tiny"), DvcResource(root=str(tmp_path))
    recorded = record_dvc_state(instance, paths, dvc)
    expected = {("raw_sources", None): {"artifacts/tiny/raw/shapes": "a1.dir"},
                ("shards_gen", None): {"artifacts/tiny/shards/gen": "gen", "artifacts/tiny/shards/val/gen": "val/gen"},
                ("foundation_vae", None): {"artifacts/tiny/foundations/vae/config.json": "v"},
                ("stage1", "0|F"): {"artifacts/tiny/training/F/seed0/stage1/export": "s.dir"},
                ("benchmark_results", "0|F"): {"artifacts/tiny/evals/F/seed0": "e.dir"},
                ("comparison_report", None): {"artifacts/tiny/report": "r.dir"}}
    assert {(s.asset, s.partition) for s in recorded} == {*expected, ("shards_und", None), ("shards_text", None)}
    for (asset, partition), hashes in expected.items():
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition] if partition else None),
            limit=1).records
        event = records[0].asset_materialization
        assert event.tags["dagster/data_version"] == data_version(hashes, []).value
    shards_gen = instance.get_latest_materialization_event(AssetKey("shards_gen")).asset_materialization
    assert shards_gen.metadata["samples"].value == node_metadata.shards(paths, "gen")["samples"] > 0
    assert record_dvc_state(instance, paths, dvc) == []  # recorded once: the data versions are there now
    lock["stages"]["foundation_vae"]["outs"][0]["md5"] = "retrained"
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    assert [(s.asset, s.partition) for s in record_dvc_state(instance, paths, dvc)] == [("foundation_vae", None)]


def test_a_foundation_asset_builds_and_publishes_its_foundation_with_its_gate(quick_params):
    params = quick_params()
    result = materialize([*ASSETS, *CHECKS], selection=[foundation_tokenizer], resources=quick_resources(params),
                         raise_on_error=False)
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.asset_key.to_user_string() == "foundation_tokenizer" and event.materialization.metadata[
        "gates_passed"].value is True
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "quality_gates" and check.passed
    assert (Path(yaml.safe_load(params.read_text())["profiles"]["tiny"]["foundations"]["out"]) / "tokenizer" /
            "tokenizer.json").is_file()
