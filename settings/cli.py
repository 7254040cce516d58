"""The options every command shares: which params file and which of its profiles."""

from __future__ import annotations

import argparse

from settings.params import load_params
from settings.typed import SettingsError


def add_profile_options(parser: argparse.ArgumentParser) -> None:
    """``--params`` and ``--profile``, the same in every command."""
    parser.add_argument("--params", default="params.yaml", help="the params file (default: params.yaml)")
    parser.add_argument("--profile", default=None,
                        help="a profile of the params file (default: its top-level 'profile', as dvc.yaml runs)")


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
