"""The VAE a profile encodes and decodes images with: the tiny profile's trained foundation, or the paper
profile's SDXL-VAE (a local directory or a hub id already in the local cache)."""

from __future__ import annotations

from janusflow.foundations.pretrained import FoundationMissingError
from janusflow.vae import LatentCodec, load_vae
from settings.foundations import FoundationSettings
from settings.params import Profile


def profile_codec(profile: Profile) -> LatentCodec:
    """A tiny-sized model means the tiny VAE foundation."""
    if isinstance(profile.foundations, FoundationSettings):
        directory = profile.foundations.directory("vae")
        if not (directory / "config.json").is_file():
            raise FoundationMissingError(f"images are encoded with the VAE foundation in {directory}; build it with "
                                         "python -m janusflow.foundations.cli vae.")
        return load_vae(directory)
    return load_vae(profile.foundations.vae)
