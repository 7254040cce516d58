"""One training stage on several nodes from Dagster: the nodes' rendezvous, Pipes messages through a store folder
(a local directory or an S3 server on 127.0.0.1), a failed node stopping the rest, and the Indexed Job that places
the nodes on Kubernetes, read back through the Kubernetes client's own models."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import boto3
import pytest
import yaml
from conftest import object_store
from dagster import DagsterInstance, PipesSubprocessClient, materialize
from kubernetes.client import ApiClient, V1JobCondition, V1JobStatus

from orchestration import node_metadata
from orchestration.assets import ASSETS, stage1
from orchestration.checks import CHECKS
from orchestration.nodes import (
    LocalNodes,
    NodeFailed,
    NodeLaunch,
    PipesNodesClient,
    finished,
    indexed_job,
    job_name,
    processes_per_node,
    rendezvous_env,
)
from orchestration.pipes_store import ChunkFolder, PipesStoreMessageReader
from orchestration.resources import (
    JOB_TEMPLATE,
    DvcResource,
    PipelinePaths,
    TrainerLauncher,
    job_template,
    pipes_client,
)

COMPOSER = str(Path(sys.executable).parent / "composer")
ROOT = Path(__file__).resolve().parents[1]


def test_two_nodes_launched_from_dagster_report_through_node_0_over_the_object_store(pipeline_params, tmp_path,
                                                                                   monkeypatch):
    """Stage 1 on two local nodes of one process each (world size 2, Composer's multi-node rendezvous), started by
    the launcher resource through the nodes client. Only node 0's rank 0 opens Pipes; its messages come back as
    chunks in an S3 bucket, and the asset reads none of the stage's files."""
    raw = yaml.safe_load(pipeline_params.read_text())
    raw["profiles"]["tiny"]["training"].update(out=str(tmp_path / "training"), save_folder="s3://runs/janusflow")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))

    def no_disk(*args):
        raise AssertionError("the asset read the stage's files; node 0 reports them through Pipes")

    monkeypatch.setattr(node_metadata, "training_stage", no_disk)
    with object_store(monkeypatch) as endpoint:
        for bucket in ("runs", "pipes"):
            boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        launcher = TrainerLauncher(mode="pipes", nodes=2, command=[COMPOSER, "-n", "1", "-m"],
                                   messages="s3://pipes/janusflow")
        resources = {"paths": PipelinePaths(params=str(params), profile="tiny"), "dvc": DvcResource(enabled=False),
                     "launcher": launcher, "pipes_client": PipesNodesClient(LocalNodes(Path.cwd()), poll_seconds=1)}
        instance = DagsterInstance.ephemeral()
        result = materialize([*ASSETS, *CHECKS], selection=[stage1], partition_key="0|F", resources=resources,
                             instance=instance)
        chunks = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="pipes")["Contents"]]
        checkpoints = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="runs")["Contents"]]
    assert result.success
    metadata = result.asset_materializations_for_node("stage1")[0].metadata
    assert metadata["world_size"].value == 2 and metadata["batches"].value == 6
    assert metadata["samples"].value.startswith("![sample grid](data:image/png;base64,")
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    opened = [m for m in messages if "python -m janusflow.training.cli stage1 --variant F" in m]
    assert len(opened) == 1 and opened[0].endswith("(rank 0 of 2)")
    assert chunks and all(key.startswith("janusflow/") and key.endswith(".json") for key in chunks)
    assert (tmp_path / "training" / "F" / "seed0" / "stage1" / "export").is_dir()   # node 0's
    assert {key.rsplit("/", 1)[-1] for key in checkpoints} >= {"ep0-ba6-rank0.pt", "latest-rank0.pt.symlink"}


def test_a_failed_node_stops_the_others_and_is_named(tmp_path):
    fail_on_node_1 = ("import os, sys, time\n"
                      "if os.environ['NODE_RANK'] == '1': sys.exit(3)\n"
                      "time.sleep(120)\n")
    launch = NodeLaunch(name="janusflow-test", command=[sys.executable, "-c", fail_on_node_1], nodes=3, processes=2)
    started = time.monotonic()
    with pytest.raises(NodeFailed, match=r"node 1 of 3 \(janusflow-test\) exited with 3; the other nodes were stopped"):
        LocalNodes(tmp_path, poll_seconds=0.1).run(launch)
    assert time.monotonic() - started < 30   # node 0 and 2 did not sleep out their 120 s


def test_each_node_is_told_its_place_by_the_launchers_own_variables():
    assert processes_per_node(["composer", "-n", "8", "-m"]) == 8
    assert processes_per_node(["/venv/bin/torchrun", "--nproc-per-node=4", "-m"]) == 4
    with pytest.raises(ValueError, match="python -m has no rendezvous between nodes; several nodes need composer"):
        processes_per_node(["python", "-m"])
    with pytest.raises(ValueError, match="does not say how many processes each node runs; add -n <gpus per node>"):
        processes_per_node(["composer", "-m"])
    assert rendezvous_env(2, 4, 8, "job-0.job", 29500) == {
        "NODE_RANK": "2", "WORLD_SIZE": "32", "MASTER_ADDR": "job-0.job", "MASTER_PORT": "29500",
        "PET_NODE_RANK": "2", "PET_NNODES": "4", "PET_MASTER_ADDR": "job-0.job", "PET_MASTER_PORT": "29500"}
    assert rendezvous_env(0, 1, 8, "job-0.job", 29500) == {}
    assert job_name("stage2", "F", 0, "8f14e45f-ceea-4e7a") == "janusflow-stage2-f-s0-8f14e45f"
    with pytest.raises(ValueError, match="TrainerLauncher.nodes is 2; one node trains through any Pipes client, several "
                                         "through JANUSFLOW_PIPES=local-nodes or k8s-nodes, not PipesSubprocessClient"):
        TrainerLauncher(mode="pipes", nodes=2).launch(None, PipelinePaths(), "stage1", None,
                                                     PipesSubprocessClient())
    assert isinstance(pipes_client("k8s-nodes"), PipesNodesClient) and not pipes_client("k8s-nodes").local
    with pytest.raises(ValueError, match="TrainerLauncher.nodes is 2 on this machine, and training.save_folder in .* is "
                                         "no object-store URL; nodes that share a disk cannot share a checkpoint"):
        TrainerLauncher(mode="pipes", nodes=2).launch(None, PipelinePaths(), "stage1", None, pipes_client("local-nodes"))
    assert pipes_client("local-nodes").local
    runner = ["composer", "-n", "8", "-m"]
    launch = TrainerLauncher(nodes=4, image="registry.example.com/janusflow:abc1234").node_launch(
        "janusflow-x", runner, [*runner, "orchestration.pipes_stage", "stage2"], local=False)
    assert (launch.nodes, launch.processes, launch.command[-1]) == (4, 8, "stage2")
    assert launch.job_template == job_template(JOB_TEMPLATE) and launch.image.endswith(":abc1234")
    assert TrainerLauncher(nodes=1).node_launch("j", ["python", "-m"], ["python", "-m", "x"], local=True).processes == 1
    assert TrainerLauncher().message_store(PipelinePaths()) == str(ROOT / "artifacts" / "tiny" / "training" / "pipes")
    assert TrainerLauncher(messages="s3://b/p").message_store(PipelinePaths()) == "s3://b/p"


def round_trip(manifest: dict, kind: str) -> dict:
    """``manifest`` read as the Kubernetes client's model and written back: a field the API does not know is
    dropped, so a misspelt one makes the result differ."""

    class Response:
        data = json.dumps(manifest)

    api = ApiClient()
    return api.sanitize_for_serialization(api.deserialize(Response(), kind))


def test_the_indexed_job_runs_one_pod_per_node_that_find_node_0_through_a_headless_service():
    launch = NodeLaunch(name="janusflow-stage2-f-s0-8f14e45f", command=["composer", "-n", "8", "-m", "x"], nodes=4,
                        processes=8, env={"DAGSTER_PIPES_CONTEXT": "ctx", "DAGSTER_PIPES_MESSAGES": "msgs"},
                        image="registry.example.com/janusflow:abc1234", job_template=job_template(JOB_TEMPLATE))
    service, job = indexed_job(launch)
    assert round_trip(job, "V1Job") == job and round_trip(service, "V1Service") == service
    assert job["metadata"]["name"] == service["metadata"]["name"] == launch.name
    assert (job["spec"]["completionMode"], job["spec"]["completions"], job["spec"]["parallelism"]) == ("Indexed", 4, 4)
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]
    assert pod["spec"]["subdomain"] == launch.name and service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (trainer,) = pod["spec"]["containers"]
    assert trainer["image"] == launch.image and trainer["command"] == launch.command
    assert trainer["resources"]["limits"]["nvidia.com/gpu"] == "8"   # the template's pod, kept
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in trainer["env"]}
    assert env["MASTER_ADDR"] == f"{launch.name}-0.{launch.name}" and env["WORLD_SIZE"] == "32"
    assert env["DAGSTER_PIPES_CONTEXT"] == "ctx" and env["PET_NNODES"] == "4"
    index = {"fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}
    assert env["NODE_RANK"] == env["PET_NODE_RANK"] == index
    assert trainer["envFrom"] == [{"secretRef": {"name": "janusflow-object-store"}}]


def test_the_job_status_ends_the_wait_or_names_the_failure():
    def status(*conditions):
        return V1JobStatus(conditions=[V1JobCondition(type=t, status=s, reason=r, message=m)
                                       for t, s, r, m in conditions])

    launch = NodeLaunch(name="janusflow-x", command=[], nodes=2, processes=8)
    assert not finished(status(), launch)
    assert finished(status(("Complete", "True", "", "")), launch)
    with pytest.raises(NodeFailed, match="the Job janusflow-x of 2 nodes failed \\(BackoffLimitExceeded: Job has "
                                         "reached the specified backoff limit\\); kubectl logs -l janusflow/job="):
        finished(status(("Failed", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit")),
                 launch)


def test_the_message_folder_reads_back_what_was_written_and_pods_need_a_store(tmp_path):
    folder = ChunkFolder(str(tmp_path / "session"))
    assert folder.read(1) is None
    folder.write(1, '{"method": "opened"}')
    assert folder.read(1) == '{"method": "opened"}' and not list((tmp_path / "session").glob("*.part"))
    reader = PipesStoreMessageReader(str(tmp_path))
    with reader.get_params() as params:
        assert params["store"].startswith(str(tmp_path) + "/") and params["interval"] == 5.0
    with pytest.raises(ValueError, match=f"would go to {tmp_path}/pipes, which pods cannot reach; set "
                                         "training.save_folder"):
        pipes_client("k8s-nodes").run(context=None, launch=NodeLaunch(name="j", command=[], nodes=2, processes=1),
                                      store=f"{tmp_path}/pipes")
