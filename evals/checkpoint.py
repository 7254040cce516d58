"""A checkpoint ready for evaluation: the model in eval mode, its processor (from the tokenizer saved beside it),
and the profile's VAE for decoding generated latents."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from transformers import AutoTokenizer

from janusflow.checkpoint import CONFIG_NAME, weight_files
from janusflow.modeling import JanusFlowModel
from janusflow.processor import JanusFlowProcessor
from janusflow.sampling import FlowSampler
from janusflow.vae import LatentCodec


@dataclass
class EvalCheckpoint:
    path: Path
    model: JanusFlowModel
    processor: JanusFlowProcessor
    codec: LatentCodec

    def sampler(self) -> FlowSampler:
        return FlowSampler(self.model, self.processor, self.codec)

def load_checkpoint(path: str | Path, codec: LatentCodec, device: str = "cpu") -> EvalCheckpoint:
    """Load an exported checkpoint (config.json, safetensors and tokenizer files in one directory)."""
    path = Path(path)
    if not (path / CONFIG_NAME).is_file():
        raise FileNotFoundError(f"no checkpoint at {path} (no {CONFIG_NAME}); train it first (python -m "
                                "janusflow.training.cli stage3 --variant <V>) or pass --checkpoint DIR.")
    if not (path / "tokenizer_config.json").is_file():
        raise FileNotFoundError(f"{path} has no tokenizer files; evaluation reads the tokenizer saved with the "
                                "weights (tokenizer.save_pretrained(<checkpoint>)).")
    model = JanusFlowModel.from_pretrained(path, device=device)
    processor = JanusFlowProcessor.for_model(AutoTokenizer.from_pretrained(path, local_files_only=True), model.config)
    return EvalCheckpoint(path, model, processor, codec.to(device))


def fingerprint(path: str | Path) -> str:
    """A short content hash of a checkpoint's config and weights: results made from other weights are stale even
    when the directory's name is the same (a retrained stage exports to the same place)."""
    path = Path(path)
    digest = hashlib.sha256((path / CONFIG_NAME).read_bytes())
    for weights in weight_files(path):
        with weights.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 24), b""):
                digest.update(block)
    return digest.hexdigest()[:16]
