"""The grounding diagnostics: shuffled images, per-object probes, and where the answer position attends."""

from __future__ import annotations

import json

import pytest
import torch

from evals.heldout import read_eval
from evals.understanding.grounding import centre_features, grounding_report, object_cells, probe_accuracy, scene_id
from evals.understanding.shapes_sets import shapes_questions


def test_scene_id_names_the_held_out_scene(held_out):
    questions = shapes_questions("vqa", held_out, 40)
    assert scene_id(questions[0]) == questions[0].id.rsplit("-", 1)[0] and scene_id(questions[0]).startswith("eval-")


def test_object_cells_and_centre_features_follow_the_box():
    assert object_cells((0.0, 0.0, 0.2, 0.2), 8) == [0, 1, 8, 9]
    assert object_cells((0.9, 0.9, 1.0, 1.0), 8) == [63]
    features = torch.arange(64.0)[:, None]                          # each patch's feature is its index
    assert centre_features(features, (0.0, 0.0, 0.1, 0.1)).item() == pytest.approx((0 + 1 + 8 + 9) / 4)
    assert centre_features(features, (0.4, 0.4, 0.5, 0.5)).item() == pytest.approx(27.0)  # the 3x3 around cell 27


def test_probe_reads_what_the_features_hold_and_not_more():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (400,), generator=g)
    informative = torch.nn.functional.one_hot(labels, 4).float() + 0.1 * torch.randn(400, 4, generator=g)
    assert probe_accuracy(informative, labels, 4) == 1.0
    assert probe_accuracy(torch.randn(400, 16, generator=g), labels, 4) < 0.45


def test_grounding_report_measures_answers_probes_and_attention(model, processor, held_out, tmp_path):
    questions = shapes_questions("vqa", held_out, 16)
    attention_implementation = model.language_model.config._attn_implementation
    report = grounding_report(model, processor, questions, held_out, tmp_path, processor.image_size)
    assert set(report["vqa"]) == {"own_images", "shuffled_images"}
    assert set(report["vqa"]["own_images"]) == {"color", "count", "position", "existence"}
    objects = sum(len(row["scene"]["objects"]) for row in read_eval(held_out, "scenes.jsonl"))
    for part in ("encoder", "aligned"):
        assert report["probes"][part]["objects"] == objects
        assert 0.0 <= report["probes"][part]["shape"] <= 1.0 and 0.0 <= report["probes"][part]["colour"] <= 1.0
    attention = report["attention"]
    layers, heads = model.language_model.config.num_hidden_layers, model.language_model.config.num_attention_heads
    assert len(attention["image_share"]) == layers and all(len(row) == heads for row in attention["image_share"])
    assert all(0.0 <= share <= 1.0 + 1e-6 for row in attention["image_share"] for share in row)
    assert attention["selectivity_questions"] > 0
    assert len(attention["asked_object_per_slot"]) == len(attention["other_objects_per_slot"]) == layers
    assert json.loads((tmp_path / "grounding.json").read_text()) == report
    assert (tmp_path / "shuffled_images" / "predictions.jsonl").is_file()
    assert model.language_model.config._attn_implementation == attention_implementation  # eager only inside
