"""The prompt sets a profile's generation benchmarks use, written once under ``<evaluation.out>/prompts/``.

``shapes`` builds the tiny profile's sets from the held-out scenes (GenEval-style prompts, DPG-style long prompts
with their propositions, and the held-out short captions for FID); a path reads the real benchmark's file
(GenEval's metadata, DPG-Bench's prompts, MJHQ-30K's ``meta_data.json``).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from data.publish import publishing
from data.shapes.scene import Scene
from evals.generation import dpg
from evals.generation.layouts import dpg_prompts, geneval_prompts
from evals.generation.shapes_geneval import shapes_geneval, write_jsonl
from evals.heldout import read_eval
from settings.evaluation import SHAPES, GenerationEval
from settings.layout import SCENES

PUBLISH_WAIT_SECONDS = 600.0   # another evaluation writing the same prompt sets


@dataclass
class PromptSets:
    geneval: list[dict]
    dpg: list[dict]                                      # item_id, prompt (and scene, for the shapes world)
    dpg_questions: dict[str, list[dpg.Proposition]] | None   # None: DPG-Bench's external judge scores them
    fid: list[dict]                                      # prompt (and, for MJHQ, id and category)


def mjhq_prompts(path: str | Path, limit: int) -> list[dict]:
    """MJHQ-30K's ``meta_data.json`` ({id: {category, prompt}}), first ``limit`` entries."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no MJHQ-30K metadata at {path}; copy meta_data.json of playgroundai/MJHQ-30K there "
                                "(evaluation.generation.fid_prompts in params.yaml).")
    rows = json.loads(path.read_text())
    return [{"id": key, "category": row["category"], "prompt": row["prompt"]} for key, row in list(rows.items())[:limit]]


def build_prompt_sets(settings: GenerationEval, eval_dir: Path, out: Path, seed: int, max_objects: int) -> PromptSets:
    """The prompt sets of the settings, published to ``out`` whole. They are deterministic, so evaluations running
    at once each write the same files, one after another (the publish lock)."""
    with publishing(out, wait_seconds=PUBLISH_WAIT_SECONDS) as staging:
        return _prompt_sets(settings, eval_dir, staging, seed, max_objects)


def _prompt_sets(settings: GenerationEval, eval_dir: Path, out: Path, seed: int, max_objects: int) -> PromptSets:
    if settings.geneval_prompts == SHAPES:
        geneval = shapes_geneval(settings.geneval_per_tag, seed, max_objects)
        write_jsonl(geneval, out / "geneval_metadata.jsonl")
    else:
        geneval = geneval_prompts(settings.geneval_prompts)
    questions = None
    if settings.dpg_prompts == SHAPES:
        scenes = [(str(i), Scene.from_dict(row["scene"])) for i, row in
                  enumerate(r for r in read_eval(eval_dir, SCENES) if len(r["scene"]["objects"]) >= 2)]
        dpg.write_items(scenes[:settings.dpg_items], out / "dpg_prompts.jsonl", out / "dpg_questions.csv")
        questions = dpg.read_questions(out / "dpg_questions.csv")
        items = dpg_prompts(out / "dpg_prompts.jsonl")
    else:
        items = dpg_prompts(settings.dpg_prompts)
    if settings.fid_prompts == SHAPES:
        scenes_rows = read_eval(eval_dir, SCENES)
        fid = [{"id": row["id"], "prompt": row["short_caption"]} for row in scenes_rows[:settings.fid_images]]
        write_jsonl(fid, out / "fid_prompts.jsonl")
    else:
        fid = mjhq_prompts(settings.fid_prompts, settings.fid_images)
    if len(fid) < settings.fid_images:
        warnings.warn(f"evaluation.generation.fid_images is {settings.fid_images} but the FID prompt set has only "
                      f"{len(fid)} prompts; using {len(fid)}.", stacklevel=2)
    return PromptSets(geneval=geneval, dpg=items, dpg_questions=questions, fid=fid)
