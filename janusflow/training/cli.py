"""Trains one stage of one ablation variant (resuming it if a checkpoint exists) and exports its EMA weights.

    python -m janusflow.training.cli stage1 --variant F            # tiny profile, CPU
    python -m janusflow.training.cli stage2 --variant F --profile paper
    composer -n 8 -m janusflow.training.cli stage2 --variant F --profile paper   # one node, 8 GPUs

Each stage starts from the previous stage's export (stage 1 from the foundations); variants A-F and the stage
settings come from params.yaml. A failure exits with status 1 and a message that says what to do.
"""

from __future__ import annotations

import argparse
import sys

from data.mixture import MixtureError
from janusflow.training.callbacks import NonFiniteLossError
from janusflow.training.run import MissingUpstreamError, StageRun, run_stage
from settings.cli import command_parser, parse_with_profile, run_options
from settings.params import load_params
from settings.training import STAGES
from settings.typed import SettingsError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = command_parser(__doc__, run_options())
    parser.add_argument("stage", choices=STAGES, help="which stage to train (each starts from the previous one)")
    parser.add_argument("--device", choices=["cpu", "gpu"], default=None,
                        help="where to train (default: a GPU when there is one)")
    return parse_with_profile(parser, argv)


def train(args: argparse.Namespace) -> tuple[int, StageRun | None]:
    """Train the stage ``args`` name; returns the exit status and the run (None when its settings are wrong)."""
    run = None
    try:
        run = StageRun.from_params(load_params(args.params), args.profile, args.variant, args.stage, args.seed)
        report = run_stage(run, args.device)
    except (SettingsError, MissingUpstreamError, MixtureError, NonFiniteLossError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1, run
    losses = report["losses"]
    shown = ", ".join(f"{k.split('/')[-1]}={v['last10_mean']}" for k, v in losses.items() if k.startswith("loss/"))
    print(f"{run.key.name} {args.stage}: {report['batches']} batches in {report['seconds']} s; {shown}; "
          f"export: {run.directory / 'export'}")
    return 0, run


def main(argv: list[str] | None = None) -> int:
    return train(parse_args(argv))[0]


if __name__ == "__main__":
    sys.exit(main())
