"""GenEval's scoring rules on hand-made detections: include/exclude, counting, colour, position, overall."""

from __future__ import annotations

import pytest

from data.shapes.scene import SceneObject
from evals.generation.geneval import bootstrap_intervals, judge, summarize


def obj(shape: str, color: str, x: float, y: float, side: float = 0.2) -> SceneObject:
    return SceneObject(shape, color, "medium", (x, y, x + side, y + side))


def test_single_object_and_counting():
    one = {"tag": "single_object", "include": [{"class": "circle", "count": 1}]}
    assert judge([obj("circle", "red", 0.1, 0.1)], one).correct
    assert judge([], one).reasons == ("expected circle>=1, found 0",)
    two = {"tag": "counting", "include": [{"class": "square", "count": 2}], "exclude": [{"class": "square", "count": 3}]}
    squares = [obj("square", "blue", x, 0.1) for x in (0.05, 0.4, 0.7)]
    assert judge(squares[:2], two).correct
    assert judge(squares, two).reasons == ("expected square<3, found 3",)
    assert judge(squares[:1], two).reasons == ("expected square>=2, found 1",)


def test_colour_checks_the_first_count_detections():
    meta = {"tag": "color_attr", "include": [{"class": "triangle", "count": 1, "color": "green"},
                                             {"class": "diamond", "count": 1, "color": "pink"}]}
    good = [obj("triangle", "green", 0.1, 0.1), obj("diamond", "pink", 0.6, 0.6)]
    assert judge(good, meta).correct
    swapped = [obj("triangle", "pink", 0.1, 0.1), obj("diamond", "green", 0.6, 0.6)]
    verdict = judge(swapped, meta)
    assert not verdict.correct and len(verdict.reasons) == 2 and verdict.reasons[0].startswith("expected green triangle>=1")


def test_position_is_relative_to_the_referenced_group():
    meta = {"tag": "position", "include": [{"class": "square", "count": 1},
                                           {"class": "circle", "count": 1, "position": ["left of", 0]}]}
    assert judge([obj("square", "red", 0.6, 0.4), obj("circle", "blue", 0.1, 0.4)], meta).correct
    verdict = judge([obj("square", "red", 0.1, 0.4), obj("circle", "blue", 0.6, 0.4)], meta)
    assert verdict.reasons == ("expected circle left of target, found right of",)
    # within the 0.1 threshold of each other: no relation at all
    close = judge([obj("square", "red", 0.40, 0.4), obj("circle", "blue", 0.37, 0.4)], meta)
    assert close.reasons == ("expected circle left of target, found no relation",)
    # the referenced group failed (no square): the position cannot be judged
    assert judge([obj("circle", "blue", 0.1, 0.4)], meta).reasons == (
        "expected square>=1, found 0", "no target for circle to be left of")


def test_overall_is_the_mean_of_task_means():
    results = [("single_object", True)] * 3 + [("single_object", False)] + [("position", False), ("position", True)]
    assert summarize(results) == {"position": 0.5, "single_object": 0.75, "overall": 0.625}
    with pytest.raises(ValueError, match="no GenEval results"):
        summarize([])


def test_bootstrap_intervals_resample_prompts_and_narrow_with_more_of_them():
    constant = [("colors", f"p{i}", True) for i in range(8)] + [("position", f"q{i}", False) for i in range(8)]
    assert bootstrap_intervals(constant) == {"colors": (1.0, 1.0), "position": (0.0, 0.0), "overall": (0.5, 0.5)}
    # a prompt keeps all its images: one prompt right 4 times, one wrong 4 times, is two draws, not eight
    pairs = [("colors", "right", True)] * 4 + [("colors", "wrong", False)] * 4
    low, high = bootstrap_intervals(pairs)["colors"]
    assert (low, high) == (0.0, 1.0)
    few = [("colors", f"p{i}", i % 2 == 0) for i in range(8)]
    many = [("colors", f"p{i}", i % 2 == 0) for i in range(128)]
    (few_low, few_high), (many_low, many_high) = bootstrap_intervals(few)["colors"], bootstrap_intervals(many)["colors"]
    assert few_low < many_low < 0.5 < many_high < few_high
    assert bootstrap_intervals(few) == bootstrap_intervals(few)  # seeded
    with pytest.raises(ValueError, match="no GenEval results to bootstrap"):
        bootstrap_intervals([])
