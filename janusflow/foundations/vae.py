"""Foundation 4: the tiny profile's VAE, a diffusers AutoencoderKL (4 latent channels) trained on the images
with an L1 + L2 reconstruction loss, optionally weighted towards the objects (``object_weights``), and a small KL
term; no adversarial or perceptual loss (flat shapes do not need them). As Stable Diffusion does, the latent
scaling factor is 1 / std of the training latents."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from diffusers import AutoencoderKL

from janusflow.foundations.metrics import detected_exactly, psnr
from janusflow.foundations.training import random_indices, train
from janusflow.vae import tiny_vae
from settings.foundations import TrainingSettings


def object_weights(images: torch.Tensor, weight: float, threshold: float = 0.05) -> torch.Tensor:
    """Per-pixel loss weights ([B, 1, H, W]): ``weight`` on and next to (3x3) the pixels that differ from the
    image's background, read at its top-left pixel (the shapes world keeps objects off the border), 1 elsewhere.
    Flat shapes cover a small share of an image; unweighted, the VAE spends itself on the background and rounds
    the corners of small shapes, which the detector then reads as circles."""
    background = images[:, :, :1, :1]
    on_object = ((images - background).abs().amax(1, keepdim=True) > threshold).float()
    return 1 + (weight - 1) * torch.nn.functional.max_pool2d(on_object, 3, stride=1, padding=1)


@torch.no_grad()
def reconstruct(vae: AutoencoderKL, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Decode the posterior mode: the deterministic reconstruction used for PSNR."""
    out = [vae.decode(vae.encode(images[i:i + batch_size]).latent_dist.mode()).sample
           for i in range(0, len(images), batch_size)]
    return torch.cat(out).clamp(-1, 1)


@torch.no_grad()
def latent_scaling_factor(vae: AutoencoderKL, images: torch.Tensor, batch_size: int = 64) -> float:
    """1 / standard deviation of sampled latents over ``images`` (Stable Diffusion's rule, 0.18215 for SD1)."""
    generator = torch.Generator().manual_seed(0)
    latents = torch.cat([vae.encode(images[i:i + batch_size]).latent_dist.sample(generator=generator)
                         for i in range(0, len(images), batch_size)])
    return float(1.0 / latents.std())


def train_vae(images: torch.Tensor, heldout: torch.Tensor, heldout_scenes: list[dict], channels: tuple[int, ...],
              kl_weight: float, settings: TrainingSettings, out: str | Path, progress: bool = True, *,
              object_weight: float) -> dict:
    """Train (seeded) on ``images`` in [-1, 1], set the scaling factor, save with diffusers' save_pretrained,
    report on the posterior-mode reconstruction of the held-out renders: PSNR, and the share in which the
    detector finds exactly the scene's objects (what generation can at best be judged to draw)."""
    started = time.perf_counter()
    vae = tiny_vae(settings.seed, images.shape[-1], channels, attention=False)

    def loss_on(indices: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch = images[indices]
        posterior = vae.encode(batch).latent_dist
        reconstruction = vae.decode(posterior.sample(generator=generator)).sample
        error, weights = reconstruction - batch, object_weights(batch, object_weight)
        return (weights * (error.abs() + error.pow(2))).mean() / weights.mean() + kl_weight * posterior.kl().mean()

    curve = train(vae, loss_on, random_indices(len(images), settings.batch_size), settings, "foundation: VAE", progress)
    scaling = latent_scaling_factor(vae, images[:512])
    side = images.shape[-1] // 2 ** (len(channels) - 1)
    vae.register_to_config(scaling_factor=scaling)
    vae.save_pretrained(out, safe_serialization=True)
    reconstruction = reconstruct(vae, heldout)
    return {
        "parameters": sum(p.numel() for p in vae.parameters()),
        "first_loss": round(curve[0], 4), "final_loss": round(sum(curve[-20:]) / len(curve[-20:]), 4),
        "heldout_psnr_db": round(psnr(reconstruction, heldout), 3),
        "heldout_detected_exactly": round(detected_exactly(reconstruction, heldout_scenes), 4),
        "scaling_factor": round(scaling, 5),
        "latent_shape": [4, side, side],
        "seconds": round(time.perf_counter() - started, 1),
    }
