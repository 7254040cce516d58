"""The AR, RF and REPA losses on hand-computed cases, and the generation loss end to end."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image
from transformers.models.llama import modeling_llama

from janusflow.losses import (
    autoregressive_loss,
    condition_dropout,
    generation_losses,
    rectified_flow_loss,
    rectified_flow_pair,
    repa_loss,
    response_tokens,
    sample_logit_normal,
)
from janusflow.processor import IGNORE_INDEX, IMAGE_TOKEN
from janusflow.training.objective import Objective


def test_ar_loss_counts_only_response_tokens():
    logits = torch.zeros(1, 4, 3)
    logits[0, 1] = torch.tensor([2.0, 0.0, 0.0])  # predicts token 0 at position 2
    logits[0, 2] = torch.tensor([0.0, 0.0, 1.0])  # predicts token 2 at position 3
    labels = torch.tensor([[-100, -100, 0, 1]])
    p0 = math.exp(2) / (math.exp(2) + 2)
    p1 = 1 / (2 + math.e)
    expected = -(math.log(p0) + math.log(p1)) / 2
    identity = torch.nn.Identity()  # the hidden states are the logits themselves
    assert autoregressive_loss(logits, labels, identity).item() == pytest.approx(expected, rel=1e-6)
    summed = autoregressive_loss(logits, labels, identity, reduction="sum").item()
    assert response_tokens(labels) == 2 and summed == pytest.approx(2 * expected, rel=1e-6)


def test_ar_loss_without_answers_is_an_error():
    with pytest.raises(ValueError, match="labels hold no response tokens"):
        autoregressive_loss(torch.zeros(1, 3, 5), torch.full((1, 3), -100), torch.nn.Identity())


def test_ar_loss_applies_the_lm_head_only_where_a_response_token_is_predicted(model, processor, monkeypatch):
    """The LM head runs only at the rows that predict a response token, and the LLM pass builds no key-value
    cache: nothing reads one."""
    conversation = [{"role": "User", "content": f"{IMAGE_TOKEN}\nWhat color is the circle?"},
                    {"role": "Assistant", "content": "red"}]
    pixels = processor.preprocess_images([Image.new("RGB", (64, 64), (220, 20, 20))])
    batch = processor.pad_sequences([processor.encode_conversation(conversation)] * 2, torch.cat([pixels] * 2),
                                    "right")
    inputs = (batch.input_ids, batch.attention_mask, batch.pixel_values, batch.image_token_mask,
              batch.image_begin_mask)
    logits = model.understanding_logits(*inputs)
    full = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), batch.labels[:, 1:].flatten(),
                                             ignore_index=IGNORE_INDEX)
    rows = []

    def head(hidden: torch.Tensor) -> torch.Tensor:
        rows.append(hidden.shape[0])
        return model.language_model.lm_head(hidden)

    def no_cache(*args, **kwargs):
        raise AssertionError("the AR loss's LLM pass built a key-value cache")

    monkeypatch.setattr(modeling_llama, "DynamicCache", no_cache)
    loss = autoregressive_loss(model.understanding_hidden_states(*inputs), batch.labels, head)
    assert loss.item() == pytest.approx(full.item(), rel=1e-5)
    assert rows == [response_tokens(batch.labels)] and rows[0] < batch.input_ids.numel() / 10


def test_objective_leaves_out_sequences_whose_answers_were_all_truncated(model, processor, codec):
    conversation = [{"role": "User", "content": f"{IMAGE_TOKEN}\nWhat color is the circle?"},
                    {"role": "Assistant", "content": "red"}]
    pixels = processor.preprocess_images([Image.new("RGB", (64, 64), (220, 20, 20))])
    und = dict(vars(processor.pad_sequences([processor.encode_conversation(conversation)], pixels, "right")))
    cut = {**und, "labels": torch.full_like(und["labels"], IGNORE_INDEX)}
    text = dict(vars(processor.pad_sequences([processor.encode_conversation(
        [{"role": "User", "content": "hi"}, {"role": "Assistant", "content": "a red circle"}])], None, "right")))
    text = {k: v for k, v in text.items() if k in ("input_ids", "attention_mask", "labels")}
    objective = Objective(model, codec, processor.pad_id)
    both = objective({"und": und, "text": text}, torch.Generator().manual_seed(0))["ar"]
    text_only = objective({"text": text}, torch.Generator().manual_seed(0))["ar"]
    assert objective({"und": cut, "text": text}, torch.Generator().manual_seed(0))["ar"] == text_only != both
    with pytest.raises(ValueError, match="the batch holds no und, gen or text samples"):
        objective({"und": cut}, torch.Generator().manual_seed(0))


def test_rectified_flow_pair_interpolates_from_noise_to_data():
    x, z0 = torch.full((2, 1, 2, 2), 3.0), torch.full((2, 1, 2, 2), -1.0)
    z_t, target = rectified_flow_pair(x, z0, torch.tensor([0.0, 0.75]))
    assert torch.equal(z_t[0], z0[0]) and torch.allclose(z_t[1], torch.full((1, 2, 2), 2.0))
    assert torch.equal(target, torch.full((2, 1, 2, 2), 4.0))
    assert rectified_flow_loss(target + 1, target).item() == pytest.approx(1.0)


def test_logit_normal_times_are_seeded_and_centred():
    a = sample_logit_normal(20000, torch.Generator().manual_seed(0))
    b = sample_logit_normal(20000, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    assert 0 < a.min() and a.max() < 1
    assert a.median().item() == pytest.approx(0.5, abs=0.01)
    assert ((a > 0.25) & (a < 0.75)).float().mean().item() == pytest.approx(0.7286, abs=0.01)  # P(|N| < ln 3)


def test_repa_loss_is_negative_cosine_with_stopped_target():
    x = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]], requires_grad=True)
    target = torch.tensor([[[2.0, 0.0], [0.0, -1.0]]], requires_grad=True)
    loss = repa_loss(x, target)
    assert loss.item() == pytest.approx(0.0)  # cosines +1 and -1
    loss.backward()
    assert target.grad is None and x.grad is not None
    assert repa_loss(torch.ones(1, 3, 4), torch.ones(1, 3, 4)).item() == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="H_gen = H_im"):
        repa_loss(torch.ones(1, 4, 8), torch.ones(1, 9, 8))


def test_condition_dropout_replaces_the_chosen_share(processor):
    prefix = processor.encode_generation_prompts(["a red circle"] * 1000)
    mixed, dropped = condition_dropout(prefix, processor.pad_id, 0.1, torch.Generator().manual_seed(0))
    assert 0.08 < dropped.float().mean().item() < 0.12
    uncond = prefix.unconditional(processor.pad_id)
    assert torch.equal(mixed.input_ids[dropped], uncond.input_ids[dropped])
    assert torch.equal(mixed.attention_mask[~dropped], prefix.attention_mask[~dropped])
    none, dropped_none = condition_dropout(prefix, processor.pad_id, 0.0)
    assert not dropped_none.any() and torch.equal(none.input_ids, prefix.input_ids)


def test_generation_losses_train_the_generation_path(model, processor):
    model.train()
    prefix = processor.encode_generation_prompts(["a red circle", "a blue star"])
    latents = torch.randn(2, 4, 16, 16)
    target = torch.randn(2, 64, 32)
    out = generation_losses(model, prefix, latents, target, processor.pad_id, torch.Generator().manual_seed(0))
    assert out.rf.item() > 0 and -1 <= out.repa.item() <= 1
    (out.rf + out.repa).backward()
    for name in ("vision_gen_enc_aligner.weight", "vision_gen_dec_aligner.weight", "repa_head.mlp.0.weight",
                 "language_model.model.layers.0.self_attn.q_proj.weight"):
        assert model.get_parameter(name).grad.abs().sum() > 0, name
    assert model.get_parameter("language_model.model.layers.2.mlp.up_proj.weight").grad is not None
    assert model.vision_und_enc_aligner.weight.grad is None


def test_repa_features_are_the_hidden_state_after_block_k(model, processor):
    captured = {}
    layer = model.config.repa_config.layer
    block = model.language_model.model.layers[layer - 1]
    handle = block.register_forward_hook(lambda mod, args, out: captured.setdefault("h", out[0] if isinstance(out, tuple) else out))
    prefix = processor.encode_generation_prompts(["a red circle"])
    with torch.no_grad():
        out = model.velocity(prefix.input_ids, prefix.attention_mask, prefix.attention_mask,
                             torch.randn(1, 4, 16, 16), torch.tensor([0.5]), return_repa_features=True)
    handle.remove()
    assert out.repa_features.shape == (1, 64, 32)
    assert torch.equal(out.repa_features, captured["h"][:, -64:])
