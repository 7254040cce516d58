"""params.yaml ``profiles.<p>.model``: the sizes of a small model in the official format (tiny profile), or the
name of the published configuration (paper profile)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

OFFICIAL = "official_janusflow_1_3b"   # SigLIP-L/16-384 + DeepSeek-LLM 1.3B, REPA after block 6


@dataclass(frozen=True)
class TinyModelSettings:
    """``janusflow.config.tiny_janusflow_config``'s sizes (the vocabulary comes from the tokenizer foundation)."""

    image_size: int
    und_patch_size: int
    hidden: int
    layers: int
    heads: int
    gen_channels: int
    repa_layer: int
    max_positions: int
    chat_system_prompt: str | None   # null: the official system prompt


ModelSettings = TinyModelSettings | Literal["official_janusflow_1_3b"]
