"""Every headline metric of the evaluation, once: its name in ``metrics.json``'s summary, title, direction, unit,
the scorer that computes it and its columns in the paper's tables. The evaluation's summary, the asset checks, the
tables, the claims and the report all read this catalog, so adding a benchmark is one entry here.

Each understanding metric also has a shuffled-image control, ``<name>_shuffled``: the same questions asked with
other images, which is what a model that answers from priors scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Task = Literal["generation", "understanding"]
BenchmarkSet = Literal["shapes world", "standard"]


@dataclass(frozen=True)
class Metric:
    name: str                            # the summary key
    title: str
    task: Task
    higher_is_better: bool
    unit: Literal["%", "distance", "score"]   # "%": a percentage in [0, 100]; "distance": >= 0; "score": any
    scorer: str                          # what computes it, on each profile
    paper_column: str | None = None      # the paper's Table 5 (ablations) column measuring the same
    paper_label: str | None = None       # how the report heads that column (default: the metric's name)
    standard_column: str | None = None   # our Tables 2-4 column on the standard benchmarks
    shapes_column: str | None = None     # our tables' column on the shapes world (not the paper's benchmark)
    control: bool = False                # has a shuffled-image control, ``<name>_shuffled``

    @property
    def label(self) -> str:
        """The title with its direction, as figures and tables show it."""
        return f"{self.title} ({'higher' if self.higher_is_better else 'lower'})"

    def better(self, a: float, b: float) -> bool:
        return a > b if self.higher_is_better else a < b

    def problem(self, value: float) -> str | None:
        """Why ``value`` cannot be this metric (outside its range), or None."""
        if self.unit == "%" and not 0 <= value <= 100:
            return "is outside 0-100"
        if self.unit == "distance" and value < -1e-6:
            return "is negative"
        return None


CATALOG: tuple[Metric, ...] = (
    Metric("geneval_overall", "GenEval overall", "generation", True, "%",
           "GenEval's rules: the shapes detector (tiny), GenEval's evaluator (paper)",
           standard_column="geneval_overall", shapes_column="shapes_geneval_overall"),
    Metric("dpg_score", "DPG score", "generation", True, "%",
           "DPG-Bench with dependency zeroing: the shapes detector (tiny), the mPLUG judge (paper)",
           standard_column="dpg_bench", shapes_column="shapes_dpg"),
    Metric("fid", "FID", "generation", False, "distance",
           "clean-fid: the tiny encoder's features (tiny), Inception-V3 (paper)",
           paper_column="fid_mjhq10k", paper_label="fid (MJHQ-10k)", standard_column="mjhq_fid",
           shapes_column="shapes_fid"),
    Metric("kid", "KID", "generation", False, "distance", "clean-fid's KID, on the FID features"),
    Metric("clip_score", "CLIPScore", "generation", True, "score",
           "CLIPScore: the tiny dual encoder (tiny), CLIP ViT-L/14 (paper)",
           paper_column="clip_score", standard_column="clip_score", shapes_column="clip_score"),
    Metric("clip_cosine", "CLIP cosine x100", "generation", True, "score",
           "the mean image-prompt cosine x100 of the CLIPScore model", shapes_column="clip_cosine"),
    Metric("vqa", "VQA accuracy", "understanding", True, "%", "VQA soft score on the held-out scenes",
           shapes_column="shapes_vqa", control=True),
    Metric("pope", "POPE F1", "understanding", True, "%", "POPE's F1 over its splits",
           paper_column="pope", standard_column="pope", shapes_column="shapes_pope", control=True),
    Metric("mmbench", "MMBench circular", "understanding", True, "%", "MMBench's circular evaluation",
           standard_column="mmb_dev", shapes_column="shapes_mmbench", control=True),
    Metric("vqav2", "VQAv2", "understanding", True, "%", "VQA soft score on VQAv2 val",
           paper_column="vqav2_val", standard_column="vqav2_val", control=True),
    Metric("gqa", "GQA", "understanding", True, "%", "exact match on GQA testdev", paper_column="gqa",
           standard_column="gqa", control=True),
    Metric("pope_accuracy", "POPE accuracy", "understanding", True, "%", "POPE's accuracy over its splits"),
)
METRICS = {metric.name: metric for metric in CATALOG}
# The metrics each benchmark set reports as its headline, in the report's order.
HEADLINE: dict[BenchmarkSet, dict[Task, list[str]]] = {
    "shapes world": {"generation": ["geneval_overall", "dpg_score", "fid", "clip_cosine"],
                     "understanding": ["vqa", "pope", "mmbench"]},
    "standard": {"generation": ["fid", "clip_score", "geneval_overall"],
                 "understanding": ["pope", "vqav2", "gqa", "mmbench"]},
}


def controlled() -> list[str]:
    """The understanding metrics read against a shuffled-image control."""
    return [m.name for m in CATALOG if m.control]


def summary_keys() -> list[str]:
    """Every key of a run's summary: each metric, then each control."""
    return [*(m.name for m in CATALOG), *(f"{name}_shuffled" for name in controlled())]


def paper_metrics() -> dict[Task, list[str]]:
    """The metrics the paper's Table 5 reports, by task."""
    return {task: [m.name for m in CATALOG if m.paper_column and m.task == task]
            for task in ("generation", "understanding")}


def paper_columns() -> dict[str, str]:
    """The paper's Table 5 columns (understanding first, as the paper prints them) and their report headings."""
    return {m.paper_column: m.paper_label or m.name for task in ("understanding", "generation") for m in CATALOG
            if m.paper_column and m.task == task}


def paper_names() -> dict[str, str]:
    """The paper's Table 5 columns renamed to our metric names."""
    return {m.paper_column: m.name for m in CATALOG if m.paper_column}


def standard_columns(task: Task) -> dict[str, str]:
    """Our metric name -> its column in Tables 2-4 on the standard benchmarks."""
    return {m.name: m.standard_column for m in CATALOG if m.standard_column and m.task == task}


def shapes_columns(task: Task) -> dict[str, str]:
    """Our metric name -> its column in the tables on the shapes world."""
    return {m.name: m.shapes_column for m in CATALOG if m.shapes_column and m.task == task}


def metric_of(key: str) -> Metric:
    """The metric of a summary key (a control counts as its metric)."""
    return METRICS[key.removesuffix("_shuffled")]
