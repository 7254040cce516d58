"""Foundations: metrics on hand-made cases, gates, and short seeded training runs that lower their loss, save in
the standard formats and load back (into the JanusFlow model too)."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator

import pytest
import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from data.shapes.patch_words import patch_labels
from data.shapes.render import render
from data.shapes.scene import Scene, SceneObject
from janusflow.config import tiny_janusflow_config
from janusflow.foundations.assemble import from_tiny_foundations
from janusflow.foundations.gates import GateError, gate_failures
from janusflow.foundations.language_model import pack, pretrain_language_model
from janusflow.foundations.metrics import accuracy, detected_exactly, perplexity, psnr, unigram_perplexity
from janusflow.foundations.siglip import (
    SHAPES,
    SiglipDualEncoder,
    TextTowerSpec,
    same_text,
    sigmoid_loss,
    swap_shapes,
    tokenize,
    train_siglip,
)
from janusflow.foundations.tokenizer import build_tokenizer
from janusflow.foundations.training import lr_factor, random_indices, train
from janusflow.foundations.vae import latent_scaling_factor, object_weights, train_vae
from janusflow.modeling import JanusFlowModel
from janusflow.tokenizer import SPECIAL_TOKENS
from janusflow.vae import load_vae
from settings.foundations import TrainingSettings

TEXTS = [
    "a photo of two red circles", "a blue square left of a green triangle", "How many squares are there?",
    "There are three shapes on a plain gray background.", "A large yellow diamond is in the top left.",
    "Is there a white circle in the image?", "A small black triangle is at the bottom.",
] * 30
SHORT = TrainingSettings(steps=25, batch_size=8, learning_rate=3e-3, warmup_steps=5, seed=0)
LLM = TrainingSettings(steps=80, batch_size=8, learning_rate=1e-2, warmup_steps=5, seed=0)


def test_psnr_perplexity_and_accuracy_on_hand_made_cases():
    target = torch.zeros(2, 3, 4, 4)
    assert psnr(target + 0.2, target) == pytest.approx(20.0, abs=1e-4)  # 0.1 error in [0, 1]: 20 dB
    assert psnr(target, target) == pytest.approx(100.0)  # exact: capped at 1e-10 mean squared error
    assert perplexity(2 * math.log(3), 2) == pytest.approx(3.0)
    # add-one unigram: p(0) = 3/5, p(1) = 2/5 -> perplexity = 1 / sqrt(0.24)
    assert unigram_perplexity([0, 0, 1], [0, 1], vocab_size=2) == pytest.approx(1 / math.sqrt(0.24))
    assert accuracy(["red", "blue", "red"], ["red", "red", "red"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="two equal, non-empty sequences"):
        accuracy([], [])


def test_detected_exactly_counts_images_whose_detections_match_their_scene():
    square = SceneObject("square", "red", "large", (0.1, 0.1, 0.44, 0.44))
    circle = SceneObject("circle", "blue", "medium", (0.6, 0.6, 0.84, 0.84))
    scenes = [Scene((square, circle), (128, 128, 128)), Scene((circle,), (128, 128, 128))]
    images = torch.stack([torch.tensor(list(render(s).getdata()), dtype=torch.float32).T.reshape(3, 64, 64)
                          for s in scenes]) / 127.5 - 1
    graphs = [s.to_dict() for s in scenes]
    assert detected_exactly(images, graphs) == 1.0
    assert detected_exactly(images, graphs[::-1]) == 0.0  # one object too many, then one too few
    blurred = torch.nn.functional.avg_pool2d(images, 9, stride=1, padding=4, count_include_pad=False)
    assert detected_exactly(blurred, graphs) == 0.0  # corners rounded, colours mixed with the background
    assert detected_exactly(images[:1], graphs[:1]) == 1.0
    with pytest.raises(ValueError, match="as many scenes as images"):
        detected_exactly(images, graphs[:1])


def test_object_weights_mark_the_objects_and_their_rim():
    image = torch.full((1, 3, 8, 8), -0.2)
    image[0, :, 3:5, 3:5] = torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1)
    weights = object_weights(image, 10.0)
    assert weights.shape == (1, 1, 8, 8)
    assert weights[0, 0, 2:6, 2:6].eq(10).all() and weights.eq(10).sum() == 16 and weights.eq(1).sum() == 48
    assert object_weights(image, 1.0).eq(1).all()
    assert object_weights(image + 0.01, 10.0).eq(weights).all()  # a shift of every pixel moves no object


def test_gates_name_what_fails():
    gates = {"heldout_psnr_db": {"min": 28.0}, "perplexity_ratio": {"max": 0.5}}
    assert gate_failures({"heldout_psnr_db": 31.0, "perplexity_ratio": 0.1}, gates, "vae") == []
    assert gate_failures({"heldout_psnr_db": 25.0, "perplexity_ratio": 0.7}, gates, "vae") == [
        "vae.heldout_psnr_db = 25 is below the gate minimum 28.0",
        "vae.perplexity_ratio = 0.7 is above the gate maximum 0.5"]
    assert gate_failures({"heldout_psnr_db": float("nan"), "perplexity_ratio": 0.1}, gates, "vae")  # NaN fails
    with pytest.raises(GateError, match="gate on vae.fid, but vae reports only"):
        gate_failures({"heldout_psnr_db": 30}, {"fid": {"max": 1}}, "vae")
    with pytest.raises(GateError, match="must be {min: x}"):
        gate_failures({"a": 1}, {"a": {"above": 1}}, "x")


def test_learning_rate_schedule():
    assert [lr_factor(s, 4, 20) for s in (0, 3)] == [0.25, 1.0]
    assert lr_factor(4, 4, 20) == pytest.approx(1.0) and lr_factor(20, 4, 20) == pytest.approx(0.1)


@pytest.fixture
def two_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def lookup_weights() -> torch.Tensor:
    """A table trained through advanced indexing, the LLM's scene-reading lookup: its backward adds 4,096 rows
    into 8, which CPU threads do with atomics unless kernels are deterministic."""
    torch.manual_seed(0)
    table = torch.nn.Embedding(8, 64)
    target = torch.randn(4096, 64, generator=torch.Generator().manual_seed(1))

    def loss_on(labels: torch.Tensor, _: torch.Generator) -> torch.Tensor:
        return ((table.weight[labels] - target) ** 2).mean()

    train(table, loss_on, random_indices(8, 4096), TrainingSettings(steps=4, warmup_steps=1, seed=0), "lookup",
          progress=False)
    return table.weight.detach().clone()


def test_training_is_bitwise_reproducible_on_two_threads(two_threads):
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.equal(lookup_weights(), lookup_weights())
    assert not torch.are_deterministic_algorithms_enabled()  # the caller's setting is restored


def test_sigmoid_loss_matches_the_formula():
    logits = torch.tensor([[2.0, -1.0], [0.5, 3.0]])
    expected = -(math.log(1 / (1 + math.exp(-2))) + math.log(1 / (1 + math.exp(-1))) + math.log(1 / (1 + math.exp(0.5)))
                 + math.log(1 / (1 + math.exp(-3)))) / 2
    assert sigmoid_loss(logits).item() == pytest.approx(expected, rel=1e-6)
    hard = torch.tensor([1.0, -2.0])  # each image against its shape-swapped caption: labels -1
    extra = -(math.log(1 / (1 + math.exp(1))) + math.log(1 / (1 + math.exp(-2)))) / 2
    assert sigmoid_loss(logits, hard).item() == pytest.approx(expected + extra, rel=1e-6)
    both = torch.ones(2, 2, dtype=torch.bool)  # the two captions are the same text: every pair matches
    matching = -sum(math.log(1 / (1 + math.exp(-v))) for v in (2.0, -1.0, 0.5, 3.0)) / 2
    assert sigmoid_loss(logits, positives=both).item() == pytest.approx(matching, rel=1e-6)


def test_repeated_captions_are_positives_of_each_other():
    assert same_text(["a red circle", "a blue square", "a red circle"]).tolist() == [
        [True, False, True], [False, True, False], [True, False, True]]


def test_shape_swapped_captions():
    original = "two red circles and a blue square; the circle is left of the square"
    swapped = swap_shapes(original, random.Random(0))
    pattern = original.replace("circle", "{a}").replace("square", "{b}")
    mapping = [(a, b) for a in SHAPES for b in SHAPES if pattern.format(a=a, b=b) == swapped]
    assert len(mapping) == 1 and mapping[0][0] != "circle" and mapping[0][1] != "square"
    assert swap_shapes("a plain gray background", random.Random(0)) is None


@pytest.fixture(scope="module")
def trained_tokenizer(tmp_path_factory):
    out = tmp_path_factory.mktemp("tok")
    metrics = build_tokenizer(TEXTS, TEXTS[:7], vocab_size=320, out=out)
    return out, metrics


def test_tokenizer_is_a_transformers_directory_with_single_id_special_tokens(trained_tokenizer, tmp_path):
    out, metrics = trained_tokenizer
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert all(len(tokenizer.encode(t, add_special_tokens=False)) == 1 for t in SPECIAL_TOKENS)
    assert metrics["special_tokens_single_id"] == 1.0 and metrics["vocab_size"] == len(tokenizer) <= 320
    assert metrics["heldout_bytes_per_token"] > 1.5
    build_tokenizer(TEXTS, TEXTS[:7], vocab_size=320, out=tmp_path)
    assert (tmp_path / "tokenizer.json").read_text() == (out / "tokenizer.json").read_text()


def small_llama(tokenizer):
    return tiny_janusflow_config(vocab_size=len(tokenizer), hidden=32, layers=2, heads=4, max_positions=64).llama_config()


def test_language_model_learns_is_deterministic_and_loads(trained_tokenizer, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(trained_tokenizer[0])
    rows = pack(TEXTS[:3], tokenizer, 8)
    assert rows.shape[1] == 8 and rows[0, 0] == tokenizer.bos_token_id
    a = pretrain_language_model(small_llama(tokenizer), tokenizer, TEXTS, TEXTS[:7], LLM, 32, tmp_path / "a", False)
    b = pretrain_language_model(small_llama(tokenizer), tokenizer, TEXTS, TEXTS[:7], LLM, 32, tmp_path / "b", False)
    assert a["final_loss"] < a["first_loss"] - 1.0
    assert a["heldout_perplexity"] < a["unigram_perplexity"]
    one, two = (LlamaForCausalLM.from_pretrained(tmp_path / n) for n in "ab")
    assert all(torch.equal(x, y) for x, y in zip(one.state_dict().values(), two.state_dict().values()))
    assert (tmp_path / "a/model.safetensors").is_file() and (tmp_path / "a/config.json").is_file()
    with pytest.raises(ValueError, match="cannot fill one sequence of 4096"):
        pack(["a"], tokenizer, 4096)


def small_images(n: int = 16) -> tuple[torch.Tensor, list[str]]:
    generator = torch.Generator().manual_seed(0)
    colors = {"red": (1.0, -1.0, -1.0), "blue": (-1.0, -1.0, 1.0)}
    images, captions = [], []
    for i in range(n):
        name = list(colors)[i % 2]
        image = torch.full((3, 64, 64), -0.2) + 0.05 * torch.randn(3, 64, 64, generator=generator)
        image[:, 16:48, 16:48] = torch.tensor(colors[name]).view(3, 1, 1)
        images.append(image)
        captions.append(f"a photo of a {name} square")
    return torch.stack(images), captions


def square_scenes(captions: list[str]) -> list[dict]:
    """The scene graphs of ``small_images``: one square over the middle half of the image."""
    return [{"objects": [{"shape": "square", "color": c.split()[4], "size": "large", "box": [0.25, 0.25, 0.75, 0.75]}],
             "background": [128, 128, 128]} for c in captions]


def cycled_batches(images: torch.Tensor, captions: list[str],
                   size: int) -> Iterator[tuple[torch.Tensor, list[str], torch.Tensor]]:
    labels = torch.tensor([patch_labels(Scene.from_dict(scene), 8) for scene in square_scenes(captions)])
    for start in itertools.cycle(range(0, len(images), size)):
        yield images[start:start + size], captions[start:start + size], labels[start:start + size]


def test_dual_encoder_learns_is_deterministic_and_round_trips(trained_tokenizer, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(trained_tokenizer[0])
    spec = tiny_janusflow_config(vocab_size=len(tokenizer), hidden=32, heads=4).und_encoder_spec()
    text = TextTowerSpec(vocab_size=len(tokenizer), width=32, layers=1, heads=4, context_length=16, embed_dim=32)
    images, captions = small_images()
    scenes = square_scenes(captions)
    settings = TrainingSettings(steps=30, batch_size=8, learning_rate=3e-3, warmup_steps=5)
    a = train_siglip(spec, text, tokenizer, cycled_batches(images, captions, 8), images, scenes, settings,
                     tmp_path / "a", False)
    b = train_siglip(spec, text, tokenizer, cycled_batches(images, captions, 8), images, scenes, settings,
                     tmp_path / "b", False)
    assert a["final_loss"] < a["first_loss"] and a["patch_grid"] == 8 and a["zero_shot_scenes"] == 16
    assert a["pairs_seen"] == 30 * 8
    assert a["patch_objects"] == 16 and 0.0 <= a["patch_word_accuracy"] <= 1.0   # one centre patch per image
    assert a == {**b, "seconds": a["seconds"]}
    loaded = SiglipDualEncoder.from_pretrained(tmp_path / "a")
    again = SiglipDualEncoder.from_pretrained(tmp_path / "b")
    assert all(torch.equal(x, y) for x, y in zip(loaded.state_dict().values(), again.state_dict().values()))
    assert loaded.embed_images(images[:2]).shape == (2, 32)
    with pytest.raises(FileNotFoundError, match="build the encoder foundation first"):
        SiglipDualEncoder.from_pretrained(tmp_path / "missing")


def test_tokenize_pads_to_the_longest_text_and_the_text_embedding_does_not_depend_on_it(trained_tokenizer):
    tokenizer = AutoTokenizer.from_pretrained(trained_tokenizer[0])
    short, long = "a red square", "a photo of a large red square left of a small blue circle"
    ids, mask = tokenize(tokenizer, [short, long], 32)
    widths = [len(tokenizer.encode(t, add_special_tokens=False)) + 1 for t in (short, long)]
    assert ids.shape == mask.shape == (2, max(widths)) and mask.sum(1).tolist() == widths
    assert ids[0, widths[0] - 1] == ids[1, widths[1] - 1] == tokenizer.eos_token_id
    assert tokenize(tokenizer, [long], 4)[0].tolist() == [tokenizer.encode(long, add_special_tokens=False)[:3]
                                                          + [tokenizer.eos_token_id]]
    torch.manual_seed(0)
    tower = SiglipDualEncoder(tiny_janusflow_config(vocab_size=len(tokenizer), hidden=32, heads=4).und_encoder_spec(),
                              TextTowerSpec(vocab_size=len(tokenizer), width=32, layers=1, heads=4,
                                            context_length=32, embed_dim=32)).eval()
    alone = tower.embed_texts(*tokenize(tokenizer, [short], 32))[0]
    full = torch.full((1, 32), tokenizer.pad_token_id), torch.zeros((1, 32), dtype=torch.long)
    full[0][0, :widths[0]], full[1][0, :widths[0]] = ids[0, :widths[0]], 1
    with torch.no_grad():
        assert torch.allclose(tower.embed_texts(ids, mask)[0], alone, atol=1e-6)
        assert torch.allclose(tower.embed_texts(*full)[0], alone, atol=1e-6)


def test_vae_learns_sets_its_scaling_factor_and_loads(tmp_path):
    images, captions = small_images(8)
    settings = TrainingSettings(steps=12, batch_size=4, learning_rate=3e-3, warmup_steps=2)
    scenes = square_scenes(captions[:2])
    metrics = train_vae(images, images[:2], scenes, (16, 16), 1e-6, settings, tmp_path / "vae", False, object_weight=10)
    again = train_vae(images, images[:2], scenes, (16, 16), 1e-6, settings, tmp_path / "again", False,
                      object_weight=10)
    assert metrics["final_loss"] < metrics["first_loss"] and metrics["latent_shape"] == [4, 32, 32]
    assert metrics == {**again, "seconds": metrics["seconds"]}
    codec = load_vae(tmp_path / "vae")
    assert codec.scaling_factor == pytest.approx(metrics["scaling_factor"], rel=1e-4)
    codec.vae.register_to_config(scaling_factor=1.0)
    assert latent_scaling_factor(codec.vae, images) == pytest.approx(metrics["scaling_factor"], rel=1e-4)


def test_foundations_load_into_janusflow_and_through_from_pretrained(trained_tokenizer, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(trained_tokenizer[0])
    config = tiny_janusflow_config(vocab_size=len(tokenizer), hidden=32, layers=2, heads=4, max_positions=64)
    pretrain_language_model(config.llama_config(), tokenizer, TEXTS, TEXTS[:7], SHORT, 32, tmp_path / "llm", False)
    images, captions = small_images()
    text = TextTowerSpec(vocab_size=len(tokenizer), width=32, layers=1, heads=4, context_length=16, embed_dim=32)
    scenes = square_scenes(captions)
    train_siglip(config.und_encoder_spec(), text, tokenizer, cycled_batches(images, captions, 8), images, scenes, SHORT,
                 tmp_path / "encoder", False)
    model = from_tiny_foundations(config, tmp_path)
    llm = LlamaForCausalLM.from_pretrained(tmp_path / "llm")
    tower = SiglipDualEncoder.from_pretrained(tmp_path / "encoder").image_tower
    assert all(torch.equal(a, b) for a, b in zip(model.language_model.state_dict().values(), llm.state_dict().values()))
    assert all(torch.equal(a, b) for a, b in zip(model.vision_und_enc_model.state_dict().values(),
                                                 tower.state_dict().values()))
    model.save_pretrained(tmp_path / "stage0")
    reloaded = JanusFlowModel.from_pretrained(tmp_path / "stage0")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reloaded.state_dict().values()))
