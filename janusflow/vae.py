"""The latent space JanusFlow generates in: an SDXL-style diffusers ``AutoencoderKL``, outside the checkpoint.

Latents are ``encode(x).sample() * scaling_factor`` and decoding divides by it. SDXL-VAE overflows in fp16,
so only bf16 and fp32 are accepted.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

SUPPORTED_DTYPES = (torch.float32, torch.bfloat16)


class LatentCodec:
    """Pixels in [-1, 1] <-> scaled latents, with the VAE's scaling factor applied in one place."""

    def __init__(self, vae: AutoencoderKL) -> None:
        if vae.dtype not in SUPPORTED_DTYPES:
            raise ValueError(f"the VAE is in {vae.dtype}; SDXL-VAE overflows in float16, use bfloat16 or float32.")
        self.vae = vae.eval()

    @property
    def scaling_factor(self) -> float:
        return float(self.vae.config.scaling_factor)

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)

    def to(self, device: torch.device | str) -> LatentCodec:
        self.vae.to(device)
        return self

    def encode(self, pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.sample(self.moments(pixels), generator)

    def moments(self, pixels: torch.Tensor) -> torch.Tensor:
        """The VAE posterior of each image, [B, 2 x latent channels, h, w] (means, then log-variances): what
        ``sample`` draws latents from, and what training can store once instead of encoding every step."""
        return self.vae.encode(pixels.to(self.vae.device, self.vae.dtype)).latent_dist.parameters

    def sample(self, moments: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Scaled latents drawn from posteriors ``moments`` (diffusers' own draw, so stored moments give exactly
        the latents that encoding the images would)."""
        posterior = DiagonalGaussianDistribution(moments.to(self.vae.device, self.vae.dtype))
        return posterior.sample(generator=generator) * self.scaling_factor

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        scaled = latents.to(self.vae.device, self.vae.dtype) / self.scaling_factor
        return self.vae.decode(scaled).sample.float().clamp(-1, 1)


def tiny_vae(seed: int = 0, sample_size: int = 64, channels: tuple[int, ...] = (32, 64, 64),
             attention: bool = True) -> AutoencoderKL:
    """A small SDXL-layout VAE (4 latent channels, downsampling 2**(len(channels)-1)) for CPU runs; without the
    mid-block attention it trains about 1.6x faster."""
    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=tuple(channels), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * len(channels), up_block_types=("UpDecoderBlock2D",) * len(channels),
        norm_num_groups=min(32, min(channels)), sample_size=sample_size, mid_block_add_attention=attention,
        scaling_factor=1.0,
    )


def load_vae(path_or_id: str | Path, dtype: torch.dtype = torch.float32, subfolder: str | None = None) -> LatentCodec:
    """Load a diffusers VAE from a local directory (or a hub id already in the local cache)."""
    if dtype not in SUPPORTED_DTYPES:
        raise ValueError(f"VAE dtype {dtype} is not supported; SDXL-VAE overflows in float16, use bfloat16 or float32.")
    try:
        vae = AutoencoderKL.from_pretrained(str(path_or_id), subfolder=subfolder, torch_dtype=dtype,
                                            local_files_only=True)
    except (OSError, ValueError) as err:
        raise FileNotFoundError(
            f"no diffusers VAE at {path_or_id!r}: expected a directory with config.json and "
            "diffusion_pytorch_model.safetensors (e.g. a local copy of stabilityai/sdxl-vae). Download it on a "
            "machine with network access and pass its path."
        ) from err
    return LatentCodec(vae)
