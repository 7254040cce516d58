"""The optimisation loop every foundation shares: seeded AdamW with warmup and cosine decay, a progress bar, a
loss curve. Each foundation supplies how to draw a batch and its loss on one."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
from torch import nn
from tqdm import tqdm

from settings.foundations import TrainingSettings

Batch = TypeVar("Batch")


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warmup to 1, then cosine decay to 0.1 at the last step."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def random_indices(dataset_size: int, batch_size: int) -> Callable[[torch.Generator], torch.Tensor]:
    """Draws a batch of indices into a dataset held in memory, with replacement."""
    return lambda generator: torch.randint(0, dataset_size, (batch_size,), generator=generator)


@contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """Deterministic kernels inside, the caller's choice restored after. On CPU with more than one thread the
    backward of advanced indexing (``table[labels]``) otherwise adds with atomics in whatever order the threads
    finish, so two runs of one seed part ways after a few steps."""
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def train(module: nn.Module, loss_on: Callable[[Batch, torch.Generator], torch.Tensor],
          draw: Callable[[torch.Generator], Batch], settings: TrainingSettings, desc: str,
          progress: bool = True, after_step: Callable[[int], None] | None = None) -> list[float]:
    """Run ``settings.steps`` steps; ``draw(generator)`` gives a batch and ``loss_on(batch, generator)`` its
    loss; ``after_step(steps_done)`` runs after each (a curve of held-out figures). Returns the loss at every step.
    Deterministic for ``settings.seed`` on CPU, whatever the number of threads."""
    generator = torch.Generator().manual_seed(settings.seed)
    optimizer = torch.optim.AdamW(module.parameters(), lr=settings.learning_rate, betas=(0.9, 0.95),
                                  weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, settings.warmup_steps, settings.steps))
    module.train()
    curve = []
    with deterministic_algorithms(), tqdm(range(settings.steps), desc=desc, disable=not progress) as bar:
        for _ in bar:
            loss = loss_on(draw(generator), generator)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{desc}: loss became {loss.item()} at step {len(curve)}; lower "
                                         "foundations.<name>.training.learning_rate in params.yaml.")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            curve.append(loss.item())
            bar.set_postfix(loss=f"{curve[-1]:.4f}")
            if after_step is not None:
                after_step(len(curve))
    module.eval()
    return curve
