"""Where the lineage's artifacts live: every folder and file name of the pipeline's nodes, derived from the ``out``
folders of params.yaml. No other module spells a path of the lineage, so moving one is a change here. (Formats
that belong to a library keep their own names: Streaming's ``index.json``, GenEval's ``samples/``.)

    <data.paths.raw>/            the raw sources; the shapes world adds world.json, corruptions.json, eval/
    <data.paths.manifests>/      <type>.parquet, quarantine.parquet, report.json, report.md
    <data.paths.shards>/         <type>/, val/<type>/ (MDS), summary.json
    <foundations.out>/<name>/    weights + metrics.json
    <training.out>/<variant>/seed<seed>/<stage>/   checkpoints/, logs/, export/, samples/, metrics.json, losses.csv
    <evaluation.out>/            prompts/, reference/, tables/, <variant>/seed<seed>/ (generation/,
                                 understanding/<benchmark>/, sweep/, metrics.json), judged/<run>/,
                                 metrics/<variant>/seed<seed>.json
    <report.out>/                report.md, report.html, report.json
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from settings.run import RunKey

METRICS = "metrics.json"      # a node's numbers, in every folder that has any
DPG_GRIDS = "grids"           # DPG-Bench's 2x2 grids, beside a DPG prompt set's samples
TABLES_MARKDOWN = "tables.md"        # every benchmark table in one Markdown file
PREDICTIONS = "predictions.jsonl"   # a benchmark's answers, one per question (the runner resumes from them)
FINAL_STAGE = "stage3"        # the stage whose export a run is evaluated from


SCENES = "scenes.jsonl"   # held-out scene graphs, captions and image names
QUESTIONS = "vqa.jsonl"   # held-out questions with answers and category


@dataclass(frozen=True)
class HeldoutLayout:
    """The shapes world's held-out split, which the benchmarks are made from."""

    root: Path

    @property
    def scenes(self) -> Path:
        return self.root / SCENES

    @property
    def questions(self) -> Path:
        return self.root / QUESTIONS

    @property
    def images(self) -> Path:
        return self.root / "images"


@dataclass(frozen=True)
class WorldLayout:
    """The shapes world under the raw folder (tiny profile)."""

    root: Path

    @property
    def record(self) -> Path:
        """The settings and counts that made the world."""
        return self.root / "world.json"

    @property
    def corruptions(self) -> Path:
        """Every deliberately broken record: source, key, kind, expected outcome."""
        return self.root / "corruptions.json"

    @property
    def heldout(self) -> HeldoutLayout:
        return HeldoutLayout(self.root / "eval")


@dataclass(frozen=True)
class ManifestLayout:
    root: Path

    def manifest(self, task: str) -> Path:
        return self.root / f"{task}.parquet"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine.parquet"

    @property
    def report(self) -> Path:
        return self.root / "report.json"

    @property
    def report_markdown(self) -> Path:
        return self.root / "report.md"


VALIDATION_SPLIT = "val"   # the held-out split's folder beside the training shard sets


@dataclass(frozen=True)
class ShardLayout:
    root: Path

    def stream(self, task: str, validation: bool = False) -> Path:
        """The MDS folder of a data type (``val/<type>``: its held-out validation split)."""
        return self.split(validation) / task

    def split(self, validation: bool) -> Path:
        """The folder whose ``<type>`` subfolders a mixture reads."""
        return self.root / VALIDATION_SPLIT if validation else self.root

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"


@dataclass(frozen=True)
class FoundationLayout:
    root: Path

    def directory(self, name: str) -> Path:
        return self.root / name

    def metrics(self, name: str) -> Path:
        return self.directory(name) / METRICS


@dataclass(frozen=True)
class StageLayout:
    """One training stage of one run."""

    root: Path

    @property
    def checkpoints(self) -> Path:
        """Composer checkpoints (autoresume reads them) and the run's fingerprint."""
        return self.root / "checkpoints"

    @property
    def fingerprint(self) -> Path:
        """What the checkpoints were trained from; a changed setting or upstream discards them."""
        return self.checkpoints / "run.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def export(self) -> Path:
        """The EMA weights in the official checkpoint format (the next stage starts from them)."""
        return self.root / "export"

    @property
    def samples(self) -> Path:
        """Sample grids, ``ba<batch>.png``."""
        return self.root / "samples"

    def sample_grid(self, batch: int) -> Path:
        """The grid drawn after ``batch`` batches."""
        return self.samples / f"ba{batch}.png"

    @property
    def last_sample_grid(self) -> Path | None:
        """The grid drawn at the highest batch count, if any."""
        grids = [p for p in self.samples.glob("ba*.png") if p.stem[2:].isdigit()]
        return max(grids, key=lambda p: int(p.stem[2:])) if grids else None

    @property
    def metrics(self) -> Path:
        return self.root / METRICS

    @property
    def losses(self) -> Path:
        """The whole loss curve: step, ar, rf, repa, total, val_*."""
        return self.root / "losses.csv"


@dataclass(frozen=True)
class TrainingLayout:
    root: Path

    def stage(self, run: RunKey, stage: str) -> StageLayout:
        return StageLayout(self.root / run.folder / stage)

    def export(self, run: RunKey, stage: str = FINAL_STAGE) -> Path:
        return self.stage(run, stage).export

    @property
    def mlflow_store(self) -> Path:
        """The default MLflow store (SQLite) of every stage's run."""
        return self.root / "mlflow.db"


@dataclass(frozen=True)
class GenerationLayout:
    """A run's generated images per benchmark, in the layouts their judges read."""

    root: Path

    @property
    def geneval(self) -> Path:
        return self.root / "geneval"

    @property
    def geneval_images(self) -> Path:
        """GenEval's ``<index>/metadata.jsonl + samples/`` folder, what its evaluator reads."""
        return self.geneval / "geneval"

    @property
    def dpg(self) -> Path:
        return self.root / "dpg"

    @property
    def dpg_grids(self) -> Path:
        """DPG-Bench's 2x2 grids named by item id, what its judge reads."""
        return self.dpg / DPG_GRIDS

    @property
    def fid(self) -> Path:
        return self.root / "fid"

    @property
    def bounds(self) -> Path:
        """The floors and ceilings every generation number is read against."""
        return self.root / "bounds"

    @property
    def metrics(self) -> Path:
        return self.root / METRICS


@dataclass(frozen=True)
class EvalLayout:
    root: Path

    def run_dir(self, run: RunKey) -> Path:
        """One run's samples, answers and ``metrics.json`` (``<out>/<variant>/seed<seed>/``)."""
        return self.root / run.folder

    def metrics(self, run: RunKey) -> Path:
        return self.run_dir(run) / METRICS

    def checkpoint_record(self, run: RunKey) -> Path:
        """The fingerprint of the weights the run's results belong to."""
        return self.run_dir(run) / "checkpoint.json"

    def generation(self, run: RunKey) -> GenerationLayout:
        return GenerationLayout(self.run_dir(run) / "generation")

    def understanding(self, run: RunKey, benchmark: str) -> Path:
        return self.run_dir(run) / "understanding" / benchmark

    def predictions(self, run: RunKey, benchmark: str) -> Path:
        return self.understanding(run, benchmark) / PREDICTIONS

    def sweep(self, run: RunKey) -> Path:
        return self.run_dir(run) / "sweep"

    @property
    def judgements(self) -> Path:
        return self.root / "judged"

    def judged_dir(self, run: RunKey) -> Path:
        """What the external judges wrote for the run (``<out>/judged/<variant>/seed<seed>/``): its own node."""
        return self.judgements / run.folder

    def judged(self, run: RunKey) -> Path:
        return self.judged_dir(run) / "judged.json"

    @property
    def summaries(self) -> Path:
        return self.root / "metrics"

    def summary(self, run: RunKey) -> Path:
        """The run's headline numbers alone (``<out>/metrics/<variant>/seed<seed>.json``): DVC's metrics file."""
        return self.summaries / run.folder.parent / f"{run.folder.name}.json"

    @property
    def prompts(self) -> Path:
        return self.root / "prompts"

    @property
    def reference(self) -> Path:
        """The FID reference, prepared once, and its cached features."""
        return self.root / "reference"

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    @property
    def tables_markdown(self) -> Path:
        return self.tables / TABLES_MARKDOWN


@dataclass(frozen=True)
class ReportLayout:
    root: Path

    @property
    def markdown(self) -> Path:
        return self.root / "report.md"

    @property
    def html(self) -> Path:
        return self.root / "report.html"

    @property
    def record(self) -> Path:
        return self.root / "report.json"


@dataclass(frozen=True)
class DataLayout:
    world: WorldLayout
    manifests: ManifestLayout
    shards: ShardLayout
    cache: Path   # Streaming's local copies
    latents: ShardLayout   # gen/ and val/gen/: the generation shards with their VAE posteriors

    @classmethod
    def of(cls, raw: Path, manifests: Path, shards: Path, cache: Path, latents: Path) -> DataLayout:
        return cls(WorldLayout(raw), ManifestLayout(manifests), ShardLayout(shards), cache, ShardLayout(latents))
