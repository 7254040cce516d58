"""Composer's EMA with Composer's FSDP.

Composer's EMA gathers an FSDP model's weights with ``model.module.summon_full_params(model.module)``, which only
works when a wrapper with a ``.module`` holds the FSDP root. Composer's FSDP wraps the ComposerModel's children
instead (here the JanusFlow model), so EMA fails at the end of the first batch with "'JanusFlowComposerModel'
object has no attribute 'module'". ``gather_weights`` is that lookup done for any model that holds FSDP modules;
``patch_composer_ema`` makes Composer's EMA use it.
"""

from __future__ import annotations

import contextlib

import torch
from composer.algorithms.ema import ema as composer_ema
from composer.utils import misc
from torch.distributed.fsdp import FullyShardedDataParallel


def gather_weights(model: torch.nn.Module) -> contextlib.AbstractContextManager:
    """Every FSDP module inside ``model`` holds its whole weights inside this context (a collective: all ranks
    enter it); a model without FSDP is left as it is."""
    if misc.is_model_fsdp(model):
        return FullyShardedDataParallel.summon_full_params(model)
    return contextlib.nullcontext()


def patch_composer_ema() -> None:
    """Route Composer's EMA through ``gather_weights`` (idempotent)."""
    composer_ema.get_model_context_manager = gather_weights
