"""One training stage on several nodes, started from Dagster through Pipes. Every node runs the same command under
the module runner (``composer -n 8 -m``) and learns its place from the rendezvous environment: NODE_RANK,
WORLD_SIZE, MASTER_ADDR and MASTER_PORT, which Composer's launcher reads (torchrun reads the PET_ names). Node 0
holds global rank 0, the only process that opens Pipes; the nodes share no disk with Dagster, so its messages come
back through a folder on the object store (``orchestration.pipes_store``).

- ``LocalNodes``: the nodes are process groups on this machine, each with its own /dev/shm and temporary folder,
  node 0 at 127.0.0.1 (to try the route before a cluster; the test).
- ``KubernetesNodes``: an Indexed Job of ``deploy/k8s/trainer-job.yaml``'s pod, one pod per node, which find node 0
  through a headless Service (pod ``<job>-0`` of subdomain ``<job>``).
"""

from __future__ import annotations

import copy
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from tempfile import gettempdir
from typing import Any, Protocol

from dagster import PipesClient, PipesClientCompletedInvocation, PipesEnvContextInjector, open_pipes_session

RENDEZVOUS_PORT = 29500
COMPLETION_INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
RUNNER_PROCESSES = {"composer": ("-n", "--nproc"), "torchrun": ("--nproc_per_node", "--nproc-per-node")}


class NodeFailed(RuntimeError):
    """A node of the stage exited with an error, or the Job that held the nodes failed."""


@dataclass(frozen=True)
class NodeLaunch:
    """What every node runs. ``env`` is the Pipes bootstrap environment; ``image``, ``namespace`` and
    ``job_template`` place the nodes on Kubernetes."""

    name: str                  # a DNS-1123 label: the Job's and the Service's name
    command: list[str]
    nodes: int
    processes: int             # per node
    env: dict[str, str] = field(default_factory=dict)
    image: str = ""
    namespace: str = ""
    job_template: dict[str, Any] = field(default_factory=dict)


def job_name(stage: str, variant: str, seed: int, run_id: str) -> str:
    """A DNS-1123 label for the stage's nodes, unique to the Dagster run."""
    return re.sub(r"[^a-z0-9-]", "-", f"janusflow-{stage}-{variant}-s{seed}-{run_id[:8]}".lower())[:63].strip("-")


def processes_per_node(runner: list[str]) -> int:
    """The processes the module runner starts on each node (Composer's ``-n``, torchrun's ``--nproc_per_node``);
    the world size is that times the nodes, so it must be given."""
    program = Path(runner[0]).name
    if program not in RUNNER_PROCESSES:
        raise ValueError(f"the launcher {' '.join(runner)} has no rendezvous between nodes; several nodes need "
                         "composer -n <gpus> -m or torchrun --nproc_per_node <gpus> -m (params.yaml launcher or the "
                         "launcher resource's command).")
    flags = RUNNER_PROCESSES[program]
    for i, token in enumerate(runner):
        name, _, value = token.partition("=")
        if name in flags:
            return int(value or runner[i + 1])
    raise ValueError(f"the launcher {' '.join(runner)} does not say how many processes each node runs; add "
                     f"{flags[0]} <gpus per node>.")


def rendezvous_env(node_rank: int, nodes: int, processes: int, master_addr: str, port: int) -> dict[str, str]:
    """A node's place in the job, for Composer's launcher and for torchrun; one node needs none."""
    if nodes == 1:
        return {}
    return {"NODE_RANK": str(node_rank), "WORLD_SIZE": str(nodes * processes), "MASTER_ADDR": master_addr,
            "MASTER_PORT": str(port), "PET_NODE_RANK": str(node_rank), "PET_NNODES": str(nodes),
            "PET_MASTER_ADDR": master_addr, "PET_MASTER_PORT": str(port)}


class NodeStarter(Protocol):
    local: bool   # whether the nodes see this machine's files

    def run(self, launch: NodeLaunch) -> None:
        """Run every node to its end; raise NodeFailed when one fails."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (a rendezvous, a server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def private_mounts() -> list[str]:
    """A command prefix that runs its command with a /dev/shm and a temporary folder of its own (the same path in
    every node, so that a path broadcast from rank 0 names each node's own folder)."""
    node_tmp = shlex.quote(str(Path(gettempdir()) / "janusflow-node"))
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
            f'mkdir -p {node_tmp} && mount -t tmpfs tmpfs /dev/shm && mount -t tmpfs tmpfs {node_tmp} && '
            f'TMPDIR={node_tmp} exec "$@"', "node"]


class LocalNodes:
    """The nodes as process groups on this machine, each with a node-local /dev/shm and temporary folder of its own
    (a private mount namespace: ``unshare``, which needs root or user namespaces). Streaming keeps one machine's
    shared memory per node, and Composer broadcasts rank 0's temporary paths to every node, so nodes that shared
    them would take each other's names and files. When one node fails the others are stopped: a node cannot finish
    without its peers, and would wait on the rendezvous until its timeout."""

    local = True

    def __init__(self, cwd: str | Path, poll_seconds: float = 0.5, stop_seconds: float = 30.0):
        self.cwd, self.poll_seconds, self.stop_seconds = str(cwd), poll_seconds, stop_seconds

    def run(self, launch: NodeLaunch) -> None:
        port = free_port()
        command = [*private_mounts(), *launch.command] if launch.nodes > 1 else launch.command
        nodes = [subprocess.Popen(command, cwd=self.cwd, start_new_session=True,
                                  env={**os.environ, **launch.env,
                                       **rendezvous_env(rank, launch.nodes, launch.processes, "127.0.0.1", port)})
                 for rank in range(launch.nodes)]
        try:
            while True:
                codes = [node.poll() for node in nodes]
                failed = [(rank, code) for rank, code in enumerate(codes) if code not in (None, 0)]
                if failed:
                    rank, code = failed[0]
                    raise NodeFailed(f"node {rank} of {launch.nodes} ({launch.name}) exited with {code}; the other "
                                     "nodes were stopped. Its log is above (each node mounts its own /dev/shm and "
                                     "temporary folder with unshare, which needs root or user namespaces).")
                if all(code == 0 for code in codes):
                    return
                time.sleep(self.poll_seconds)
        finally:
            for node in nodes:
                if node.poll() is None:
                    os.killpg(node.pid, signal.SIGTERM)
            for node in nodes:
                try:
                    node.wait(timeout=self.stop_seconds)
                except subprocess.TimeoutExpired:
                    os.killpg(node.pid, signal.SIGKILL)
                    node.wait()


def labelled(metadata: dict[str, Any] | None, labels: dict[str, str]) -> dict[str, Any]:
    """Kubernetes object metadata with ``labels`` added to its own."""
    metadata = dict(metadata or {})
    return {**metadata, "labels": {**(metadata.get("labels") or {}), **labels}}


def indexed_job(launch: NodeLaunch, port: int = RENDEZVOUS_PORT) -> tuple[dict[str, Any], dict[str, Any]]:
    """The headless Service and the Indexed Job of ``launch``: the template's pod, one per node, with the image,
    the command, the Pipes environment and each pod's node rank (its completion index). The Job does not restart
    a failed pod (a lone pod cannot rejoin the others' rendezvous): the stage fails, and a retry resumes it from
    ``training.save_folder``."""
    labels = {"app.kubernetes.io/name": "janusflow-trainer", "janusflow/job": launch.name}
    job = copy.deepcopy(launch.job_template)
    job["metadata"] = {**labelled(job.get("metadata"), labels), "name": launch.name}
    job["metadata"].pop("generateName", None)
    spec = job["spec"]
    spec.update(completionMode="Indexed", completions=launch.nodes, parallelism=launch.nodes, backoffLimit=0)
    pod = spec["template"]
    pod["metadata"] = labelled(pod.get("metadata"), labels)
    pod["spec"]["subdomain"] = launch.name
    trainer = pod["spec"]["containers"][0]
    place = rendezvous_env(0, launch.nodes, launch.processes, f"{launch.name}-0.{launch.name}", port)
    rank = {"valueFrom": {"fieldRef": {"fieldPath": COMPLETION_INDEX}}}
    trainer.update(image=launch.image or trainer.get("image"), command=list(launch.command))
    trainer.pop("args", None)
    trainer["env"] = [*(trainer.get("env") or []),
                      *({"name": k, "value": v} for k, v in {**launch.env, **place}.items() if "NODE_RANK" not in k),
                      *({"name": k, **rank} for k in place if "NODE_RANK" in k)]
    trainer["ports"] = [*(trainer.get("ports") or []), {"name": "rendezvous", "containerPort": port}]
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": launch.name, "labels": labels},
               "spec": {"clusterIP": "None", "selector": {"janusflow/job": launch.name},
                        "publishNotReadyAddresses": True, "ports": [{"name": "rendezvous", "port": port}]}}
    return service, job


class KubernetesNodes:
    """The nodes as an Indexed Job on the cluster of the in-cluster service account or the local kubeconfig;
    the Job and its Service are deleted when the stage ends, however it ends."""

    local = False

    def __init__(self, poll_seconds: float = 10.0):
        self.poll_seconds = poll_seconds

    def run(self, launch: NodeLaunch) -> None:
        from kubernetes import client, config

        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        core, batch = client.CoreV1Api(), client.BatchV1Api()
        namespace = launch.namespace or "default"
        service, job = indexed_job(launch)
        core.create_namespaced_service(namespace, service)
        try:
            batch.create_namespaced_job(namespace, job)
            while not finished(batch.read_namespaced_job_status(launch.name, namespace).status, launch):
                time.sleep(self.poll_seconds)
        finally:
            batch.delete_namespaced_job(launch.name, namespace, propagation_policy="Background")
            core.delete_namespaced_service(launch.name, namespace)


def finished(status: Any, launch: NodeLaunch) -> bool:
    """Whether the Job is complete; raises NodeFailed when it failed."""
    for condition in status.conditions or []:
        if condition.status == "True" and condition.type == "Failed":
            raise NodeFailed(f"the Job {launch.name} of {launch.nodes} nodes failed ({condition.reason}: "
                             f"{condition.message}); kubectl logs -l janusflow/job={launch.name} shows the nodes' logs.")
        if condition.status == "True" and condition.type == "Complete":
            return True
    return False


class PipesNodesClient(PipesClient):
    """A Pipes client for several nodes: the context goes to every node in its environment, rank 0's messages come
    back through a folder under the message store, and ``starter`` runs the nodes."""

    def __init__(self, starter: NodeStarter, poll_seconds: float = 5.0):
        self.starter, self.poll_seconds = starter, poll_seconds

    @property
    def local(self) -> bool:
        return self.starter.local

    def run(self, *, context, launch: NodeLaunch, store: str,
            extras: dict | None = None) -> PipesClientCompletedInvocation:  # type: ignore[override]
        from composer.utils import parse_uri  # Composer loads in seconds; the code location loads without it

        from orchestration.pipes_store import PipesStoreMessageReader

        if not self.local and not parse_uri(store)[0]:
            raise ValueError(f"the nodes' Pipes messages would go to {store}, which pods cannot reach; set "
                             "training.save_folder in params.yaml to an object-store URL (s3://...), or the launcher "
                             "resource's messages.")
        with open_pipes_session(context=context, context_injector=PipesEnvContextInjector(),
                                message_reader=PipesStoreMessageReader(store, self.poll_seconds),
                                extras=extras) as session:
            self.starter.run(replace(launch, env=session.get_bootstrap_env_vars()))
        return PipesClientCompletedInvocation(session)

