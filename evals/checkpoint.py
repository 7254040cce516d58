"""What identifies an evaluated checkpoint: a hash of its config and weights (the evaluation loads it as a
``janusflow.pipeline.JanusFlowPipeline``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from janusflow.checkpoint import CONFIG_NAME, weight_files


def fingerprint(path: str | Path) -> str:
    """A short content hash of a checkpoint's config and weights: results made from other weights are stale even
    when the directory's name is the same (a retrained stage exports to the same place)."""
    path = Path(path)
    digest = hashlib.sha256((path / CONFIG_NAME).read_bytes())
    for weights in weight_files(path):
        with weights.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 24), b""):
                digest.update(block)
    return digest.hexdigest()[:16]
