"""The synthetic binding check: its examples say what they claim, and a question the image alone answers is
learned (the check can tell a model that learns from one that cannot)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoTokenizer, LlamaForCausalLM

from diagnostics.binding import BACKGROUND, COLOR_NAMES, GRID, BindingTask, Vocabulary, example, train


def test_examples_ask_a_present_colour_exactly_when_the_answer_is_yes():
    examples = [example(torch.Generator().manual_seed(i), control=False) for i in range(400)]
    for e in examples:
        colours = set(e.slots.tolist()) - {BACKGROUND}
        assert e.slots.shape == (GRID * GRID,) and 1 <= len(colours) <= 4
        assert (e.asked in colours) == e.present
    assert 170 <= sum(e.present for e in examples) <= 230
    assert len({e.asked for e in examples}) == len(COLOR_NAMES)
    controls = [example(torch.Generator().manual_seed(i), control=True) for i in range(100)]
    assert {e.asked for e in controls} == {0} and all(e.present == (0 in e.slots.tolist()) for e in controls)


class Table:
    """A tokenizer stub: fixed ids per text, one id per character otherwise."""

    def __init__(self, fixed: dict[str, list[int]]) -> None:
        self.fixed = fixed

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return self.fixed.get(text, [ord(c) for c in text])


def test_the_answer_token_is_where_yes_and_no_first_differ():
    vocabulary = Vocabulary.of(Table({}))                          # " yes" and " no" share the leading space
    assert (vocabulary.yes, vocabulary.no) == (ord("y"), ord("n"))
    assert all(q[-2:] == (ord(":"), ord(" ")) for q in vocabulary.questions) and len(vocabulary.questions) == 10
    assert Vocabulary.of(Table({" yes": [7], " no": [8]})).questions[0][-1] == ord(":")
    with pytest.raises(ValueError, match="encodes ' yes' or ' no' as the start of the other"):
        Vocabulary.of(Table({" yes": [1, 2], " no": [1, 2, 3]}))


def test_the_control_question_is_learned_from_the_image_alone(pipeline_params):
    folder = Path(yaml.safe_load(pipeline_params.read_text())["profiles"]["tiny"]["foundations"]["out"])
    torch.manual_seed(0)
    task = BindingTask(LlamaForCausalLM.from_pretrained(folder / "llm"),
                       Vocabulary.of(AutoTokenizer.from_pretrained(folder / "tokenizer")))
    curve = train(task, steps=300, control=True, every=300)
    assert [point["step"] for point in curve] == [0, 300]
    assert curve[-1]["accuracy"] >= 0.95 > curve[0]["accuracy"]
