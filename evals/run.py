"""Evaluates one variant's checkpoint on its profile's benchmark set: what ``python -m evals.cli`` and the
pipeline's benchmark stage run.

Under ``<evaluation.out>``: ``prompts/`` (the prompt sets), ``reference/`` (the FID reference, prepared once, and
its cached features), and per run (a variant trained from one seed, ``<variant>/seed<seed>``) ``<run>/generation/``,
``<run>/understanding/<benchmark>/`` (with ``shuffled/``: the same questions asked with other images, the control
every understanding number is read against), ``<run>/sweep/`` and ``<run>/metrics.json`` (every number, plus a
flat ``summary`` for tables).
A variant that never trained a task (D: no generation, E: no understanding) is not evaluated on it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from transformers import AutoTokenizer

from data.publish import atomic_file, claim, output_lock, write_atomic
from data.shapes.detector import detect, ground_truth_agreement
from data.shapes.scene import Scene
from evals.catalog import summary_keys
from evals.checkpoint import fingerprint
from evals.generation.alignment import paper_clip_score, tiny_clip_score
from evals.generation.bounds import generation_bounds
from evals.generation.fid import (
    Extractor,
    encoder_extractor,
    folder_features,
    image_files,
    inception_extractor,
    prepare_folder,
)
from evals.generation.harness import SampleSettings
from evals.generation.layouts import IMAGES_PER_PROMPT
from evals.generation.prompt_sets import PromptSets, build_prompt_sets
from evals.generation.runner import Alignment, Scorers, evaluate_generation, sweep
from evals.heldout import read_eval
from evals.understanding.questions import Question
from evals.understanding.runner import evaluate
from evals.understanding.shapes_sets import shapes_questions
from evals.understanding.shuffled import shuffled_images
from evals.understanding.standard_sets import standard_questions
from janusflow.foundations.codec import profile_codec
from janusflow.foundations.corpus import load_heldout
from janusflow.foundations.metrics import detected_exactly, psnr
from janusflow.foundations.siglip import SiglipDualEncoder
from janusflow.foundations.vae import reconstruct
from janusflow.pipeline import JanusFlowPipeline
from janusflow.vae import load_vae
from settings.data import DataSettings
from settings.evaluation import SHAPES, TINY_ENCODER, EvalSettings
from settings.foundations import FoundationSettings
from settings.layout import SCENES, HeldoutLayout
from settings.params import Params, Profile, as_params
from settings.provenance import code_version
from settings.run import RunKey
from settings.training import Variant
from settings.typed import SettingsError


@dataclass
class EvalRun:
    """The evaluation of one profile's runs."""

    params: Params
    profile: Profile

    @classmethod
    def from_params(cls, params: Params | str | Path, profile: str | None) -> EvalRun:
        """``params``: parsed, or a params file; ``profile`` None: the file's own."""
        params = as_params(params)
        return cls(params, params.select(profile))

    @property
    def profile_name(self) -> str:
        return self.profile.name

    @property
    def settings(self) -> EvalSettings:
        return self.profile.evaluation

    @property
    def data(self) -> DataSettings:
        return self.profile.data

    @property
    def seed(self) -> int:
        return self.profile.seed

    @property
    def heldout(self) -> HeldoutLayout:
        return self.data.layout.world.heldout

    @property
    def eval_dir(self) -> Path:
        return self.heldout.root

    def variant(self, name: str) -> Variant:
        return self.params.variant(name)

    @property
    def seeds(self) -> list[int]:
        return list(self.params.seeds)

    def checkpoint_path(self, run: RunKey) -> Path:
        return self.profile.training.layout.export(run)

    def sample_settings(self) -> SampleSettings:
        """The top-level sampling with the evaluation's explicit overrides (``evaluation.generation.sampling``)."""
        g = self.settings.generation
        sampling = self.params.sampling.with_overrides(g.sampling, f"profiles.{self.profile_name}.evaluation."
                                                                   "generation.sampling")
        return SampleSettings(steps=sampling.steps, cfg_weight=sampling.cfg_weight, seed=g.seed,
                              images_per_prompt=IMAGES_PER_PROMPT, batch_size=g.batch_size, template=sampling.template)

    @cached_property
    def prompt_sets(self) -> PromptSets:
        world = self.data.shapes_world
        return build_prompt_sets(self.settings.generation, self.eval_dir, self.settings.layout.prompts, self.seed,
                                 world.max_objects if world else 4)

    def _tiny_encoder(self) -> tuple[SiglipDualEncoder, Any]:
        foundations = self.profile.foundations
        if not isinstance(foundations, FoundationSettings):
            raise SettingsError(f"profile {self.profile_name} scores with the tiny encoder, which only a tiny-model "
                                "profile trains; set evaluation.generation.feature_model and alignment_model.")
        encoder = SiglipDualEncoder.from_pretrained(foundations.directory("encoder"))
        return encoder, AutoTokenizer.from_pretrained(foundations.directory("tokenizer"), local_files_only=True)

    def extractor(self) -> Extractor:
        g = self.settings.generation
        if g.feature_model == TINY_ENCODER:
            return encoder_extractor(self._tiny_encoder()[0], self.settings.device)
        if not g.inception_dir:
            raise FileNotFoundError("evaluation.generation.inception_dir is not set; point it at the folder that "
                                    "holds clean-fid's inception-2015-12-05.pt.")
        return inception_extractor(g.inception_dir, self.settings.device)

    def alignment(self) -> Alignment:
        g = self.settings.generation
        if g.alignment_model == TINY_ENCODER:
            encoder, tokenizer = self._tiny_encoder()
            return lambda paths, prompts: tiny_clip_score(encoder, tokenizer, paths, prompts)
        if not g.clip_dir:
            raise FileNotFoundError("evaluation.generation.clip_dir is not set; point it at a local copy of "
                                    "openai/clip-vit-large-patch14 (transformers layout).")
        return lambda paths, prompts: paper_clip_score(g.clip_dir, paths, prompts, self.settings.device)

    def reference_features(self, extractor: Extractor, progress: bool = True) -> np.ndarray:
        """The FID reference, GigaGAN-prepared at the evaluation resolution; features cached beside it and
        recomputed when the prepared files or the extractor's weights change."""
        g = self.settings.generation
        if not g.fid_reference:
            raise FileNotFoundError("evaluation.generation.fid_reference is not set; point it at the real images.")
        folder = self.settings.layout.reference / f"{Path(g.fid_reference).name}_{g.resolution}px"
        prepare_folder(g.fid_reference, folder, g.resolution, progress)
        files = image_files(folder)
        digest = hashlib.sha256("\n".join(f"{p.name}:{p.stat().st_size}" for p in files).encode()).hexdigest()[:16]
        cache = folder.parent / f"{folder.name}.{extractor.cache_key}.{digest}.npy"
        if cache.is_file():
            try:
                return np.load(cache)
            except (OSError, ValueError) as error:   # damaged: recompute rather than trust it
                print(f"{cache} is unreadable ({error}); computing the reference features again.")
        features = folder_features(folder, extractor, self.settings.device, progress=progress)
        with atomic_file(cache) as partial:
            np.save(partial, features)
        return features

    def scorers(self, progress: bool = True) -> Scorers:
        extractor = self.extractor()
        return Scorers(extractor=extractor, reference=self.reference_features(extractor, progress),
                       alignment=self.alignment(), judge_here=self.settings.generation.geneval_prompts == SHAPES,
                       device=self.settings.device)

    def questions(self, benchmark: str) -> list[Question]:
        u = self.settings.understanding
        if u.sets == SHAPES:
            return shapes_questions(benchmark, self.eval_dir, u.questions, self.seed)
        return standard_questions(benchmark, u.sets, u.questions)

    def fid_scenes(self) -> list[dict]:
        """The scene graphs of the FID prompts (held-out short captions), in prompt order."""
        scenes = {row["id"]: row["scene"] for row in read_eval(self.eval_dir, SCENES)}
        return [scenes[row["id"]] for row in self.prompt_sets.fid]

    def detector_check(self) -> dict:
        """The detector on the held-out ground-truth renders (the tiny profile's judge must be right there)."""
        rows = read_eval(self.eval_dir, SCENES)
        found, truths, side = [], [], 0
        for row in rows:
            with Image.open(self.heldout.images / row["image"]) as image:
                found.append(detect(image))
                side = image.width
            truths.append(Scene.from_dict(row["scene"]).objects)
        return ground_truth_agreement(truths, found, side)


def vae_ceiling(run: EvalRun, vae: str | Path) -> dict:
    """What one VAE lets generation be judged to draw on ``run``'s prompts: the PSNR and the detector's exact reads
    of its held-out reconstructions (as its foundation reports them), and the ``through_vae`` bounds; images under
    ``<out>/vae_ceiling/<vae folder name>/``."""
    codec, heldout = load_vae(vae), load_heldout(run.data.paths.raw)
    reconstruction = reconstruct(codec.vae, heldout.images)
    through = generation_bounds(run.prompt_sets, run.fid_scenes(), run.scorers(progress=False), codec,
                                run.settings.out / "vae_ceiling" / Path(vae).name,
                                run.settings.generation.resolution, run.seed)["through_vae"]
    return {"vae": str(vae), "heldout_psnr_db": round(psnr(reconstruction, heldout.images), 3),
            "heldout_detected_exactly": round(detected_exactly(reconstruction, heldout.scenes), 4), **through}


def summary(generation: dict | None, understanding: dict[str, dict]) -> dict[str, float | None]:
    """The headline numbers, flat, for tables and DVC metrics (None where the variant was not evaluated)."""
    flat: dict[str, float | None] = dict.fromkeys(summary_keys())
    if generation:
        flat["geneval_overall"] = generation["geneval"].get("overall")
        flat["dpg_score"] = generation["dpg"].get("dpg_score")
        flat.update({k: generation["fid"].get(k) for k in ("fid", "kid", "clip_score", "clip_cosine")})
    for benchmark, metrics in understanding.items():
        flat[benchmark] = metrics["score"]
        flat[f"{benchmark}_shuffled"] = metrics["shuffled"]["score"]
        if benchmark == "pope":
            flat["pope_accuracy"] = metrics["accuracy"]
    return flat


def evaluate_variant(run: EvalRun, variant_name: str, checkpoint: str | Path | None = None, with_sweep: bool = False,
                     progress: bool = True, seed: int | None = None) -> dict:
    """Every benchmark of the profile for one run (``variant_name`` trained from ``seed``, default the first of
    ``seeds``), and the sweeps when asked or when the variant is in ``sweep_variants`` (first seed only); writes
    ``<out>/<variant>/seed<seed>/metrics.json`` and its summary ``<out>/metrics/<variant>/seed<seed>.json``."""
    variant = run.variant(variant_name)
    key = run.params.run(variant.name, seed)
    with_sweep = with_sweep or (variant.name in run.settings.generation.sweep_variants and key.seed == run.seeds[0])
    path = Path(checkpoint) if checkpoint else run.checkpoint_path(key)
    started = time.perf_counter()
    files = run.settings.layout
    root = files.run_dir(key)
    with output_lock(root):   # a second evaluation of the same run refuses to start instead of mixing files
        loaded = JanusFlowPipeline.from_pretrained(path, profile_codec(run.profile), run.settings.device)
        weights = fingerprint(path)
        # results of other weights are removed: a retrained checkpoint is evaluated afresh, not resumed
        if claim(root, files.checkpoint_record(key), {"fingerprint": weights}, "discard") and progress:
            print(f"{root} held results of other weights; evaluating the new checkpoint from scratch.")
        generation = None
        understanding: dict[str, dict] = {}
        sweep_rows = None
        if "gen" in variant.tasks:
            scorers = run.scorers(progress)
            generation = evaluate_generation(loaded.sampler(), str(path), run.prompt_sets, run.sample_settings(),
                                             scorers, files.generation(key).root, progress=progress)
            if scorers.judge_here:
                generation["detector"] = run.detector_check()
                generation["bounds"] = generation_bounds(run.prompt_sets, run.fid_scenes(), scorers, loaded.codec,
                                                         files.generation(key).bounds,
                                                         run.settings.generation.resolution, run.seed)
            if with_sweep:
                g = run.settings.generation
                sweep_rows = sweep(loaded.sampler(), str(path), run.prompt_sets, run.sample_settings(), scorers,
                                   files.sweep(key), cfg_weights=g.sweep_cfg_weights, steps=g.sweep_steps,
                                   prompts=g.sweep_prompts, progress=progress)
        if "und" in variant.tasks:
            u = run.settings.understanding
            for benchmark in u.benchmarks:
                folder, questions = files.understanding(key, benchmark), run.questions(benchmark)
                asked = [evaluate(loaded, benchmark, these, where, batch_size=u.batch_size,
                                  max_new_tokens=u.max_new_tokens, answer_suffix=u.answer_suffix,
                                  choice_suffix=u.choice_suffix, progress=progress)
                         for these, where in ((questions, folder), (shuffled_images(questions), folder / "shuffled"))]
                understanding[benchmark] = {**asked[0], "shuffled": asked[1]}
        result = {"variant": variant.name, "seed": key.seed, "description": variant.description,
                  "tasks": list(variant.tasks),
                  "profile": run.profile_name, "checkpoint": str(path), "checkpoint_fingerprint": weights,
                  "benchmark_set": "shapes world" if run.settings.understanding.sets == SHAPES else "standard",
                  "fid_extractor": generation["fid"]["extractor"] if generation else None,
                  "summary": summary(generation, understanding), "generation": generation,
                  "understanding": understanding, "sweep": sweep_rows,
                  "seconds": round(time.perf_counter() - started, 2), "code_version": code_version()}
        write_atomic(files.metrics(key), json.dumps(result, indent=1) + "\n")
        write_atomic(files.summary(key), json.dumps({**result["summary"], "seconds": result["seconds"]}, indent=1)
                     + "\n")
        return result
