"""Asks a checkpoint every question of a benchmark and scores the answers with the benchmark's own rules.

Answers go to ``predictions.jsonl`` batch by batch; a run started again answers only the questions not in it yet.
A question whose image cannot be read, or that does not fit the model's context, is recorded with its error and an
empty answer, so one bad record never stops a run; empty and unparseable answers are scored as wrong and counted
in the metrics (``empty``, ``errors``, ``unparsed``).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from data.publish import write_atomic
from evals.understanding.parsing import choice_letter, llava_yes_no
from evals.understanding.questions import Question, prompt_text
from evals.understanding.scores import accuracy, circular, exact_match, pope
from evals.understanding.vqa import normalize_answer, soft_score
from janusflow.pipeline import JanusFlowPipeline
from settings.layout import METRICS, PREDICTIONS


def read_predictions(path: Path) -> dict[str, dict]:
    """What an earlier run answered (a torn last line from a killed run is ignored and asked again)."""
    if not path.is_file():
        return {}
    found = {}
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        found[row["id"]] = row
    return found


def _answer_batch(pipeline: JanusFlowPipeline, questions: Sequence[Question], images: Sequence[list],
                  max_new_tokens: int, answer_suffix: str, choice_suffix: str) -> list[dict]:
    """Answers for one batch; when the batch fails (a question too long for the context, say), each question is
    asked alone and the ones that still fail are recorded with their error."""
    if not questions:
        return []
    conversations = [[{"role": "User", "content": prompt_text(q, answer_suffix, choice_suffix)}] for q in questions]
    try:
        replies = pipeline.answer(conversations, images, max_new_tokens=max_new_tokens)
        return [{"id": q.id, "prediction": reply.strip()} for q, reply in zip(questions, replies)]
    except ValueError as error:
        if len(questions) == 1:
            return [{"id": questions[0].id, "prediction": "", "error": str(error)}]
    return [row for i, q in enumerate(questions) for row in _answer_batch(
        pipeline, [q], [images[i]], max_new_tokens, answer_suffix, choice_suffix)]


def ask(pipeline: JanusFlowPipeline, questions: Sequence[Question], path: Path, *, batch_size: int = 32,
        max_new_tokens: int = 16, answer_suffix: str = "", choice_suffix: str = "",
        progress: bool = True) -> dict[str, dict]:
    """Answer every question not yet in ``path`` (appending), and return all predictions by id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    done = read_predictions(path)
    todo = [q for q in questions if q.id not in done]
    if path.is_file() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
        with path.open("a") as handle:
            handle.write("\n")                    # end a line torn by a killed run before appending after it
    with path.open("a") as handle, tqdm(total=len(questions), initial=len(questions) - len(todo),
                                        desc=f"answering {questions[0].benchmark if questions else ''}",
                                        unit="q", disable=not progress) as bar:
        for start in range(0, len(todo), batch_size):
            batch, rows = todo[start:start + batch_size], []
            readable, images = [], []
            for question in batch:
                try:
                    images.append([question.load_image()])
                    readable.append(question)
                except FileNotFoundError as error:
                    rows.append({"id": question.id, "prediction": "", "error": str(error)})
            rows += _answer_batch(pipeline, readable, images, max_new_tokens, answer_suffix, choice_suffix)
            for row in rows:
                handle.write(json.dumps(row) + "\n")
                done[row["id"]] = row
            handle.flush()
            bar.update(len(batch))
    return done


def _percent(value: float) -> float:
    return round(100 * value, 2)


def _by_category(questions: Sequence[Question], hits: Sequence[bool]) -> dict[str, float]:
    groups: dict[str, list[bool]] = defaultdict(list)
    for question, hit in zip(questions, hits):
        groups[question.category].append(hit)
    return {category: _percent(accuracy(values)) for category, values in groups.items() if category}


def score(benchmark: str, questions: Sequence[Question], predictions: dict[str, dict]) -> dict:
    """The benchmark's numbers (percentages) from parsed predictions, with counts of what could not be scored."""
    if not questions:
        raise ValueError(f"no {benchmark} questions to score.")
    missing = [q.id for q in questions if q.id not in predictions]
    if missing:
        raise ValueError(f"{len(missing)} {benchmark} questions have no prediction (first: {missing[:3]}); run ask().")
    texts = [predictions[q.id]["prediction"] for q in questions]
    counts = {"questions": len(questions), "empty": sum(not t.strip() for t in texts),
              "errors": sum("error" in predictions[q.id] for q in questions)}
    if benchmark == "pope":
        parsed = [llava_yes_no(t) if t.strip() else None for t in texts]
        splits = {}
        for split in dict.fromkeys(q.category for q in questions):
            rows = [(p, q.answers[0]) for p, q in zip(parsed, questions) if q.category == split]
            result = pope([p or "" for p, _ in rows], [a for _, a in rows])
            splits[split] = {"accuracy": _percent(result.accuracy), "precision": _percent(result.precision),
                             "recall": _percent(result.recall), "f1": _percent(result.f1),
                             "yes_ratio": _percent(result.yes_ratio), "questions": result.total}
        f1 = round(sum(s["f1"] for s in splits.values()) / len(splits), 2)
        return {"score": f1, "f1": f1, "accuracy": round(sum(s["accuracy"] for s in splits.values()) / len(splits), 2),
                "splits": splits, **counts}
    if benchmark == "mmbench":
        letters = [choice_letter(t, q.options) for t, q in zip(texts, questions)]
        records = [(q.group, letter, q.answers[0]) for letter, q in zip(letters, questions)]
        per_category: dict[str, list] = defaultdict(list)
        for record, question in zip(records, questions):
            per_category[question.category].append(record)
        return {"score": _percent(circular(records)), "single_pass": _percent(accuracy(
                    letter == q.answers[0] for letter, q in zip(letters, questions) if q.id.endswith("-r0"))),
                "categories": {c: _percent(circular(r)) for c, r in per_category.items() if c},
                "unparsed": sum(letter is None for letter in letters), **counts}
    if benchmark == "vqav2":
        return {"score": _percent(sum(soft_score(t, q.answers) for t, q in zip(texts, questions)) / len(questions)),
                **counts}
    if benchmark == "gqa":
        return {"score": _percent(accuracy(exact_match(t, q.answers[0]) for t, q in zip(texts, questions))), **counts}
    if benchmark == "vqa":
        hits = [bool(t.strip()) and normalize_answer(t) == normalize_answer(q.answers[0])
                for t, q in zip(texts, questions)]
        return {"score": _percent(accuracy(hits)), "categories": _by_category(questions, hits), **counts}
    raise ValueError(f"no scoring rule for {benchmark!r}; known: vqa, pope, mmbench, vqav2, gqa.")


def evaluate(pipeline: JanusFlowPipeline, benchmark: str, questions: Sequence[Question], folder: Path, *,
             batch_size: int = 32, max_new_tokens: int = 16, answer_suffix: str = "", choice_suffix: str = "",
             progress: bool = True) -> dict:
    """Ask, score and write ``metrics.json`` beside ``predictions.jsonl`` in ``folder`` (the pipeline's codec encodes
    the images for models whose understanding encoder reads VAE latents)."""
    started = time.perf_counter()
    predictions = ask(pipeline, questions, folder / PREDICTIONS, batch_size=batch_size, max_new_tokens=max_new_tokens,
                      answer_suffix=answer_suffix, choice_suffix=choice_suffix, progress=progress)
    metrics = {"benchmark": benchmark, **score(benchmark, questions, predictions),
               "seconds": round(time.perf_counter() - started, 2)}
    write_atomic(folder / METRICS, json.dumps(metrics, indent=1) + "\n")
    return metrics
