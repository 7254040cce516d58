"""DPG-style scoring: propositions composed with the prompt, dependency zeroing, the detector as judge."""

from __future__ import annotations

from data.shapes.detector import detect
from data.shapes.render import render
from data.shapes.scene import Scene, SceneObject
from data.shapes.world import scenes
from evals.generation import dpg
from settings.data import ShapesWorldConfig

GRAY = (128, 128, 128)
RED_CIRCLE = SceneObject("circle", "red", "small", (0.08, 0.08, 0.24, 0.24))
BLUE_SQUARE = SceneObject("square", "blue", "large", (0.6, 0.6, 0.94, 0.94))
SCENE = Scene(objects=(RED_CIRCLE, BLUE_SQUARE), background=GRAY)


def test_prompt_and_propositions_say_the_same_things():
    prompt, props = dpg.compose(SCENE, "7")
    assert prompt == ("There are two shapes in this picture: a red circle and a blue square. A small red circle is in "
                      "the top left. A large blue square is in the bottom right. The red circle is above the blue "
                      "square.")
    assert [(p.proposition_id, p.category_broad, p.category_detailed, p.dependency) for p in props] == [
        (1, "other", "count", ()), (2, "entity", "whole", ()), (3, "attribute", "color", (2,)),
        (4, "attribute", "size", (2,)), (5, "relation", "spatial", (2,)), (6, "entity", "whole", ()),
        (7, "attribute", "color", (6,)), (8, "attribute", "size", (6,)), (9, "relation", "spatial", (6,)),
        (10, "relation", "spatial", (2, 6))]
    assert props[-1].check == {"kind": "relation", "a": 0, "b": 1, "relation": "above"}


def test_dependency_zeroing():
    _, props = dpg.compose(SCENE, "7")
    answers = {p.proposition_id: True for p in props} | {2: False}   # the circle is missing ...
    scores = dpg.zeroed(props, answers)
    assert [scores[i] for i in (2, 3, 4, 5, 10)] == [0.0] * 5       # ... so its attributes and relation score 0
    assert [scores[i] for i in (1, 6, 7, 8, 9)] == [1.0] * 5


def test_ground_truth_scores_full_marks_and_wrong_images_do_not():
    _, props = dpg.compose(SCENE, "7")
    assert set(dpg.score_image(props, SCENE.objects, detect(render(SCENE))).values()) == {1.0}
    recoloured = Scene(objects=(SceneObject("circle", "green", "small", RED_CIRCLE.box), BLUE_SQUARE), background=GRAY)
    scores = dpg.score_image(props, SCENE.objects, detect(render(recoloured)))
    assert [k for k, v in scores.items() if v == 0.0] == [3]
    nothing = dpg.score_image(props, SCENE.objects, [])
    assert sum(nothing.values()) == 0.0


def test_held_out_renders_score_near_100_and_a_shuffle_scores_low():
    held_out = [s for s in scenes(ShapesWorldConfig(seed=2), "eval", "eval", 120) if len(s.objects) >= 2][:40]
    own, other = [], []
    for index, scene in enumerate(held_out):
        _, props = dpg.compose(scene, str(index))
        own.append((str(index), props, dpg.score_image(props, scene.objects, detect(render(scene)))))
        wrong = held_out[(index + 1) % len(held_out)]
        other.append((str(index), props, dpg.score_image(props, scene.objects, detect(render(wrong)))))
    assert dpg.summarize(own)["dpg_score"] >= 99.0
    assert dpg.summarize(other)["dpg_score"] < 40.0


def test_summary_averages_images_then_prompts():
    _, props = dpg.compose(SCENE, "a")
    full = {p.proposition_id: 1.0 for p in props}
    half = {p.proposition_id: float(p.proposition_id <= 5) for p in props}
    result = dpg.summarize([("a", props, full), ("a", props, half), ("b", props, full)])
    assert result["dpg_score"] == round(100 * ((1.0 + 0.5) / 2 + 1.0) / 2, 2)
    assert result["dpg_other"] == 100.0


def test_question_file_round_trip(tmp_path):
    count = dpg.write_items([("7", SCENE)], tmp_path / "prompts.jsonl", tmp_path / "questions.csv")
    back = dpg.read_questions(tmp_path / "questions.csv")
    assert count == 10 and back == {"7": dpg.compose(SCENE, "7")[1]}
    header = (tmp_path / "questions.csv").read_text().splitlines()[0]
    assert header.startswith("item_id,text,proposition_id,dependency,category_broad,category_detailed,tuple,"
                             "question_natural_language")
