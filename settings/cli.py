"""The options the commands share, as argparse parent parsers: which params file and profile, which run, progress
bars, and the sampling overrides. Every command builds its parser with ``command_parser``."""

from __future__ import annotations

import argparse

from settings.params import load_params
from settings.typed import SettingsError


def profile_options() -> argparse.ArgumentParser:
    """``--params`` and ``--profile``."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--params", default="params.yaml", help="the params file (default: params.yaml)")
    parser.add_argument("--profile", default=None,
                        help="a profile of the params file (default: its top-level 'profile', as dvc.yaml runs)")
    return parser


def progress_option() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (logs of pipelines and CI)")
    return parser


def run_options(variant: str | None = "F") -> argparse.ArgumentParser:
    """``--variant`` (required when ``variant`` is None) and ``--seed``: one run of the study."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--variant", default=variant, required=variant is None,
                        help="an ablation variant of params.yaml variants" + (f" (default: {variant})" if variant else ""))
    parser.add_argument("--seed", type=int, default=None,
                        help="which run of the variant (default: the first of params.yaml seeds)")
    return parser


def sampling_options() -> argparse.ArgumentParser:
    """Departures from params.yaml ``sampling`` for one command."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--steps", type=int, default=None, help="Euler steps (default: params.yaml sampling.steps)")
    parser.add_argument("--cfg-weight", type=float, default=None,
                        help="classifier-free guidance weight (default: params.yaml sampling.cfg_weight)")
    return parser


def sampling_overrides(args: argparse.Namespace) -> dict[str, float]:
    """The sampling options given on the command line, as a partial ``sampling`` mapping."""
    return {key: value for key, value in (("steps", args.steps), ("cfg_weight", args.cfg_weight)) if value is not None}


def command_parser(doc: str | None, *parents: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """A command's parser: its module docstring as the description, the profile options and ``parents``."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter,
                                   parents=[profile_options(), *parents])


def parse_with_profile(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """``parser.parse_args`` with ``--profile`` resolved (the params file's own ``profile`` when not given, so that
    a command run by hand reads the same settings as ``dvc repro`` and the Dagster assets); a missing or invalid
    params file is a usage error that names it."""
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        args.profile = args.profile or params.select().name
    except (FileNotFoundError, SettingsError) as error:
        parser.error(str(error))
    return args
