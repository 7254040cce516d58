"""Answering about images: image slots, batching with left padding, decoding modes, bad input."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from PIL import Image

from janusflow.modeling import JanusFlowModel
from janusflow.understanding import answer

QUESTION = [{"role": "User", "content": "<image_placeholder>\nWhat colour is the circle?"}]
TEXT_ONLY = [{"role": "User", "content": "How many squares are there?"}]


def test_image_slots_hold_aligned_features_and_begin_embedding(model, processor, red_image):
    batch = processor.chat_batch([QUESTION], [[red_image]])
    with torch.no_grad():
        embeds = model.prepare_inputs_embeds(batch.input_ids, batch.pixel_values, batch.image_token_mask,
                                             batch.image_begin_mask)
        features = model.understanding_image_embeddings(batch.pixel_values)[0]
    assert torch.equal(embeds[batch.image_token_mask], features)
    assert torch.equal(embeds[batch.image_begin_mask][0], model.beg_of_und_embed[0])
    text_slots = ~(batch.image_token_mask | batch.image_begin_mask)
    assert torch.equal(embeds[text_slots], model.embed_tokens(batch.input_ids)[text_slots])


def test_answer_depends_on_the_image(model, processor, red_image):
    blue = Image.new("RGB", (48, 32), (20, 20, 220))
    logits = []
    for image in (red_image, blue):
        batch = processor.chat_batch([QUESTION], [[image]])
        with torch.no_grad():
            logits.append(model.understanding_logits(batch.input_ids, batch.attention_mask, batch.pixel_values,
                                                     batch.image_token_mask, batch.image_begin_mask)[0, -1])
    assert (logits[0] - logits[1]).abs().max() > 1e-4


def test_batched_greedy_answers_equal_single_answers(model, processor, red_image):
    batched = answer(model, processor, [QUESTION, TEXT_ONLY], [[red_image], []], max_new_tokens=6)
    single = [answer(model, processor, [QUESTION], [[red_image]], max_new_tokens=6)[0],
              answer(model, processor, [TEXT_ONLY], max_new_tokens=6)[0]]
    assert batched == single
    assert all(len(a) > 0 for a in batched)


def test_sampled_answers_are_seeded(model, processor, red_image):
    kwargs = {"max_new_tokens": 6, "do_sample": True, "temperature": 1.5, "top_p": 0.95}
    first = answer(model, processor, [QUESTION], [[red_image]], seed=1, **kwargs)
    again = answer(model, processor, [QUESTION], [[red_image]], seed=1, **kwargs)
    others = {answer(model, processor, [QUESTION], [[red_image]], seed=s, **kwargs)[0] for s in range(2, 6)}
    assert first == again
    assert others - {first[0]}


def test_wrong_image_tensor_is_rejected(model):
    with pytest.raises(ValueError, match=r"input has shape \(1, 1, 64, 64\); expected \[batch, 3, 64, 64\]"):
        model.vision_und_enc_model(torch.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match=r"expected \[batch, 3, 64, 64\]"):
        model.vision_und_enc_model(torch.zeros(1, 3, 32, 32))


def test_missing_images_for_placeholders_is_an_error(model, processor):
    batch = processor.batch([processor.encode_chat_prompt(QUESTION)], [Image.new("RGB", (4, 4))])
    with pytest.raises(ValueError, match="hold 64 image placeholder slots but no pixel_values"):
        model.prepare_inputs_embeds(batch.input_ids, None, batch.image_token_mask, batch.image_begin_mask)


def test_too_long_generation_request_is_an_error(model, processor):
    with pytest.raises(ValueError, match=r"max_new_tokens=2000 exceeds the LLM context of 1024"):
        answer(model, processor, [TEXT_ONLY], max_new_tokens=2000)


def test_two_images_in_one_conversation(model, processor, red_image):
    blue = Image.new("RGB", (20, 40), (20, 20, 220))
    two = [{"role": "User", "content": "<image_placeholder> is Figure 1.\n<image_placeholder> is Figure 2.\nWhich is red?"}]
    batch = processor.chat_batch([two], [[red_image, blue]])
    assert batch.pixel_values.shape == (2, 3, 64, 64)
    assert int(batch.image_token_mask.sum()) == 128 and int(batch.image_begin_mask.sum()) == 2
    with torch.no_grad():
        embeds = model.prepare_inputs_embeds(batch.input_ids, batch.pixel_values, batch.image_token_mask,
                                             batch.image_begin_mask)
        features = model.understanding_image_embeddings(batch.pixel_values)
    assert torch.equal(embeds[batch.image_token_mask], features.reshape(-1, features.shape[-1]))
    assert len(answer(model, processor, [two], [[red_image, blue]], max_new_tokens=4)) == 1


def test_understanding_encoder_starts_from_big_vision_initialisation():
    """SigLIP's own (big_vision, timm "jax") init: Xavier-uniform linear layers and LeCun-normal patch embedding.
    timm's default (std 0.02) is sized for width 768; at width 64 it leaves the tower nearly linear, and the tiny
    encoder then took two to three times as many steps to learn shape under supervision."""
    from janusflow.config import UnderstandingEncoderSpec
    from janusflow.modeling.understanding_encoder import UnderstandingEncoder

    torch.manual_seed(0)
    tower = UnderstandingEncoder(UnderstandingEncoderSpec(image_size=64, width=64, layers=2, heads=4, patch_size=8,
                                                          mlp_ratio=4.0)).vision_tower
    qkv = tower.blocks[0].attn.qkv.weight
    assert qkv.std().item() == pytest.approx((2 / (64 + 192)) ** 0.5, rel=0.05)
    patch = tower.patch_embed.proj.weight
    assert patch.std().item() == pytest.approx((1 / (3 * 8 * 8)) ** 0.5, rel=0.1)
    assert tower.blocks[0].mlp.fc1.bias.abs().max().item() < 1e-4


def test_a_latent_understanding_encoder_reads_the_images_through_the_codec(tiny_config, processor, codec, red_image):
    torch.manual_seed(0)
    shared = JanusFlowModel(dataclasses.replace(tiny_config, und_encoder_source="shared_generation")).eval()
    assert shared.understands_latents
    with pytest.raises(ValueError, match=r"reads VAE latents; pass codec="):
        answer(shared, processor, [QUESTION], [[red_image]], max_new_tokens=2)
    blue = Image.new("RGB", (48, 32), (20, 20, 220))
    batch = processor.chat_batch([QUESTION, QUESTION], [[red_image], [blue]])
    latents = codec.encode(batch.pixel_values, torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = shared.understanding_logits(batch.input_ids, batch.attention_mask, batch.pixel_values,
                                             batch.image_token_mask, batch.image_begin_mask, latents)[:, -1]
    assert (logits[0] - logits[1]).abs().max() > 1e-4  # the encoded latents reach the LLM
    replies = answer(shared, processor, [QUESTION, QUESTION], [[red_image], [blue]], max_new_tokens=3, codec=codec)
    assert replies == answer(shared, processor, [QUESTION, QUESTION], [[red_image], [blue]], max_new_tokens=3,
                             codec=codec)
    assert len(replies) == 2 and all(isinstance(r, str) for r in replies)
