"""Builds one of the tiny profile's foundations from the data lineage into a staging folder, records its
metrics and gate verdict, and publishes it whole: what the foundations command and the Dagster assets run.

    tokenizer   byte-level BPE             -> <out>/tokenizer
    llm         LlamaForCausalLM           -> <out>/llm        (needs the tokenizer)
    encoder     SigLIP-style dual encoder  -> <out>/encoder    (needs the tokenizer)
    vae         AutoencoderKL              -> <out>/vae
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerBase

from data.publish import publishing
from data.shapes.alt_text import alt_text_batches
from janusflow.config import JanusFlowConfig, tiny_config
from janusflow.foundations.corpus import HeldOut, load_heldout, training_pairs, training_texts
from janusflow.foundations.gates import gate_failures
from janusflow.foundations.language_model import pretrain_language_model
from janusflow.foundations.reading import SceneReading, SlotWords, heldout_reading, reading_batches
from janusflow.foundations.siglip import TextTowerSpec, train_siglip
from janusflow.foundations.tokenizer import build_tokenizer
from janusflow.foundations.vae import train_vae
from janusflow.processor import JanusFlowProcessor
from settings.foundations import FOUNDATIONS, FoundationSettings
from settings.layout import METRICS
from settings.params import Profile
from settings.provenance import code_version
from settings.typed import SettingsError

HELD_OUT_READING = 800   # held-out VQA questions the LLM's reading accuracy is measured on


class BuildContext:
    """Everything a builder reads: data paths, foundation settings, the model sizes of the profile."""

    def __init__(self, profile: Profile, progress: bool) -> None:
        if not isinstance(profile.foundations, FoundationSettings) or not profile.tiny:
            raise SettingsError(f"profile {profile.name} loads pretrained foundations (foundations.llm, encoder, vae); "
                                "only a tiny-model profile builds them here.")
        self.data, self.settings, self.model = profile.data, profile.foundations, profile.model
        self.progress = progress

    def tokenizer(self) -> PreTrainedTokenizerBase:
        directory = self.settings.directory("tokenizer")
        if not (directory / "tokenizer.json").is_file():
            raise FileNotFoundError(f"no tokenizer in {directory}; build it first: python -m janusflow.foundations.cli tokenizer")
        return AutoTokenizer.from_pretrained(directory)

    def config(self, vocab_size: int) -> JanusFlowConfig:
        return tiny_config(self.model, vocab_size)

    def scene_reading(self, tokenizer: PreTrainedTokenizerBase, heldout: HeldOut) -> SceneReading | None:
        """The LLM's scene reading, in the model's chat layout: training scenes of the shapes world, and the
        first ``HELD_OUT_READING`` held-out VQA questions; None when the settings ask for none."""
        reading = self.settings.llm.reading
        if not reading.batch_size:
            return None
        if self.data.shapes_world is None:
            raise SettingsError("foundations.llm.reading needs the profile's data.shapes_world section; set its "
                                "batch_size to 0 for a text-only LLM.")
        processor = JanusFlowProcessor.for_model(tokenizer, self.config(len(tokenizer)))
        held = heldout_reading(dict(zip(heldout.scene_ids, heldout.scenes)), heldout.questions[:HELD_OUT_READING],
                               processor)
        return SceneReading(reading_batches(self.data.shapes_world, processor, reading.batch_size, reading.curriculum),
                            held, SlotWords.of(tokenizer))


def build(name: str, ctx: BuildContext, out: Path) -> dict:
    """Train foundation ``name`` into ``out``; returns its metrics."""
    shards, cache, raw = ctx.data.shard_source(), ctx.data.paths.cache, ctx.data.paths.raw
    s = ctx.settings
    if name == "tokenizer":
        heldout = load_heldout(raw)
        return build_tokenizer(training_texts(shards, cache), heldout.captions + heldout.qa_texts, s.tokenizer.vocab_size, out)
    if name == "llm":
        tokenizer, heldout = ctx.tokenizer(), load_heldout(raw)
        config = ctx.config(len(tokenizer)).llama_config()
        config.initializer_range = s.llm.initializer_range
        return pretrain_language_model(config, tokenizer, training_texts(shards, cache),
                                       heldout.captions + heldout.qa_texts, s.llm.training, s.llm.sequence_length, out,
                                       ctx.progress, ctx.scene_reading(tokenizer, heldout))
    if name == "encoder":
        tokenizer, heldout = ctx.tokenizer(), load_heldout(raw)
        if ctx.data.shapes_world is None:
            raise SettingsError("the encoder foundation pretrains on the shapes world's alt-text stream; this profile "
                                "has no data.shapes_world section (the paper profile loads SigLIP weights instead).")
        spec = ctx.config(len(tokenizer)).und_encoder_spec()
        world = replace(ctx.data.shapes_world, resolution=spec.image_size)
        pairs = alt_text_batches(world, s.encoder.training.batch_size, spec.image_size // spec.patch_size)
        tower = TextTowerSpec(vocab_size=len(tokenizer), **asdict(s.encoder.text_tower))
        return train_siglip(spec, tower, tokenizer, pairs,
                            heldout.images, heldout.scenes, s.encoder.training, out, ctx.progress)
    if name == "vae":
        images, _ = training_pairs(shards, cache)
        heldout = load_heldout(raw)
        return train_vae(images, heldout.images, heldout.scenes, s.vae.channels, s.vae.kl_weight, s.vae.training, out,
                         ctx.progress, object_weight=s.vae.object_weight)
    raise ValueError(f"unknown foundation {name!r}; use one of {list(FOUNDATIONS)}.")


def record(name: str, metrics: dict, ctx: BuildContext, out: Path) -> list[str]:
    """Write metrics.json with the gate verdict into ``out``; return the gate failures."""
    failures = gate_failures(metrics, ctx.settings.gates.get(name, {}), name)
    training = ctx.settings.training(name)
    report = {"foundation": name, "metrics": metrics, "gates": ctx.settings.gates.get(name, {}),
              "passed": not failures, "failures": failures,
              "training": asdict(training) if training else None, "code_version": code_version()}
    (out / METRICS).write_text(json.dumps(report, indent=1))
    return failures


def publish(name: str, ctx: BuildContext) -> tuple[dict, list[str]]:
    """Build foundation ``name`` in a staging folder and publish it with its metrics and gate verdict (a failed
    gate is published too, so that its numbers can be read; the command then exits 1 and the lineage stops there);
    returns (metrics, failures)."""
    with publishing(ctx.settings.directory(name)) as staging:
        metrics = build(name, ctx, staging)
        failures = record(name, metrics, ctx, staging)
    return metrics, failures
