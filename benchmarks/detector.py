"""The shapes-world detector on ground-truth renders of the held-out scenes: accuracy and speed.

Reads the evaluation split the data stage wrote (``make data``): every scene's image and scene graph. A scene
counts as exact when the detector finds exactly its objects (shape and colour, nothing extra); a pair of
objects counts when the detected boxes give the same GenEval relation as the scene graph.

    python benchmarks/detector.py [--raw artifacts/tiny/raw/shapes] [--out benchmarks/results/detector_cpu.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from data.shapes.scene import SceneObject, relations
from evals.generation.detector import closest, detect


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", default="artifacts/tiny/raw/shapes")
    parser.add_argument("--out", default="benchmarks/results/detector_cpu.json")
    args = parser.parse_args()
    eval_dir = Path(args.raw) / "eval"
    if not (eval_dir / "scenes.jsonl").is_file():
        raise SystemExit(f"{eval_dir} has no scenes.jsonl; write the shapes world first (make data).")
    rows = [json.loads(line) for line in (eval_dir / "scenes.jsonl").read_text().splitlines()]
    images = [Image.open(eval_dir / "images" / row["image"]).convert("RGB") for row in rows]
    started = time.perf_counter()
    detections = [detect(image) for image in images]
    seconds = time.perf_counter() - started
    exact, agree, pairs, box_errors = 0, 0, 0, []
    for row, found in zip(rows, detections):
        truth = [SceneObject(o["shape"], o["color"], o["size"], tuple(o["box"])) for o in row["scene"]["objects"]]
        exact += Counter((o.shape, o.color) for o in found) == Counter((o.shape, o.color) for o in truth)
        if len(found) != len(truth):
            continue
        side = images[0].width
        box_errors += [float(np.abs(np.subtract(closest(found, o).box, o.box)).max() * side) for o in truth]
        for a, b in itertools.permutations(truth, 2):
            pairs += 1
            agree += relations(a, b) == relations(closest(found, a), closest(found, b))
    result = {"scenes": len(rows), "exact_scenes": exact, "exact_rate": round(exact / len(rows), 4),
              "pairs": pairs, "relation_agreement": round(agree / pairs, 4),
              "box_error_px_median": round(float(np.median(box_errors)), 2),
              "box_error_px_p99": round(float(np.percentile(box_errors, 99)), 2),
              "images_per_second": round(len(rows) / seconds, 1)}
    print(json.dumps(result))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
