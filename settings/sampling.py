"""params.yaml ``sampling``: how images are drawn, for every sampler of the project (training grids, evaluation,
the demo and the generate command). Library samplers take these values as arguments and default none of them;
a caller that departs from them says so (``with_overrides``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from settings.typed import from_section

Template = Literal["sft", "pretrain"]   # sft: "User: {prompt}\n\nAssistant:" + the generation tag


@dataclass(frozen=True)
class SamplingSettings:
    steps: int           # Euler steps of the rectified flow (paper: 30)
    cfg_weight: float    # classifier-free guidance weight (paper: w = 2)
    template: Template

    def with_overrides(self, overrides: dict[str, Any], where: str) -> SamplingSettings:
        """These settings with ``overrides`` (a partial ``sampling`` mapping, type-checked) in place."""
        return from_section(SamplingSettings, {**dataclasses.asdict(self), **overrides}, where)
