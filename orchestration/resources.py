"""Dagster resources: where the pipeline's files are (from params.yaml), DVC (recording what an asset made in
dvc.lock and the DVC cache), the Pipes client that starts training processes (a subprocess, a Kubernetes pod per
stage, or several nodes: ``orchestration.nodes``), and the trainer launcher (in-process for tiny, through the Pipes
client for real runs)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from dagster import ConfigurableResource, MaterializeResult, PipesClient, PipesSubprocessClient

from orchestration.nodes import (
    KubernetesNodes,
    LocalNodes,
    NodeLaunch,
    PipesNodesClient,
    job_name,
    processes_per_node,
)
from settings.checks import CheckSettings
from settings.data import DataSettings
from settings.evaluation import EvalSettings
from settings.foundations import FoundationSettings, PretrainedFoundations
from settings.params import Params, Profile, load_params
from settings.report import ReportSettings
from settings.run import RunKey
from settings.training import TrainSettings

ROOT = Path(__file__).resolve().parents[1]


class PipelinePaths(ConfigurableResource):
    """The params file and profile every asset reads (parsed once per process by ``settings.params``)."""

    params: str = str(ROOT / "params.yaml")
    profile: str = ""  # empty: params.yaml's top-level ``profile``

    def parsed(self) -> Params:
        return load_params(self.params)

    def settings(self) -> Profile:
        return self.parsed().select(self.profile or None)

    @property
    def profile_name(self) -> str:
        return self.settings().name

    def data(self) -> DataSettings:
        return self.settings().data

    def foundations(self) -> FoundationSettings | PretrainedFoundations:
        return self.settings().foundations

    def training(self) -> TrainSettings:
        return self.settings().training

    def evaluation(self) -> EvalSettings:
        return self.settings().evaluation

    def report(self) -> ReportSettings:
        return self.settings().report

    def checks(self) -> CheckSettings:
        return self.settings().checks


def default_dvc() -> str:
    """The DVC that ``make setup`` installs into its own environment (``.venv-dvc``: DVC's hydra pins an antlr4
    runtime that Dagster's selection grammar cannot use), else a ``dvc`` on PATH."""
    tool = ROOT / ".venv-dvc" / "bin" / "dvc"
    return str(tool) if tool.is_file() else (shutil.which("dvc") or str(tool))


class DvcLockTimeout(RuntimeError):
    """DVC's repository lock stayed taken for longer than the resource waits."""


class DvcResource(ConfigurableResource):
    """Records an asset's outputs as its DVC stage's (``dvc commit``): dvc.lock gets their hashes, the cache their
    content, so ``dvc repro`` after a Dagster materialization has nothing to redo and ``dvc push`` ships it.
    Two materializations that finish together queue on DVC's repository lock (retried here), and the assets
    that touch DVC share one concurrency pool, so dvc.lock is never written by two processes at once."""

    root: str = str(ROOT)
    enabled: bool = True
    lock_wait_seconds: float = 300.0
    executable: str = ""  # empty: default_dvc()

    def _dvc(self, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
        deadline = time.monotonic() + self.lock_wait_seconds
        while True:
            executable = self.executable or default_dvc()
            try:
                done = subprocess.run([executable, *args], cwd=self.root, env=env, capture_output=True, text=True)
            except FileNotFoundError as error:
                raise RuntimeError(f"no DVC at {executable}; run make setup (it installs DVC into .venv-dvc) or set "
                                   "the dvc resource's executable.") from error
            if done.returncode == 0:
                return done
            if "Unable to acquire lock" not in done.stderr + done.stdout or time.monotonic() > deadline:
                break
            time.sleep(2.0)
        if "Unable to acquire lock" in done.stderr + done.stdout:
            raise DvcLockTimeout(f"dvc {' '.join(args)}: the DVC lock in {self.root}/.dvc stayed taken for "
                                 f"{self.lock_wait_seconds:.0f} s; wait for the other dvc command or remove a stale "
                                 ".dvc/tmp/rwlock after checking no dvc process runs.")
        raise RuntimeError(f"dvc {' '.join(args)} failed in {self.root}:\n{done.stderr[-2000:]}")

    def commit(self, stage: str) -> dict[str, str]:
        """Commit ``stage`` (e.g. ``stage1@F``) and return its outputs' content hashes from dvc.lock."""
        if not self.enabled:
            return {}
        self._dvc("commit", "--force", "--quiet", stage)
        return self.output_hashes(stage)

    def lock_outputs(self) -> dict[str, dict[str, str]]:
        """Every stage's outputs in dvc.lock (``{stage: {path: md5}}``), read once."""
        lock = Path(self.root) / "dvc.lock"
        stages = ((yaml.safe_load(lock.read_text()) or {}).get("stages") or {}) if lock.is_file() else {}
        return {name: {o["path"]: o.get("md5", "") for o in (stage or {}).get("outs") or []}
                for name, stage in stages.items()}

    def output_hashes(self, stage: str) -> dict[str, str]:
        return self.lock_outputs().get(stage, {})


PIPES_BACKENDS = ("subprocess", "k8s", "local-nodes", "k8s-nodes")
JOB_TEMPLATE = ROOT / "deploy" / "k8s" / "trainer-job.yaml"


def pipes_client(backend: str) -> PipesClient:
    """The Pipes client training stages start with: a subprocess on this machine (``subprocess``); one Kubernetes
    pod per stage (``k8s``: dagster-k8s's PipesK8sClient); the launcher's ``nodes`` as processes here
    (``local-nodes``) or as the pods of an Indexed Job (``k8s-nodes``). ``orchestration.definitions`` picks it from the environment
    (``JANUSFLOW_PIPES``)."""
    if backend == "subprocess":
        return PipesSubprocessClient(cwd=str(ROOT))
    if backend == "k8s":
        try:
            from dagster_k8s import PipesK8sClient
        except ImportError as error:
            raise RuntimeError("JANUSFLOW_PIPES=k8s needs dagster-k8s, the release of the installed dagster (pip install "
                               "-r requirements.lock, or the kubernetes extra); or unset JANUSFLOW_PIPES to train in "
                               "a subprocess.") from error
        return PipesK8sClient()
    if backend == "local-nodes":
        return PipesNodesClient(LocalNodes(ROOT))
    if backend == "k8s-nodes":
        return PipesNodesClient(KubernetesNodes())
    raise ValueError(f"JANUSFLOW_PIPES is {backend!r}; use one of {list(PIPES_BACKENDS)}.")


def job_template(template: str | Path) -> dict[str, Any]:
    """The Kubernetes Job ``template``; raises when it has no pod (``spec.template.spec``)."""
    job = yaml.safe_load(Path(template).read_text())
    try:
        job["spec"]["template"]["spec"]["containers"][0]
    except (KeyError, TypeError, IndexError) as error:
        raise ValueError(f"{template} is not a Kubernetes Job (it has no spec.template.spec with a container); start "
                         f"from {JOB_TEMPLATE.relative_to(ROOT)}.") from error
    return job


def job_pod_spec(template: str | Path) -> dict[str, Any]:
    """The pod of the Kubernetes Job ``template`` (``spec.template.spec``), which PipesK8sClient starts with the
    stage's command and the Pipes environment in its first container; ``kubectl create -f`` runs the same Job."""
    return job_template(template)["spec"]["template"]["spec"]


class TrainerLauncher(ConfigurableResource):
    """Runs one training stage: ``in_process`` calls the library (tiny runs); ``pipes`` starts the stage entry
    point (``orchestration.pipes_stage``) under a module runner through the Pipes client resource, whose rank 0
    streams its log and reports the materialization back. ``auto`` picks in_process for the tiny profile and
    pipes otherwise. ``image``, ``namespace`` and ``job_template`` apply to a Kubernetes client; ``nodes`` above 1
    needs a nodes client (``JANUSFLOW_PIPES=local-nodes`` or ``k8s-nodes``), whose rank 0 reports through
    ``messages``."""

    mode: str = "auto"
    command: list[str] = []  # the module runner of pipes mode, ending in -m; default: params.yaml ``launcher``
    image: str = "janusflow:latest"
    namespace: str = ""  # empty: the client's (the pod's own namespace in a cluster, else default)
    job_template: str = str(JOB_TEMPLATE)
    nodes: int = 1
    messages: str = ""  # where a nodes client's Pipes messages go; empty: <training.save_folder or .out>/pipes

    def runner(self, launcher: str, local: bool = True) -> list[str]:
        """``command``, or params.yaml's ``launcher`` (as ``dvc repro`` runs it); ``local``: its ``python`` this
        interpreter (a pod keeps the image's)."""
        tokens = list(self.command) or shlex.split(launcher)
        if tokens[-1] != "-m":
            raise ValueError(f"TrainerLauncher.command is {tokens}; end it with -m, e.g. [composer, -n, 8, -m].")
        return [sys.executable if local and tokens[0] == "python" else tokens[0], *tokens[1:]]

    def resolved_mode(self, profile: str) -> str:
        if self.mode not in ("auto", "in_process", "pipes"):
            raise ValueError(f"TrainerLauncher.mode is {self.mode!r}; use auto, in_process or pipes.")
        return ("in_process" if profile == "tiny" else "pipes") if self.mode == "auto" else self.mode

    def launch(self, context, paths: PipelinePaths, stage: str, run: RunKey,
               client: PipesClient) -> MaterializeResult | None:
        """Train the stage; in pipes mode return what its rank 0 reported (None in process: the asset reads the
        stage's files itself)."""
        from data.shard_store import is_url
        from janusflow.training.run import StageRun, run_stage

        if self.resolved_mode(paths.profile_name) == "in_process":
            run_stage(StageRun.from_params(paths.parsed(), paths.profile_name, run.variant, stage, run.seed))
            return None
        on_nodes = isinstance(client, PipesNodesClient)
        if self.nodes < 1 or (self.nodes > 1 and not on_nodes):
            raise ValueError(f"TrainerLauncher.nodes is {self.nodes}; one node trains through any Pipes client, "
                             "several through JANUSFLOW_PIPES=local-nodes or k8s-nodes, not "
                             f"{type(client).__name__}.")
        local = client.local if on_nodes else isinstance(client, PipesSubprocessClient)
        if on_nodes and local and self.nodes > 1 and not is_url(paths.training().save_folder or ""):
            raise ValueError(f"TrainerLauncher.nodes is {self.nodes} on this machine, and training.save_folder in "
                             f"{paths.params} is no object-store URL; nodes that share a disk cannot share a "
                             "checkpoint folder (Composer's autoresume signal file); set it to s3://... .")
        params = paths.params if local else in_image(paths.params)
        runner = self.runner(paths.parsed().launcher, local)
        command = [*runner, "orchestration.pipes_stage", stage, "--variant", run.variant, "--seed", str(run.seed),
                   "--params", params, "--profile", paths.profile_name]
        if on_nodes:
            launch = self.node_launch(job_name(stage, run.variant, run.seed, context.run.run_id), runner, command, local)
            return client.run(context=context, launch=launch, store=self.message_store(paths)).get_materialize_result()
        if local:
            return client.run(context=context, command=command).get_materialize_result()
        return client.run(context=context, **self.pod_arguments(command)).get_materialize_result()

    def pod_arguments(self, command: list[str]) -> dict[str, Any]:
        """What PipesK8sClient.run takes to start the stage's pod from ``job_template``."""
        return {"image": self.image, "command": command, "namespace": self.namespace or None,
                "base_pod_spec": job_pod_spec(self.job_template)}


    def node_launch(self, name: str, runner: list[str], command: list[str], local: bool) -> NodeLaunch:
        """What each of ``nodes`` runs (``command``, under ``runner``), and where: the Kubernetes Job template
        unless the nodes are local."""
        processes = processes_per_node(runner) if self.nodes > 1 else 1
        return NodeLaunch(name=name, command=command, nodes=self.nodes, processes=processes, image=self.image,
                          namespace=self.namespace, job_template={} if local else job_template(self.job_template))

    def message_store(self, paths: PipelinePaths) -> str:
        """Where a nodes client's rank 0 writes its Pipes messages: ``messages``, else beside the checkpoints."""
        training = paths.training()
        return self.messages or f"{(training.save_folder or str(ROOT / training.out)).rstrip('/')}/pipes"


def in_image(path: str) -> str:
    """A file of this repository as the image sees it (relative to its working directory, the repository's
    copy); a path outside the repository is taken as mounted at the same place."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else path
