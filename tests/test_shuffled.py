"""The shuffled-image control: images move as a whole to other questions of the set, and a model that ignores
its image scores the same with its own images and with shuffled ones."""

from __future__ import annotations

import pytest
import torch

from evals.understanding.runner import evaluate
from evals.understanding.shapes_sets import shapes_questions
from evals.understanding.shuffled import image_derangement, shuffled_images
from janusflow.pipeline import JanusFlowPipeline


def test_a_derangement_moves_every_image():
    assert image_derangement(["a", "b", "a"]) == {"a": "b", "b": "a"}
    mapping = image_derangement(list("abcdefgh"), seed=3)
    assert sorted(mapping) == sorted(mapping.values()) == list("abcdefgh")
    assert all(source != target for source, target in mapping.items())
    assert mapping == image_derangement(list("abcdefgh"), seed=3) != image_derangement(list("abcdefgh"), seed=4)
    with pytest.raises(ValueError, match="at least two distinct images; got 1"):
        image_derangement(["a", "a"])


def test_questions_keep_their_text_and_images_move_as_a_whole(held_out):
    questions = shapes_questions("mmbench", held_out, 20)
    moved = shuffled_images(questions)
    assert [(q.id, q.text, q.answers) for q in moved] == [(q.id, q.text, q.answers) for q in questions]
    assert all(a.image != b.image for a, b in zip(moved, questions))
    assert {q.image for q in moved} == {q.image for q in questions}
    groups: dict[str, set[str]] = {}
    for q in moved:
        groups.setdefault(q.group, set()).add(q.image)
    assert all(len(images) == 1 for images in groups.values())        # every rotation of a question: one image
    assert moved == shuffled_images(questions) != shuffled_images(questions, seed=1)


def test_a_model_that_ignores_its_image_scores_the_same_both_ways(model, processor, held_out, tmp_path):
    questions = shapes_questions("vqa", held_out, 12)
    ask = dict(batch_size=12, max_new_tokens=3, progress=False)
    with torch.no_grad():
        model.vision_und_enc_aligner.weight.zero_()
        model.vision_und_enc_aligner.bias.zero_()
    blind = [evaluate(JanusFlowPipeline(model, processor, None), "vqa", these, tmp_path / "blind" / name, **ask)
             for name, these in (("own", questions), ("shuffled", shuffled_images(questions)))]
    predictions = [(tmp_path / "blind" / name / "predictions.jsonl").read_text() for name in ("own", "shuffled")]
    assert predictions[0] == predictions[1]
    assert blind[0]["score"] == blind[1]["score"] and blind[0]["categories"] == blind[1]["categories"]
