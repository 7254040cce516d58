"""The shapes-world detector on ground-truth renders of the held-out scenes: accuracy and speed.

Reads the evaluation split the data stage wrote (``make data``): every scene's image and scene graph. A scene
counts as exact when the detector finds exactly its objects (shape and colour, nothing extra); a pair of
objects counts when the detected boxes give the same GenEval relation as the scene graph.

    python benchmarks/detector.py [--raw artifacts/tiny/raw/shapes] [--out benchmarks/results/detector_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from PIL import Image

from data.shapes.detector import detect, ground_truth_agreement
from data.shapes.scene import Scene
from settings.layout import WorldLayout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", default="artifacts/tiny/raw/shapes")
    parser.add_argument("--out", default="benchmarks/results/detector_cpu.json")
    args = parser.parse_args()
    heldout = WorldLayout(Path(args.raw)).heldout
    if not heldout.scenes.is_file():
        raise SystemExit(f"{heldout.root} has no {heldout.scenes.name}; write the shapes world first (make data).")
    rows = [json.loads(line) for line in heldout.scenes.read_text().splitlines()]
    images = [Image.open(heldout.images / row["image"]).convert("RGB") for row in rows]
    started = time.perf_counter()
    detections = [detect(image) for image in images]
    seconds = time.perf_counter() - started
    truths = [Scene.from_dict(row["scene"]).objects for row in rows]
    result = {**ground_truth_agreement(truths, detections, images[0].width),
              "images_per_second": round(len(rows) / seconds, 1)}
    print(json.dumps(result))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
