"""The options of params.yaml ``training.speed`` change how a step computes, not what: the same losses and
gradients as without them, on CPU (a GPU measures what they gain: benchmarks/gpu_suite.py)."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import mixed_batch

from janusflow.losses import autoregressive_loss
from janusflow.processor import IGNORE_INDEX
from janusflow.training.objective import Objective
from settings.training import SpeedSettings
from settings.typed import SettingsError


def losses_and_grads(model, codec, processor, ce_chunk: int = 0) -> tuple[dict, dict]:
    model.train()
    model.zero_grad(set_to_none=True)
    out = Objective(model, codec, processor.pad_id, ce_chunk=ce_chunk)(mixed_batch(processor),
                                                                        torch.Generator().manual_seed(0))
    out["total"].backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return {k: v.item() for k, v in out.items()}, grads


def assert_same(a: tuple[dict, dict], b: tuple[dict, dict], rel: float) -> None:
    assert a[0].keys() == b[0].keys() and all(a[0][k] == pytest.approx(b[0][k], rel=rel, abs=1e-7) for k in a[0])
    assert a[1].keys() == b[1].keys()
    for name in a[1]:
        torch.testing.assert_close(a[1][name], b[1][name], rtol=rel, atol=1e-6, msg=name)


def test_the_fused_cross_entropy_is_the_cross_entropy_chunk_by_chunk():
    torch.manual_seed(0)
    head = torch.nn.Linear(16, 50, bias=False)
    hidden = torch.randn(3, 9, 16, requires_grad=True)
    labels = torch.randint(0, 50, (3, 9))
    labels[0, :5] = IGNORE_INDEX
    results = {}
    for chunk in (0, 1, 4, 1000):
        head.zero_grad()
        hidden.grad = None
        loss = autoregressive_loss(hidden, labels, head, chunk=chunk)
        loss.backward()
        results[chunk] = (loss.item(), hidden.grad.clone(), head.weight.grad.clone())
        summed = autoregressive_loss(hidden, labels, head, reduction="sum", chunk=chunk).item()
        assert summed == pytest.approx(results[chunk][0] * int((labels[:, 1:] != IGNORE_INDEX).sum()), rel=1e-6)
    for chunk in (1, 4, 1000):
        assert results[chunk][0] == pytest.approx(results[0][0], rel=1e-6)
        torch.testing.assert_close(results[chunk][1], results[0][1], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(results[chunk][2], results[0][2], rtol=1e-5, atol=1e-7)


def test_the_objective_with_the_fused_cross_entropy_trains_the_same(model, codec, processor):
    assert_same(losses_and_grads(copy.deepcopy(model), codec, processor),
                losses_and_grads(copy.deepcopy(model), codec, processor, ce_chunk=3), rel=1e-5)


def test_channels_last_generation_blocks_train_the_same(model, codec, processor):
    channels_last = copy.deepcopy(model).to_channels_last()
    assert channels_last.vision_gen_enc_model.in_conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert_same(losses_and_grads(copy.deepcopy(model), codec, processor),
                losses_and_grads(channels_last, codec, processor), rel=1e-5)
    original = model.state_dict()
    assert all(torch.equal(original[k], v) for k, v in channels_last.state_dict().items())   # values unchanged


def test_a_negative_chunk_is_refused():
    with pytest.raises(SettingsError, match="training.speed.fused_cross_entropy is -1; give rows per chunk"):
        SpeedSettings(channels_last=False, fused_cross_entropy=-1, precomputed_latents=False, compile_layers=False)
