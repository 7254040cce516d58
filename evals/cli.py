"""Benchmarks from the command line.

    python -m evals.cli variant --variant F [--sweep]        # every benchmark of the profile for one variant
    python -m evals.cli variant --variant F --checkpoint DIR # any exported checkpoint
    python -m evals.cli tables                               # Tables 2-5 from every evaluated variant
    python -m evals.cli prompts                              # only write the prompt sets
    python -m evals.cli vae-ceiling --vae DIR                # what a VAE lets generation be judged to draw

Settings come from params.yaml (``profiles.<profile>.evaluation``); outputs go to its ``out`` folder. A failure
exits with status 1 and a message that says what to do; work finished before it stays on disk.
"""

from __future__ import annotations

import json
import sys

from data.publish import RunFolderMismatch
from evals.run import EvalRun, evaluate_variant, vae_ceiling
from evals.tables import write_tables
from janusflow.checkpoint import CheckpointMismatchError
from settings.cli import command_parser, parse_with_profile, progress_option, run_options
from settings.params import load_params
from settings.run import RunKey
from settings.typed import SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(__doc__, run_options(), progress_option())
    parser.add_argument("command", choices=["variant", "tables", "prompts", "vae-ceiling"],
                        help="evaluate a run, write the tables, build the prompt sets, or measure a VAE's ceiling")
    parser.add_argument("--checkpoint", default=None, help="an exported checkpoint (default: the variant's stage 3)")
    parser.add_argument("--sweep", action="store_true",
                        help="also sweep CFG weight and steps (the variants in "
                             "evaluation.generation.sweep_variants always are)")
    parser.add_argument("--vae", default=None, help="vae-ceiling: a diffusers VAE folder (e.g. a foundation's vae/)")
    args = parse_with_profile(parser, argv)
    try:
        run = EvalRun.from_params(load_params(args.params), args.profile)
        if args.command == "prompts":
            sets = run.prompt_sets
            print(f"prompt sets in {run.settings.out / 'prompts'}: GenEval {len(sets.geneval)}, DPG {len(sets.dpg)}, "
                  f"FID {len(sets.fid)}")
        elif args.command == "vae-ceiling":
            if not args.vae:
                raise ValueError("vae-ceiling needs --vae, a diffusers VAE folder such as "
                                 "artifacts/tiny/foundations/vae.")
            print(json.dumps(vae_ceiling(run, args.vae)))
        elif args.command == "variant":
            result = evaluate_variant(run, args.variant, args.checkpoint, args.sweep, not args.no_progress, args.seed)
            shown = ", ".join(f"{k}={v}" for k, v in result["summary"].items() if v is not None)
            print(f"{args.variant} ({args.profile}, {result['seconds']} s): {shown}; "
                  f"{run.settings.layout.run_dir(RunKey(args.variant, result['seed'])) / 'metrics.json'}")
        else:
            written = write_tables(run.settings.out, run.profile_name, list(run.params.variants), run.seeds[0])
            print("tables: " + ", ".join(str(p) for p in written))
    except (SettingsError, FileNotFoundError, CheckpointMismatchError, RunFolderMismatch, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
