"""What each training stage trains (paper Table 1): stage 1 only the parts JanusFlow adds to its pretrained LLM
and encoder, stage 2 everything but the SigLIP encoder, stage 3 everything. The stages themselves (rates, lengths,
mixtures) are params.yaml ``stages``, typed in ``settings.training``.
"""

from __future__ import annotations

from torch import nn

from janusflow.modeling import JanusFlowModel
from settings.training import TRAINABLE
from settings.typed import SettingsError

# The parts JanusFlow adds on top of the pretrained LLM and SigLIP (stage 1 trains only these).
NEW_PARTS = ("vision_und_enc_aligner", "beg_of_und_embed", "vision_gen_enc_model", "vision_gen_enc_aligner",
             "vision_gen_dec_model", "vision_gen_dec_aligner_norm", "vision_gen_dec_aligner", "repa_head",
             "vision_und_latent_enc_model", "vision_und_latent_enc_aligner")


def set_trainable(model: nn.Module, rule: str) -> list[str]:
    """Freeze ``model`` (a JanusFlowModel) per the stage rule; return the names of the trainable top-level parts."""
    if not isinstance(model, JanusFlowModel):
        raise TypeError(f"set_trainable expects a JanusFlowModel, got {type(model).__name__}.")
    if rule not in TRAINABLE:
        raise SettingsError(f"trainable rule {rule!r} is not one of {list(TRAINABLE)}.")
    trainable = []
    for name, child in [*model.named_children(), ("beg_of_und_embed", model.beg_of_und_embed)]:
        on = (rule == "all" or (rule == "all_but_understanding_encoder" and name != "vision_und_enc_model")
              or (rule == "new_parts" and name in NEW_PARTS))
        child.requires_grad_(on)
        if on:
            trainable.append(name)
    return trainable
