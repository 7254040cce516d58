"""Variants A-F, stage settings and freezing rules, and microbatch splitting: read from params.yaml, checked,
and exact."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import parsed, repo_params
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

from janusflow.config import official_janusflow_1_3b_config, tiny_janusflow_config
from janusflow.modeling import JanusFlowModel
from janusflow.training.microbatches import split_batch
from janusflow.training.stages import set_trainable
from janusflow.training.variants import variant_model_config
from settings.params import load_params
from settings.training import MixturePhase, Variant
from settings.typed import SettingsError

REPO_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


@pytest.fixture(scope="module")
def params():
    return load_params(REPO_PARAMS)


def test_variants_are_the_papers_table_5(params):
    variants = params.variants
    assert list(variants) == ["A", "B", "C", "D", "E", "F"]
    assert [v.repa for v in variants.values()] == [False, True, True, True, True, True]
    assert [v.und_encoder for v in variants.values()] == [
        "siglip", "shared_generation", "separate_generation", "siglip", "none", "siglip"]
    assert variants["D"].tasks == ("und",) and variants["E"].tasks == ("gen",)
    assert variants["F"].tasks == ("und", "gen", "text")


def test_variant_model_configs(params):
    base = tiny_janusflow_config(vocab_size=300, hidden=32, heads=4, layers=2, max_positions=256)
    torch.manual_seed(0)
    a = JanusFlowModel(variant_model_config(params.variant("A"), base))
    c = JanusFlowModel(variant_model_config(params.variant("C"), base))
    assert a.repa_head is None and c.repa_head is not None
    assert c.config.to_dict()["und_encoder_source"] == "separate_generation"
    assert "und_encoder_source" not in a.config.to_dict()  # the released layout, unchanged
    # C's understanding encoder has the generation encoder's architecture and initial weights
    assert all(torch.equal(x, y) for x, y in zip(c.vision_und_latent_enc_model.state_dict().values(),
                                                 c.vision_gen_enc_model.state_dict().values()))
    assert c.vision_und_latent_enc_model is not c.vision_gen_enc_model
    latents = torch.randn(2, 4, 16, 16)
    assert c.understanding_image_embeddings(torch.zeros(2, 3, 64, 64), latents).shape == (2, 64, 32)
    with pytest.raises(ValueError, match="reads the images' VAE latents; pass latents="):
        c.understanding_image_embeddings(torch.zeros(2, 3, 64, 64))
    e = JanusFlowModel(variant_model_config(params.variant("E"), base))
    with pytest.raises(ValueError, match="no understanding encoder"):
        e.understanding_image_embeddings(torch.zeros(1, 3, 64, 64))


def test_bad_variants_name_the_fix(params):
    with pytest.raises(SettingsError, match=r"unknown variant 'G'; params.yaml defines \['A', 'B', 'C', 'D', 'E', 'F'\]"):
        params.variant("G")
    bad = {**repo_params(), "variants": {"X": {"description": "", "repa": True, "und_encoder": "siglip",
                                                "tasks": ["und"], "lr": 1}}}
    with pytest.raises(SettingsError, match=r"variants.X has unknown key\(s\) \['lr'\].*valid keys are"):
        parsed(bad)
    bad = {**repo_params(), "variants": {"X": {"description": "", "repa": True, "und_encoder": "none",
                                                "tasks": ["und"]}}}
    with pytest.raises(SettingsError, match="trains on understanding data but has und_encoder 'none'"):
        parsed(bad)


def test_stage_settings_and_variant_shares(params):
    tiny, paper = params.select("tiny"), params.select("paper")
    stage2 = paper.stage("stage2")
    assert (stage2.learning_rate, stage2.warmup_steps, stage2.steps, stage2.batch_size) == (1e-4, 2000, 380000, 512)
    assert [(s, e) for s, e, _ in stage2.phase_bounds()] == [(0, 10000), (10000, 380000)]
    assert paper.stage("stage3").learning_rate == 2e-5 and paper.stage("stage1").trainable == "new_parts"
    # D trains the und share of every phase, E the gen share: 30% / 14% and 50% / 80% of the paper's stage 2
    d = stage2.for_variant(params.variant("D"))
    assert d.steps == 3000 + 51800 and d.mixture == (MixturePhase({"und": 30.0}, 3000), MixturePhase({"und": 14.0}))
    e = stage2.for_variant(params.variant("E"))
    assert e.steps == 5000 + 296000 and e.warmup_steps == round(2000 * e.steps / 380000)
    assert stage2.for_variant(params.variant("F")) == stage2
    with pytest.raises(SettingsError, match="stage1's mixture has no data for variant X"):
        tiny.stage("stage1").for_variant(Variant(name="X", description="", repa=True, und_encoder="siglip",
                                                 tasks=("text",)))
    broken = repo_params()
    broken["profiles"]["tiny"]["stages"]["stage1"]["speed"] = 3
    with pytest.raises(SettingsError, match=r"stages.stage1 has unknown key\(s\) \['speed'\]"):
        parsed(broken)
    assert paper.training.parallelism == "fsdp"
    assert tiny.training.parallelism_config() is None
    broken = repo_params()
    broken["profiles"]["tiny"]["training"]["lr"] = 1
    with pytest.raises(SettingsError, match=r"training has unknown key\(s\) \['lr'\]"):
        parsed(broken)


def test_fsdp_computes_in_bf16_but_keeps_buffers_and_gradient_sums_in_fp32():
    """The paper profile's FSDP, as Composer reads it: bf16 parameters for compute, fp32 gradient reduction and
    buffers. Composer's PURE would also round the rotary frequencies to bf16, which moves late positions' phases."""
    from composer.distributed.mosaic_parallelism import get_mixed_precision

    settings = load_params(REPO_PARAMS).select("paper").training
    fsdp = settings.parallelism_config()["fsdp"]
    assert (fsdp["sharding_strategy"], fsdp["use_orig_params"], fsdp["activation_checkpointing"],
            fsdp["activation_checkpointing_reentrant"]) == ("FULL_SHARD", True, True, False)
    mixed, *_ = get_mixed_precision(settings.precision, fsdp["mixed_precision"])
    assert (mixed.param_dtype, mixed.reduce_dtype, mixed.buffer_dtype) == (torch.bfloat16, torch.float32,
                                                                           torch.float32)
    inv_freq = LlamaRotaryEmbedding(official_janusflow_1_3b_config().llama_config()).inv_freq
    assert (700 * inv_freq.bfloat16().float() - 700 * inv_freq).abs().max() > 0.5  # radians at position 700


def test_fsdp2_shards_per_parameter_in_bf16_and_takes_compiled_layers():
    """``parallelism: fsdp2`` is Composer's FSDP2Config with the same bf16 compute and fp32 reduction; compiled
    decoder layers are refused under FSDP1, whose accumulated sharded gradients they cannot take, and channels-last
    weights under FSDP2, which shards contiguous parameters only."""
    from composer.distributed.fsdp2 import create_mixed_precision_policy
    from composer.utils.parallelism import FSDP2Config

    raw = repo_params()
    paper = raw["profiles"]["paper"]["training"]
    paper["parallelism"], paper["speed"]["compile_layers"] = "fsdp2", True
    settings = parsed(raw).select("paper").training
    config = settings.parallelism_config()["fsdp"]
    assert isinstance(config, FSDP2Config)
    assert (config.activation_checkpointing, config.state_dict_type) == (True, "full")
    policy = create_mixed_precision_policy(settings.precision, config.mixed_precision)
    assert (policy.param_dtype, policy.reduce_dtype) == (torch.bfloat16, torch.float32)
    paper["parallelism"] = "fsdp"
    with pytest.raises(SettingsError, match="compile_layers is true under parallelism fsdp; .* Set parallelism: fsdp2"):
        parsed(raw)
    paper["parallelism"], paper["speed"]["compile_layers"], paper["speed"]["channels_last"] = "fsdp2", False, True
    with pytest.raises(SettingsError, match="channels_last is true under parallelism fsdp2, which cannot shard"):
        parsed(raw)


def test_freezing_rules_per_stage():
    model = JanusFlowModel(tiny_janusflow_config(vocab_size=300, hidden=32, heads=4, layers=2, max_positions=256))

    def trainable(name: str) -> bool:
        part = getattr(model, name)
        return all(p.requires_grad for p in ([part] if isinstance(part, torch.nn.Parameter) else part.parameters()))

    set_trainable(model, "new_parts")
    assert not trainable("language_model") and not trainable("vision_und_enc_model")
    assert all(trainable(n) for n in ("vision_gen_enc_model", "vision_gen_dec_model", "vision_und_enc_aligner",
                                      "beg_of_und_embed", "repa_head", "vision_gen_dec_aligner_norm"))
    set_trainable(model, "all_but_understanding_encoder")
    assert trainable("language_model") and not trainable("vision_und_enc_model") and trainable("repa_head")
    assert set_trainable(model, "all")[-1] == "beg_of_und_embed" and trainable("vision_und_enc_model")


def test_microbatches_keep_every_data_type_and_their_images():
    und_rows, gen_rows, text_rows = 4, 3, 2
    begin = torch.zeros(und_rows, 6, dtype=torch.bool)
    begin[:, 0] = True
    begin[1, 3] = True  # the second sequence holds two images
    batch = {
        "tasks": ["und"] * und_rows + ["gen"] * gen_rows + ["text"] * text_rows,
        "counts": {"und": und_rows, "gen": gen_rows, "text": text_rows},
        "und": {"input_ids": torch.arange(24).view(4, 6), "attention_mask": torch.ones(4, 6),
                "labels": torch.zeros(4, 6), "image_token_mask": torch.zeros(4, 6, dtype=torch.bool),
                "image_begin_mask": begin, "pixel_values": torch.arange(5.0).view(5, 1)},
        "gen": {"prefix_ids": torch.arange(3)[:, None], "prefix_attention": torch.ones(3, 1),
                "pixel_values": torch.arange(3.0), "captions": ["a", "b", "c"]},
        "text": {"input_ids": torch.zeros(2, 3), "attention_mask": torch.ones(2, 3), "labels": torch.zeros(2, 3)},
    }
    assert split_batch(batch, 9) == [batch]
    first, second = split_batch(batch, 5)
    assert first["counts"] == {"und": 2, "gen": 2, "text": 1} and second["counts"] == {"und": 2, "gen": 1, "text": 1}
    assert first["und"]["pixel_values"].flatten().tolist() == [0, 1, 2]  # rows 0 and 1: one image, then two
    assert second["und"]["pixel_values"].flatten().tolist() == [3, 4]
    assert first["gen"]["captions"] == ["a", "b"] and second["gen"]["prefix_ids"].flatten().tolist() == [2]
    assert len(first["tasks"]) + len(second["tasks"]) == 9
