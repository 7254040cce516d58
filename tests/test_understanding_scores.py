"""Understanding benchmark parsing and scores on hand-made cases, with the reference evaluators' rules."""

from __future__ import annotations

import pytest

from evals.understanding.parsing import choice_letter, first_letter, llava_yes_no, mme_yes_no
from evals.understanding.scores import accuracy, circular, exact_match, mme, pope, relaxed_correct, rotations
from evals.understanding.vqa import normalize_answer, soft_score


def test_llava_yes_no_parsing():
    assert llava_yes_no("Yes, there is a dog in the image.") == "yes"
    assert llava_yes_no("No, there is no dog.") == "no"
    assert llava_yes_no("There is not a dog") == "no"
    assert llava_yes_no("There is a dog. No cat though.") == "yes"  # only the first sentence counts
    assert llava_yes_no("Nope") == "yes"  # LLaVA's rule: no word No/no/not, so yes


def test_mme_yes_no_parsing():
    assert [mme_yes_no(t) for t in ("Yes", " no ", "yes, it is", "No.", "maybe")] == ["yes", "no", "yes", "no", None]


def test_choice_letters():
    options = ["a red circle", "a blue square", "a green triangle"]
    assert [choice_letter(t, options) for t in ("B", "(C) a green triangle", "A. red", "b", "It is a blue square.")] \
        == ["B", "C", "A", None, "B"]
    assert choice_letter("D", options) is None  # only three options
    assert choice_letter("a red circle or a blue square", options) is None  # two options named
    assert [first_letter(t) for t in ("c", " B because", "", "The answer")] == ["C", "B", None, None]


def test_pope_scores():
    labels = ["yes", "yes", "no", "no", "yes"]
    predictions = ["yes", "no", "yes", "no", "yes"]
    score = pope(predictions, labels)
    assert (score.accuracy, score.precision, score.recall, score.yes_ratio) == (0.6, 2 / 3, 2 / 3, 0.6)
    assert score.f1 == pytest.approx(2 / 3) and score.total == 5
    assert pope(["no", "no"], ["yes", "no"]).precision == 0.0
    with pytest.raises(ValueError, match="one prediction per label; got 1 and 2"):
        pope(["yes"], ["yes", "no"])


def test_mme_counts_acc_plus_per_image():
    records = [("color", "1.jpg", "yes", "Yes"), ("color", "1.jpg", "no", "No"),
               ("color", "2.jpg", "yes", "Yes"), ("color", "2.jpg", None, "No"),
               ("count", "3.jpg", "no", "Yes"), ("count", "3.jpg", "no", "No")]
    result = mme(records)
    assert result["color"] == {"acc": 0.75, "acc_plus": 0.5, "score": 125.0}
    assert result["count"] == {"acc": 0.5, "acc_plus": 0.0, "score": 50.0}


def test_relaxed_accuracy_and_exact_match():
    assert relaxed_correct("104", "100") and not relaxed_correct("106", "100")
    assert relaxed_correct("51%", "0.5") and relaxed_correct("Paris", "paris")
    assert not relaxed_correct("1", "0") and relaxed_correct("0", "0")  # a zero target needs the exact text
    assert exact_match(" Red.", "red") and not exact_match("dark red", "red")
    assert accuracy([True, False, True, True]) == 0.75
    with pytest.raises(ValueError, match="no records"):
        accuracy([])


def test_circular_evaluation_needs_every_rotation():
    passes = rotations(["cat", "dog", "bird"], answer=1)
    assert passes == [(["cat", "dog", "bird"], 1), (["dog", "bird", "cat"], 0), (["bird", "cat", "dog"], 2)]
    assert all(options[index] == "dog" for options, index in passes)
    records = [("q1", "B", "B"), ("q1", "A", "A"), ("q1", "C", "C"),   # q1 right every time
               ("q2", "A", "A"), ("q2", "A", "B")]                     # q2 wrong once
    assert circular(records) == 0.5


def test_vqa_normalisation():
    assert normalize_answer("Two dogs.") == "2 dogs"
    assert normalize_answer("the Red-Car") == "red car"
    assert normalize_answer("dont know") == "don't know"
    assert normalize_answer("1,000") == "1000"  # a comma between digits removes every mark
    assert normalize_answer("3.5") == "3.5"     # a decimal point stays
    assert normalize_answer("yes!\n") == "yes"


def test_vqa_soft_score_over_ten_answers():
    answers = ["red"] * 3 + ["dark red"] * 2 + ["maroon"] * 5
    # "red": leaving out one of the 3 "red" leaves 2 matches (2/3), leaving out another answer leaves 3 (1)
    assert soft_score("Red", answers) == pytest.approx((3 * 2 / 3 + 7 * 1.0) / 10)
    assert soft_score("dark red", answers) == pytest.approx((2 * 1 / 3 + 8 * 2 / 3) / 10)
    assert soft_score("maroon", answers) == 1.0 and soft_score("blue", answers) == 0.0
    with pytest.raises(ValueError, match="needs its human answers"):
        soft_score("red", [])
