"""Writes the shapes world in the raw formats real sources use, with broken records mixed in.

Layout under ``out``::

    gen/shard-00000.tar        webdataset samples: <key>.png, <key>.txt (caption), <key>.json (metadata)
    und/conversations.json     LLaVA/ShareGPT4V entries {id, image, conversations}; images in und/images/
    text/documents.jsonl       {"id", "text"} per line
    eval/scenes.jsonl          held-out scenes: scene graph, captions, image (eval/images/)
    eval/vqa.jsonl             held-out questions with answers and category
    corruptions.json           every deliberately broken record: source, key, kind, expected outcome
    world.json                 the settings and counts that made this folder

Training scenes and held-out scenes come from disjoint sets of scene signatures (see ``scene.split_of``).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from data.publish import publishing
from data.shapes.captions import caption, detailed_caption, short_caption
from data.shapes.conversations import CATEGORIES, conversation, question
from data.shapes.corruptions import (
    GEN_KINDS,
    INVALID_UTF8,
    TEXT_KINDS,
    UND_KINDS,
    broken_counts,
    broken_image,
    png_bytes,
)
from data.shapes.render import render
from data.shapes.scene import Scene, aesthetic_score, sample_scene, split_of
from data.shapes.text import document
from settings.data import ShapesWorldConfig
from settings.layout import HeldoutLayout, WorldLayout
from settings.provenance import code_version

PURPOSES = {"gen": 1, "und": 2, "text": 3, "eval": 4, "plan": 5, "alt_text": 6, "reading": 7, "alignment": 8}
OVERLONG_REPEAT = 200
OVERLONG_TEXT_CHARS = 20_000


def world_rng(config: ShapesWorldConfig, *purposes: str) -> np.random.Generator:
    """The seeded random stream of ``purposes`` (e.g. ``gen``, ``plan``): each purpose draws independently."""
    return np.random.default_rng([config.seed, *(PURPOSES[p] for p in purposes)])


def scenes(config: ShapesWorldConfig, purpose: str, split: str, count: int | None) -> Iterator[Scene]:
    """``count`` scenes of ``split`` (None: without end), drawn from the purpose's own seeded stream (held-out
    ones never degraded)."""
    rng = world_rng(config, purpose)
    degraded = config.degraded_fraction if split == "train" else 0.0
    made = 0
    while count is None or made < count:
        scene = sample_scene(rng, config.max_objects, degraded)
        if scene.objects and split_of(scene, config.eval_fraction) == split:
            made += 1
            yield scene


def mix_plan(clean: int, kinds: dict[str, str], fraction: float, rng: np.random.Generator) -> list[str | None]:
    """Reading order of a source: None for a clean record, a kind for a broken one; never broken first, so a
    duplicate always has an earlier original."""
    plan: list[str | None] = [None] * clean
    names = list(kinds)
    for index in range(broken_counts(clean, fraction, kinds)):
        plan.insert(int(rng.integers(1, len(plan) + 1)), names[index % len(names)])
    return plan


def _tar_member(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(payload), 0, 0o644
    tar.addfile(info, io.BytesIO(payload))


class _Ledger:
    def __init__(self) -> None:
        self.entries: list[dict[str, str]] = []

    def add(self, source: str, key: str, kind: str, expected: str) -> None:
        self.entries.append({"source": source, "key": key, "kind": kind, "expected": expected})


def generation_members(key: str, scene: Scene, kind: str | None, config: ShapesWorldConfig,
                       rng: np.random.Generator, original: bytes) -> list[tuple[str, bytes]]:
    """The tar members of one sample, broken as ``kind`` (None: clean); ``original`` is what a duplicate copies."""
    image = render(scene, config.resolution)
    text = caption(scene, rng, config.short_caption_fraction)
    meta = {"key": key, "caption": text, "width": image.width, "height": image.height,
            "aesthetic": aesthetic_score(scene, rng), "scene": scene.to_dict()}
    payload, extension, caption_bytes = png_bytes(image), "png", text.encode()
    meta_bytes = None
    if kind in ("empty_caption", "overlong_caption"):
        text = "  \n " if kind == "empty_caption" else " ".join([text] * OVERLONG_REPEAT)
        caption_bytes, meta["caption"] = text.encode(), text
    elif kind == "invalid_utf8":
        caption_bytes = INVALID_UTF8
        del meta["caption"]
    elif kind == "malformed_json":
        meta_bytes = json.dumps(meta).encode()[:40]
    elif kind == "duplicate_image":
        payload = original
    elif kind is not None and kind != "missing_image":
        payload, extension = broken_image(kind, image)
    members = [] if kind == "missing_image" else [(f"{key}.{extension}", payload)]
    return members + [(f"{key}.txt", caption_bytes), (f"{key}.json", meta_bytes or json.dumps(meta).encode())]


def write_generation(config: ShapesWorldConfig, out: Path, ledger: _Ledger, progress: bool) -> int:
    """Webdataset tar shards of (image, caption, metadata) samples, ``samples_per_tar`` per shard."""
    out.mkdir(parents=True, exist_ok=True)
    rng = world_rng(config, "gen")
    plan = mix_plan(config.gen_pairs, GEN_KINDS, config.broken_fraction, world_rng(config, "plan", "gen"))
    stream = scenes(config, "gen", "train", len(plan))
    original = b""
    with tqdm(total=len(plan), desc="shapes world: generation pairs", disable=not progress) as bar:
        for start in range(0, len(plan), config.samples_per_tar):
            name = out / f"shard-{start // config.samples_per_tar:05d}.tar"
            with tarfile.open(name, "w", format=tarfile.USTAR_FORMAT) as tar:
                for position in range(start, min(start + config.samples_per_tar, len(plan))):
                    kind, key, scene = plan[position], f"{position:08d}", next(stream)
                    if kind is not None:  # broken records are otherwise clean: their only fault is the intended one
                        scene = replace(scene, quality=1.0)
                        ledger.add("gen", key, kind, GEN_KINDS[kind])
                    members = generation_members(key, scene, kind, config, rng, original)
                    if kind is None and scene.quality == 1.0:  # a duplicate copies a record that passes every filter
                        original = members[0][1]
                    for member, payload in members:
                        _tar_member(tar, member, payload)
                    bar.update()
    return len(plan)


def write_understanding(config: ShapesWorldConfig, out: Path, ledger: _Ledger, progress: bool) -> int:
    """LLaVA-style conversations.json plus an image folder."""
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = world_rng(config, "und")
    plan = mix_plan(config.conversations, UND_KINDS, config.broken_fraction, world_rng(config, "plan", "und"))
    stream = scenes(config, "und", "train", len(plan))
    entries: list[dict] = []
    last_clean: tuple[bytes, list] = (b"", [])
    for position, kind in enumerate(tqdm(plan, desc="shapes world: conversations", disable=not progress)):
        scene = next(stream)
        key = f"{position:08d}"
        image = render(scene, config.resolution)
        turns = conversation(scene, rng)
        payload, extension = png_bytes(image), "png"
        if kind is not None:
            ledger.add("und", key, kind, UND_KINDS[kind])
            if kind == "empty_answer":
                turns[-1]["value"] = ""
            elif kind == "duplicate_record":
                payload, turns = last_clean[0], [dict(t) for t in last_clean[1]]
            elif kind != "missing_image":
                payload, extension = broken_image(kind, image)
        else:
            last_clean = (payload, [dict(t) for t in turns])
        name = f"{key}.{extension}"
        if kind != "missing_image":
            (images / name).write_bytes(payload)
        entries.append({"id": key, "image": name, "conversations": turns})
    (out / "conversations.json").write_text(json.dumps(entries, indent=1))
    return len(plan)


def write_text(config: ShapesWorldConfig, out: Path, ledger: _Ledger, progress: bool) -> int:
    """One JSON object per line; broken lines are written as raw bytes."""
    out.mkdir(parents=True, exist_ok=True)
    rng = world_rng(config, "text")
    plan = mix_plan(config.text_documents, TEXT_KINDS, config.broken_fraction, world_rng(config, "plan", "text"))
    stream = scenes(config, "text", "train", len(plan))
    lines: list[bytes] = []
    for position, kind in enumerate(tqdm(plan, desc="shapes world: text", disable=not progress)):
        key = f"{position:08d}"
        text = document(next(stream), rng)
        line = json.dumps({"id": key, "text": text}).encode()
        if kind is not None:
            ledger.add("text", key, kind, TEXT_KINDS[kind])
            if kind == "malformed_json":
                line = line[: len(line) // 2]
            elif kind == "invalid_utf8":
                line = b'{"id": "' + key.encode() + b'", "text": "' + INVALID_UTF8 + b'"}'
            elif kind == "empty_text":
                line = json.dumps({"id": key, "text": " \t "}).encode()
            else:
                line = json.dumps({"id": key, "text": " ".join([text] * (OVERLONG_TEXT_CHARS // len(text) + 1))}).encode()
        lines.append(line)
    (out / "documents.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return len(plan)


def write_eval(config: ShapesWorldConfig, out: Path, progress: bool) -> dict[str, int]:
    """Held-out scenes with their captions and one question per category (where the scene allows one)."""
    files = HeldoutLayout(out)
    images = files.images
    images.mkdir(parents=True, exist_ok=True)
    rng = world_rng(config, "eval")
    scene_rows, vqa_rows = [], []
    stream = scenes(config, "eval", "eval", config.eval_scenes)
    for index, scene in enumerate(tqdm(stream, total=config.eval_scenes, desc="shapes world: held-out",
                                       disable=not progress)):
        scene_id = f"eval-{index:06d}"
        name = f"{scene_id}.png"
        (images / name).write_bytes(png_bytes(render(scene, config.resolution)))
        scene_rows.append({"id": scene_id, "image": name, "scene": scene.to_dict(),
                           "short_caption": short_caption(scene, rng), "detailed_caption": detailed_caption(scene, rng)})
        for category in CATEGORIES:
            qa = question(scene, category, rng)
            if qa is not None:
                vqa_rows.append({"question_id": f"{scene_id}-{category}", "scene_id": scene_id, "image": name,
                                 "category": category, "question": qa.question, "answer": qa.answer})
    files.scenes.write_text("".join(json.dumps(r) + "\n" for r in scene_rows))
    files.questions.write_text("".join(json.dumps(r) + "\n" for r in vqa_rows))
    return {"eval_scenes": len(scene_rows), "eval_questions": len(vqa_rows)}


def write_shapes_world(config: ShapesWorldConfig, out: str | Path, progress: bool = True) -> dict:
    """Write every raw source of the shapes world under ``out``; returns the counts also saved in world.json. The
    world replaces the previous one whole (no tar of a larger earlier world stays beside the new ones)."""
    with publishing(out) as staging:
        files, ledger = WorldLayout(staging), _Ledger()
        counts = {
            "gen_records": write_generation(config, staging / "gen", ledger, progress),
            "und_records": write_understanding(config, staging / "und", ledger, progress),
            "text_records": write_text(config, staging / "text", ledger, progress),
            **write_eval(config, files.heldout.root, progress),
            "broken_records": len(ledger.entries),
        }
        files.corruptions.write_text(json.dumps(ledger.entries, indent=1))
        files.record.write_text(json.dumps({"config": asdict(config), "counts": counts, "code_version": code_version()},
                                           indent=1))
    return counts
