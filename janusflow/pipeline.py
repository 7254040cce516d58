"""The model with what it needs to read and draw images: its processor (chat format, tokenizer, image
preprocessing) and the VAE codec (latents <-> pixels). Loaded together from a checkpoint directory, it is what
sampling, answering, the evaluation and the commands use.

    pipeline = JanusFlowPipeline.from_pretrained("artifacts/tiny/training/F/seed0/stage3/export",
                                                 vae="artifacts/tiny/foundations/vae")
    images = pipeline.generate(["a photo of a red circle"], [0], params.sampling).to_pil()
    reply = pipeline.answer([[{"role": "User", "content": "<image_placeholder>\\nWhat colour is it?"}]], [images])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from transformers import AutoTokenizer

from janusflow.checkpoint import CONFIG_NAME
from janusflow.hub import resolve_checkpoint
from janusflow.modeling import JanusFlowModel
from janusflow.processor import JanusFlowProcessor
from janusflow.sampling import FlowSampler, SampleOutput
from janusflow.understanding import answer
from janusflow.vae import LatentCodec, load_vae
from settings.sampling import SamplingSettings

TOKENIZER_FILE = "tokenizer_config.json"   # saved beside the weights (tokenizer.save_pretrained)


@dataclass
class JanusFlowPipeline:
    model: JanusFlowModel
    processor: JanusFlowProcessor
    codec: LatentCodec | None   # None: text and images without latents only (no generation, no VAE-read images)

    @classmethod
    def from_pretrained(cls, checkpoint: str | Path, vae: LatentCodec | str | Path | None = None,
                        device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> JanusFlowPipeline:
        """The checkpoint in a directory or a hub repository already in the local cache (config.json, safetensors,
        the tokenizer and processor files saved beside them) with the VAE ``vae``: a LatentCodec, or a diffusers
        VAE directory or hub id in the local cache (the official checkpoint draws with SDXL-VAE; a tiny checkpoint
        with its profile's VAE foundation)."""
        directory = resolve_checkpoint(checkpoint)
        if not (directory / CONFIG_NAME).is_file():
            raise FileNotFoundError(f"no checkpoint at {directory} (no {CONFIG_NAME}); train it first (python -m "
                                    "janusflow.training.cli stage3 --variant <V>) or pass the directory of one.")
        if not (directory / TOKENIZER_FILE).is_file():
            raise FileNotFoundError(f"{directory} has no tokenizer files; a checkpoint carries the tokenizer saved "
                                    "with its weights (tokenizer.save_pretrained(<checkpoint>)).")
        model = JanusFlowModel.from_pretrained(directory, dtype=dtype, device=device)
        processor = JanusFlowProcessor.for_model(AutoTokenizer.from_pretrained(directory, local_files_only=True),
                                                 model.config)
        processor.check_saved(directory)
        codec = vae if isinstance(vae, LatentCodec) or vae is None else load_vae(vae)
        return cls(model, processor, None if codec is None else codec.to(device))

    def save_pretrained(self, directory: str | Path) -> Path:
        """The weights in the official format with the tokenizer and processor files beside them (the VAE is the
        profile's own)."""
        directory = self.model.save_pretrained(directory)
        return self.processor.save_pretrained(directory)

    def sampler(self) -> FlowSampler:
        if self.codec is None:
            raise ValueError("this pipeline has no VAE; load it with vae=<a diffusers VAE directory> to draw images.")
        return FlowSampler(self.model, self.processor, self.codec)

    def generate(self, prompts: Sequence[str], seeds: Sequence[int], sampling: SamplingSettings,
                 batch_size: int | None = None, progress: bool = False) -> SampleOutput:
        """One image per (prompt, seed), drawn as ``sampling`` says (params.yaml ``sampling``)."""
        return self.sampler().sample(prompts, seeds, steps=sampling.steps, cfg_weight=sampling.cfg_weight,
                                     template=sampling.template, batch_size=batch_size, progress=progress)

    def answer(self, conversations: Sequence[Sequence[dict[str, str]]],
               images: Sequence[Sequence[Image.Image]] = (), max_new_tokens: int = 64) -> list[str]:
        """Greedy answers, one per conversation (each ending with a User message)."""
        return answer(self.model, self.processor, conversations, images, max_new_tokens=max_new_tokens,
                      codec=self.codec)
