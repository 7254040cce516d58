"""Rectified-flow sampling: prefix cache, mixed-prompt batches, CFG and seeds."""

from __future__ import annotations

import pytest
import torch

from janusflow.sampling import FlowSampler, guided_velocity, initial_noise

PROMPTS = ["a red circle", "two blue squares left of a green triangle", "a photo of a purple star"]
TOLERANCE = 1e-5  # float32; differences come only from matmul shapes (padding, cache vs full sequence)


@pytest.fixture()
def sampler(model, processor, codec):
    return FlowSampler(model, processor, codec)


def test_cached_prefix_equals_full_recomputation(sampler):
    cached = sampler.sample(PROMPTS, [1, 2, 3], steps=4, cfg_weight=2.0, template="sft")
    full = sampler.sample(PROMPTS, [1, 2, 3], steps=4, cfg_weight=2.0, cache_prefix=False, template="sft")
    assert (cached.latents - full.latents).abs().max() < TOLERANCE
    assert cached.latents.abs().max() > 0.1


def test_prompt_in_a_mixed_batch_equals_the_prompt_alone(sampler):
    mixed = sampler.sample(PROMPTS, [1, 2, 3], steps=4, cfg_weight=2.0, template="sft")
    for i, prompt in enumerate(PROMPTS):
        alone = sampler.sample([prompt], [i + 1], steps=4, cfg_weight=2.0, template="sft")
        assert (mixed.latents[i] - alone.latents[0]).abs().max() < TOLERANCE
    split = sampler.sample(PROMPTS, [1, 2, 3], steps=4, batch_size=2, cfg_weight=2.0, template="sft")
    assert (split.latents - mixed.latents).abs().max() < TOLERANCE


def test_guided_velocity_formula():
    v_c, v_u = torch.tensor([1.0, 2.0]), torch.tensor([0.5, -1.0])
    assert torch.equal(guided_velocity(v_c, v_u, 1.0), v_c)
    assert torch.equal(guided_velocity(v_c, v_u, 2.0), torch.tensor([1.5, 5.0]))
    assert torch.allclose(guided_velocity(v_c, v_u, 7.5), 7.5 * v_c - 6.5 * v_u)


def _manual_euler(model, processor, prompts, seeds, steps, cfg_weight):
    """Reference: full recomputation with the conditional and unconditional branches run separately."""
    prefix = processor.encode_generation_prompts(prompts)
    uncond = prefix.unconditional(processor.pad_id)
    z = initial_noise(seeds, (4, 16, 16))
    for step in range(steps):
        t = torch.full((len(prompts),), step / steps)
        v_c = model.velocity(prefix.input_ids, prefix.attention_mask, prefix.attention_mask, z, t).velocity
        v_u = model.velocity(uncond.input_ids, uncond.attention_mask, prefix.attention_mask, z, t).velocity
        z = z + (1 / steps) * (cfg_weight * v_c - (cfg_weight - 1) * v_u)
    return z


@pytest.mark.parametrize("cfg_weight", [1.0, 2.0])
def test_sampler_matches_separate_branch_euler(sampler, model, processor, cfg_weight):
    with torch.no_grad():
        expected = _manual_euler(model, processor, PROMPTS[:2], [5, 6], 3, cfg_weight)
    got = sampler.sample(PROMPTS[:2], [5, 6], steps=3, cfg_weight=cfg_weight, template="sft").latents
    assert (got - expected).abs().max() < TOLERANCE


def test_unconditional_branch_ignores_the_prompt_text(model, processor):
    a = processor.encode_generation_prompts(["a red circle"]).unconditional(processor.pad_id)
    slots = processor.encode_generation_prompts(["a red circle"]).attention_mask
    b_ids = a.input_ids.clone()
    b_ids[0, 1:] = 7  # prompt slots are masked, so their ids do not matter
    z, t = initial_noise([0], (4, 16, 16)), torch.tensor([0.3])
    with torch.no_grad():
        va = model.velocity(a.input_ids, a.attention_mask, slots, z, t).velocity
        vb = model.velocity(b_ids, a.attention_mask, slots, z, t).velocity
    assert torch.equal(va, vb)


def test_seeds_set_the_noise_and_images_decode(sampler):
    one = sampler.sample(PROMPTS[:2], [1, 2], steps=2, cfg_weight=2.0, template="sft")
    again = sampler.sample(PROMPTS[:2], [1, 2], steps=2, cfg_weight=2.0, template="sft")
    other = sampler.sample(PROMPTS[:2], [1, 9], steps=2, cfg_weight=2.0, template="sft")
    assert torch.equal(one.latents, again.latents)
    assert torch.equal(one.latents[0], other.latents[0]) and not torch.equal(one.latents[1], other.latents[1])
    assert one.images.shape == (2, 64, 64, 3) and one.images.dtype == torch.uint8
    assert [im.size for im in one.to_pil()] == [(64, 64), (64, 64)]


def test_bad_sampling_requests(sampler):
    with pytest.raises(ValueError, match="2 prompts but 1 seeds"):
        sampler.sample(PROMPTS[:2], [1], steps=2, cfg_weight=2.0, template="sft")
    with pytest.raises(ValueError, match="exceeds the LLM context of 1024"):
        sampler.sample(["red " * 1000], [0], steps=1, cfg_weight=2.0, template="sft")
    with pytest.raises(TypeError, match="prompts must be a list of strings"):
        sampler.processor.encode_generation_prompts("a red circle")
