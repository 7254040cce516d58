"""params.yaml ``profiles.<p>.evaluation``: which benchmark sets, how many samples, which feature and alignment
models, and any departure from the top-level ``sampling`` (``generation.sampling``, empty to sample as it says).

A prompt or question source is either ``shapes`` (the tiny profile's sets, made from the held-out scenes of the
shapes world) or a path to the real benchmark's file(s) (the paper profile).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from settings.layout import EvalLayout

SHAPES = "shapes"
TINY_ENCODER = "tiny_encoder"
FeatureModel = Literal["tiny_encoder", "inception"]
AlignmentModel = Literal["tiny_encoder", "clip"]
UnderstandingBenchmark = Literal["vqa", "pope", "mmbench", "vqav2", "gqa"]
UNDERSTANDING_BENCHMARKS: tuple[str, ...] = get_args(UnderstandingBenchmark)


@dataclass(frozen=True)
class GenerationEval:
    sampling: dict[Literal["steps", "cfg_weight", "template"], Any]   # overrides of the top-level sampling
    seed: int
    batch_size: int
    geneval_prompts: str               # shapes, or geneval_evaluation_metadata.jsonl
    geneval_per_tag: int               # shapes-world prompts per GenEval task
    dpg_prompts: str                   # shapes, or dpg_bench_prompts.jsonl (judged externally)
    dpg_items: int                     # shapes-world long prompts
    fid_prompts: str                   # shapes, or MJHQ-30K's meta_data.json
    fid_reference: str                 # folder of real images (tiny: the held-out renders)
    fid_images: int
    resolution: int                    # evaluation resolution (GigaGAN protocol)
    feature_model: FeatureModel        # FID/KID features
    inception_dir: str | None          # clean-fid's inception-2015-12-05.pt, for inception
    alignment_model: AlignmentModel    # CLIPScore's model
    clip_dir: str | None               # CLIP ViT-L/14 in transformers layout, for clip
    sweep_cfg_weights: tuple[float, ...]
    sweep_steps: tuple[int, ...]
    sweep_prompts: int                 # FID prompts per sweep point (GenEval: one image per prompt)
    sweep_variants: tuple[str, ...]    # variants swept by default (the paper sweeps its final model)


@dataclass(frozen=True)
class UnderstandingEval:
    sets: str                                   # shapes, or a directory with the standard files
    benchmarks: tuple[UnderstandingBenchmark, ...]
    questions: int | None                       # per benchmark (per POPE split); null: all
    batch_size: int
    max_new_tokens: int
    answer_suffix: str                          # appended to short-answer questions (LLaVA's for the paper)
    choice_suffix: str                          # appended to multiple-choice questions


@dataclass(frozen=True)
class EvalSettings:
    out: Path
    device: str
    external_judges: dict[str, str]   # judge -> command ({images}, {results}); empty: judged inside the evaluation
    generation: GenerationEval
    understanding: UnderstandingEval

    @property
    def layout(self) -> EvalLayout:
        return EvalLayout(self.out)
