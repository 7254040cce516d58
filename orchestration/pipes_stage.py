"""The training stage as a dagster-pipes process (TrainerLauncher in ``pipes`` mode), on this machine, in a
Kubernetes pod or on several nodes: runs the training CLI with the same arguments and reports the stage back to the
Dagster run that launched it. Under a multi-process launcher (``composer -n 8 -m orchestration.pipes_stage ...``)
every rank trains and only global rank 0 opens Pipes: it streams its log lines and, at the end, the
materialization's metadata (the losses, the loss curve and the last sample grid as images) and data version, read
where the stage wrote them, so that the asset reads nothing from disk. On several nodes its messages go through the
store folder Dagster named (``orchestration.pipes_store``), elsewhere to Dagster's default file or stdout.

    python -m orchestration.pipes_stage stage2 --variant F --seed 0 --profile paper
"""

from __future__ import annotations

import sys

from composer.utils import dist
from dagster_pipes import open_dagster_pipes

from janusflow.training import cli
from orchestration.metadata import content_digest, pipes_metadata
from orchestration.node_metadata import training_stage
from orchestration.pipes_store import PipesStoreMessageWriter
from orchestration.resources import PipelinePaths


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if dist.get_global_rank() != 0:   # the launchers' RANK; 0 for a single process
        return cli.main(argv)
    args = cli.parse_args(argv)
    with open_dagster_pipes(message_writer=PipesStoreMessageWriter()) as pipes:
        pipes.log.info(f"python -m janusflow.training.cli {' '.join(argv)} (rank 0 of {dist.get_world_size()})")
        status, run = cli.train(args)
        pipes.log.info(f"training exited with status {status}")
        if status or run is None:
            raise SystemExit(status or 1)
        paths = PipelinePaths(params=str(args.params), profile=args.profile)
        metadata = training_stage(paths, args.stage, run.key)
        pipes.report_asset_materialization(metadata=pipes_metadata(metadata),
                                           data_version=content_digest({}, [run.files.export]))
    return status


if __name__ == "__main__":
    sys.exit(main())
