"""A run of the study: which variant, from which seed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
