"""Understanding benchmarks: the shapes world's held-out sets, the standard files' readers, scoring with each
benchmark's rules, and asking that resumes and survives bad images."""

from __future__ import annotations

import base64
import io
import json
from collections import Counter

import pytest
from PIL import Image

from evals.understanding.questions import Question, prompt_text
from evals.understanding.runner import ask, score
from evals.understanding.shapes_sets import CLASSES, pope_questions, shapes_questions
from evals.understanding.standard_sets import standard_questions
from janusflow.pipeline import JanusFlowPipeline


def test_shapes_vqa_is_balanced_by_category(held_out):
    questions = shapes_questions("vqa", held_out, 40)
    assert Counter(q.category for q in questions) == {"color": 10, "count": 10, "position": 10, "existence": 10}


def test_shapes_pope_splits(held_out):
    questions = pope_questions(held_out, limit=60, seed=0)
    scenes = {json.loads(line)["id"]: json.loads(line)["scene"] for line in (held_out / "scenes.jsonl").open()}
    for split in ("random", "popular", "adversarial"):
        rows = [q for q in questions if q.category == split]
        assert len(rows) == 60 and abs(sum(q.answers[0] == "yes" for q in rows) - 30) <= 3
        for q in rows:
            present = {f"{o['color']} {o['shape']}" for o in scenes[q.id.split("-", 1)[1].rsplit("-", 1)[0]]["objects"]}
            name = q.text.removeprefix("Is there a ").removeprefix("Is there an ").removesuffix(" in the image?")
            assert name in CLASSES and (name in present) == (q.answers[0] == "yes")
    popular = Counter(q.text for q in questions if q.category == "popular" and q.answers[0] == "no")
    random = Counter(q.text for q in questions if q.category == "random" and q.answers[0] == "no")
    assert len(popular) < len(random)                      # popular negatives repeat the most frequent classes


def test_shapes_mmbench_rotations_keep_the_answer(held_out):
    questions = shapes_questions("mmbench", held_out, 20)
    by_group: dict[str, list[Question]] = {}
    for q in questions:
        by_group.setdefault(q.group, []).append(q)
    answers = {json.loads(line)["question_id"]: json.loads(line)["answer"] for line in (held_out / "vqa.jsonl").open()}
    for group, rotations in by_group.items():
        assert len(rotations) == len(rotations[0].options) in (2, 4)
        assert {q.options["ABCD".index(q.answers[0])] for q in rotations} == {answers[group]}
        assert len({q.options for q in rotations}) == len(rotations)
    assert prompt_text(questions[0]).splitlines()[2:] == [f"{l}. {o}" for l, o in zip("ABCD", questions[0].options)]


def png_b64(colour) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_standard_files_are_read_in_their_published_formats(tmp_path):
    (tmp_path / "pope").mkdir()
    for split in ("random", "popular", "adversarial"):
        (tmp_path / "pope" / f"coco_pope_{split}.json").write_text(
            json.dumps({"question_id": 1, "image": "a.jpg", "text": "Is there a dog in the image?", "label": "yes"})
            + "\n" + json.dumps({"question_id": 2, "image": "a.jpg", "text": "Is there a cat?", "label": "no"}) + "\n")
    (tmp_path / "vqav2").mkdir()
    (tmp_path / "vqav2" / "v2_OpenEnded_mscoco_val2014_questions.json").write_text(json.dumps(
        {"questions": [{"question_id": 5, "image_id": 42, "question": "What colour?"}]}))
    (tmp_path / "vqav2" / "v2_mscoco_val2014_annotations.json").write_text(json.dumps(
        {"annotations": [{"question_id": 5, "answers": [{"answer": "red"}] * 9 + [{"answer": "pink"}]}]}))
    (tmp_path / "gqa").mkdir()
    (tmp_path / "gqa" / "testdev_balanced_questions.json").write_text(json.dumps(
        {"201": {"imageId": "n1", "question": "Is it red?", "answer": "yes"}}))
    (tmp_path / "mmbench").mkdir()
    (tmp_path / "mmbench" / "mmbench_dev_en.tsv").write_text(
        "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage\n"
        f"9\tWhich colour?\tnan\tred\tgreen\tblue\tnan\tB\tattribute\t{png_b64((0, 200, 0))}\n")

    pope = standard_questions("pope", tmp_path, None)
    assert [(q.id, q.category, q.answers) for q in pope[:2]] == [("random-1", "random", ("yes",)),
                                                                 ("random-2", "random", ("no",))] and len(pope) == 6
    (vqa,) = standard_questions("vqav2", tmp_path, None)
    assert vqa.image.endswith("vqav2/images/COCO_val2014_000000000042.jpg") and len(vqa.answers) == 10
    (gqa,) = standard_questions("gqa", tmp_path, None)
    assert (gqa.id, gqa.image.split("/")[-1], gqa.answers) == ("201", "n1.jpg", ("yes",))
    mmb = standard_questions("mmbench", tmp_path, None)
    assert [(q.options, q.answers[0]) for q in mmb] == [(("red", "green", "blue"), "B"), (("green", "blue", "red"), "A"),
                                                        (("blue", "red", "green"), "C")]
    assert mmb[0].load_image().getpixel((0, 0)) == (0, 200, 0) and mmb[0].hint == ""
    with pytest.raises(FileNotFoundError, match=r"GQA's testdev-balanced questions is not at .*docs/evaluation.md"):
        standard_questions("gqa", tmp_path / "nowhere", None)


def q(id_: str, benchmark: str, answer: str, category: str = "", options=(), group: str = "") -> Question:
    return Question(id=id_, benchmark=benchmark, image="x.png", text="?", answers=(answer,), category=category,
                    options=tuple(options), group=group)


def test_scores_follow_each_benchmarks_rules():
    vqa = [q("1", "vqa", "2", "count"), q("2", "vqa", "red", "color"), q("3", "vqa", "yes", "existence")]
    result = score("vqa", vqa, {"1": {"prediction": "two"}, "2": {"prediction": "Red."}, "3": {"prediction": ""}})
    assert (result["score"], result["categories"], result["empty"]) == (66.67, {"count": 100.0, "color": 100.0,
                                                                              "existence": 0.0}, 1)
    pope = [q(str(i), "pope", a, "random") for i, a in enumerate(["yes", "yes", "no", "no"])]
    result = score("pope", pope, {"0": {"prediction": "Yes, there is."}, "1": {"prediction": "No."},
                                  "2": {"prediction": "There is not."}, "3": {"prediction": "yes"}})
    assert result["splits"]["random"] == {"accuracy": 50.0, "precision": 50.0, "recall": 50.0, "f1": 50.0,
                                          "yes_ratio": 50.0, "questions": 4}
    mmb = [q("a-r0", "mmbench", "A", "c", ["red", "blue"], "a"), q("a-r1", "mmbench", "B", "c", ["blue", "red"], "a"),
           q("b-r0", "mmbench", "B", "c", ["red", "blue"], "b"), q("b-r1", "mmbench", "A", "c", ["blue", "red"], "b")]
    result = score("mmbench", mmb, {"a-r0": {"prediction": "A"}, "a-r1": {"prediction": "red"},
                                    "b-r0": {"prediction": "B. blue"}, "b-r1": {"prediction": "no idea"}})
    assert (result["score"], result["single_pass"], result["unparsed"]) == (50.0, 100.0, 1)
    result = score("vqav2", [Question("v", "vqav2", "x", "?", ("red",) * 9 + ("pink",))], {"v": {"prediction": "pink"}})
    assert result["score"] == 30.0
    with pytest.raises(ValueError, match="1 gqa questions have no prediction"):
        score("gqa", [q("g", "gqa", "yes")], {})


def test_asking_resumes_and_survives_an_unreadable_image(model, processor, tmp_path, monkeypatch):
    image = tmp_path / "ok.png"
    Image.new("RGB", (32, 32), (200, 0, 0)).save(image)
    questions = [Question(f"q{i}", "vqa", str(image), "What color is the circle?", ("red",), "color") for i in range(3)]
    questions.append(Question("broken", "vqa", str(tmp_path / "missing.png"), "What color?", ("red",), "color"))
    path = tmp_path / "predictions.jsonl"
    pipeline = JanusFlowPipeline(model, processor, None)
    first = ask(pipeline, questions[:2], path, batch_size=2, max_new_tokens=3, progress=False)
    assert sorted(first) == ["q0", "q1"]

    asked = []
    import evals.understanding.runner as runner
    import janusflow.pipeline

    real = janusflow.pipeline.answer
    monkeypatch.setattr(janusflow.pipeline, "answer", lambda m, p, conversations, images, **kw: asked.append(len(conversations))
                        or real(m, p, conversations, images, **kw))
    with path.open("a") as handle:
        handle.write('{"id": "q2", "predic')                             # a line torn by a killed run
    every = ask(pipeline, questions, path, batch_size=8, max_new_tokens=3, progress=False)
    assert asked == [1] and sorted(every) == ["broken", "q0", "q1", "q2"]
    assert every["broken"]["prediction"] == "" and "cannot read" in every["broken"]["error"]
    assert sorted(runner.read_predictions(path)) == ["broken", "q0", "q1", "q2"]   # all on disk, torn line skipped
    result = score("vqa", questions, every)
    assert (result["errors"], result["empty"]) == (1, 1)
