"""The grounding diagnostics: shuffled images, per-object probes, and where the answer position attends."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from data.shapes.patch_words import patch_labels
from data.shapes.scene import Scene
from diagnostics.grounding import (
    SLOT_SWAPS,
    answered_batch,
    centre_features,
    grounding_report,
    object_cells,
    probe_accuracy,
    scene_id,
    slot_reading,
    slots_in_words,
)
from evals.heldout import read_eval
from evals.understanding.shapes_sets import shapes_questions
from janusflow.foundations.reading import SlotWords, heldout_reading, patch_word_vectors, reading_logits
from janusflow.pipeline import JanusFlowPipeline


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
    report = grounding_report(JanusFlowPipeline(model, processor, None), questions, held_out, tmp_path,
                              processor.image_size)
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
    assert set(report["slot_reading"]) == {"own_images", *SLOT_SWAPS, "shuffled_images"}
    assert model.language_model.config._attn_implementation == attention_implementation  # eager only inside


def test_slots_in_words_replaces_only_the_chosen_slots(model, processor):
    labels = torch.zeros(2, 64, dtype=torch.long)
    labels[0, 5], labels[1, 40] = 3, 17
    features = torch.randn(2, 64, model.vision_und_enc_aligner.in_features, generator=torch.Generator().manual_seed(0))
    vectors = patch_word_vectors(model.language_model.get_input_embeddings(), SlotWords.of(processor.tokenizer).objects)
    with torch.no_grad():
        plain = model.vision_und_enc_aligner(features)
        is_object = labels > 0
        with slots_in_words(model, processor.tokenizer, labels, objects=True, empty=False):
            swapped = model.vision_und_enc_aligner(features)
        assert torch.equal(swapped[is_object], vectors[labels[is_object]]) and torch.equal(swapped[~is_object], plain[~is_object])
        with slots_in_words(model, processor.tokenizer, labels, objects=False, empty=True):
            swapped = model.vision_und_enc_aligner(features)
        assert not swapped[~is_object].any() and torch.equal(swapped[is_object], plain[is_object])
        assert torch.equal(model.vision_und_enc_aligner(features), plain)   # the hook is gone after the block
        with pytest.raises(ValueError, match="the aligner gives \\(2, 64\\) slots, the labels \\(2, 36\\)"):
            with slots_in_words(model, processor.tokenizer, labels[:, :36], objects=True, empty=True):
                model.vision_und_enc_aligner(features)


def test_every_slot_in_words_is_what_the_llm_foundation_read(model, processor, held_out):
    """With every slot swapped (and the image's begin slot holding the begin token's embedding, as the reading
    has it), the model's logits are the LLM's on the scene written in words."""
    questions = [q for q in shapes_questions("vqa", held_out, 16) if q.category == "existence"][:3]
    scenes = {row["id"]: row["scene"] for row in read_eval(held_out, "scenes.jsonl")}
    model = copy.deepcopy(model)
    embedding = model.language_model.get_input_embeddings()
    with torch.no_grad():
        model.beg_of_und_embed.copy_(embedding.weight[processor.tokenizer.convert_tokens_to_ids("<begin_of_image>")])
    rows = [{"question": q.text, "answer": q.answers[0], "category": q.category, "scene_id": scene_id(q)}
            for q in questions]
    words = heldout_reading(scenes, rows, processor)["existence"]
    batch = answered_batch(processor, questions)
    labels = torch.tensor([patch_labels(Scene.from_dict(scenes[scene_id(q)]), 8) for q in questions])
    with torch.no_grad(), slots_in_words(model, processor.tokenizer, labels, objects=True, empty=True):
        logits = model.understanding_logits(batch.input_ids, batch.attention_mask, batch.pixel_values,
                                            batch.image_token_mask, batch.image_begin_mask)
        read = reading_logits(model.language_model, words, SlotWords.of(processor.tokenizer))
    assert torch.equal(batch.input_ids, words.sequences.input_ids)
    real = batch.attention_mask.bool()   # padding slots attend differently in the two paths
    assert torch.allclose(logits[real], read[real], atol=1e-5)


def test_slot_reading_of_a_model_that_ignores_the_image(model, processor, held_out):
    """With the aligner silenced (every slot zero), the own image, shuffled images and zeroed empty slots are the
    same input, so they score the same; so are words on the object slots with and without zeroed empty slots."""
    questions = shapes_questions("vqa", held_out, 16)
    scenes = {row["id"]: row["scene"] for row in read_eval(held_out, "scenes.jsonl")}
    silenced = copy.deepcopy(model)
    with torch.no_grad():
        silenced.vision_und_enc_aligner.weight.zero_()
        silenced.vision_und_enc_aligner.bias.zero_()
    rows = slot_reading(silenced, processor, questions, scenes)
    assert list(rows) == ["own_images", *SLOT_SWAPS, "shuffled_images"]
    assert all(set(row) == {"color", "count", "position", "existence"} for row in rows.values())
    assert rows["own_images"] == rows["shuffled_images"] == rows["empty_slots_zero"]
    assert rows["scene_in_words"] == rows["objects_in_words"]
