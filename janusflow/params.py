"""Reads ``params.yaml``, the single source of truth for profile settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from data.settings import from_section

DEFAULT_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no params file at {path}; run from the repository root or pass --params PATH.")
    params = yaml.safe_load(path.read_text())
    if not isinstance(params, dict) or "profiles" not in params:
        raise ValueError(f"{path} has no 'profiles' section; restore it from the repository's params.yaml.")
    return params


@dataclass(frozen=True)
class SamplingSettings:
    """params.yaml ``sampling``: how images are drawn unless a caller overrides it (the paper's 30 Euler steps at
    CFG weight 2, with the SFT prompt template)."""

    steps: int
    cfg_weight: float
    template: str


def sampling_settings(params: dict[str, Any]) -> SamplingSettings:
    """The ``sampling`` section, type-checked; every key is required (its values live in params.yaml only)."""
    return from_section(SamplingSettings, params.get("sampling"), "sampling")


def profile_params(params: dict[str, Any], profile: str) -> dict[str, Any]:
    profiles = params["profiles"]
    if profile not in profiles:
        raise KeyError(f"profile {profile!r} is not in params.yaml; choose one of {sorted(profiles)}.")
    return profiles[profile]


@dataclass(frozen=True)
class RunKey:
    """One run of the study: a variant trained from one seed. It is the partition of the per-run assets and the
    item of DVC's matrix, and its files live in ``<variant>/seed<seed>/`` under the training and evaluation
    outputs."""

    variant: str
    seed: int

    @property
    def folder(self) -> Path:
        return Path(self.variant) / f"seed{self.seed}"

    @property
    def name(self) -> str:
        """DVC's name for the matrix item (``stage1@F-0``)."""
        return f"{self.variant}-{self.seed}"


def study_seeds(params: dict[str, Any]) -> list[int]:
    """params.yaml's ``seeds``: every variant is trained once from each (default ``[0]``)."""
    seeds = params.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds) \
            or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds in params.yaml is {seeds!r}; give a list of distinct non-negative integers, "
                         "e.g. seeds: [0, 1, 2].")
    return seeds


def run_key(params: dict[str, Any], variant: str, seed: int | None = None) -> RunKey:
    """The run of ``variant`` from ``seed``; without one, from the first of params.yaml's ``seeds``."""
    return RunKey(variant, study_seeds(params)[0] if seed is None else seed)
