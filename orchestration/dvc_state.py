"""What ``dvc repro`` built, shown in Dagster: DVC runs outside Dagster's event log, so each lineage node in
dvc.lock is recorded in the Dagster instance as a runless materialization of its asset (and partition), with the
data version an asset run computes from the same DVC hashes and the metadata it reads from the same outputs
(``orchestration.node_metadata``). A node whose latest materialization already carries that data version is left
alone, so recording twice adds nothing and a Dagster run's own materialization is not duplicated.

    python -m orchestration.dvc_state      # make run does this after dvc repro; the sensor dvc_state does it too
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetRecordsFilter,
    DagsterInstance,
    DataVersion,
    DefaultSensorStatus,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from orchestration import node_metadata
from orchestration.lineage import BY_NAME
from orchestration.metadata import data_version
from orchestration.partitions import partition_key, run_of_dvc_item
from orchestration.resources import DvcResource, PipelinePaths
from settings.params import load_params
from settings.run import RunKey

DATA_VERSION_TAG = "dagster/data_version"  # where Dagster keeps a materialization's data version


@dataclass(frozen=True)
class NodeState:
    """One asset (and partition) as dvc.lock records it."""

    asset: str
    run: RunKey | None   # the run of a per-run node
    version: DataVersion

    @property
    def partition(self) -> str | None:
        """The run's partition key (``<seed>|<variant>``)."""
        return None if self.run is None else str(partition_key(self.run))


def lock_states(dvc: DvcResource, runs: set[RunKey]) -> list[NodeState]:
    """Every asset (partition) that dvc.lock has outputs for; runs that are not partitions (a variant or seed
    removed from params.yaml), and stages the lineage no longer has, are left out."""
    states = []
    for stage, hashes in dvc.lock_outputs().items():
        base, _, item = stage.partition("@")
        if not hashes or base not in BY_NAME:
            continue
        run = run_of_dvc_item(item) if item else None
        if run is not None and run not in runs:
            continue
        node = BY_NAME[base]
        states += [NodeState(key, run, data_version(node.asset_hashes(key, hashes), []))
                   for key in node.asset_keys]
    return states


def latest_version(instance: DagsterInstance, state: NodeState) -> str | None:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(state.asset),
                           asset_partitions=[state.partition] if state.partition else None), limit=1).records
    if not records or records[0].asset_materialization is None:
        return None
    return (records[0].asset_materialization.tags or {}).get(DATA_VERSION_TAG)


def record_dvc_state(instance: DagsterInstance, paths: PipelinePaths, dvc: DvcResource) -> list[NodeState]:
    """Record every node of dvc.lock whose data version the instance does not have yet; returns them."""
    params = load_params(paths.params)
    runs = set(params.runs())
    recorded = []
    for state in lock_states(dvc, runs):
        if latest_version(instance, state) == state.version.value:
            continue
        instance.report_runless_asset_event(AssetMaterialization(
            asset_key=state.asset, partition=state.partition, metadata=node_metadata.of_asset(paths, state.asset, state.run),
            tags={DATA_VERSION_TAG: state.version.value}, description="built by dvc repro (dvc.lock)"))
        recorded.append(state)
    return recorded


@sensor(minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING,
        description="Records what dvc repro built (dvc.lock) as materializations, so the UI shows DVC's runs.")
def dvc_state(context: SensorEvaluationContext, paths: PipelinePaths, dvc: DvcResource) -> SkipReason:
    recorded = record_dvc_state(context.instance, paths, dvc)
    return SkipReason(f"recorded {len(recorded)} node(s) from dvc.lock" if recorded else "dvc.lock: nothing new")


def main() -> int:
    recorded = record_dvc_state(DagsterInstance.get(), PipelinePaths(), DvcResource())
    print(f"Dagster: recorded {len(recorded)} lineage node(s) that dvc repro built "
          f"({', '.join(sorted({s.asset for s in recorded})) or 'none new'}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
