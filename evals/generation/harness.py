"""The sampling harness: images for a prompt set, batched, resumable, in the folder layouts evaluators read.

A run folder holds ``run.json`` (checkpoint, steps, CFG weight, seed, prompt count), the GenEval layout
(``geneval/<index:05d>/metadata.jsonl`` + ``samples/<k:05d>.png``) and a flat folder for FID
(``flat/<index:05d>_<k:02d>.png``). Image ``k`` of prompt ``index`` always has seed ``seed + index * n + k``
(``n`` images per prompt), and the sampler gives every image its own noise generator, so an image does not depend
on the batch it was drawn in (beyond float rounding: at most 1/255 per pixel): a run stopped anywhere and started
again skips the finished images and ends with the same images. Each PNG is written to a temporary name and renamed, so a killed run never leaves a half-written
image that would count as done. Reusing a folder with different settings is refused rather than mixed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image
from tqdm.auto import tqdm

from data.publish import atomic_file, claim
from evals.generation.layouts import geneval_sample_paths
from janusflow.sampling import FlowSampler

RUN_FILE = "run.json"


@dataclass(frozen=True)
class SampleSettings:
    """How a benchmark's images are drawn: the sampling settings (params.yaml ``sampling`` with the evaluation's
    overrides), the first seed, the images per prompt and the batch size."""

    steps: int
    cfg_weight: float
    seed: int
    images_per_prompt: int
    batch_size: int
    template: str

    def identity(self) -> dict:
        """What decides the images (the batch size does not: every image has its own noise)."""
        return {k: v for k, v in asdict(self).items() if k != "batch_size"}


@dataclass(frozen=True)
class ImageJob:
    prompt: str
    seed: int
    paths: tuple[Path, ...]   # the same image goes to every path (GenEval layout and flat folder)

    @property
    def done(self) -> bool:
        return all(path.is_file() for path in self.paths)


def prompt_jobs(rows: Sequence[dict], root: Path, settings: SampleSettings, geneval_layout: bool = True) -> list[ImageJob]:
    """One job per (prompt, k): to ``geneval/`` (when ``geneval_layout``) and ``flat/``; rows need ``prompt``."""
    n = settings.images_per_prompt
    (root / "flat").mkdir(parents=True, exist_ok=True)
    jobs = []
    for index, row in enumerate(rows):
        layout = geneval_sample_paths(root / "geneval", index, row, n) if geneval_layout else [None] * n
        for k in range(n):
            paths = (layout[k],) if layout[k] is not None else ()
            jobs.append(ImageJob(row["prompt"], settings.seed + index * n + k,
                                 paths + (root / "flat" / f"{index:05d}_{k:02d}.png",)))
    return jobs


def save_atomically(image: Image.Image, path: Path) -> None:
    with atomic_file(path) as partial:
        image.save(partial, format="PNG")


def run_jobs(sampler: FlowSampler, jobs: Sequence[ImageJob], settings: SampleSettings, progress: bool = True) -> dict:
    """Sample every unfinished job, ``batch_size`` images per call, saving each batch as soon as it is drawn."""
    todo = [job for job in jobs if not job.done]
    started = time.perf_counter()
    with tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="sampling images", unit="img",
              disable=not progress) as bar:
        for start in range(0, len(todo), settings.batch_size):
            batch = todo[start:start + settings.batch_size]
            images = sampler.sample([j.prompt for j in batch], [j.seed for j in batch], steps=settings.steps,
                                    cfg_weight=settings.cfg_weight, template=settings.template).to_pil()
            for job, image in zip(batch, images):
                for path in job.paths:
                    save_atomically(image, path)
            bar.update(len(batch))
    seconds = time.perf_counter() - started
    return {"images": len(jobs), "sampled": len(todo), "skipped": len(jobs) - len(todo),
            "seconds": round(seconds, 2), "images_per_second": round(len(todo) / seconds, 2) if todo else None}


def sample_prompt_set(sampler: FlowSampler, rows: Sequence[dict], root: str | Path, settings: SampleSettings,
                      checkpoint: str, geneval_layout: bool = True, progress: bool = True) -> dict:
    """Claim ``root`` for these settings, then sample what is missing; returns counts and timing."""
    root = Path(root)
    claim(root, root / RUN_FILE, {"checkpoint": str(checkpoint), "prompts": len(rows), **settings.identity()},
          "refuse")
    return run_jobs(sampler, prompt_jobs(rows, root, settings, geneval_layout), settings, progress)
