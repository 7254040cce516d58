"""The paper profile's foundations: real pretrained weights from local directories or hub ids that are already in
the local Hugging Face cache. Nothing downloads; a missing part is an error that says what is expected and how to
provide it."""

from __future__ import annotations

from pathlib import Path

import torch
from huggingface_hub import try_to_load_from_cache
from safetensors.torch import load_file
from transformers import LlamaForCausalLM

from janusflow.config import UnderstandingEncoderSpec
from janusflow.modeling.understanding_encoder import UnderstandingEncoder

ENCODER_PREFIXES = ("vision_und_enc_model.vision_tower.", "visual.trunk.", "image_tower.vision_tower.",
                    "vision_tower.", "")
ENCODER_FILES = ("open_clip_model.safetensors", "model.safetensors")


class FoundationMissingError(FileNotFoundError):
    """A pretrained part named in params.yaml is not on this machine."""


def _unset(key: str, what: str) -> FoundationMissingError:
    return FoundationMissingError(f"profiles.paper.foundations.{key} is not set; set it to {what}.")


def load_language_model(path_or_id: str | Path | None, dtype: torch.dtype = torch.float32) -> LlamaForCausalLM:
    """A LLaMA-architecture causal LM in transformers layout (config.json + safetensors)."""
    what = ("a local directory with a LLaMA-architecture LLM in transformers layout (config.json + *.safetensors), "
            "or a hub id already in the local Hugging Face cache")
    if not path_or_id:
        raise _unset("llm", what)
    try:
        return LlamaForCausalLM.from_pretrained(str(path_or_id), torch_dtype=dtype, local_files_only=True)
    except (OSError, ValueError) as error:
        raise FoundationMissingError(
            f"no LLM at {str(path_or_id)!r} (profiles.paper.foundations.llm): expected {what}. On a machine with "
            f"network access run `huggingface-cli download {path_or_id} --local-dir DIR` and set the key to DIR."
        ) from error


def encoder_weights_file(path_or_id: str | Path | None) -> Path:
    """The safetensors file of a SigLIP encoder: a file, a directory holding one, or a cached hub repo."""
    what = ("a safetensors file or directory of a timm / OpenCLIP SigLIP-L/16-384 (e.g. a local copy of "
            "timm/ViT-L-16-SigLIP-384), or that hub id once it is in the local Hugging Face cache")
    if not path_or_id:
        raise _unset("encoder", what)
    path = Path(path_or_id)
    if path.is_file():
        return path
    candidates = [path / name for name in ENCODER_FILES] if path.is_dir() else [
        Path(p) for name in ENCODER_FILES if isinstance(p := try_to_load_from_cache(str(path_or_id), name), str)]
    found = [c for c in candidates if c.is_file()]
    if not found:
        raise FoundationMissingError(
            f"no SigLIP encoder weights at {str(path_or_id)!r} (profiles.paper.foundations.encoder): expected {what}, "
            f"with one of {list(ENCODER_FILES)}. On a machine with network access run "
            f"`huggingface-cli download {path_or_id} --local-dir DIR` and set the key to DIR.")
    return found[0]


def load_siglip_encoder(path_or_id: str | Path | None, spec: UnderstandingEncoderSpec) -> UnderstandingEncoder:
    """The understanding encoder with pretrained weights, from plain timm keys or with a known prefix (OpenCLIP's
    ``visual.trunk.``, the official JanusFlow checkpoint, our tiny dual encoder); strict shapes and keys."""
    state = load_file(encoder_weights_file(path_or_id))
    encoder = UnderstandingEncoder(spec)
    expected = set(encoder.vision_tower.state_dict())
    for prefix in ENCODER_PREFIXES:
        tower = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if expected <= set(tower):
            encoder.vision_tower.load_state_dict({k: tower[k] for k in expected}, strict=True)
            return encoder.eval()
    sample = sorted(state)[:3]
    raise FoundationMissingError(
        f"{path_or_id!r} holds no complete {spec.width}-wide, {spec.layers}-block SigLIP tower under any of the "
        f"prefixes {list(ENCODER_PREFIXES)} (its first keys: {sample}); pass a SigLIP-L/16-384 checkpoint.")
