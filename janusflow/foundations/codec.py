"""The VAE a profile encodes and decodes images with: the tiny profile's trained foundation, or the paper
profile's SDXL-VAE (a local directory or a hub id already in the local cache)."""

from __future__ import annotations

from typing import Any

from janusflow.foundations.pretrained import FoundationMissingError
from janusflow.foundations.settings import FoundationSettings
from janusflow.vae import LatentCodec, load_vae

PAPER_VAE = "stabilityai/sdxl-vae"


def profile_codec(profile: dict[str, Any]) -> LatentCodec:
    """``profile`` is a ``profiles.<name>`` section; a tiny-sized model means the tiny VAE foundation."""
    if isinstance(profile["model"], dict):
        directory = FoundationSettings.from_profile(profile).directory("vae")
        if not (directory / "config.json").is_file():
            raise FoundationMissingError(f"images are encoded with the VAE foundation in {directory}; build it with "
                                         "python -m janusflow.foundations.cli vae.")
        return load_vae(directory)
    return load_vae((profile.get("foundations") or {}).get("vae") or PAPER_VAE)
