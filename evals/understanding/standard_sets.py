"""Readers for the standard understanding benchmarks' own files, from one local directory (the paper profile).

Layout under ``root`` (the files as their authors publish them; docs/evaluation.md says where to get them)::

    pope/coco_pope_{random,popular,adversarial}.json   JSON lines: question_id, image, text, label (yes/no)
    pope/images/<image>                                COCO val2014 images
    vqav2/v2_OpenEnded_mscoco_val2014_questions.json   {"questions": [{question_id, image_id, question}]}
    vqav2/v2_mscoco_val2014_annotations.json           {"annotations": [{question_id, answers: [{answer}] x 10}]}
    vqav2/images/COCO_val2014_<image_id:012d>.jpg
    gqa/testdev_balanced_questions.json                {question_id: {imageId, question, answer}}
    gqa/images/<imageId>.jpg
    mmbench/mmbench_dev_en.tsv                         index, question, hint, A-D, answer, category, image (base64)

MMBench questions come back in every rotation of their options (circular evaluation); ``limit`` keeps the first
questions of each file (per split for POPE).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from evals.understanding.parsing import LETTERS
from evals.understanding.questions import Question
from evals.understanding.scores import rotations

POPE_SPLITS = ("random", "popular", "adversarial")


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{what} is not at {path}; put the benchmark's files under the directory set in "
                                "evaluation.understanding.sets (layout in docs/evaluation.md).")
    return path


def _json(path: Path, what: str) -> object:
    try:
        return json.loads(_require(path, what).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} ({what}) is not valid JSON: {error}.") from error


def pope(root: Path, limit: int | None) -> list[Question]:
    questions = []
    for split in POPE_SPLITS:
        path = _require(root / "pope" / f"coco_pope_{split}.json", f"POPE's {split} split")
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()][:limit]
        questions += [Question(id=f"{split}-{row['question_id']}", benchmark="pope",
                               image=str(root / "pope" / "images" / row["image"]), text=row["text"],
                               answers=(row["label"].strip().lower(),), category=split) for row in rows]
    return questions


def vqav2(root: Path, limit: int | None) -> list[Question]:
    folder = root / "vqav2"
    asked = _json(folder / "v2_OpenEnded_mscoco_val2014_questions.json", "VQAv2's questions")["questions"][:limit]
    annotations = _json(folder / "v2_mscoco_val2014_annotations.json", "VQAv2's annotations")["annotations"]
    answers = {a["question_id"]: tuple(x["answer"] for x in a["answers"]) for a in annotations}
    missing = [q["question_id"] for q in asked if q["question_id"] not in answers]
    if missing:
        raise ValueError(f"VQAv2 questions {missing[:5]} have no annotation; use the annotation file of the same split.")
    return [Question(id=str(q["question_id"]), benchmark="vqav2",
                     image=str(folder / "images" / f"COCO_val2014_{q['image_id']:012d}.jpg"), text=q["question"],
                     answers=answers[q["question_id"]]) for q in asked]


def gqa(root: Path, limit: int | None) -> list[Question]:
    rows = _json(root / "gqa" / "testdev_balanced_questions.json", "GQA's testdev-balanced questions")
    return [Question(id=str(qid), benchmark="gqa", image=str(root / "gqa" / "images" / f"{row['imageId']}.jpg"),
                     text=row["question"], answers=(row["answer"],)) for qid, row in list(rows.items())[:limit]]


def mmbench(root: Path, limit: int | None) -> list[Question]:
    path = _require(root / "mmbench" / "mmbench_dev_en.tsv", "MMBench's dev TSV")
    csv.field_size_limit(sys.maxsize)
    questions = []
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))[:limit]
    for row in rows:
        options = [row[letter] for letter in LETTERS[:4] if (row.get(letter) or "").strip() not in ("", "nan")]
        answer = LETTERS.index(row["answer"].strip())
        hint = "" if (row.get("hint") or "nan") == "nan" else row["hint"]
        for shift, (rotated, index) in enumerate(rotations(options, answer)):
            questions.append(Question(id=f"{row['index']}-r{shift}", benchmark="mmbench", image=row["image"],
                                      text=row["question"], answers=(LETTERS[index],), category=row.get("category", ""),
                                      options=tuple(rotated), group=str(row["index"]), hint=hint, image_is_base64=True))
    return questions


READERS = {"pope": pope, "vqav2": vqav2, "gqa": gqa, "mmbench": mmbench}


def standard_questions(benchmark: str, root: str | Path, limit: int | None) -> list[Question]:
    if benchmark not in READERS:
        raise ValueError(f"no reader for {benchmark!r}; the standard sets are {sorted(READERS)}.")
    return READERS[benchmark](Path(root), limit)
