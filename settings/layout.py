"""Where the lineage's artifacts live: every file and folder name of the pipeline, derived from the ``out`` folders
of params.yaml. No other module spells a path of the lineage, so that moving one is a change here.

    <training.out>/<variant>/seed<seed>/<stage>/   checkpoints/, logs/, export/, samples/, metrics.json, losses.csv
    <evaluation.out>/<variant>/seed<seed>/         generation/, understanding/<benchmark>/, sweep/, metrics.json
    <evaluation.out>/judged/<variant>/seed<seed>/  what the external judges wrote
    <evaluation.out>/metrics/<variant>/seed<seed>.json   the headline numbers (DVC's metrics file)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from settings.run import RunKey

METRICS = "metrics.json"      # a node's numbers, in every folder that has any
FINAL_STAGE = "stage3"        # the stage whose export a run is evaluated from


@dataclass(frozen=True)
class TrainingLayout:
    out: Path

    def stage_dir(self, run: RunKey, stage: str) -> Path:
        return self.out / run.folder / stage

    def export(self, run: RunKey, stage: str = FINAL_STAGE) -> Path:
        """The stage's EMA weights in the official checkpoint format (the next stage starts from them)."""
        return self.stage_dir(run, stage) / "export"


@dataclass(frozen=True)
class EvalLayout:
    out: Path

    def run_dir(self, run: RunKey) -> Path:
        """One run's samples, answers and ``metrics.json`` (``<out>/<variant>/seed<seed>/``)."""
        return self.out / run.folder

    def metrics(self, run: RunKey) -> Path:
        return self.run_dir(run) / METRICS

    def judged_dir(self, run: RunKey) -> Path:
        """What the external judges wrote for the run (``<out>/judged/<variant>/seed<seed>/``): its own node."""
        return self.out / "judged" / run.folder

    def summary(self, run: RunKey) -> Path:
        """The run's headline numbers alone (``<out>/metrics/<variant>/seed<seed>.json``): DVC's metrics file."""
        return (self.out / "metrics" / run.folder).with_suffix(".json")
