"""How the Trainer spread the model over its processes, and the whole weights of a sharded model.

Composer's EMA keeps whole (unsharded) copies of the weights, taken before the model is sharded, and reads and
writes the model's weights inside ``get_model_context_manager(model)``. That context is
``model.module.summon_full_params(model.module)``, which only works when a wrapper with a ``.module`` holds the FSDP
root; Composer's FSDP wraps the ComposerModel's children instead (here the JanusFlow model), so EMA fails at the
end of the first batch with "'JanusFlowComposerModel' object has no attribute 'module'". Under FSDP2 it does
nothing at all, and EMA then mixes whole tensors with the sharded ones ("got mixed torch.Tensor and DTensor").
``gather_weights`` is that context done for any model that holds FSDP modules or FSDP2's sharded parameters;
``patch_composer_ema`` makes Composer's EMA use it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from composer.algorithms.ema import ema as composer_ema
from composer.utils import misc
from torch import nn
from torch.distributed.fsdp import FSDPModule, FullyShardedDataParallel
from torch.distributed.tensor import DTensor, distribute_tensor
from torch.nn.parallel import DistributedDataParallel


def sharded_units(model: nn.Module) -> int:
    """How many FSDP (or FSDP2) units gather their weights on their own: one per decoder layer plus the root."""
    return sum(isinstance(module, (FullyShardedDataParallel, FSDPModule)) for module in model.modules())


def distribution_of(model: nn.Module) -> str:
    """fsdp, fsdp2, ddp or single."""
    if misc.is_model_fsdp(model):
        return "fsdp"
    if sharded_units(model):
        return "fsdp2"
    return "ddp" if isinstance(model, DistributedDataParallel) else "single"


def is_sharded(model: nn.Module) -> bool:
    """Whether each rank holds only a shard of the weights, so that every rank must take part in a computation
    that reads them (sampling, EMA, exporting)."""
    return distribution_of(model) in ("fsdp", "fsdp2")


def gather_weights(model: torch.nn.Module) -> contextlib.AbstractContextManager:
    """Every sharded parameter inside ``model`` holds its whole value inside this context, and what is written into
    it there is kept (a collective: all ranks enter it); a model without FSDP is left as it is."""
    if misc.is_model_fsdp(model):
        return FullyShardedDataParallel.summon_full_params(model)
    if any(isinstance(p, DTensor) for p in model.parameters()):
        return whole_dtensor_parameters(model)
    return contextlib.nullcontext()


@contextlib.contextmanager
def whole_dtensor_parameters(model: nn.Module) -> Iterator[None]:
    """FSDP2's counterpart of ``summon_full_params(writeback=True)``: each DTensor parameter is replaced by a whole
    plain copy (gathered from every rank), and on the way out each rank keeps its own shard of what the copy then
    holds. Every rank holds the same whole copies, so cutting out a shard needs no communication.

    Each FSDP2 unit is resharded first: the root stays unsharded after a forward without backward (an evaluation),
    and a write into its unsharded copy would be dropped at its next reshard while the optimizer steps the stale
    shard."""
    swapped = []
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, FSDPModule):
                module.reshard()
        for module in model.modules():
            for name, param in list(module._parameters.items()):
                if isinstance(param, DTensor):
                    whole = nn.Parameter(param.full_tensor(), requires_grad=param.requires_grad)
                    module._parameters[name] = whole
                    swapped.append((module, name, param, whole))
    try:
        yield
    finally:
        with torch.no_grad():
            for module, name, sharded, whole in swapped:
                shard = distribute_tensor(whole.detach(), sharded.device_mesh, sharded.placements, src_data_rank=None)
                sharded.to_local().copy_(shard.to_local())
                module._parameters[name] = sharded


def patch_composer_ema() -> None:
    """Route Composer's EMA through ``gather_weights`` (idempotent)."""
    composer_ema.get_model_context_manager = gather_weights
