"""JanusFlow: one LLM that understands images by autoregression and generates them by rectified flow.

The library: configuration in the official checkpoint format, the model, its processor, losses, the
rectified-flow sampler and question answering. Training and foundations for the tiny profile live here too.
"""

from janusflow.config import JanusFlowConfig, official_janusflow_1_3b_config, tiny_janusflow_config
from janusflow.modeling import JanusFlowModel
from janusflow.processor import JanusFlowProcessor
from janusflow.sampling import FlowSampler
from janusflow.understanding import answer

__all__ = [
    "FlowSampler", "JanusFlowConfig", "JanusFlowModel", "JanusFlowProcessor", "answer",
    "official_janusflow_1_3b_config", "tiny_janusflow_config",
]
