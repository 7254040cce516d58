"""The VAE wrapper applies the scaling factor in one place and refuses fp16."""

from __future__ import annotations

import pytest
import torch

from janusflow.vae import LatentCodec, load_vae, tiny_vae


def test_scaling_factor_is_applied_on_encode_and_removed_on_decode():
    vae = tiny_vae(seed=0)
    vae.register_to_config(scaling_factor=0.5)
    codec = LatentCodec(vae)
    pixels = torch.rand(2, 3, 64, 64) * 2 - 1
    latents = codec.encode(pixels, generator=torch.Generator().manual_seed(0))
    raw = vae.encode(pixels).latent_dist.sample(generator=torch.Generator().manual_seed(0))
    assert torch.allclose(latents, raw * 0.5)
    with torch.no_grad():
        assert torch.allclose(codec.decode(latents), vae.decode(raw).sample.clamp(-1, 1), atol=1e-5)
    assert latents.shape == (2, 4, 16, 16) and codec.downsample_factor == 4
    assert codec.to("cpu") is codec and codec.vae.device.type == "cpu"


def test_fp16_is_refused():
    with pytest.raises(ValueError, match="overflows in float16"):
        LatentCodec(tiny_vae().to(torch.float16))
    with pytest.raises(ValueError, match="overflows in float16"):
        load_vae("anything", dtype=torch.float16)


def test_missing_vae_names_the_expected_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected a directory with config.json and diffusion_pytorch_model"):
        load_vae(tmp_path / "sdxl-vae")
