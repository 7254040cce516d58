"""Builds the tiny profile's foundations from the data lineage; each command is one DVC stage / Dagster asset.

    python -m janusflow.foundations.cli tokenizer   # byte-level BPE            -> <out>/tokenizer
    python -m janusflow.foundations.cli llm         # LlamaForCausalLM          -> <out>/llm        (needs tokenizer)
    python -m janusflow.foundations.cli encoder     # SigLIP-style dual encoder -> <out>/encoder    (needs tokenizer)
    python -m janusflow.foundations.cli vae         # AutoencoderKL             -> <out>/vae
    python -m janusflow.foundations.cli all

Each writes its weights, ``metrics.json`` (metrics, gate verdict, settings, code version) and exits with status 1
when a quality gate in params.yaml fails, so nothing downstream trains on a bad foundation.
"""

from __future__ import annotations

import sys

from janusflow.foundations.build import BuildContext, publish
from settings.cli import command_parser, parse_with_profile, progress_option
from settings.foundations import FOUNDATIONS
from settings.params import load_params


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(__doc__, progress_option())
    parser.add_argument("foundation", choices=[*FOUNDATIONS, "all"], help="which foundation to build (all: in order)")
    args = parse_with_profile(parser, argv)
    ctx = BuildContext(load_params(args.params).select(args.profile), not args.no_progress)
    status = 0
    for name in FOUNDATIONS if args.foundation == "all" else [args.foundation]:
        metrics, failures = publish(name, ctx)
        print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in metrics.items()))
        print(f"{name}: quality gates {'passed' if not failures else 'FAILED: ' + '; '.join(failures)}")
        status = status or int(bool(failures))
    return status


if __name__ == "__main__":
    sys.exit(main())
