"""FID/KID through clean-fid on folders with a given extractor, the GigaGAN preparation, CLIPScore's formula, and
the messages for missing weights and folders."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from evals.generation.alignment import clip_score, mean_cosine, paper_clip_score
from evals.generation.fid import (
    Extractor,
    encoder_extractor,
    enough_images,
    fid_kid,
    folder_features,
    gigagan_resize,
    inception_extractor,
    prepare_folder,
)
from janusflow.config import tiny_janusflow_config
from janusflow.foundations.siglip import SiglipDualEncoder, TextTowerSpec


def mean_colour_extractor() -> Extractor:
    """Features = each image's mean RGB (3 dims), so FID is computable by hand."""
    return Extractor("mean_colour", lambda x: x.mean(dim=(2, 3)), lambda image: image.astype(np.float32), 3, False)


def write_images(folder, colours) -> None:
    folder.mkdir(parents=True)
    for i, colour in enumerate(colours):
        Image.new("RGB", (16, 16), tuple(int(c) for c in colour)).save(folder / f"{i:03d}.png")


def test_fid_is_zero_for_the_same_set_and_grows_with_a_shift(tmp_path):
    rng = np.random.default_rng(0)
    colours = rng.integers(40, 200, size=(40, 3))
    write_images(tmp_path / "a", colours)
    write_images(tmp_path / "b", colours + 30)
    extractor = mean_colour_extractor()
    a = folder_features(tmp_path / "a", extractor, progress=False)
    b = folder_features(tmp_path / "b", extractor, progress=False)
    assert np.allclose(a, colours)
    same = fid_kid(a, a, extractor)
    assert abs(same["fid"]) < 1e-6 and same["reliable"] and not same["comparable_to_inception"]
    shifted = fid_kid(b, a, extractor)
    assert shifted["fid"] == pytest.approx(3 * 30 ** 2, rel=1e-4)      # same covariance: |mean shift|^2
    assert shifted["kid"] > 0 and shifted["kid"] == fid_kid(b, a, extractor)["kid"]  # KID's subsets are seeded


def test_too_few_images_warn_with_the_count_needed():
    extractor = Extractor("wide", lambda x: x, lambda image: image, 64, False)
    with pytest.warns(UserWarning, match="has 10 images but the features have 64 dimensions.*at least 65 images"):
        assert not enough_images(10, 64, "the generated set")
    with pytest.warns(UserWarning, match="at least 65"):
        result = fid_kid(np.random.default_rng(0).normal(size=(10, 64)),
                         np.random.default_rng(1).normal(size=(100, 64)), extractor)
    assert result["reliable"] is False


def test_gigagan_preparation_crops_the_centre_and_resizes(tmp_path):
    wide = Image.new("RGB", (30, 10), (0, 0, 255))
    wide.paste((255, 0, 0), (10, 0, 20, 10))                          # the centre square is red
    prepared = gigagan_resize(wide, 4)
    assert prepared.size == (4, 4) and set(prepared.getdata()) == {(255, 0, 0)}
    (tmp_path / "src" / "cat").mkdir(parents=True)
    wide.save(tmp_path / "src" / "cat" / "x.jpg")
    assert prepare_folder(tmp_path / "src", tmp_path / "dst", 8, progress=False) == 1
    assert Image.open(tmp_path / "dst" / "cat__x.png").size == (8, 8)


def test_missing_inputs_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"inception-2015-12-05.pt; download .* copy it there"):
        inception_extractor(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist; sample or copy the images there first"):
        folder_features(tmp_path / "absent", mean_colour_extractor(), progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no images"):
        folder_features(tmp_path / "empty", mean_colour_extractor(), progress=False)
    with pytest.raises(FileNotFoundError, match="CLIP model in transformers layout"):
        paper_clip_score(tmp_path, [tmp_path / "x.png"], ["a cat"])


def test_clip_score_formula():
    images = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    texts = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    assert mean_cosine(images, texts) == round(100 * (2 ** -0.5 + 1) / 2, 4)
    assert clip_score(images, texts) == mean_cosine(images, texts)
    assert mean_cosine(images, -texts) < 0 and clip_score(images, -texts) == 0.0   # floored like torchmetrics
    with pytest.raises(ValueError, match="give one text per image"):
        clip_score(images, texts[:1])


def test_paper_clip_score_runs_torchmetrics_on_a_local_clip_directory(tmp_path):
    """A small random CLIP saved in transformers layout stands in for ViT-L/14: the score is torchmetrics' (100 x
    mean cosine of CLIP's own embeddings, floored at 0)."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        vocab |= {c + suffix: len(vocab) + i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                                 crop_size={"height": 32, "width": 32}),
                              tokenizer=CLIPTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt")))
    torch.manual_seed(2)
    small = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    model = CLIPModel(CLIPConfig(text_config=dict(vocab_size=len(vocab), max_position_embeddings=32, **small),
                                 vision_config=dict(image_size=32, patch_size=8, **small), projection_dim=8))
    model.save_pretrained(tmp_path / "clip")
    processor.save_pretrained(tmp_path / "clip")
    paths, prompts = [], ["a red square", "a blue circle", "green"]
    for i, colour in enumerate([(200, 10, 10), (10, 10, 200), (10, 200, 10)]):
        Image.new("RGB", (40, 40), colour).save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    inputs = processor(text=prompts, images=[Image.open(p) for p in paths], return_tensors="pt", padding=True)
    with torch.no_grad():
        expected = clip_score(model.get_image_features(pixel_values=inputs["pixel_values"]),
                              model.get_text_features(input_ids=inputs["input_ids"],
                                                      attention_mask=inputs["attention_mask"]))
    assert expected > 0 and paper_clip_score(tmp_path / "clip", paths, prompts, batch_size=2)["clip_score"] == \
        pytest.approx(expected, abs=1e-3)


def test_cached_features_are_named_by_the_encoder_weights_that_made_them():
    spec = tiny_janusflow_config(vocab_size=64, hidden=32, heads=4).und_encoder_spec()
    text = TextTowerSpec(vocab_size=64, width=32, layers=1, heads=4, context_length=8, embed_dim=32)
    torch.manual_seed(0)
    first = SiglipDualEncoder(spec, text)
    torch.manual_seed(0)
    same = SiglipDualEncoder(spec, text)
    torch.manual_seed(1)
    other = SiglipDualEncoder(spec, text)
    key = encoder_extractor(first).cache_key
    assert key.startswith("tiny_understanding_encoder-") and len(key) == len("tiny_understanding_encoder-") + 16
    assert encoder_extractor(same).cache_key == key and encoder_extractor(other).cache_key != key
    with torch.no_grad():
        same.image_tower.vision_tower.norm.weight.add_(1e-3)   # a retrained tower, however slightly
    assert encoder_extractor(same).cache_key != key
    assert mean_colour_extractor().cache_key == "mean_colour"   # fixed weights: the name alone
