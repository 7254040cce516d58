"""Puts foundations into a JanusFlowModel: the pretrained LLM into ``language_model`` and the pretrained encoder
tower into ``vision_und_enc_model``; the parts JanusFlow adds (aligners, generation encoder and decoder,
begin-of-image embedding, REPA head) stay freshly initialised for stage 1 to train."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import LlamaForCausalLM

from janusflow.config import JanusFlowConfig
from janusflow.foundations.pretrained import load_language_model, load_siglip_encoder
from janusflow.foundations.siglip import SiglipDualEncoder
from janusflow.modeling import JanusFlowModel
from janusflow.modeling.understanding_encoder import UnderstandingEncoder


def assemble(config: JanusFlowConfig, language_model: LlamaForCausalLM, encoder: UnderstandingEncoder,
             seed: int = 0) -> JanusFlowModel:
    """A JanusFlowModel whose LLM and understanding encoder are copies of the given ones (strict keys)."""
    torch.manual_seed(seed)
    model = JanusFlowModel(config)
    model.language_model.load_state_dict(language_model.state_dict(), strict=True)
    model.vision_und_enc_model.load_state_dict(encoder.state_dict(), strict=True)
    return model


def from_tiny_foundations(config: JanusFlowConfig, foundations: str | Path, seed: int = 0) -> JanusFlowModel:
    """The tiny profile: ``foundations/llm`` (transformers) and ``foundations/encoder`` (our dual encoder)."""
    foundations = Path(foundations)
    llm = LlamaForCausalLM.from_pretrained(foundations / "llm", local_files_only=True)
    encoder = SiglipDualEncoder.from_pretrained(foundations / "encoder").image_tower
    return assemble(config, llm, encoder, seed)


def from_pretrained_parts(config: JanusFlowConfig, llm: str | Path | None, encoder: str | Path | None,
                          seed: int = 0) -> JanusFlowModel:
    """The paper profile: real weights named in params.yaml (``profiles.paper.foundations``)."""
    return assemble(config, load_language_model(llm), load_siglip_encoder(encoder, config.und_encoder_spec()), seed)
