"""Typed views of params.yaml sections: unknown keys are errors that list the valid ones."""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class SettingsError(ValueError):
    """A params.yaml section has an unknown key, a missing key or a value of the wrong kind."""


def from_section(cls: type[T], section: dict[str, Any] | None, where: str) -> T:
    """Build dataclass ``cls`` from a params section; ``where`` names the section in error messages."""
    section = dict(section or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(section) - names)
    if unknown:
        raise SettingsError(f"{where} has unknown key(s) {unknown}; valid keys are {sorted(names)}.")
    try:
        return cls(**section)
    except TypeError as error:
        raise SettingsError(f"{where}: {error}; valid keys are {sorted(names)}.") from error


def _read_params(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no params file at {path}; run from the repository root or pass --params PATH.")
    return yaml.safe_load(path.read_text()) or {}


def add_profile_options(parser: argparse.ArgumentParser) -> None:
    """``--params`` and ``--profile``, the same in every command."""
    parser.add_argument("--params", default="params.yaml", help="the params file (default: params.yaml)")
    parser.add_argument("--profile", default=None,
                        help="a profile of the params file (default: its top-level 'profile', as dvc.yaml runs)")


def selected_profile(path: str | Path, given: str | None = None) -> str:
    """The profile a command runs: ``given`` (``--profile``) if set, else the params file's top-level ``profile``,
    so that a command run by hand reads the same settings as ``dvc repro`` and the Dagster assets."""
    if given:
        return given
    chosen = _read_params(path).get("profile", "tiny")
    if not isinstance(chosen, str) or not chosen:
        raise SettingsError(f"{path}: the top-level profile is {chosen!r}; set it to a profile name (tiny or paper).")
    return chosen


def parse_with_profile(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """``parser.parse_args`` with ``--profile`` resolved by ``selected_profile``; a missing params file or a bad
    top-level profile is a usage error that names it."""
    args = parser.parse_args(argv)
    try:
        args.profile = selected_profile(args.params, args.profile)
    except (FileNotFoundError, SettingsError) as error:
        parser.error(str(error))
    return args


def load_profile(path: str | Path, profile: str) -> dict[str, Any]:
    """The ``profiles.<profile>`` section of a params file, plus the top-level ``seed``."""
    params = _read_params(path)
    profiles = params.get("profiles") or {}
    if profile not in profiles:
        raise SettingsError(f"profile {profile!r} is not in {path}; choose one of {sorted(profiles)}.")
    return {"seed": params.get("seed", 0), **profiles[profile]}


def code_version() -> str:
    """The git commit of the working tree (with ``+dirty`` when it has uncommitted changes), or ``unknown``."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def resolve_workers(value: int | str) -> int:
    """``workers`` from params: a count, or ``auto`` for every core this process may use."""
    if value == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    if isinstance(value, int) and value >= 1:
        return value
    raise SettingsError(f"workers={value!r}; use a positive integer or 'auto'.")
