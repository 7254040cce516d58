"""REPA projector: ours, outside the official checkpoint prefixes (``repa_head.*``).

REPA aligns the LLM's intermediate features with a frozen visual encoder's features. The paper uses the LLM
features after block 6 and a 3-layer MLP; the target is the understanding encoder's features of the clean image.
"""

from __future__ import annotations

import torch
from torch import nn


class RepaHead(nn.Module):
    """3-layer MLP with SiLU: LLM width -> hidden -> hidden -> understanding-encoder width."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.SiLU(),
            nn.Linear(hidden_dim, hidden_dim), nn.SiLU(),
            nn.Linear(hidden_dim, out_dim),
        )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.mlp(hidden)
