"""One LLM pass per microbatch: understanding, text and generation rows padded together give the losses and
gradients of one pass per data type, and the decoder layers run once whatever data types a rank drew (what FSDP's
per-layer gathers need)."""

from __future__ import annotations

import pytest
import torch
from conftest import mixed_batch

from janusflow.losses import autoregressive_loss, generation_losses, response_tokens
from janusflow.processor import GenerationPrefix
from janusflow.training.objective import Objective


def separate_passes(model, codec, processor, batch: dict) -> dict[str, torch.Tensor]:
    """The objective's terms with one LLM pass per data type, drawing from the generator in the objective's order."""
    generator = torch.Generator().manual_seed(0)
    summed, tokens = 0.0, 0
    for task in ("und", "text"):
        part = batch[task]
        no_image = torch.zeros_like(part["input_ids"], dtype=torch.bool)
        hidden = model.understanding_hidden_states(part["input_ids"], part["attention_mask"], part.get("pixel_values"),
                                                   part.get("image_token_mask", no_image),
                                                   part.get("image_begin_mask", no_image))
        summed = summed + autoregressive_loss(hidden, part["labels"], model.language_model.lm_head, reduction="sum")
        tokens += response_tokens(part["labels"])
    gen = batch["gen"]
    latents = codec.encode(gen["pixel_values"], generator)
    prefix = GenerationPrefix(input_ids=gen["prefix_ids"], attention_mask=gen["prefix_attention"])
    out = generation_losses(model, prefix, latents, model.repa_target(gen["pixel_values"]), processor.pad_id,
                            generator, p_uncond=0.5)
    return {"ar": summed / tokens, "rf": out.rf, "repa": out.repa}


def grads_of(model, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def test_one_joint_pass_gives_the_losses_and_gradients_of_one_pass_per_data_type(model, codec, processor):
    model.train()
    batch = mixed_batch(processor)
    assert batch["und"]["input_ids"].shape[1] != batch["text"]["input_ids"].shape[1]   # rows of three lengths
    joint = Objective(model, codec, processor.pad_id, p_uncond=0.5)(batch, torch.Generator().manual_seed(0))
    reference = separate_passes(model, codec, processor, batch)
    for term in ("ar", "rf", "repa"):
        assert joint[term].item() == pytest.approx(reference[term].item(), rel=1e-5), term
    expected = grads_of(model, sum(reference.values()))
    got = grads_of(model, joint["total"])
    assert got.keys() == expected.keys()
    for name in got:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("tasks", [("und",), ("text",), ("gen",), ("und", "gen"), ("und", "text", "gen")])
def test_the_decoder_layers_run_once_per_microbatch_whatever_it_holds(model, codec, processor, tasks):
    calls = []
    for layer in model.language_model.model.layers:
        layer.register_forward_hook(lambda module, args, out: calls.append(module))
    batch = {task: part for task, part in mixed_batch(processor).items() if task in tasks}
    out = Objective(model, codec, processor.pad_id)(batch, torch.Generator().manual_seed(0))
    assert calls == list(model.language_model.model.layers)
    assert (out["ar"].item() != 0) == any(t in tasks for t in ("und", "text"))
    assert (out["rf"].item() != 0) == ("gen" in tasks)


def test_zero_unused_gradients_gives_every_part_a_gradient_and_changes_no_other(model, codec, processor):
    """Under FSDP2 every rank must hold a gradient for the same parameters: a text-only microbatch then gives the
    generation blocks and the understanding encoder zero gradients instead of none."""
    model.train()
    batch = {"text": mixed_batch(processor)["text"]}
    plain = grads_of(model, Objective(model, codec, processor.pad_id)(batch, torch.Generator())["total"])
    zeroed = grads_of(model, Objective(model, codec, processor.pad_id,
                                       zero_unused_gradients=True)(batch, torch.Generator())["total"])
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert zeroed.keys() == trainable and plain.keys() < trainable
    for name in trainable - plain.keys():
        assert not zeroed[name].any(), name
    assert "vision_gen_enc_aligner.weight" in trainable - plain.keys()
    for name in plain:
        assert torch.equal(plain[name], zeroed[name]), name
