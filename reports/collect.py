"""Gathers what the report shows from the pipeline's artifacts: evaluation results (pooled over seeds where
several runs exist), per-stage loss curves, the training sample grids, sweeps and understanding answers.
Reading only: nothing here computes a metric."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evals.judges import read_results
from evals.run import EvalRun
from evals.tables import REFERENCE_DIR
from settings.layout import FINAL_STAGE
from settings.report import ReportSettings
from settings.run import RunKey
from settings.training import STAGES, Variant


@dataclass(frozen=True)
class Example:
    """One held-out question with its image, the reference answer and each variant's answer."""

    question_id: str
    image: Path
    question: str
    answer: str
    predictions: dict[str, str]


@dataclass
class ReportInputs:
    profile: str
    variants: dict[str, Variant]                                    # name -> its params.yaml entry, in order
    results: dict[str, dict]                                        # name -> metrics.json of the main run
    pooled: dict[str, list[dict]]                                   # name -> summaries of every run (seeds)
    losses: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)  # (variant, stage) -> losses.csv
    sample_grids: dict[str, Path] = field(default_factory=dict)     # variant -> last stage-3 sample grid
    sample_prompts: list[str] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    paper_table5: pd.DataFrame | None = None
    tables_markdown: str = ""

    @property
    def evaluated(self) -> list[str]:
        return [v for v in self.variants if v in self.results]


def round_robin(groups: list[list], count: int) -> list:
    """Up to ``count`` items taking one from each group in turn, so that every category is shown."""
    iterators, chosen = [iter(g) for g in groups], []
    while iterators and len(chosen) < count:
        for iterator in list(iterators):
            item = next(iterator, None)
            if item is None:
                iterators.remove(iterator)
            elif len(chosen) < count:
                chosen.append(item)
    return chosen


def read_examples(run: EvalRun, variants: list[str], count: int) -> list[Example]:
    """The first ``count`` VQA questions (one per category in turn) with every variant's prediction."""
    if count <= 0 or "vqa" not in run.settings.understanding.benchmarks:
        return []
    answers: dict[str, dict[str, str]] = {}
    for variant in variants:
        path = run.settings.layout.predictions(RunKey(variant, run.seeds[0]), "vqa")
        if path.is_file():
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            answers[variant] = {r["id"]: r.get("prediction", "") for r in rows if "id" in r}
    if not answers:
        return []
    try:
        questions = run.questions("vqa")
    except FileNotFoundError:
        return []
    by_category: dict[str, list] = {}
    for question in questions:
        by_category.setdefault(question.category, []).append(question)
    chosen = round_robin(list(by_category.values()), count)
    return [Example(q.id, Path(q.image), q.text, q.answers[0],
                    {v: preds.get(q.id, "") for v, preds in answers.items()}) for q in chosen]


def collect(run: EvalRun, settings: ReportSettings, variants: dict[str, Variant],
            reference_dir: Path = REFERENCE_DIR) -> ReportInputs:
    names, first = list(variants), run.seeds[0]
    results = {v: r for v, r in read_results(run.settings.out, names, first).items()
               if r.get("profile") == run.profile_name}
    pooled = {v: [r["summary"]] for v, r in results.items()}
    for out, seed in [*((run.settings.out, s) for s in run.seeds[1:]),
                      *((extra, s) for extra in settings.extra_results for s in run.seeds)]:
        for variant, result in read_results(out, names, seed).items():
            pooled.setdefault(variant, []).append(result["summary"])
    training = run.profile.training
    losses, grids = {}, {}
    for variant in names:
        for stage in STAGES:
            path = training.layout.stage(RunKey(variant, first), stage).losses
            if path.is_file():
                losses[(variant, stage)] = pd.read_csv(path)
        grid = training.layout.stage(RunKey(variant, first), FINAL_STAGE).last_sample_grid
        if grid is not None:
            grids[variant] = grid
    table5 = reference_dir / "table5_ablations.csv"
    tables = run.settings.layout.tables_markdown
    return ReportInputs(
        profile=run.profile_name, variants=variants, results=results, pooled=pooled, losses=losses,
        sample_grids=grids, sample_prompts=list(training.sample_prompts or []),
        examples=read_examples(run, [v for v in names if v in results], settings.understanding_examples),
        paper_table5=pd.read_csv(table5) if table5.is_file() else None,
        tables_markdown=tables.read_text() if tables.is_file() else "")
