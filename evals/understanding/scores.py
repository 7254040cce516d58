"""Benchmark scores from parsed answers, with the reference rules: POPE, MME, ChartQA relaxed accuracy, GQA exact
match, SEED-Bench and MMBench's circular evaluation. Each takes plain Python records and returns numbers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PopeScore:
    accuracy: float
    precision: float
    recall: float
    f1: float
    yes_ratio: float
    total: int


def pope(predictions: Sequence[str], labels: Sequence[str]) -> PopeScore:
    """POPE with "yes" as the positive class; ``predictions`` already parsed to yes/no (``llava_yes_no``)."""
    if len(predictions) != len(labels) or not labels:
        raise ValueError(f"POPE needs one prediction per label; got {len(predictions)} and {len(labels)}.")
    tp = sum(p == "yes" and y == "yes" for p, y in zip(predictions, labels))
    fp = sum(p == "yes" and y == "no" for p, y in zip(predictions, labels))
    fn = sum(p == "no" and y == "yes" for p, y in zip(predictions, labels))
    correct = sum(p == y for p, y in zip(predictions, labels))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PopeScore(accuracy=correct / len(labels), precision=precision, recall=recall, f1=f1,
                     yes_ratio=sum(p == "yes" for p in predictions) / len(labels), total=len(labels))


def mme(records: Iterable[tuple[str, str, str | None, str]]) -> dict[str, dict[str, float]]:
    """MME per subtask from (subtask, image, parsed prediction, answer): acc over questions, acc+ over images
    whose two questions are both right, score = 100 * (acc + acc+)."""
    by_task: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for task, image, prediction, answer in records:
        by_task[task][image].append(prediction == answer.lower())
    result = {}
    for task, images in by_task.items():
        answers = [ok for oks in images.values() for ok in oks]
        acc = sum(answers) / len(answers)
        acc_plus = sum(all(oks) for oks in images.values()) / len(images)
        result[task] = {"acc": acc, "acc_plus": acc_plus, "score": 100 * (acc + acc_plus)}
    return result


def _number(text: str) -> float | None:
    try:
        return float(text.rstrip("%")) / 100 if text.endswith("%") else float(text)
    except ValueError:
        return None


def relaxed_correct(prediction: str, target: str, tolerance: float = 0.05) -> bool:
    """ChartQA: numbers within ``tolerance`` relative error of a non-zero target; otherwise case-insensitive
    exact match."""
    predicted, expected = _number(prediction.strip()), _number(target.strip())
    if predicted is not None and expected:
        return abs(predicted - expected) / abs(expected) <= tolerance
    return prediction.strip().lower() == target.strip().lower()


def exact_match(prediction: str, answer: str) -> bool:
    """GQA: the answer, lower-cased, without surrounding spaces and a final full stop, equals the label."""
    return prediction.strip().rstrip(".").lower() == answer.strip().lower()


def accuracy(hits: Iterable[bool]) -> float:
    values = list(hits)
    if not values:
        raise ValueError("no records to score.")
    return sum(values) / len(values)


def circular(records: Iterable[tuple[str, str | None, str]]) -> float:
    """MMBench's circular evaluation from (question id, parsed letter, answer letter), one record per rotation of
    the options: a question counts only when every rotation is answered right."""
    by_question: dict[str, list[bool]] = defaultdict(list)
    for question, prediction, answer in records:
        by_question[question].append(prediction == answer)
    return accuracy(all(oks) for oks in by_question.values())


def rotations(options: Sequence[str], answer: int) -> list[tuple[list[str], int]]:
    """The circular passes of one question: the options shifted by 0..n-1 places, with the answer's new index."""
    n = len(options)
    return [([options[(i + shift) % n] for i in range(n)], (answer - shift) % n) for shift in range(n)]
