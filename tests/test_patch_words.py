"""Patch words: the scene's patch grid in words (exact labels on hand-made scenes), the encoder's dense loss on
them, and the scene-reading experiment's sequences whose image slots hold them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from data.shapes.patch_words import PATCH_WORDS, REGION_WORDS, patch_labels, region_labels, word_index
from data.shapes.scene import Scene, SceneObject
from diagnostics.reading import train_reading
from janusflow.config import tiny_janusflow_config
from janusflow.foundations.reading import (
    SceneReading,
    SlotWords,
    answer_accuracy,
    heldout_reading,
    patch_word_ids,
    patch_word_vectors,
    question_turns,
    read_batch,
    reading_accuracy,
    reading_batches,
    reading_embeds,
)
from janusflow.foundations.siglip import patch_loss, patch_scores
from janusflow.processor import IGNORE_INDEX, JanusFlowProcessor
from janusflow.tokenizer import train_byte_level_bpe
from settings.data import ShapesWorldConfig
from settings.foundations import ReadingPhase, TrainingSettings, check_curriculum

SCENE = Scene(objects=(SceneObject("circle", "red", "small", (0.0, 0.0, 0.2, 0.2)),
                       SceneObject("square", "blue", "small", (0.5, 0.6, 0.7, 0.8))), background=(128, 128, 128))
TEXTS = ["Is there a red circle in the image?", "What color is the square?", "How many circles are there?",
         "yes", "no", "blue", "top left", "Is the red circle left of the blue square?"] * 20


def test_words_name_every_colour_and_shape_once():
    assert len(PATCH_WORDS) == 41 and len(set(PATCH_WORDS)) == 41 and PATCH_WORDS[0] == ()
    assert PATCH_WORDS[word_index("red", "circle")] == ("red", "circle") and word_index("red", "circle") == 1
    assert PATCH_WORDS[word_index("blue", "square")] == ("blue", "square") and word_index("blue", "square") == 18
    assert word_index("white", "diamond") == 40


def test_each_object_names_the_patch_holding_its_centre():
    labels = patch_labels(SCENE, 8)
    # red circle: centre (0.1, 0.1) -> row 0, column 0; blue square: centre (0.6, 0.7) -> row 5, column 4
    assert labels[0] == 1 and labels[5 * 8 + 4] == 18
    assert sum(label > 0 for label in labels) == 2 and len(labels) == 64
    assert patch_labels(SCENE, 2) == [1, 0, 0, 18]


def test_each_object_names_its_region_at_the_patch_holding_its_centre():
    labels = region_labels(SCENE, 6)
    assert REGION_WORDS[labels[0]] == ("top", "left") and REGION_WORDS[labels[4 * 6 + 3]] == ("bottom",)
    assert sum(1 for label in labels if label) == 2 and REGION_WORDS[0] == ()


def test_two_centres_in_one_patch_are_an_error():
    with pytest.raises(ValueError, match="two objects have their centre in patch 0 of a 1x1 grid; use a grid of at least 6"):
        patch_labels(SCENE, 1)
    with pytest.raises(ValueError, match="grid must be at least 1"):
        patch_labels(SCENE, 0)


def test_patch_loss_weighs_objects_and_background_alike():
    labels = torch.tensor([[0, 0, 0, 5]])
    uniform = torch.zeros(1, 4, 41)
    assert patch_loss(uniform, labels).item() == pytest.approx(2 * math.log(41))
    assert patch_loss(uniform, torch.zeros(1, 4, dtype=torch.long)).item() == pytest.approx(math.log(41))
    right = torch.full((1, 4, 41), -30.0)
    right[0, :3, 0] = 30.0
    right[0, 3, 5] = 30.0
    assert patch_loss(right, labels).item() == pytest.approx(0.0, abs=1e-6)
    wrong_object = right.clone()
    wrong_object[0, 3, 5], wrong_object[0, 3, 0] = -30.0, 30.0     # the object patch called background
    assert patch_loss(wrong_object, labels).item() == pytest.approx(60.0, rel=1e-4)


def test_patch_scores_count_words_colours_shapes_and_background():
    red_circle, red_square, blue_circle = word_index("red", "circle"), word_index("red", "square"), word_index("blue", "circle")
    labels = torch.tensor([[red_circle, red_circle, red_circle, blue_circle, 0, 0, 0, 0]])
    predicted = torch.tensor([[red_circle, red_square, 0, blue_circle, 0, 0, 0, blue_circle]])
    assert patch_scores(predicted, labels) == {
        "patch_word_accuracy": 0.5, "patch_color_accuracy": 0.75, "patch_shape_accuracy": 0.5,
        "patch_background_accuracy": 0.75, "patch_objects": 4}


@pytest.fixture(scope="module")
def reader() -> JanusFlowProcessor:
    tokenizer = train_byte_level_bpe(TEXTS, vocab_size=320)
    config = tiny_janusflow_config(vocab_size=len(tokenizer), image_size=48, und_patch_size=8, hidden=32, layers=1,
                                   heads=4, gen_channels=16, repa_layer=1)
    return JanusFlowProcessor.for_model(tokenizer, config)


def test_patch_vectors_sum_the_word_embeddings(reader):
    ids = patch_word_ids(reader.tokenizer)
    embedding = torch.nn.Embedding(len(reader.tokenizer), 4)
    vectors = patch_word_vectors(embedding, ids)
    red_circle = reader.tokenizer.encode(" red", add_special_tokens=False) + \
        reader.tokenizer.encode(" circle", add_special_tokens=False)
    assert torch.allclose(vectors[1], embedding.weight[red_circle].sum(0))
    assert torch.equal(vectors[0], torch.zeros(4)) and (ids[0] == -1).all()


def test_reading_puts_the_patch_words_in_the_image_slots(reader):
    assert reader.num_image_tokens == 36
    messages = [{"role": "User", "content": "<image_placeholder>\nIs there a red circle in the image?"},
                {"role": "Assistant", "content": "yes"}]
    batch = read_batch([(SCENE, messages)], reader)
    expected = [0] * 36
    expected[0], expected[4 * 6 + 3] = 1, 18
    assert batch.patch_labels.tolist() == [expected]
    seq = batch.sequences
    assert int(seq.image_token_mask.sum()) == 36 and seq.pixel_values is None
    answer = [int(t) for t, label in zip(seq.input_ids[0], seq.labels[0]) if label != IGNORE_INDEX]
    assert reader.tokenizer.decode(answer).strip() == "yes" + reader.tokenizer.eos_token
    assert batch.region_labels.tolist() == [[1 if i == 0 else 8 if i == 27 else 0 for i in range(36)]]
    embedding = torch.nn.Embedding(len(reader.tokenizer), 4)
    words = SlotWords.of(reader.tokenizer, regions=True)
    embeds = reading_embeds(embedding, batch, words)
    slots = embeds[0][seq.image_token_mask[0]]
    vectors = patch_word_vectors(embedding, words.objects)
    regions = patch_word_vectors(embedding, words.regions)
    assert torch.allclose(slots[0], vectors[1] + regions[1]) and torch.allclose(slots[27], vectors[18] + regions[8])
    assert not slots[1].any()
    plain = reading_embeds(embedding, batch, SlotWords.of(reader.tokenizer))[0][seq.image_token_mask[0]]
    assert torch.equal(plain[0], vectors[1]) and torch.equal(plain[27], vectors[18])
    outside = ~seq.image_token_mask[0]
    assert torch.equal(embeds[0][outside], embedding(seq.input_ids[0][outside]))
    with pytest.raises(ValueError, match="needs one <image_placeholder>"):
        read_batch([(SCENE, [{"role": "User", "content": "hi"}])], reader)


def test_reading_batches_are_seeded_questions_about_training_scenes(reader):
    config = ShapesWorldConfig(seed=2, resolution=48)
    first, again = next(reading_batches(config, reader, 3)), next(reading_batches(config, reader, 3))
    assert torch.equal(first.sequences.input_ids, again.sequences.input_ids)
    assert torch.equal(first.patch_labels, again.patch_labels) and first.patch_labels.shape == (3, 36)
    assert int(first.sequences.image_token_mask.sum()) == 3 * 36
    turns = question_turns(SCENE, np.random.default_rng(0), reader.image_token)
    assert 6 <= len(turns) <= 12 and turns[0]["content"].startswith("<image_placeholder>\n")
    assert all("<image_placeholder>" not in t["content"] for t in turns[1:])
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        next(reading_batches(config, reader, 0))


def test_heldout_reading_groups_by_category_and_scores_exact_answers(reader):
    scenes = {"s0": SCENE.to_dict()}
    questions = [{"scene_id": "s0", "category": "existence", "question": "Is there a red circle in the image?",
                  "answer": "yes"},
                 {"scene_id": "s0", "category": "color", "question": "What color is the square?", "answer": "blue"}]
    batches = heldout_reading(scenes, questions, reader)
    assert sorted(batches) == ["color", "existence"]
    labels = batches["existence"].sequences.labels
    perfect = torch.full((*labels.shape, len(reader.tokenizer)), -10.0)
    for position in range(1, labels.shape[1]):
        if labels[0, position] >= 0:
            perfect[0, position - 1, labels[0, position]] = 10.0
    assert answer_accuracy(perfect, labels) == 1.0
    assert answer_accuracy(torch.zeros_like(perfect), labels) == 0.0


def test_reading_trains_and_reports_each_category(reader):
    from transformers import LlamaForCausalLM

    config = tiny_janusflow_config(vocab_size=len(reader.tokenizer), image_size=48, und_patch_size=8, hidden=32,
                                   layers=1, heads=4, gen_channels=16, repa_layer=1)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config.llama_config())
    heldout = heldout_reading({"s0": SCENE.to_dict()}, [
        {"scene_id": "s0", "category": "existence", "question": "Is there a red circle in the image?", "answer": "yes"}],
        reader)
    text = torch.randint(0, len(reader.tokenizer), (8, 16))
    batches = reading_batches(ShapesWorldConfig(seed=2, resolution=48), reader, 2)
    reading = SceneReading(batches, heldout, SlotWords.of(reader.tokenizer))
    before = reading_accuracy(model, heldout, reading.words)
    embedding = model.get_input_embeddings().weight.detach().clone()
    curve = train_reading(model, reading, text, TrainingSettings(steps=3, batch_size=2, learning_rate=1e-3), every=2)
    assert [point["step"] for point in curve] == [0, 2, 3]
    assert curve[0] == {"step": 0, **before} and set(curve[-1]) == {"step", "existence", "mean"}
    assert not torch.equal(model.get_input_embeddings().weight, embedding)


def test_reading_asks_only_the_chosen_categories(reader):
    turns = question_turns(SCENE, np.random.default_rng(0), reader.image_token, ("existence",))
    assert turns and all("Is there a" in t["content"] for t in turns if t["role"] == "User")
    repeated = Scene(objects=(SceneObject("circle", "red", "small", (0.0, 0.0, 0.2, 0.2)),
                              SceneObject("circle", "blue", "small", (0.5, 0.6, 0.7, 0.8))), background=(128, 128, 128))
    assert question_turns(repeated, np.random.default_rng(0), reader.image_token, ("color",)) == []
    batch = next(reading_batches(ShapesWorldConfig(seed=2, resolution=48), reader, 4, (ReadingPhase(("color",)),)))
    asked = reader.tokenizer.batch_decode(batch.sequences.input_ids)
    assert len(asked) == 4 and all("What color is the" in text for text in asked)


def test_reading_curriculum_moves_on_after_each_phase(reader):
    curriculum = (ReadingPhase(("color",), 2), ReadingPhase(("existence",), 1), ReadingPhase(("count",)))
    batches = reading_batches(ShapesWorldConfig(seed=2, resolution=48), reader, 3, curriculum)
    asked = [reader.tokenizer.batch_decode(next(batches).sequences.input_ids) for _ in range(5)]
    marks = {"What color is the": "color", "Is there a": "existence", "How many": "count"}
    phases = [{kind for text in batch for mark, kind in marks.items() if mark in text} for batch in asked]
    assert phases == [{"color"}, {"color"}, {"existence"}, {"count"}, {"count"}]
    for bad, message in [((), "needs at least one phase"),
                         ((ReadingPhase(("color",)), ReadingPhase()), "phase 0 has steps=None"),
                         ((ReadingPhase(("color",), 0), ReadingPhase()), "phase 0 has steps=0"),
                         ((ReadingPhase(("color",), 3), ReadingPhase(("count",), 5)), "phase 1 has steps=5"),
                         ((ReadingPhase(("colour",)),), "phase 0 asks \\['colour'\\]")]:
        with pytest.raises(ValueError, match=message):
            check_curriculum(bad)
