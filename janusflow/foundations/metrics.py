"""Quality metrics of the foundations, as pure functions (tested on hand-made cases)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import torch


def psnr(reconstruction: torch.Tensor, target: torch.Tensor) -> float:
    """Mean per-image PSNR in dB of images in [-1, 1] (peak 1 after mapping to [0, 1])."""
    error = (((reconstruction.clamp(-1, 1) + 1) / 2 - (target + 1) / 2) ** 2).flatten(1).mean(1)
    return float((10 * torch.log10(1.0 / error.clamp_min(1e-10))).mean())


def perplexity(total_nll: float, tokens: int) -> float:
    """exp of the mean negative log-likelihood per predicted token."""
    return math.exp(total_nll / tokens)


def unigram_perplexity(train_tokens: Sequence[int], heldout_tokens: Sequence[int], vocab_size: int) -> float:
    """Perplexity of held-out tokens under add-one-smoothed unigram frequencies of the training tokens: the
    baseline a language model must beat by using context."""
    counts = Counter(train_tokens)
    total = len(train_tokens) + vocab_size
    nll = -sum(math.log((counts[token] + 1) / total) for token in heldout_tokens)
    return perplexity(nll, len(heldout_tokens))


def accuracy(predicted: Sequence, expected: Sequence) -> float:
    if len(predicted) != len(expected) or not expected:
        raise ValueError(f"accuracy needs two equal, non-empty sequences (got {len(predicted)} and {len(expected)}).")
    return sum(p == e for p, e in zip(predicted, expected)) / len(expected)
