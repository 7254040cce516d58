"""The Dagster code location (workspace.yaml, [tool.dagster]): assets, checks, resources, jobs, schedule,
sensors (new checkpoints; what dvc repro built).

    DAGSTER_HOME=$PWD/.dagster_home dagster dev -h 127.0.0.1     # or: make ui

Training stages start through the Pipes client resource: a subprocess here, with ``JANUSFLOW_PIPES=k8s`` one
Kubernetes pod per stage, with ``k8s-nodes`` (an Indexed Job) or ``local-nodes`` the launcher's ``nodes``
(docs/orchestration.md, "Kubernetes" and "Several nodes").
"""

from __future__ import annotations

import os

from dagster import Definitions

from orchestration.assets import ASSETS
from orchestration.checks import CHECKS
from orchestration.dvc_state import dvc_state
from orchestration.jobs import benchmarks_job, benchmarks_on_new_checkpoints, nightly_benchmarks, report_job
from orchestration.resources import DvcResource, PipelinePaths, TrainerLauncher, pipes_client

defs = Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=[benchmarks_job, report_job],
    schedules=[nightly_benchmarks],
    sensors=[benchmarks_on_new_checkpoints, dvc_state],
    resources={"paths": PipelinePaths(), "dvc": DvcResource(), "launcher": TrainerLauncher(),
               "pipes_client": pipes_client(os.environ.get("JANUSFLOW_PIPES", "subprocess"))},
)
