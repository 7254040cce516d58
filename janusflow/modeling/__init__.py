"""JanusFlow's modules, named as in the official checkpoint."""

from janusflow.modeling.generation_vision import GenerationDecoder, GenerationEncoder
from janusflow.modeling.janusflow import GenerationOutput, JanusFlowModel, LatentTokens, positions_from_mask
from janusflow.modeling.repa_head import RepaHead
from janusflow.modeling.understanding_encoder import UnderstandingEncoder

__all__ = [
    "GenerationDecoder", "GenerationEncoder", "GenerationOutput", "JanusFlowModel", "LatentTokens", "RepaHead",
    "UnderstandingEncoder", "positions_from_mask",
]
