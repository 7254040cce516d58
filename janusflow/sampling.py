"""Rectified-flow image generation with classifier-free guidance.

Euler integration from t=0 (noise) to t=1 (data): ``v = w * v_cond - (w - 1) * v_uncond``, ``z += dt * v``.
The text prefix is run through the LLM once per call and its keys/values are reused by every step, so a step
computes only [time token, latent tokens]. Different prompts share one call: rows are left-padded, positions
count only real slots, and each image's noise comes from its own seed, so an image does not depend on what else
is in the batch. ``cache_prefix=False`` recomputes the whole sequence at every step, as the official demo does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from PIL import Image
from tqdm.auto import tqdm

from janusflow.modeling.janusflow import JanusFlowModel
from janusflow.processor import JanusFlowProcessor
from janusflow.vae import LatentCodec
from settings.sampling import Template


@dataclass
class SampleOutput:
    latents: torch.Tensor  # [B, C, h, w], float32
    images: torch.Tensor | None  # [B, H, W, 3] uint8, when a VAE was given

    def to_pil(self) -> list[Image.Image]:
        if self.images is None:
            raise ValueError("no decoded images: pass a LatentCodec to FlowSampler to decode latents.")
        return [Image.fromarray(image.numpy()) for image in self.images]

    def grid(self, columns: int, size: int | None = None) -> Image.Image:
        """All images in one picture, ``columns`` per row, each resized (nearest) to ``size`` pixels if given."""
        images = self.to_pil()
        if size is not None:
            images = [image.resize((size, size), Image.Resampling.NEAREST) for image in images]
        width, height = images[0].size
        rows = (len(images) + columns - 1) // columns
        canvas = Image.new("RGB", (columns * width, rows * height), (255, 255, 255))
        for i, image in enumerate(images):
            canvas.paste(image, ((i % columns) * width, (i // columns) * height))
        return canvas


def guided_velocity(v_cond: torch.Tensor, v_uncond: torch.Tensor, cfg_weight: float) -> torch.Tensor:
    """Classifier-free guidance as JanusFlow writes it: w * v_cond - (w - 1) * v_uncond."""
    return cfg_weight * v_cond - (cfg_weight - 1.0) * v_uncond


def initial_noise(seeds: Sequence[int], shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One standard-normal latent per seed, each from its own generator (batch-independent)."""
    return torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(int(s)), dtype=dtype) for s in seeds])


def to_uint8(pixels: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] in [-1, 1] -> [B, H, W, 3] uint8."""
    return ((pixels.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu()


class FlowSampler:
    """Generates images for a list of prompts with one model, processor and (optionally) VAE."""

    def __init__(self, model: JanusFlowModel, processor: JanusFlowProcessor, codec: LatentCodec | None = None,
                 latent_size: int | None = None) -> None:
        self.model = model
        self.processor = processor
        self.codec = codec
        if latent_size is None:
            if codec is None:
                raise ValueError("give latent_size, or a LatentCodec from which it follows (image size / downsampling).")
            latent_size = processor.image_size // codec.downsample_factor
        self.latent_size = latent_size
        patch = model.config.gen_patch_size
        if latent_size % patch:
            raise ValueError(f"latent size {latent_size} is not divisible by the generation patch size {patch}.")
        self.num_latent_tokens = (latent_size // patch) ** 2

    @torch.no_grad()
    def sample(self, prompts: Sequence[str], seeds: Sequence[int], *, steps: int, cfg_weight: float,
               template: Template, batch_size: int | None = None, cache_prefix: bool = True,
               decode: bool = True, progress: bool = False) -> SampleOutput:
        """One image per (prompt, seed), ``steps`` Euler steps at CFG weight ``cfg_weight``. The sampling settings
        have no defaults here: they are params.yaml ``sampling`` (the paper's 30 steps at w = 2, SFT template),
        passed by every caller."""
        if len(prompts) != len(seeds):
            raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds; give one seed per image.")
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}.")
        batch_size = batch_size or len(prompts)
        chunks = []
        bar = tqdm(total=len(prompts) * steps, desc="sampling", unit="step", disable=not progress)
        for start in range(0, len(prompts), batch_size):
            stop = start + batch_size
            chunks.append(self._sample_batch(prompts[start:stop], seeds[start:stop], steps, cfg_weight, template,
                                             cache_prefix, bar))
        bar.close()
        latents = torch.cat(chunks)
        images = None
        if decode and self.codec is not None:
            images = torch.cat([to_uint8(self.codec.decode(latents[i:i + batch_size]))
                                for i in range(0, len(latents), batch_size)])
        return SampleOutput(latents=latents, images=images)

    def _sample_batch(self, prompts: Sequence[str], seeds: Sequence[int], steps: int, cfg_weight: float,
                      template: Template, cache_prefix: bool, bar: tqdm) -> torch.Tensor:
        device = self.model.device
        prefix = self.processor.encode_generation_prompts(prompts, template, reserved=1 + self.num_latent_tokens)
        use_cfg = cfg_weight != 1.0
        ids, attention, slots = prefix.input_ids, prefix.attention_mask, prefix.attention_mask
        if use_cfg:
            uncond = prefix.unconditional(self.processor.pad_id)
            ids = torch.cat([ids, uncond.input_ids])
            attention = torch.cat([attention, uncond.attention_mask])
            slots = torch.cat([slots, slots])
        ids, attention, slots = ids.to(device), attention.to(device), slots.to(device)
        cache = self.model.cache_prefix(ids, attention, slots) if cache_prefix else None
        z = initial_noise(seeds, (self.model.config.latent_channels, self.latent_size, self.latent_size)).to(device)
        dt = 1.0 / steps
        for step in range(steps):
            z_in = torch.cat([z, z]) if use_cfg else z
            t = torch.full((z_in.shape[0],), step * dt, device=device)
            v = self.model.velocity(ids, attention, slots, z_in, t, past_key_values=cache).velocity.float()
            if cache is not None:
                cache.crop(ids.shape[1])
            if use_cfg:
                v = guided_velocity(*v.chunk(2), cfg_weight)
            z = z + dt * v
            bar.update(len(prompts))
        return z.cpu()
