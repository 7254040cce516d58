"""The shapes world: deterministic scenes, exact captions and answers, a held-out split disjoint by construction,
and raw files in the formats real sources use."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data.shapes.captions import caption, short_caption
from data.shapes.conversations import (
    CAPTION_PROMPTS,
    LETTERS,
    QA,
    as_multiple_choice,
    choice_options,
    conversation,
    question,
)
from data.shapes.render import render
from data.shapes.scene import COLORS, SHAPES, Scene, SceneObject, relations, sample_scene, signature, split_of
from data.shapes.world import scenes, write_shapes_world
from settings.data import ShapesWorldConfig


def obj(shape: str, color: str, x: float, y: float, size: str = "medium", side: float = 0.24) -> SceneObject:
    return SceneObject(shape, color, size, (x, y, x + side, y + side))


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "world.json"}


def test_same_seed_writes_identical_files_and_another_seed_does_not(tmp_path):
    config = ShapesWorldConfig(gen_pairs=30, conversations=30, text_documents=30, eval_scenes=5, samples_per_tar=10)
    write_shapes_world(config, tmp_path / "a", progress=False)
    write_shapes_world(config, tmp_path / "b", progress=False)
    write_shapes_world(ShapesWorldConfig(**{**config.__dict__, "seed": 1}), tmp_path / "c", progress=False)
    a, b, c = (tree_digest(tmp_path / n) for n in "abc")
    assert a == b
    assert len(a) == len(c) and a != c


def test_scenes_use_the_palette_and_never_overlap():
    rng = np.random.default_rng(0)
    seen_shapes, seen_colors, counts = set(), set(), set()
    for _ in range(400):
        scene = sample_scene(rng)
        counts.add(len(scene.objects))
        for o in scene.objects:
            seen_shapes.add(o.shape)
            seen_colors.add(o.color)
            assert 0.0 <= o.box[0] < o.box[2] <= 1.0 and 0.0 <= o.box[1] < o.box[3] <= 1.0
        for i, a in enumerate(scene.objects):
            for b in scene.objects[i + 1:]:
                assert a.box[2] <= b.box[0] or b.box[2] <= a.box[0] or a.box[3] <= b.box[1] or b.box[3] <= a.box[1]
    assert seen_shapes == set(SHAPES) and len(SHAPES) >= 4
    assert seen_colors == set(COLORS) == {"red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
                                          "black", "white"}
    assert counts == {1, 2, 3, 4}


def test_render_draws_the_objects_in_their_colours_at_any_resolution():
    scene = Scene(objects=(obj("square", "red", 0.1, 0.1), obj("circle", "blue", 0.6, 0.6)), background=(128, 128, 128))
    for size in (64, 384):
        image = np.asarray(render(scene, size))
        assert image.shape == (size, size, 3)
        assert tuple(image[int(0.22 * size), int(0.22 * size)]) == COLORS["red"]
        assert tuple(image[int(0.72 * size), int(0.72 * size)]) == COLORS["blue"]
        assert tuple(image[2, size - 3]) == (128, 128, 128)
    with pytest.raises(ValueError, match="resolution 385 is outside"):
        render(scene, 385)


def test_relations_follow_the_geneval_rule():
    left, right = obj("square", "blue", 0.05, 0.4), obj("triangle", "green", 0.6, 0.4)
    assert relations(left, right) == {"left of"} and relations(right, left) == {"right of"}
    top, bottom = obj("circle", "red", 0.4, 0.05), obj("circle", "white", 0.4, 0.6)
    assert relations(top, bottom) == {"above"} and relations(bottom, top) == {"below"}
    # Centres 0.04 apart with 0.48 of summed width: inside the 0.1 x size dead zone, no relation.
    assert relations(obj("square", "red", 0.40, 0.4), obj("square", "blue", 0.44, 0.4)) == set()


def test_short_captions_use_geneval_phrasings():
    rng = np.random.default_rng(0)
    two_red = Scene(objects=(obj("circle", "red", 0.05, 0.1), obj("circle", "red", 0.6, 0.6)), background=(128,) * 3)
    assert short_caption(two_red, rng) == "a photo of two red circles"
    pair = Scene(objects=(obj("square", "blue", 0.05, 0.4), obj("triangle", "green", 0.6, 0.4)), background=(128,) * 3)
    phrasings = {short_caption(pair, np.random.default_rng(s)) for s in range(20)}
    assert phrasings == {"a photo of a blue square left of a green triangle",
                         "a photo of a blue square and a green triangle"}
    orange = Scene(objects=(obj("diamond", "orange", 0.3, 0.3),), background=(128,) * 3)
    assert {short_caption(orange, np.random.default_rng(s)) for s in range(20)} == {
        "a photo of an orange diamond", "an orange diamond"}


def test_a_quarter_of_captions_are_short():
    rng = np.random.default_rng(0)
    shorts = sum(len(caption(sample_scene(rng), rng).split(".")) == 1 for _ in range(2000))
    assert 0.22 < shorts / 2000 < 0.28


def test_questions_have_exact_answers():
    scene = Scene(objects=(obj("circle", "red", 0.05, 0.4), obj("square", "blue", 0.6, 0.4),
                           obj("square", "blue", 0.6, 0.05, "small", 0.16)), background=(128,) * 3)
    answers = {}
    for seed in range(60):
        for category in ("color", "count", "existence", "position"):
            qa = question(scene, category, np.random.default_rng(seed))
            if qa is not None:
                answers[qa.question] = qa.answer
    assert answers["What color is the circle?"] == "red"
    assert "What color is the square?" not in answers  # two squares: no unambiguous answer
    assert answers["How many squares are there?"] == "2"
    assert answers["How many blue shapes are there?"] == "2"
    assert answers["How many triangles are there?"] == "0"
    assert answers["Is there a red circle in the image?"] == "yes"
    assert all(answers[q] == "no" for q in answers if q.startswith("Is there") and "red circle" not in q
               and "blue square" not in q)
    assert answers.get("Where is the red circle in the image?", "left") == "left"


def test_multiple_choice_turns_letter_the_right_option():
    qa = QA("color", "What color is the circle?", "red")
    for seed in range(20):
        prompt, letter = as_multiple_choice(qa, np.random.default_rng(seed))
        lines = prompt.splitlines()
        assert lines[0] == qa.question and len(lines) == 5
        assert lines[1 + LETTERS.index(letter)] == f"{letter}. red"
        assert len({line[3:] for line in lines[1:]}) == 4 and all(line[3:] in COLORS for line in lines[1:])
    assert choice_options(QA("position", "Is the red circle left of the blue square?", "no"),
                          np.random.default_rng(0)) == ["no", "yes"]
    assert choice_options(QA("position", "Where is the red circle in the image?", "top left"),
                          np.random.default_rng(0))[0] == "top left"
    assert choice_options(QA("count", "How many squares are there?", "7"), np.random.default_rng(0)) is None


def test_conversations_mostly_ask_several_questions_some_as_multiple_choice():
    rng = np.random.default_rng(0)
    questions_per_conversation, choice_turns, turns = [], 0, 0
    for _ in range(1000):
        messages = conversation(sample_scene(rng), rng)
        assert messages[0]["value"].startswith("<image>\n") and all("<image>" not in m["value"] for m in messages[1:])
        assert [m["from"] for m in messages] == ["human", "gpt"] * (len(messages) // 2)
        asked = [m["value"].removeprefix("<image>\n") for m in messages[::2]]
        assert len(set(asked)) == len(asked)
        if asked[0] in CAPTION_PROMPTS:
            assert len(asked) == 1
            continue
        questions_per_conversation.append(len(asked))
        for ask, reply in zip(asked, [m["value"] for m in messages[1::2]]):
            if "\nA. " in ask:
                choice_turns += 1
                assert reply in LETTERS[:4]
            turns += 1
    assert 0.77 < len(questions_per_conversation) / 1000 < 0.83                # a fifth are captioning requests
    several = sum(n >= 3 for n in questions_per_conversation) / len(questions_per_conversation)
    assert 0.71 < several < 0.79 and 0.2 < choice_turns / turns < 0.3
    assert max(questions_per_conversation) == 6


def test_held_out_split_is_disjoint_by_signature(small_world):
    config = ShapesWorldConfig()
    train = {signature(s) for s in scenes(config, "gen", "train", 400)}
    held_out = {signature(s) for s in scenes(config, "eval", "eval", 100)}
    assert not train & held_out
    raw = small_world["raw"]
    written_eval = [Scene.from_dict(json.loads(line)["scene"]) for line in (raw / "eval/scenes.jsonl").read_text().splitlines()]
    assert all(split_of(s, config.eval_fraction) == "eval" for s in written_eval)
    written_train = []
    for path in sorted((raw / "gen").glob("*.tar")):
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    try:
                        written_train.append(Scene.from_dict(json.loads(tar.extractfile(member).read())["scene"]))
                    except (json.JSONDecodeError, KeyError):
                        continue
    assert written_train and not {signature(s) for s in written_train} & {signature(s) for s in written_eval}


def test_raw_formats_are_what_real_sources_look_like(small_world):
    raw = small_world["raw"]
    with tarfile.open(raw / "gen/shard-00000.tar") as tar:
        names = tar.getnames()
        first = json.loads(tar.extractfile("00000000.json").read())
        image = Image.open(tar.extractfile("00000000.png"))
        assert tar.extractfile("00000000.txt").read().decode() == first["caption"]
    assert names[:3] == ["00000000.png", "00000000.txt", "00000000.json"]
    assert {"width", "height", "caption", "aesthetic"} <= set(first) and image.size == (64, 64)
    conversations = json.loads((raw / "und/conversations.json").read_text())
    entry = conversations[0]
    assert set(entry) == {"id", "image", "conversations"} and (raw / "und/images" / entry["image"]).is_file()
    assert entry["conversations"][0]["from"] == "human" and entry["conversations"][0]["value"].startswith("<image>\n")
    assert entry["conversations"][1]["from"] == "gpt"
    line = json.loads((raw / "text/documents.jsonl").read_bytes().splitlines()[0])
    assert set(line) == {"id", "text"}
    vqa = [json.loads(x) for x in (raw / "eval/vqa.jsonl").read_text().splitlines()]
    assert {q["category"] for q in vqa} == {"color", "count", "position", "existence"}
    assert all(q["answer"] for q in vqa)
    world = json.loads((raw / "world.json").read_text())
    assert world["counts"]["gen_records"] == 120 + 16  # 10% broken, at least one of each of the 16 kinds
