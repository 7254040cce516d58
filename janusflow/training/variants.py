"""The ablation variants of the paper's Table 5, defined once in params.yaml (``variants``) and selected by name.

| id | REPA | understanding encoder | trains on |
| A | no  | SigLIP                                   | und + gen + text |
| B | yes | the generation VAE+ConvNeXt encoder itself | und + gen + text |
| C | yes | a separate VAE+ConvNeXt encoder          | und + gen + text |
| D | yes | SigLIP                                   | und only, for the und share of the iterations |
| E | yes | none                                     | gen only, for the gen share of the iterations |
| F | yes | SigLIP                                   | und + gen + text (the released configuration) |

REPA's target is always the pretrained SigLIP encoder's features of the clean image (``JanusFlowModel.repa_target``).
In B, C and E nothing else uses SigLIP, so it stays the frozen pretrained encoder there.
"""

from __future__ import annotations

import dataclasses

from janusflow.config import JanusFlowConfig
from settings.training import Variant


def variant_model_config(variant: Variant, base: JanusFlowConfig) -> JanusFlowConfig:
    """``base`` with ``variant``'s REPA switch and understanding-encoder source."""
    config = dataclasses.replace(base, repa_config=dataclasses.replace(base.repa_config, enabled=variant.repa),
                                 und_encoder_source=variant.und_encoder)
    config.validate(f"variant {variant.name}")
    return config
