"""The project's assets behind a test's params file (``JANUSFLOW_UI_PARAMS``), for the browser test that drives
the Dagster UI: training runs in the run's process on the test's small world, and DVC is not touched."""

from __future__ import annotations

import os

from dagster import Definitions

from orchestration.assets import ASSETS
from orchestration.checks import CHECKS
from orchestration.resources import DvcResource, PipelinePaths, TrainerLauncher, pipes_client

defs = Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    resources={"paths": PipelinePaths(params=os.environ["JANUSFLOW_UI_PARAMS"], profile="tiny"),
               "dvc": DvcResource(enabled=False), "launcher": TrainerLauncher(mode="in_process"),
               "pipes_client": pipes_client("subprocess")},
)
