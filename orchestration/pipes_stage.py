"""The training stage as a dagster-pipes subprocess (TrainerLauncher in ``pipes`` mode): runs the training CLI
with the same arguments and reports its outcome to the Dagster run that launched it; the launcher then reads the
stage's metrics.json.

    python -m orchestration.pipes_stage stage2 --variant F --seed 0 --profile paper
"""

from __future__ import annotations

import sys

from dagster_pipes import open_dagster_pipes

from janusflow.training import cli


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with open_dagster_pipes() as pipes:
        pipes.log.info(f"python -m janusflow.training.cli {' '.join(argv)}")
        status = cli.main(argv)
        pipes.log.info(f"training exited with status {status}")
        if status:
            raise SystemExit(status)
    return status


if __name__ == "__main__":
    sys.exit(main())
