"""One training stage under Composer's FSDP in CPU processes, for tests:

    composer -n 2 tests/fsdp_on_cpu.py <params> <variant> <stage> [<batch to SIGKILL rank 0 at>]

Two shims, each for a library that assumes GPUs where FSDP is on, neither touching our code: Composer hands FSDP
``torch.cuda.current_device()`` as its device, and Composer's full state dict asks torch to offload it to the CPU,
which in torch 2.7 ends in a segmentation fault when the parameters already live there.
"""

import os
import signal
import sys

import composer.core.state as composer_state
import torch
from composer.core import Callback, State
from composer.loggers import Logger
from composer.utils import dist
from torch.distributed.checkpoint.state_dict import StateDictOptions

from janusflow.training.run import StageRun, run_stage


class KillAt(Callback):
    """SIGKILL rank 0 at the end of one batch; Composer's launcher then stops the other ranks."""

    def __init__(self, batch: int) -> None:
        self.batch = batch

    def batch_end(self, state: State, logger: Logger) -> None:
        if int(state.timestamp.batch) == self.batch and dist.get_global_rank() == 0:
            os.kill(os.getpid(), signal.SIGKILL)


def options_without_offload(**options: object) -> StateDictOptions:
    return StateDictOptions(**{**options, "cpu_offload": False})


if __name__ == "__main__":
    torch.cuda.current_device = lambda: torch.device("cpu")
    composer_state.StateDictOptions = options_without_offload
    params, variant, stage, *kill = sys.argv[1:]
    run_stage(StageRun.from_params(params, "tiny", variant, stage), "cpu", [KillAt(int(b)) for b in kill])
