"""params.yaml ``profiles.<p>.evaluation``: which benchmark sets, how many samples, and the sampling settings.

A prompt or question source is either ``shapes`` (the tiny profile's sets, made from the held-out scenes of the
shapes world) or a path to the real benchmark's file(s) (the paper profile).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from data.settings import SettingsError, check_value, from_section
from janusflow.params import RunKey

SHAPES = "shapes"
TINY_ENCODER = "tiny_encoder"
FEATURE_MODELS = (TINY_ENCODER, "inception")
ALIGNMENT_MODELS = (TINY_ENCODER, "clip")
UNDERSTANDING_BENCHMARKS = ("vqa", "pope", "mmbench", "vqav2", "gqa")


@dataclass(frozen=True)
class GenerationEval:
    steps: int = 30
    cfg_weight: float = 2.0
    seed: int = 0
    batch_size: int = 64
    geneval_prompts: str = SHAPES               # or geneval_evaluation_metadata.jsonl
    geneval_per_tag: int = 8                    # shapes-world prompts per GenEval task
    dpg_prompts: str = SHAPES                   # or dpg_bench_prompts.jsonl (judged externally)
    dpg_items: int = 24                         # shapes-world long prompts
    fid_prompts: str = SHAPES                   # or MJHQ-30K's meta_data.json
    fid_reference: str = ""                     # folder of real images (tiny: the held-out renders)
    fid_images: int = 512
    resolution: int = 64                        # evaluation resolution (GigaGAN protocol)
    feature_model: str = TINY_ENCODER           # FID/KID features: tiny_encoder or inception
    inception_dir: str | None = None            # clean-fid's inception-2015-12-05.pt, for inception
    alignment_model: str = TINY_ENCODER         # CLIPScore: tiny_encoder or clip
    clip_dir: str | None = None                 # CLIP ViT-L/14 in transformers layout, for clip
    sweep_cfg_weights: tuple[float, ...] = (1.0, 2.0, 4.0, 7.5)
    sweep_steps: tuple[int, ...] = (5, 10, 30)
    sweep_prompts: int = 128                    # FID prompts per sweep point (GenEval: one image per prompt)
    sweep_variants: tuple[str, ...] = ("F",)    # variants swept by default (the paper sweeps its final model)


@dataclass(frozen=True)
class UnderstandingEval:
    sets: str = SHAPES                          # or a directory with the standard files (docs/evaluation.md)
    benchmarks: tuple[str, ...] = ("vqa", "pope", "mmbench")
    questions: int | None = 400                 # per benchmark (per POPE split); None: all
    batch_size: int = 32
    max_new_tokens: int = 16
    answer_suffix: str = ""                     # appended to short-answer questions (LLaVA's for the paper)
    choice_suffix: str = ""                     # appended to multiple-choice questions


@dataclass(frozen=True)
class EvalSettings:
    out: Path
    device: str = "cpu"
    generation: GenerationEval = field(default_factory=GenerationEval)
    understanding: UnderstandingEval = field(default_factory=UnderstandingEval)
    external_judges: dict[str, str] = field(default_factory=dict)  # judge -> command ({images}, {results})

    @classmethod
    def from_profile(cls, profile: dict[str, Any]) -> EvalSettings:
        section = dict(profile.get("evaluation") or {})
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(section) - set(valid))
        if unknown:
            raise SettingsError(f"evaluation has unknown key(s) {unknown}; valid keys are {valid}.")
        if "out" not in section:
            raise SettingsError("evaluation.out is missing: the folder that receives samples and metrics.")
        understanding = from_section(UnderstandingEval, section.get("understanding"), "evaluation.understanding")
        unknown = sorted(set(understanding.benchmarks) - set(UNDERSTANDING_BENCHMARKS))
        if unknown:
            raise SettingsError(f"evaluation.understanding.benchmarks names {unknown}; choose from "
                                f"{list(UNDERSTANDING_BENCHMARKS)}.")
        settings = cls(out=Path(section["out"]), device=check_value(section.get("device", "cpu"), str,
                                                                     "evaluation.device"),
                       generation=from_section(GenerationEval, section.get("generation"), "evaluation.generation"),
                       understanding=understanding,
                       external_judges=check_value(section.get("external_judges") or {}, dict[str, str],
                                                   "evaluation.external_judges"))
        if settings.generation.feature_model not in FEATURE_MODELS:
            raise SettingsError(f"evaluation.generation.feature_model is {settings.generation.feature_model!r}; use "
                                f"one of {list(FEATURE_MODELS)}.")
        if settings.generation.alignment_model not in ALIGNMENT_MODELS:
            raise SettingsError(f"evaluation.generation.alignment_model is {settings.generation.alignment_model!r}; "
                                f"use one of {list(ALIGNMENT_MODELS)}.")
        return settings

    def variant_dir(self, run: RunKey) -> Path:
        """One run's samples, answers and ``metrics.json`` (``<out>/<variant>/seed<seed>/``)."""
        return self.out / run.folder

    def judged_dir(self, run: RunKey) -> Path:
        """What the external judges wrote for the run (``<out>/judged/<variant>/seed<seed>/``): its own node."""
        return self.out / "judged" / run.folder

    def summary_path(self, run: RunKey) -> Path:
        """The run's headline numbers alone (``<out>/metrics/<variant>/seed<seed>.json``): DVC's metrics file."""
        return (self.out / "metrics" / run.folder).with_suffix(".json")
