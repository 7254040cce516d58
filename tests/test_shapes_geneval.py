"""The tiny profile's GenEval prompts: GenEval's schema and tasks in the shapes world's words, and the official
rules judging renders of scenes that do and do not satisfy them."""

from __future__ import annotations

import numpy as np
import pytest

from data.shapes.detector import detect
from data.shapes.render import render
from data.shapes.scene import Scene, SceneObject, arrange
from evals.generation.geneval import judge
from evals.generation.shapes_geneval import TAGS, shapes_geneval

GRAY = (128, 128, 128)


def scene(*objects: tuple[str, str, tuple[float, float, float, float]]) -> Scene:
    return Scene(objects=tuple(SceneObject(shape, color, "medium", box) for shape, color, box in objects),
                 background=GRAY)


def test_six_tasks_with_geneval_metadata_and_a_fixed_seed():
    rows = shapes_geneval(per_tag=5, seed=3)
    assert [r["tag"] for r in rows] == [tag for tag in TAGS for _ in range(5)]
    assert len({r["prompt"] for r in rows if r["tag"] == "counting"}) == 5
    assert rows == shapes_geneval(per_tag=5, seed=3) and rows != shapes_geneval(per_tag=5, seed=4)
    for row in rows:
        assert set(row) <= {"tag", "include", "exclude", "prompt", "scene"} and row["prompt"].startswith("a photo of ")
        if row["tag"] == "counting":
            (want,), (never,) = row["include"], row["exclude"]
            assert never == {"class": want["class"], "count": want["count"] + 1} and 2 <= want["count"] <= 4
        if row["tag"] == "position":
            anchor, subject = row["include"]
            assert subject["position"][1] == 0 and anchor["class"] != subject["class"]
            assert f" {subject['position'][0]} " in row["prompt"]
        if row["tag"] in ("colors", "color_attr"):
            assert all(req["color"] in row["prompt"] for req in row["include"])


def test_every_prompts_ground_truth_scene_draws_it_and_passes_the_official_rules():
    rows = shapes_geneval(per_tag=8, seed=0)
    for row in rows:
        drawn = Scene.from_dict(row["scene"])
        assert all(f"{o.color} " in row["prompt"] and o.shape in row["prompt"] for o in drawn.objects)
        assert judge(detect(render(drawn)), row).correct, row["prompt"]
    counting = [r for r in rows if r["tag"] == "counting"]
    assert [len(r["scene"]["objects"]) for r in counting] == [r["include"][0]["count"] for r in counting]


def test_arrange_refuses_what_does_not_fit():
    with pytest.raises(ValueError, match="cannot arrange"):
        arrange([("square", "red")] * 40, np.random.default_rng(0))


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="at least one prompt per task"):
        shapes_geneval(per_tag=0, seed=0)
    with pytest.raises(ValueError, match="max_objects is 1"):
        shapes_geneval(per_tag=1, seed=0, max_objects=1)


def test_official_rules_on_rendered_scenes():
    two_red_circles = {"tag": "counting", "include": [{"class": "circle", "count": 2}],
                       "exclude": [{"class": "circle", "count": 3}], "prompt": "a photo of two red circles"}
    left, right, far = (0.05, 0.4, 0.3, 0.65), (0.6, 0.4, 0.85, 0.65), (0.35, 0.05, 0.6, 0.3)
    assert judge(detect(render(scene(("circle", "red", left), ("circle", "red", right)))), two_red_circles).correct
    three = judge(detect(render(scene(("circle", "red", left), ("circle", "red", right), ("circle", "red", far)))),
                  two_red_circles)
    assert not three.correct and three.reasons == ("expected circle<3, found 3",)

    circle_left_of_square = {"tag": "position", "prompt": "a photo of a red circle left of a blue square",
                             "include": [{"class": "square", "count": 1},
                                         {"class": "circle", "count": 1, "position": ["left of", 0]}]}
    assert judge(detect(render(scene(("circle", "red", left), ("square", "blue", right)))),
                 circle_left_of_square).correct
    swapped = judge(detect(render(scene(("circle", "red", right), ("square", "blue", left)))), circle_left_of_square)
    assert swapped.reasons == ("expected circle left of target, found right of",)

    green_triangle = {"tag": "colors", "include": [{"class": "triangle", "count": 1, "color": "green"}],
                      "prompt": "a photo of a green triangle"}
    assert not judge(detect(render(scene(("triangle", "yellow", left)))), green_triangle).correct
