"""Shared fixtures: a tokenizer trained on a few sentences and a small random JanusFlow model (seeded)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest
import torch
from PIL import Image

from janusflow.config import JanusFlowConfig, tiny_janusflow_config
from janusflow.modeling import JanusFlowModel
from janusflow.processor import IMAGE_TOKEN, JanusFlowProcessor
from janusflow.tokenizer import train_byte_level_bpe
from janusflow.vae import LatentCodec, tiny_vae

CORPUS = [
    "a photo of two red circles", "a blue square left of a green triangle", "What colour is the circle?",
    "The circle is red.", "How many squares are there?", "There are three squares.", "a photo of a purple star",
    "Is there a yellow triangle in the picture?", "Yes.", "No.", "an orange circle above a white square",
] * 10


@pytest.fixture(scope="session")
def tokenizer():
    return train_byte_level_bpe(CORPUS, vocab_size=320)


@pytest.fixture(scope="session")
def tiny_config(tokenizer) -> JanusFlowConfig:
    return tiny_janusflow_config(vocab_size=len(tokenizer), hidden=32, heads=4, gen_channels=32, layers=3,
                                 repa_layer=2)


@pytest.fixture()
def model(tiny_config) -> JanusFlowModel:
    torch.manual_seed(0)
    model = JanusFlowModel(tiny_config).eval()
    # Random init leaves beg_of_und_embed and GRN at zero; give every tensor a value so tests see all paths.
    with torch.no_grad():
        model.beg_of_und_embed.normal_()
        for name, param in model.named_parameters():
            if "channelwise_norm" in name:
                param.normal_(std=0.1)
    return model


@pytest.fixture(scope="session")
def processor(tokenizer, tiny_config) -> JanusFlowProcessor:
    return JanusFlowProcessor.for_model(tokenizer, tiny_config)


@pytest.fixture(scope="session")
def codec() -> LatentCodec:
    return LatentCodec(tiny_vae(seed=0))


@pytest.fixture()
def red_image() -> Image.Image:
    return Image.new("RGB", (48, 32), (220, 20, 20))


SMALL_WORLD = dict(gen_pairs=120, conversations=120, text_documents=120, eval_scenes=24, broken_fraction=0.1,
                   samples_per_tar=50)
SMALL_SHARDS = dict(size_limit="64kb", validation_fraction=0.1)  # about 11 held-out records per data type


def small_sources(raw) -> list:
    from settings.data import source_specs

    options = {"text_field": "text", "caption_field": "caption", "max_file_bytes": 64 << 20}
    return source_specs([
        {"name": "shapes_gen", "format": "webdataset", "path": f"{raw}/gen/*.tar", "feeds": "gen", "image_root": None,
         **options},
        {"name": "shapes_und", "format": "llava", "path": f"{raw}/und/conversations.json",
         "image_root": f"{raw}/und/images", "feeds": "und", **options},
        {"name": "shapes_text", "format": "text_jsonl", "path": f"{raw}/text/documents.jsonl", "feeds": "text",
         "image_root": None, **options},
    ])


def small_filters(**overrides) -> dict:
    from settings.data import FilterConfig

    return {"gen": FilterConfig(min_side=32, max_aspect_ratio=2.0, min_aesthetic=5.0, min_words=2, max_words=200,
                                **overrides),
            "und": FilterConfig(min_side=32, max_aspect_ratio=3.0, max_words=300, **overrides),
            "text": FilterConfig(max_chars=4000, **overrides)}


@pytest.fixture(scope="session")
def small_world(tmp_path_factory):
    """A small shapes world (10% broken records) with its manifests and MDS shards, built once per session."""
    from data.manifest import build_manifests
    from data.shapes.world import write_shapes_world
    from data.shards import write_shards
    from settings.data import ShapesWorldConfig, ShardConfig

    root = tmp_path_factory.mktemp("world")
    raw = root / "raw"
    counts = write_shapes_world(ShapesWorldConfig(**SMALL_WORLD), raw, progress=False)
    specs = small_sources(raw)
    report = build_manifests(specs, small_filters(), root / "manifests", progress=False)
    write_shards(specs, root / "manifests", root / "shards", ShardConfig(**SMALL_SHARDS), progress=False)
    return {"root": root, "raw": raw, "specs": specs, "counts": counts, "report": report,
            "manifests": root / "manifests", "shards": root / "shards"}


def small_data_params(root) -> "Path":
    """params.yaml whose data lineage (a 40-record shapes world, its manifests and shards) lives under ``root``."""
    from pathlib import Path

    import yaml

    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    data = params["profiles"]["tiny"]["data"]
    raw = Path(root) / "raw"
    data["paths"] = {"raw": str(raw), "manifests": str(Path(root) / "manifests"),
                     "shards": str(Path(root) / "shards"), "cache": str(Path(root) / "cache"),
                     "latents": str(Path(root) / "latents"), "remote": None}
    data["shapes_world"].update(gen_pairs=40, conversations=40, text_documents=40, eval_scenes=8)
    for source in data["sources"]:
        for key in ("path", "image_root"):
            if source[key]:
                source[key] = source[key].replace("artifacts/tiny/raw/shapes", str(raw))
    path = Path(root) / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def write_quick_params(small_world, root, psnr_gate: float = 0.0):
    """params.yaml for the small world: tiny model sizes, 4-step foundations with lenient gates, and training
    stages of a few batches of 4 (checkpoints every 2 batches, no loader workers)."""
    from pathlib import Path

    import yaml

    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    tiny = params["profiles"]["tiny"]
    tiny["data"]["paths"] = {"raw": str(small_world["raw"]), "manifests": str(small_world["manifests"]),
                             "shards": str(small_world["shards"]), "cache": str(root / "cache"),
                             "latents": str(root / "latents"), "remote": None}
    tiny["data"]["loader"] = {"predownload": None, "num_workers": 0, "prefetch_factor": None}
    tiny["model"].update(hidden=32, layers=2, heads=4, max_positions=256)
    f = tiny["foundations"]
    f["out"] = str(root / "foundations")
    f["tokenizer"]["vocab_size"] = 320
    f["llm"]["sequence_length"] = 32
    f["llm"]["reading"] = {"batch_size": 2, "curriculum": [{"steps": None,
                                                            "categories": ["color", "count", "position", "existence"]}]}
    f["encoder"]["text_tower"].update(width=32, embed_dim=32, context_length=32)
    for name in ("llm", "encoder", "vae"):
        f[name]["training"].update(steps=4, batch_size=4, warmup_steps=1)
    f["gates"] = {"tokenizer": {"special_tokens_single_id": {"min": 1}}, "llm": {"perplexity_ratio": {"max": 10.0}},
                  "encoder": {"zero_shot_color_accuracy": {"min": 0.0}}, "vae": {"heldout_psnr_db": {"min": psnr_gate}}}
    tiny["training"].update(out=str(root / "training"), ema_half_life=2, checkpoint_interval=2, eval_interval=3,
                            eval_batches=1)
    for name, stage in tiny["stages"].items():
        stage.update(steps={"stage1": 6, "stage2": 6, "stage3": 4}[name], batch_size=4, warmup_steps=1)
    tiny["stages"]["stage2"]["mixture"][0]["steps"] = 2
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.fixture()
def quick_params(small_world, tmp_path):
    """Writes quick params under the test's tmp_path: ``quick_params(psnr_gate=...)``."""
    return lambda psnr_gate=0.0: write_quick_params(small_world, tmp_path, psnr_gate)


@pytest.fixture(scope="session")
def pipeline_params(small_world, tmp_path_factory):
    """Quick params with the foundations already built (once per session)."""
    from janusflow.foundations.cli import main

    path = write_quick_params(small_world, tmp_path_factory.mktemp("pipeline"))
    assert main(["all", "--params", str(path), "--no-progress"]) == 0
    return path


@pytest.fixture(scope="session")
def held_out(tmp_path_factory):
    """A held-out split of 60 shapes-world scenes (scenes, VQA questions, images), written once per session."""
    from data.shapes.world import write_eval
    from settings.data import ShapesWorldConfig

    folder = tmp_path_factory.mktemp("eval")
    write_eval(ShapesWorldConfig(seed=1, eval_scenes=60), folder, progress=False)
    return folder


def parsed(raw: dict):
    """A params file's dictionary, parsed as ``settings.params`` parses params.yaml."""
    import yaml

    from settings.params import read_params

    return read_params(yaml.safe_dump(raw))


def repo_params() -> dict:
    """The repository's params.yaml as a dictionary (a fresh copy to modify)."""
    from pathlib import Path

    import yaml

    return yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())


@contextlib.contextmanager
def object_store(monkeypatch) -> Iterator[str]:
    """An S3-compatible server (moto) on 127.0.0.1 for one test; yields its endpoint, which Streaming and Composer
    read from S3_ENDPOINT_URL, as boto3 reads the test credentials from the environment."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_ENDPOINT_URL_S3": endpoint, "S3_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(name, value)
    try:
        yield endpoint
    finally:
        server.stop()


def mixed_batch(processor) -> dict:
    """One understanding, one text and two generation samples."""
    conversation = [{"role": "User", "content": f"{IMAGE_TOKEN}\nWhat color is the circle?"},
                    {"role": "Assistant", "content": "a red circle"}]
    pixels = processor.preprocess_images([Image.new("RGB", (64, 64), (220, 20, 20))])
    und = dict(vars(processor.pad_sequences([processor.encode_conversation(conversation)], pixels, "right")))
    text = dict(vars(processor.pad_sequences([processor.encode_conversation(
        [{"role": "User", "content": "hi"}, {"role": "Assistant", "content": "two blue squares"}])], None, "right")))
    prefix = processor.encode_generation_prompts(["a red circle", "a blue star"])
    gen = {"prefix_ids": prefix.input_ids, "prefix_attention": prefix.attention_mask,
           "pixel_values": torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1}
    return {"und": und, "text": {k: v for k, v in text.items() if k in ("input_ids", "attention_mask", "labels")},
            "gen": gen}
