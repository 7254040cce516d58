"""Every full-size benchmark on one CUDA GPU, in one go, into one results file: sampling time per image
(``sampling_full_size.py``) and the stage-2 training step (``training_full_size.py``) as the paper profile trains
it (FSDP, bf16 parameters), then with each option of params.yaml ``training.speed`` alone, all of them together,
and FSDP2 with each decoder layer compiled (``parallelism: fsdp2``, ``compile_layers: true``), alone and with the
options FSDP2 takes (all but channels_last): the route to 40% MFU (docs/training.md, "Speed options").

Each measurement runs in its own process, so one that runs out of memory is recorded as such and the rest go on;
a measurement that has not finished after ``--timeout`` seconds is recorded as timed out.

    python benchmarks/gpu_suite.py                      # 9 measurements of at most --timeout seconds each
    python benchmarks/gpu_suite.py --quick              # batch 16 only, fewer steps
    python benchmarks/gpu_suite.py --device cpu --config tiny --quick   # checks the suite itself: 2 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
SPEED = {"baseline (autocast, eager)": [], "fsdp": ["--fsdp"], "fsdp + channels_last": ["--fsdp", "--channels-last"],
         "fsdp + fused_cross_entropy": ["--fsdp", "--fused-ce", "4096"],
         "fsdp + precomputed_latents": ["--fsdp", "--precomputed-latents"],
         "fsdp + all speed options": ["--fsdp", "--channels-last", "--fused-ce", "4096", "--precomputed-latents"],
         "fsdp2 + compiled layers": ["--fsdp2", "--compile"],
         "fsdp2 + compiled layers + fused_cross_entropy + precomputed_latents": [
             "--fsdp2", "--compile", "--fused-ce", "4096", "--precomputed-latents"]}


def run(script: str, args: list[str], timeout: float) -> dict:
    """One benchmark in its own process: its rows, or what stopped it."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "rows.json"
        try:
            done = subprocess.run([sys.executable, str(HERE / script), *args, "--out", str(out)],
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        if done.returncode:
            tail = done.stderr.strip().splitlines()[-3:]
            reason = "out of memory" if "OutOfMemoryError" in done.stderr else " | ".join(tail)
            return {"error": reason}
        return {"rows": json.loads(out.read_text())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--config", choices=["official", "tiny"], default="official")
    parser.add_argument("--quick", action="store_true", help="batch 16 only and fewer steps")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per measurement")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    batches = ["16"] if args.quick else ["16", "24"]
    steps = ["--steps", "3" if args.quick else "10"]
    common = ["--device", args.device, "--config", args.config]
    dtype = ["--dtype", "bfloat16" if args.device == "cuda" else "float32"]
    device = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    results: dict = {"device": device, "torch": torch.__version__,
                     "date": datetime.date.today().isoformat(), "sampling": {}, "training_step": {}}
    sampling = [*common, *dtype, "--batch-sizes", "1", "8", "--steps", "10" if args.quick else "30", "--with-baseline"]
    results["sampling"] = run("sampling_full_size.py", sampling, args.timeout)
    print(json.dumps({"sampling": results["sampling"]}), flush=True)
    for name, flags in SPEED.items():
        results["training_step"][name] = run("training_full_size.py", [*common, "--batch-sizes", *batches, *steps,
                                                                       *flags], args.timeout)
        print(json.dumps({name: results["training_step"][name]}), flush=True)
    out = args.out or HERE / "results" / f"gpu_suite_{device.replace(' ', '_').lower()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
