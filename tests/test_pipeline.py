"""The pipeline (model + processor + VAE codec, loaded together) and the generate and chat commands built on it."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from janusflow.cli import chat, generate
from janusflow.pipeline import JanusFlowPipeline
from janusflow.sampling import FlowSampler
from settings.sampling import SamplingSettings

SAMPLING = SamplingSettings(steps=2, cfg_weight=2.0, template="sft")


@pytest.fixture()
def saved(model, processor, codec, tmp_path):
    """A checkpoint directory (weights + tokenizer) and the VAE beside it."""
    JanusFlowPipeline(model, processor, codec).save_pretrained(tmp_path / "checkpoint")
    codec.vae.save_pretrained(tmp_path / "vae")
    return tmp_path / "checkpoint", tmp_path / "vae"


def test_a_saved_pipeline_loads_whole_and_draws_what_the_sampler_draws(model, processor, codec, saved):
    checkpoint, vae = saved
    loaded = JanusFlowPipeline.from_pretrained(checkpoint, vae=vae)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.model.state_dict().values()))
    assert loaded.processor.tokenizer.get_vocab() == processor.tokenizer.get_vocab()
    drawn = loaded.generate(["a red circle", "two blue squares"], [1, 2], SAMPLING).latents
    direct = FlowSampler(model, processor, codec).sample(["a red circle", "two blue squares"], [1, 2], steps=2,
                                                         cfg_weight=2.0, template="sft").latents
    assert torch.allclose(drawn, direct, atol=1e-5)


def test_a_pipeline_names_what_is_missing(model, processor, saved, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*nowhere \\(no config.json\\); train it first"):
        JanusFlowPipeline.from_pretrained(tmp_path / "nowhere")
    model.save_pretrained(tmp_path / "weights_only")
    with pytest.raises(FileNotFoundError, match="has no tokenizer files"):
        JanusFlowPipeline.from_pretrained(tmp_path / "weights_only")
    with pytest.raises(ValueError, match="this pipeline has no VAE; load it with vae="):
        JanusFlowPipeline(model, processor, None).generate(["a red circle"], [0], SAMPLING)


def test_generate_writes_one_image_per_prompt_and_seed(saved, model, processor, codec, tmp_path, capsys):
    checkpoint, vae = saved
    (tmp_path / "prompts.txt").write_text("two blue squares\n\n")
    out = tmp_path / "samples"
    assert generate.main(["--checkpoint", str(checkpoint), "--vae", str(vae), "--prompt", "a red circle",
                          "--prompts-file", str(tmp_path / "prompts.txt"), "--images-per-prompt", "2", "--steps", "2",
                          "--seed", "5", "--out", str(out)]) == 0
    record = json.loads((out / "prompts.json").read_text())
    assert record["images"] == {"0000_0.png": "a red circle", "0000_1.png": "a red circle",
                                "0001_0.png": "two blue squares", "0001_1.png": "two blue squares"}
    assert record["seeds"] == {"0000_0.png": 5, "0000_1.png": 6, "0001_0.png": 7, "0001_1.png": 8}
    assert record["sampling"] == {"steps": 2, "cfg_weight": 2.0, "template": "sft"}   # CFG from params.yaml
    prompts = ["a red circle", "a red circle", "two blue squares", "two blue squares"]
    expected = FlowSampler(model, processor, codec).sample(prompts, [5, 6, 7, 8], steps=2, cfg_weight=2.0,
                                                           template="sft").to_pil()[3]
    assert list(Image.open(out / "0001_1.png").getdata()) == list(expected.getdata())
    assert Image.open(out / "grid.png").size == (2 * 64, 2 * 64)
    assert "4 images (2 steps, CFG 2)" in capsys.readouterr().out
    assert generate.main(["--checkpoint", str(checkpoint), "--vae", str(vae), "--out", str(out)]) == 1
    assert "no prompts; give --prompt TEXT" in capsys.readouterr().err


def test_chat_answers_each_question_about_the_image(saved, model, processor, red_image, tmp_path, capsys):
    checkpoint, _ = saved
    red_image.save(tmp_path / "red.png")
    questions = ["What colour is it?", "Is there a circle?"]
    assert chat.main(["--checkpoint", str(checkpoint), "--image", str(tmp_path / "red.png"), "--question",
                      questions[0], "--question", questions[1], "--max-new-tokens", "4"]) == 0
    replies = JanusFlowPipeline(model, processor, None).answer(
        [[{"role": "User", "content": f"<image_placeholder>\n{q}"}] for q in questions],
        [[Image.open(tmp_path / "red.png").convert("RGB")]] * 2, max_new_tokens=4)
    printed = capsys.readouterr().out
    assert printed == "".join(f"User: {q}\nAssistant: {r.strip()}\n" for q, r in zip(questions, replies))
    assert chat.main(["--checkpoint", str(checkpoint), "--image", str(tmp_path / "missing.png"), "--question",
                      "?"]) == 1
    assert "missing.png" in capsys.readouterr().err
