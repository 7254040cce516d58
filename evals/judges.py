"""The official GenEval and DPG-Bench judges as their own lineage node (``external_judgements``).

The paper profile's GenEval (Mask2Former in mmdet) and DPG-Bench (mPLUG) judges live in their own environments
and need GPUs, so they run as commands from params.yaml (``evaluation.external_judges``) on the samples the
evaluation wrote. Their results go to this node's own folder (``<out>/judged/<variant>/``), never into the
evaluation's, and are read back here: the tables and the report then show GenEval overall and the DPG score like
any other number. A profile without external judges (tiny: the shapes detector judges inside the evaluation)
records that nothing was left to judge.

    python -m evals.judges --variant F [--seed 0]

A judge is run again only when the evaluated checkpoint changed since its results were written.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from data.publish import write_atomic
from evals.generation.geneval import summarize
from settings.cli import command_parser, parse_with_profile, run_options
from settings.evaluation import EvalSettings
from settings.layout import EvalLayout
from settings.params import load_params
from settings.run import RunKey
from settings.typed import SettingsError

RESULT_FILES = {"geneval": "geneval_results.jsonl", "dpg": "dpg_results.txt"}
DPG_SCORE = re.compile(r"^DPG-Bench score:\s*([0-9.eE+-]+)\s*$", re.MULTILINE)
DPG_CATEGORY = re.compile(r"^\t([^:\t]+):\s*([0-9.eE+-]+)\s*$")


@dataclass(frozen=True)
class JudgeRun:
    """One external judge over one variant's samples: ``command`` is the params template with ``{images}`` and
    ``{results}`` filled in."""

    name: str
    template: str
    images: Path
    results: Path

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.template.format(images=self.images, results=self.results))


def sample_folders(settings: EvalSettings, run: RunKey) -> dict[str, Path]:
    """Where the evaluation leaves what each judge reads: GenEval's ``<index>/metadata.jsonl + samples/`` layout
    and DPG-Bench's 2x2 grids named by item id."""
    generation = settings.layout.generation(run)
    return {"geneval": generation.geneval_images, "dpg": generation.dpg_grids}


def judge_runs(settings: EvalSettings, run: RunKey) -> list[JudgeRun]:
    folders, out = sample_folders(settings, run), settings.layout.judged_dir(run)
    unknown = sorted(set(settings.external_judges) - set(RESULT_FILES))
    if unknown:
        raise SettingsError(f"evaluation.external_judges names {unknown}; the judges are {sorted(RESULT_FILES)}.")
    return [JudgeRun(name, template, folders[name], out / RESULT_FILES[name])
            for name, template in settings.external_judges.items()]


def read_geneval(path: Path) -> dict:
    """GenEval's ``evaluate_images.py`` results (one JSON row per image), scored as its ``summary_scores.py``."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"{path} holds no judged images; rerun the GenEval judge.")
    scores = summarize((row["tag"], bool(row["correct"])) for row in rows)
    return {**{k: round(100 * v, 2) for k, v in scores.items()}, "images": len(rows), "judge": "GenEval evaluator"}


def read_dpg(path: Path) -> dict:
    """DPG-Bench's ``compute_dpg_bench.py`` result file: one line per grid, then the L1 and L2 category scores
    and the final ``DPG-Bench score: <x>`` line."""
    text = path.read_text()
    found = DPG_SCORE.search(text)
    if found is None:
        raise ValueError(f"{path} has no 'DPG-Bench score:' line; the DPG judge did not finish. Rerun it.")
    categories, section = {}, None
    for line in text.splitlines():
        if line.endswith("category scores:"):
            section = line.split()[0]
        elif section == "L1" and (match := DPG_CATEGORY.match(line)):
            categories[match.group(1).strip()] = round(float(match.group(2)), 2)
    grids = sum(1 for line in text.splitlines() if line.count(",") >= 2 and line.strip().endswith(tuple("0123456789")))
    return {"dpg_score": round(float(found.group(1)), 2), "categories": categories, "images": grids,
            "judge": "DPG-Bench mPLUG"}


READERS: dict[str, Callable[[Path], dict]] = {"geneval": read_geneval, "dpg": read_dpg}


def run_judge(judge: JudgeRun) -> dict:
    if not judge.images.is_dir():
        raise FileNotFoundError(f"the {judge.name} judge has no samples at {judge.images}; evaluate the variant "
                                "first (dvc repro benchmark_results@<variant>).")
    judge.results.parent.mkdir(parents=True, exist_ok=True)
    judge.results.unlink(missing_ok=True)
    print(f"{judge.name}: {shlex.join(judge.argv)}", flush=True)
    try:
        done = subprocess.run(judge.argv, check=False)
    except FileNotFoundError as error:
        raise RuntimeError(f"the {judge.name} judge's program is not there ({judge.argv[0]}); fix "
                           f"evaluation.external_judges.{judge.name} in params.yaml.") from error
    if done.returncode != 0:
        raise RuntimeError(f"the {judge.name} judge exited with status {done.returncode}: {shlex.join(judge.argv)}")
    if not judge.results.is_file():
        raise FileNotFoundError(f"the {judge.name} judge wrote no {judge.results}; its command in "
                                "evaluation.external_judges must write to {results}.")
    return READERS[judge.name](judge.results)


def evaluated_fingerprint(settings: EvalSettings, run: RunKey) -> str:
    metrics = settings.layout.metrics(run)
    if not metrics.is_file():
        raise FileNotFoundError(f"{metrics} is missing; evaluate the run first (dvc repro benchmark_results@"
                                f"{run.name}).")
    return str(json.loads(metrics.read_text())["checkpoint_fingerprint"])


def judge_variant(settings: EvalSettings, run: RunKey) -> dict:
    """Run every configured judge whose results are missing or belong to other weights; write and return
    ``<out>/judged/<variant>/seed<seed>/judged.json``."""
    record = settings.layout.judged(run)
    runs = judge_runs(settings, run)
    fingerprint = evaluated_fingerprint(settings, run) if runs else None
    previous = json.loads(record.read_text()) if record.is_file() else {}
    scores = {}
    for judge in runs:
        kept = previous.get(judge.name) if previous.get("checkpoint_fingerprint") == fingerprint else None
        scores[judge.name] = kept if kept and judge.results.is_file() else run_judge(judge)
    result = {"variant": run.variant, "seed": run.seed, "checkpoint_fingerprint": fingerprint,
              "judges": sorted(scores), **scores}
    write_atomic(record, json.dumps(result, indent=1) + "\n")
    return result


def with_judgements(result: dict, judged: dict) -> dict:
    """A variant's evaluation (``metrics.json``) with the external judges' scores put where the in-process judge
    puts its own, when they judged the same weights; results of other weights are left out."""
    if not result.get("generation") or judged.get("checkpoint_fingerprint") != result.get("checkpoint_fingerprint"):
        return result
    generation, summary = dict(result["generation"]), dict(result.get("summary") or {})
    if "geneval" in judged:
        generation["geneval"] = judged["geneval"]
        summary["geneval_overall"] = judged["geneval"]["overall"]
    if "dpg" in judged:
        generation["dpg"] = judged["dpg"]
        summary["dpg_score"] = judged["dpg"]["dpg_score"]
    return {**result, "generation": generation, "summary": summary}


def read_results(out: Path, variants: list[str], seed: int) -> dict[str, dict]:
    """Each evaluated variant's ``metrics.json`` of the run from ``seed``, in variant order, with its external
    judgements read back."""
    layout, found = EvalLayout(out), {}
    for variant in variants:
        path = layout.metrics(RunKey(variant, seed))
        if path.is_file():
            judged = layout.judged(RunKey(variant, seed))
            result = json.loads(path.read_text())
            found[variant] = with_judgements(result, json.loads(judged.read_text())) if judged.is_file() else result
    return found


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(__doc__, run_options(variant=None))
    args = parse_with_profile(parser, argv)
    try:
        params = load_params(args.params)
        settings = params.select(args.profile).evaluation
        run = params.run(args.variant, args.seed)
        result = judge_variant(settings, run)
    except (SettingsError, FileNotFoundError, RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    shown = {name: result[name].get("overall", result[name].get("dpg_score")) for name in result["judges"]}
    print(f"{run.name}: " + (", ".join(f"{k} {v}" for k, v in shown.items()) or
                                 "no external judges in this profile (judged inside the evaluation)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
