"""Data loading throughput: the MDS streaming loader vs reading the raw folder with PIL, same samples and transform.

Both loaders yield the same training-ready understanding samples (conversation tokenized in the chat template,
image padded to a square at the encoder's resolution and normalised) through ``data.streaming.encode_sample``,
batched by the same collator, batch 32, with 0 and 2 DataLoader workers and the tiny profile's loader settings
(params.yaml ``data.loader``: prefetch factor for both loaders, Streaming's look-ahead for the MDS loader). The baseline opens each image file of
the LLaVA-style raw folder (conversations.json loaded once) and decodes it at its raw resolution; the MDS loader
reads the shards the pipeline wrote, where images were preprocessed once. The shards hold 64 px images; raw
images are written at each of ``--raw-resolutions``: 256 px (raw data is larger than the training resolution,
as real sources are) and 64 px (no resizing saved, so only the reading and format costs differ).

Also records the filter stage's records per second with 1 and 2 workers.

    python benchmarks/data_loading.py [--records 3000] [--raw-resolutions 256 64] [--out benchmarks/results/data_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch
from PIL import Image
from streaming import StreamingDataLoader
from torch.utils.data import DataLoader, Dataset

from data.collate import MixedBatchCollator
from data.manifest import build_manifests
from data.mixture import build_mixture
from data.shapes.world import write_shapes_world
from data.shards import write_shards
from data.streaming import encode_sample
from janusflow.config import tiny_janusflow_config
from janusflow.processor import JanusFlowProcessor
from janusflow.tokenizer import train_byte_level_bpe
from settings.data import FilterConfig, LoaderConfig, ShapesWorldConfig, ShardConfig, SourceSpec
from settings.params import load_params

BATCH = 32


class RawFolderDataset(Dataset):
    """The baseline: each item opens its image file from the raw folder and decodes it with PIL."""

    def __init__(self, raw: Path, manifest: pd.DataFrame, processor: JanusFlowProcessor) -> None:
        entries = {e["id"]: e for e in json.loads((raw / "und/conversations.json").read_text())}
        self.items = [(raw / "und/images" / row.image_name, json.loads(row.conversation)) for row in manifest.itertuples()]
        assert all(key in entries for key in manifest.key)
        self.processor = processor

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        path, conversation = self.items[index]
        with Image.open(path) as image:
            image = image.convert("RGB")
        return encode_sample({"task": "und", "image": image, "conversation": conversation}, self.processor, "sft")


def samples_per_second(loader, expected: int) -> float:
    start = time.perf_counter()
    seen = sum(len(batch["tasks"]) for batch in loader)
    seconds = time.perf_counter() - start
    if seen != expected:
        raise RuntimeError(f"loader yielded {seen} samples, expected {expected}")
    return seen / seconds


def build(root: Path, records: int, raw_resolution: int) -> tuple[dict[int, float], Path, Path]:
    world = ShapesWorldConfig(resolution=raw_resolution, gen_pairs=10, conversations=records, text_documents=10,
                              eval_scenes=1, broken_fraction=0.0)
    write_shapes_world(world, root / "raw", progress=False)
    specs = [SourceSpec(name="shapes_und", format="llava", path=str(root / "raw/und/conversations.json"),
                        image_root=str(root / "raw/und/images"), feeds="und")]
    filters = {"und": FilterConfig(min_side=32, max_words=300)}
    rates = {}
    for workers in (1, 2):
        report = build_manifests(specs, filters, root / f"manifests-{workers}", workers=workers, progress=False)
        rates[workers] = report["records_per_second"]
    write_shards(specs, root / "manifests-1", root / "shards", ShardConfig(), workers=2, progress=False)
    return rates, root / "manifests-1", root / "shards"


def measure(root: Path, records: int, raw_resolution: int, repeats: int, loader: LoaderConfig) -> dict:
    """Loader throughput (0 and 2 workers) and filter throughput for one raw resolution."""
    filter_rates, manifests, shards = build(root, records, raw_resolution)
    manifest = pd.read_parquet(manifests / "und.parquet")
    texts = [t["content"] for c in manifest.conversation[:500] for t in json.loads(c)]
    tokenizer = train_byte_level_bpe(texts, vocab_size=384)
    processor = JanusFlowProcessor.for_model(tokenizer, tiny_janusflow_config(vocab_size=len(tokenizer)))
    collate = MixedBatchCollator(processor)
    loading = {}
    for workers in (0, 2):
        base, mds = [], []
        for repeat in range(repeats + 1):
            settings = {"batch_size": BATCH, "num_workers": workers, "collate_fn": collate,
                        "prefetch_factor": loader.prefetch_factor if workers else None}
            baseline = DataLoader(RawFolderDataset(root / "raw", manifest, processor), **settings)
            dataset = build_mixture(shards, {"und": 1}, processor, root / "cache", batch_size=BATCH,
                                    name=f"bench-{workers}-{repeat}", shuffle=False, predownload=loader.predownload)
            b = samples_per_second(baseline, len(manifest))
            m = samples_per_second(StreamingDataLoader(dataset, **settings), len(manifest))
            if repeat:  # the first round warms the page cache and decompresses the shards
                base.append(b)
                mds.append(m)
        loading[f"workers_{workers}"] = {"baseline_samples_per_s": round(statistics.median(base), 1),
                                         "mds_samples_per_s": round(statistics.median(mds), 1),
                                         "speedup": round(statistics.median(mds) / statistics.median(base), 2)}
        print(f"raw {raw_resolution} px, {workers} workers: baseline {statistics.median(base):.0f} samples/s, "
              f"MDS {statistics.median(mds):.0f} samples/s, {loading[f'workers_{workers}']['speedup']}x")
    print(f"raw {raw_resolution} px, filter stage: {filter_rates[1]} records/s with 1 worker, {filter_rates[2]} with 2")
    return {"records": len(manifest), "loading": loading,
            "filter_records_per_second": {f"workers_{k}": v for k, v in filter_rates.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--raw-resolutions", type=int, nargs="+", default=[256, 64])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--params", default="params.yaml", help="the tiny profile's data.loader settings are used")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/data_cpu.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    loader = load_params(args.params).select("tiny").data.loader
    runs = {}
    for resolution in args.raw_resolutions:
        with tempfile.TemporaryDirectory() as tmp:
            runs[f"raw_{resolution}px"] = measure(Path(tmp), args.records, resolution, args.repeats, loader)
    record = {"image_size": 64, "batch_size": BATCH, "loader": asdict(loader), "runs": runs,
              "machine": platform.machine(), "cores": len(os.sched_getaffinity(0)), "torch": torch.__version__,
              "date": time.strftime("%Y-%m-%d")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
