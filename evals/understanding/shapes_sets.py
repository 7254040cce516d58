"""The tiny profile's understanding benchmarks, made from the shapes world's held-out scenes (``eval/``).

- ``vqa``: the held-out questions with exact answers (colour, count, position, existence), balanced by category.
- ``pope``: POPE's presence questions ("Is there a red circle in the image?") over the 40 colour-shape classes, half
  present, half absent; the absent classes are drawn at random, among the most frequent classes of the set
  (popular), or among those that most often appear with the scene's own classes (adversarial), as POPE does.
- ``mmbench``: the held-out questions as multiple choice (the answer plus distractors of the same kind), asked in
  every rotation of the options for MMBench's circular evaluation.
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np

from data.shapes.captions import article
from data.shapes.conversations import QA, choice_options
from data.shapes.scene import COLORS, SHAPES
from evals.heldout import read_eval
from evals.understanding.parsing import LETTERS
from evals.understanding.questions import Question
from evals.understanding.scores import rotations
from settings.layout import QUESTIONS, SCENES, HeldoutLayout

POPE_SPLITS = ("random", "popular", "adversarial")
CLASSES = tuple(f"{c} {s}" for c in COLORS for s in SHAPES)


def _balanced(rows: list[dict], key: str, limit: int | None) -> list[dict]:
    """Up to ``limit`` rows, taken in turn from each ``key`` value, so every category is equally represented."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row[key], []).append(row)
    interleaved = [row for batch in itertools.zip_longest(*groups.values()) for row in batch if row is not None]
    return interleaved[:limit] if limit is not None else interleaved


def vqa_questions(eval_dir: Path, limit: int | None) -> list[Question]:
    return [Question(id=row["question_id"], benchmark="vqa", image=str(HeldoutLayout(eval_dir).images / row["image"]),
                     text=row["question"], answers=(row["answer"],), category=row["category"])
            for row in _balanced(read_eval(eval_dir, QUESTIONS), "category", limit)]


def _names(scene: dict) -> list[str]:
    return list(dict.fromkeys(f"{o['color']} {o['shape']}" for o in scene["objects"]))


def _negatives(split: str, present: list[str], count: int, frequency: Counter, together: Counter,
               rng: np.random.Generator) -> list[str]:
    absent = [c for c in CLASSES if c not in present]
    if split == "random":
        order = [absent[i] for i in rng.permutation(len(absent))]
    elif split == "popular":
        order = sorted(absent, key=lambda c: (-frequency[c], c))
    else:
        order = sorted(absent, key=lambda c: (-sum(together[(p, c)] for p in present), c))
    return order[:count]


def pope_questions(eval_dir: Path, limit: int | None, seed: int = 0) -> list[Question]:
    """Per split, up to ``limit`` questions: each scene's present classes (at most 3) and as many absent ones."""
    scenes = read_eval(eval_dir, SCENES)
    frequency = Counter(name for row in scenes for name in _names(row["scene"]))
    together = Counter((a, b) for row in scenes for a in _names(row["scene"]) for b in _names(row["scene"]) if a != b)
    questions: list[Question] = []
    for split in POPE_SPLITS:
        rng = np.random.default_rng([seed, POPE_SPLITS.index(split)])
        made: list[Question] = []
        for row in scenes:
            present = _names(row["scene"])[:3]
            absent = _negatives(split, _names(row["scene"]), len(present), frequency, together, rng)
            for name, label in [(n, "yes") for n in present] + [(n, "no") for n in absent]:
                made.append(Question(id=f"{split}-{row['id']}-{name.replace(' ', '_')}", benchmark="pope",
                                     image=str(HeldoutLayout(eval_dir).images / row["image"]),
                                     text=f"Is there {article(name)} {name} in the image?", answers=(label,),
                                     category=split))
            if limit is not None and len(made) >= limit:
                break
        questions += made[:limit] if limit is not None else made
    return questions


def mmbench_questions(eval_dir: Path, limit: int | None, seed: int = 0) -> list[Question]:
    """Up to ``limit`` multiple-choice questions, each expanded into its rotations (the ``group`` they share)."""
    rng = np.random.default_rng([seed, 7])
    questions: list[Question] = []
    for row in _balanced(read_eval(eval_dir, QUESTIONS), "category", limit):
        options = choice_options(QA(row["category"], row["question"], row["answer"]), rng)
        if options is None:
            continue
        order = rng.permutation(len(options))
        shuffled = [options[i] for i in order]
        for shift, (rotated, answer) in enumerate(rotations(shuffled, int(np.flatnonzero(order == 0)[0]))):
            questions.append(Question(id=f"{row['question_id']}-r{shift}", benchmark="mmbench",
                                      image=str(HeldoutLayout(eval_dir).images / row["image"]), text=row["question"],
                                      answers=(LETTERS[answer],), category=row["category"], options=tuple(rotated),
                                      group=row["question_id"]))
    return questions


def shapes_questions(benchmark: str, eval_dir: Path, limit: int | None, seed: int = 0) -> list[Question]:
    makers = {"vqa": vqa_questions, "pope": pope_questions, "mmbench": mmbench_questions}
    if benchmark not in makers:
        raise ValueError(f"the shapes world has no {benchmark!r} set; choose one of {sorted(makers)}.")
    maker = makers[benchmark]
    return maker(eval_dir, limit) if benchmark == "vqa" else maker(eval_dir, limit, seed)

