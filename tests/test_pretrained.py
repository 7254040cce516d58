"""The paper profile's pretrained parts: local directories load, anything missing is an error that says what is
expected and how to provide it; nothing downloads."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from transformers import LlamaForCausalLM

from janusflow.config import tiny_janusflow_config
from janusflow.foundations.assemble import from_pretrained_parts
from janusflow.foundations.pretrained import FoundationMissingError, load_language_model, load_siglip_encoder
from janusflow.modeling.understanding_encoder import UnderstandingEncoder
from janusflow.vae import load_vae

CONFIG = tiny_janusflow_config(vocab_size=300, hidden=32, layers=2, heads=4, max_positions=64)


@pytest.fixture()
def offline_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    return tmp_path


def test_unset_and_missing_language_model(offline_cache):
    with pytest.raises(FoundationMissingError, match="profiles.paper.foundations.llm is not set; set it to a local"):
        load_language_model(None)
    with pytest.raises(FoundationMissingError, match="no LLM at 'org/missing-llm'.*huggingface-cli download org/missing-llm"):
        load_language_model("org/missing-llm")


def test_local_language_model_loads(tmp_path):
    torch.manual_seed(0)
    LlamaForCausalLM(CONFIG.llama_config()).save_pretrained(tmp_path / "llm")
    model = load_language_model(tmp_path / "llm")
    assert model.config.hidden_size == 32


@pytest.mark.parametrize("prefix", ["", "visual.trunk.", "vision_und_enc_model.vision_tower."])
def test_siglip_weights_load_from_known_layouts(tmp_path, prefix):
    spec = CONFIG.und_encoder_spec()
    torch.manual_seed(1)
    source = UnderstandingEncoder(spec).vision_tower.state_dict()
    save_file({prefix + k: v.contiguous() for k, v in source.items()} | {"text.unrelated": torch.zeros(1)},
              tmp_path / "model.safetensors")
    encoder = load_siglip_encoder(tmp_path, spec)
    assert all(torch.equal(encoder.vision_tower.state_dict()[k], v) for k, v in source.items())
    assert "attn_pool.latent" in source  # the MAP head is part of the tower


def test_siglip_errors(offline_cache, tmp_path):
    spec = CONFIG.und_encoder_spec()
    with pytest.raises(FoundationMissingError, match="profiles.paper.foundations.encoder is not set"):
        load_siglip_encoder(None, spec)
    with pytest.raises(FoundationMissingError, match="no SigLIP encoder weights at 'timm/ViT-L-16-SigLIP-384'"):
        load_siglip_encoder("timm/ViT-L-16-SigLIP-384", spec)
    save_file({"visual.trunk.patch_embed.proj.weight": torch.zeros(1)}, tmp_path / "model.safetensors")
    with pytest.raises(FoundationMissingError, match="holds no complete 32-wide, 2-block SigLIP tower"):
        load_siglip_encoder(tmp_path / "model.safetensors", spec)


def test_missing_vae_says_what_to_provide(offline_cache):
    with pytest.raises(FileNotFoundError, match="no diffusers VAE at 'stabilityai/sdxl-vae'"):
        load_vae("stabilityai/sdxl-vae")


def test_paper_parts_assemble_into_janusflow(tmp_path):
    torch.manual_seed(0)
    llm = LlamaForCausalLM(CONFIG.llama_config())
    llm.save_pretrained(tmp_path / "llm")
    tower = UnderstandingEncoder(CONFIG.und_encoder_spec()).vision_tower.state_dict()
    save_file({"visual.trunk." + k: v.contiguous() for k, v in tower.items()}, tmp_path / "siglip.safetensors")
    model = from_pretrained_parts(CONFIG, tmp_path / "llm", tmp_path / "siglip.safetensors")
    assert torch.equal(model.language_model.lm_head.weight, llm.lm_head.weight)
    assert torch.equal(model.vision_und_enc_model.vision_tower.attn_pool.latent, tower["attn_pool.latent"])
