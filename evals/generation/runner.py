"""Generation benchmarks for one checkpoint: sample each prompt set with the harness, then score what was drawn.

Under ``root``: ``geneval/`` (GenEval layout + flat), ``dpg/`` (flat + ``grids/<item_id>.png``), ``fid/`` (flat),
``sweep/cfg<w>_steps<n>/`` and ``metrics.json``. The tiny profile judges GenEval and DPG with the shapes-world
detector (``results.jsonl`` per image, as GenEval's evaluator writes it); the paper profile leaves them to the
official evaluators, which read the same folders. FID/KID and CLIPScore run on the ``fid`` images.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from data.publish import write_atomic
from data.shapes.detector import detect
from data.shapes.scene import Scene
from evals.generation import dpg
from evals.generation.fid import Extractor, fid_kid, folder_features
from evals.generation.geneval import bootstrap_intervals, judge, summarize
from evals.generation.harness import SampleSettings, sample_prompt_set
from evals.generation.layouts import dpg_grid
from evals.generation.prompt_sets import PromptSets
from janusflow.sampling import FlowSampler
from settings.layout import DPG_GRIDS, GenerationLayout

Alignment = Callable[[Sequence[Path], Sequence[str]], dict[str, float]]   # image files and prompts -> scores


@dataclass
class Scorers:
    """What turns images into numbers for a profile: FID's extractor and reference features, the alignment score,
    and whether GenEval/DPG are judged here (the shapes-world detector) or by the benchmarks' own evaluators."""

    extractor: Extractor
    reference: np.ndarray
    alignment: Alignment
    judge_here: bool
    device: str = "cpu"


def _missing(paths: Sequence[Path]) -> list[str]:
    return [str(p) for p in paths if not p.is_file()]


def judge_geneval(folder: Path, progress: bool = True) -> dict:
    """GenEval's rules on every sample of a GenEval-layout folder; writes ``results.jsonl`` beside it."""
    prompts = sorted(p for p in folder.iterdir() if p.is_dir() and (p / "metadata.jsonl").is_file()) \
        if folder.is_dir() else []
    if not prompts:
        raise FileNotFoundError(f"{folder} holds no <index>/metadata.jsonl folders; sample the GenEval prompts first.")
    results, missing = [], 0
    for prompt_dir in tqdm(prompts, desc="judging GenEval", disable=not progress):
        metadata = json.loads((prompt_dir / "metadata.jsonl").read_text())
        samples = sorted((prompt_dir / "samples").glob("*.png"))
        missing += not samples
        for sample in samples:
            with Image.open(sample) as image:
                verdict = judge(detect(image), metadata)
            results.append({"filename": str(sample), "tag": metadata["tag"], "prompt": metadata["prompt"],
                            "correct": verdict.correct, "reason": "; ".join(verdict.reasons)})
    write_atomic(folder.parent / "geneval_results.jsonl", "".join(json.dumps(r) + "\n" for r in results))
    scores = summarize((r["tag"], r["correct"]) for r in results)
    spread = bootstrap_intervals([(r["tag"], r["prompt"], r["correct"]) for r in results])
    return {**{k: round(100 * v, 2) for k, v in scores.items()}, "images": len(results), "prompts_without_images": missing,
            "interval_95": {k: [round(100 * lo, 2), round(100 * hi, 2)] for k, (lo, hi) in spread.items()}}


def flat_paths(root: Path, index: int, count: int) -> list[Path]:
    return [root / "flat" / f"{index:05d}_{k:02d}.png" for k in range(count)]


def write_dpg_grids(root: Path, items: Sequence[dict], count: int) -> int:
    """DPG-Bench's 2x2 grid per prompt, named by item id, from the flat samples."""
    (root / DPG_GRIDS).mkdir(parents=True, exist_ok=True)
    for index, item in enumerate(items):
        paths = flat_paths(root, index, count)
        absent = _missing(paths)
        if absent:
            raise FileNotFoundError(f"DPG item {item['item_id']} lacks samples {absent}; rerun the sampling (it resumes).")
        images = [Image.open(p).convert("RGB") for p in paths]
        dpg_grid(images).save(root / DPG_GRIDS / f"{item['item_id']}.png")
    return len(items)


def judge_dpg(root: Path, items: Sequence[dict], questions: dict[str, list[dpg.Proposition]], count: int) -> dict:
    """DPG's score with dependency zeroing, every image judged by the detector."""
    per_image = []
    for index, item in enumerate(items):
        if item["item_id"] not in questions:
            raise ValueError(f"DPG item {item['item_id']} has no propositions in the question file.")
        objects = Scene.from_dict(item["scene"]).objects
        props = questions[item["item_id"]]
        for path in flat_paths(root, index, count):
            with Image.open(path) as image:
                per_image.append((item["item_id"], props, dpg.score_image(props, objects, detect(image))))
    return {**dpg.summarize(per_image), "images": len(per_image)}


def fid_and_alignment(folder: Path, prompts: Sequence[str], scorers: Scorers, progress: bool = True) -> dict:
    """FID/KID of the flat images against the reference features, and the alignment score of each image (named
    ``<prompt index>_<k>.png``) with its prompt."""
    paths = sorted((folder / "flat").glob("*.png"))
    features = folder_features(folder / "flat", scorers.extractor, scorers.device, progress=progress)
    return {**fid_kid(features, scorers.reference, scorers.extractor),
            **scorers.alignment(paths, [prompts[int(p.name.split("_")[0])] for p in paths])}


def sweep_points(settings: SampleSettings, cfg_weights: Sequence[float], steps: Sequence[int]) -> list[SampleSettings]:
    """The paper's two sweeps: CFG weight at the default steps, and steps at the default CFG weight."""
    points = [replace(settings, cfg_weight=float(w)) for w in cfg_weights]
    points += [replace(settings, steps=int(n)) for n in steps if int(n) != settings.steps]
    return list(dict.fromkeys(points))


def evaluate_generation(sampler: FlowSampler, checkpoint: str, sets: PromptSets, settings: SampleSettings,
                        scorers: Scorers, root: Path, fid_images_per_prompt: int = 1, progress: bool = True) -> dict:
    """GenEval, DPG, FID/KID and CLIPScore for one checkpoint; writes and returns ``metrics.json``'s content."""
    started, files = time.perf_counter(), GenerationLayout(root)
    timing = {"geneval": sample_prompt_set(sampler, sets.geneval, files.geneval, settings, checkpoint,
                                           progress=progress)}
    metrics: dict = {"checkpoint": checkpoint, "settings": settings.identity()}
    timing["dpg"] = sample_prompt_set(sampler, sets.dpg, files.dpg, settings, checkpoint, geneval_layout=False,
                                      progress=progress)
    write_dpg_grids(files.dpg, sets.dpg, settings.images_per_prompt)
    fid_settings = replace(settings, images_per_prompt=fid_images_per_prompt)
    timing["fid"] = sample_prompt_set(sampler, sets.fid, files.fid, fid_settings, checkpoint, geneval_layout=False,
                                      progress=progress)
    if scorers.judge_here:
        metrics["geneval"] = judge_geneval(files.geneval_images, progress)
        metrics["dpg"] = judge_dpg(files.dpg, sets.dpg, sets.dpg_questions or {}, settings.images_per_prompt)
    else:
        # judged by the official evaluators in their own node (evals.judges), which reads the scores back
        metrics["geneval"] = {"judge": "external", "folder": str(files.geneval_images)}
        metrics["dpg"] = {"judge": "external", "folder": str(files.dpg_grids)}
    metrics["fid"] = fid_and_alignment(files.fid, [r["prompt"] for r in sets.fid], scorers, progress)
    metrics["sampling"] = timing
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    write_atomic(files.metrics, json.dumps(metrics, indent=1) + "\n")
    return metrics


def sweep(sampler: FlowSampler, checkpoint: str, sets: PromptSets, settings: SampleSettings, scorers: Scorers,
          root: Path, *, cfg_weights: Sequence[float], steps: Sequence[int], prompts: int,
          progress: bool = True) -> list[dict]:
    """FID (first ``prompts`` FID prompts) and GenEval overall (one image per prompt) at each sweep point;
    writes ``sweep.json``."""
    rows = []
    for point in sweep_points(replace(settings, images_per_prompt=1), cfg_weights, steps):
        files = GenerationLayout(root / f"cfg{point.cfg_weight:g}_steps{point.steps}")
        fid_prompts = sets.fid[:prompts]
        sample_prompt_set(sampler, fid_prompts, files.fid, point, checkpoint, geneval_layout=False, progress=progress)
        row = {"cfg_weight": point.cfg_weight, "steps": point.steps,
               **{k: v for k, v in fid_and_alignment(files.fid, [r["prompt"] for r in fid_prompts], scorers,
                                                     progress).items()
                  if k in ("fid", "kid", "clip_score", "clip_cosine", "images", "extractor")}}
        if scorers.judge_here:
            sample_prompt_set(sampler, sets.geneval, files.geneval, point, checkpoint, progress=progress)
            row["geneval_overall"] = judge_geneval(files.geneval_images, progress)["overall"]
        rows.append(row)
    write_atomic(root / "sweep.json", json.dumps(rows, indent=1) + "\n")
    return rows
