"""The study's runs as Dagster partitions: two dimensions, variant x seed, read from params.yaml (``variants``,
``seeds``), so ``seeds: [0, 1, 2]`` runs every per-run asset three times. DVC's matrix names the same run
``<variant>-<seed>`` (``stage1@F-0``); ``settings.run.RunKey`` is the run in the library."""

from __future__ import annotations

from dagster import MultiPartitionKey, MultiPartitionsDefinition, StaticPartitionsDefinition

from settings.params import Params
from settings.run import RunKey

VARIANT, SEED = "variant", "seed"


def runs_partitions(params: Params) -> MultiPartitionsDefinition:
    return MultiPartitionsDefinition({VARIANT: StaticPartitionsDefinition(list(params.variants)),
                                      SEED: StaticPartitionsDefinition([str(s) for s in params.seeds])})


def partition_key(run: RunKey) -> MultiPartitionKey:
    return MultiPartitionKey({VARIANT: run.variant, SEED: str(run.seed)})


def run_of(key: MultiPartitionKey) -> RunKey:
    """The run of a partition key (Dagster hands assets and checks a ``MultiPartitionKey``)."""
    return RunKey(key.keys_by_dimension[VARIANT], int(key.keys_by_dimension[SEED]))


def run_of_dvc_item(item: str) -> RunKey:
    """The run of a DVC matrix item name (``F-0`` in ``stage1@F-0``)."""
    variant, _, seed = item.rpartition("-")
    if not variant or not seed.isdigit():
        raise ValueError(f"{item!r} is not a DVC run item (<variant>-<seed>); was dvc.yaml written by an older "
                         "version? Rewrite it with python -m orchestration.lineage.")
    return RunKey(variant, int(seed))
