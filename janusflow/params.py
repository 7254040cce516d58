"""Reads ``params.yaml``, the single source of truth for profile settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEFAULT_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no params file at {path}; run from the repository root or pass --params PATH.")
    params = yaml.safe_load(path.read_text())
    if not isinstance(params, dict) or "profiles" not in params:
        raise ValueError(f"{path} has no 'profiles' section; restore it from the repository's params.yaml.")
    return params


def profile_params(params: dict[str, Any], profile: str) -> dict[str, Any]:
    profiles = params["profiles"]
    if profile not in profiles:
        raise KeyError(f"profile {profile!r} is not in params.yaml; choose one of {sorted(profiles)}.")
    return profiles[profile]
