"""Shared fixtures: a tokenizer trained on a few sentences and a small random JanusFlow model (seeded)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest
import torch
from PIL import Image

from janusflow.config import JanusFlowConfig, tiny_janusflow_config
from janusflow.modeling import JanusFlowModel
from janusflow.processor import JanusFlowProcessor
from janusflow.tokenizer import train_byte_level_bpe
from janusflow.vae import LatentCodec, tiny_vae

CORPUS = [
    "a photo of two red circles", "a blue square left of a green triangle", "What colour is the circle?",
    "The circle is red.", "How many squares are there?", "There are three squares.", "a photo of a purple star",
    "Is there a yellow triangle in the picture?", "Yes.", "No.", "an orange circle above a white square",
] * 10


@pytest.fixture(scope="session")
def tokenizer():
    return train_byte_level_bpe(CORPUS, vocab_size=320)


@pytest.fixture(scope="session")
def tiny_config(tokenizer) -> JanusFlowConfig:
    return tiny_janusflow_config(vocab_size=len(tokenizer), hidden=32, heads=4, gen_channels=32, layers=3,
                                 repa_layer=2)


@pytest.fixture()
def model(tiny_config) -> JanusFlowModel:
    torch.manual_seed(0)
    model = JanusFlowModel(tiny_config).eval()
    # Random init leaves beg_of_und_embed and GRN at zero; give every tensor a value so tests see all paths.
    with torch.no_grad():
        model.beg_of_und_embed.normal_()
        for name, param in model.named_parameters():
            if "channelwise_norm" in name:
                param.normal_(std=0.1)
    return model


@pytest.fixture(scope="session")
def processor(tokenizer, tiny_config) -> JanusFlowProcessor:
    return JanusFlowProcessor.for_model(tokenizer, tiny_config)


@pytest.fixture(scope="session")
def codec() -> LatentCodec:
    return LatentCodec(tiny_vae(seed=0))


@pytest.fixture()
def red_image() -> Image.Image:
    return Image.new("RGB", (48, 32), (220, 20, 20))
