"""JanusFlow's training objective on one mixed batch, in plain PyTorch; the Composer model and the benchmarks'
hand-written loop both call it.

Understanding and text sequences give the AR loss (response tokens only, one token-weighted mean over both and,
under data parallelism, over the global batch; a part whose answers were all cut off at the context adds nothing);
generation samples give the rectified-flow loss and, when the model has a REPA head, the REPA loss. The three
are summed 1:1:1 as in the paper. A term whose data type is absent from a batch is returned as 0 and adds
nothing, so every rank reports the same keys.

Randomness (VAE posterior samples, flow times and noise, prompt dropout) comes from one generator per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from janusflow.losses import autoregressive_loss, evenly_spaced_times, generation_losses, response_tokens
from janusflow.modeling import JanusFlowModel
from janusflow.processor import GenerationPrefix
from janusflow.vae import LatentCodec

TERMS = ("ar", "rf", "repa")


def step_generator(seed: int, rank: int, step: int) -> torch.Generator:
    """The CPU generator of one training step on one rank: a resumed run draws what an uninterrupted one would."""
    return torch.Generator().manual_seed((seed * 1_000_003 + rank) * 1_000_003 + step)


def tokens_per_rank(count: int, device: torch.device) -> float:
    """What each rank divides its summed AR loss by: the response tokens of the whole global batch over the world
    size. Data parallelism averages the ranks' gradients, so the result is the token-weighted mean of the global
    batch, as in one process; dividing by each rank's own count would weight a rank's tokens by how few it drew.
    Every rank must call this, with or without tokens of its own."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return float(count)
    total = torch.tensor([float(count)], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return float(total) / dist.get_world_size()


@dataclass
class Objective:
    """AR + RF + REPA for ``model``; ``codec`` (the frozen VAE) only encodes images into latents."""

    model: JanusFlowModel
    codec: LatentCodec
    pad_id: int
    p_uncond: float = 0.1
    ce_chunk: int = 0   # > 0: the LM head fused into the AR loss, this many rows at a time

    def latents(self, pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        with torch.no_grad():
            return self.codec.encode(pixels, generator)

    def autoregressive(self, batch: dict[str, Any], generator: torch.Generator) -> torch.Tensor | None:
        total, count = None, 0
        for task in ("und", "text"):
            part = batch.get(task)
            tokens = response_tokens(part["labels"]) if part is not None else 0
            if not tokens:
                continue  # training truncates long conversations at the context; one may lose every answer
            ids = part["input_ids"]
            no_image = torch.zeros_like(ids, dtype=torch.bool)
            pixels = part.get("pixel_values")
            latents = (self.latents(pixels, generator)
                       if task == "und" and self.model.understands_latents else None)
            hidden = self.model.understanding_hidden_states(ids, part["attention_mask"], pixels,
                                                            part.get("image_token_mask", no_image),
                                                            part.get("image_begin_mask", no_image), latents)
            summed = autoregressive_loss(hidden, part["labels"], self.model.language_model.lm_head, reduction="sum",
                                         chunk=self.ce_chunk)
            total = summed if total is None else total + summed
            count += tokens
        denominator = tokens_per_rank(count, self.model.device)
        return None if total is None else total / denominator

    def __call__(self, batch: dict[str, Any], generator: torch.Generator,
                 fixed_times: bool = False) -> dict[str, torch.Tensor]:
        """{"ar", "rf", "repa", "total"}; ``fixed_times``: evenly spaced t and no prompt dropout (validation)."""
        zero = torch.zeros((), device=self.model.device)
        terms: dict[str, torch.Tensor] = {}
        ar = self.autoregressive(batch, generator)
        if ar is not None:
            terms["ar"] = ar
        gen = batch.get("gen")
        if gen is not None:
            pixels = gen["pixel_values"]
            target = self.model.repa_target(pixels) if self.model.repa_head is not None else None
            prefix = GenerationPrefix(input_ids=gen["prefix_ids"], attention_mask=gen["prefix_attention"])
            times = evenly_spaced_times(len(pixels), pixels.device) if fixed_times else None
            moments = gen.get("latent_moments")   # encoded ahead of training (training.speed.precomputed_latents)
            latents = self.latents(pixels, generator) if moments is None else self.codec.sample(moments, generator)
            out = generation_losses(self.model, prefix, latents, target, self.pad_id,
                                    generator, 0.0 if fixed_times else self.p_uncond, times)
            terms["rf"] = out.rf
            if out.repa is not None:
                terms["repa"] = out.repa
        if not terms:
            raise ValueError("the batch holds no und, gen or text samples.")
        return {**{term: terms.get(term, zero) for term in TERMS}, "total": sum(terms.values(), zero)}
