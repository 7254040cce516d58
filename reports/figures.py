"""The report's pictures as PNG bytes: per-stage loss curves, metric bars (with the spread over seeds where
several runs exist), CFG and step sweeps, and the understanding examples' images."""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from settings.training import STAGES  # noqa: E402

LOSS_TERMS = ("total", "ar", "rf", "repa")
COLOURS = dict(zip("ABCDEF", plt.get_cmap("tab10").colors))


def png(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def smooth(values: pd.Series, window: int = 9) -> pd.Series:
    return values.rolling(window, min_periods=1, center=True).mean()


def trained(frame: pd.DataFrame, column: str) -> bool:
    """Whether a series has values and is not constantly zero (a term the variant does not train, such as RF in
    the understanding-only variant D)."""
    return column in frame and frame[column].notna().any() and bool((frame[column].fillna(0) != 0).any())


def loss_curves(losses: dict[tuple[str, str], pd.DataFrame], stage: str) -> bytes | None:
    """One panel per loss term, one line per variant (smoothed over 9 batches), for one stage."""
    runs = {v: frame for (v, s), frame in losses.items() if s == stage}
    if not runs:
        return None
    figure, axes = plt.subplots(1, len(LOSS_TERMS), figsize=(4 * len(LOSS_TERMS), 3))
    for axis, term in zip(axes, LOSS_TERMS):
        for variant, frame in sorted(runs.items()):
            if trained(frame, term):
                rows = frame[frame[term].notna()]
                axis.plot(rows["step"], smooth(rows[term]), label=variant, color=COLOURS.get(variant))
        axis.set_title(f"{stage}: {term}")
        axis.set_xlabel("batch")
        axis.grid(alpha=0.3)
    axes[0].legend(title="variant", fontsize=8)
    return png(figure)


def metric_bars(pooled: dict[str, list[dict]], metrics: list[tuple[str, str]]) -> bytes | None:
    """A panel per metric, a bar per variant at the mean over runs; an error bar spans min to max when a variant
    has several runs (seeds)."""
    shown = [(key, title) for key, title in metrics
             if any(run.get(key) is not None for runs in pooled.values() for run in runs)]
    if not shown:
        return None
    columns = min(4, len(shown))
    rows = math.ceil(len(shown) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.8 * rows), squeeze=False)
    for axis, (key, title) in zip(axes.flat, shown):
        names, means, low, high = [], [], [], []
        for variant, runs in pooled.items():
            values = [float(run[key]) for run in runs if run.get(key) is not None]
            if values:
                names.append(variant)
                means.append(float(np.mean(values)))
                low.append(means[-1] - min(values))
                high.append(max(values) - means[-1])
        axis.bar(names, means, color=[COLOURS.get(n) for n in names],
                 yerr=[low, high] if any(len(r) > 1 for r in pooled.values()) else None, capsize=4)
        axis.set_title(title, fontsize=10)
        axis.grid(axis="y", alpha=0.3)
    for axis in list(axes.flat)[len(shown):]:
        axis.axis("off")
    figure.tight_layout()
    return png(figure)


def sweep_plot(rows: list[dict], default_cfg: float, default_steps: int) -> bytes | None:
    """Each swept metric against the CFG weight (at the default steps) and against steps (at the default CFG)."""
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    metrics = [m for m in ("geneval_overall", "fid", "clip_cosine", "clip_score") if trained(frame, m)]
    if not metrics:
        return None
    figure, axes = plt.subplots(2, len(metrics), figsize=(3.6 * len(metrics), 5.6), squeeze=False)
    for column, metric in enumerate(metrics):
        for row, (axis_key, fixed_key, fixed) in enumerate([("cfg_weight", "steps", default_steps),
                                                              ("steps", "cfg_weight", default_cfg)]):
            points = frame[frame[fixed_key] == fixed].sort_values(axis_key)
            axis = axes[row][column]
            axis.plot(points[axis_key], points[metric], marker="o")
            axis.set_xlabel(f"{axis_key} ({fixed_key} = {fixed:g})")
            axis.set_title(metric, fontsize=10)
            axis.grid(alpha=0.3)
    figure.tight_layout()
    return png(figure)


def thumbnail(path: Path, size: int = 96) -> bytes:
    with Image.open(path) as image:
        image = image.convert("RGB").resize((size, size), Image.NEAREST)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()


def stage_figures(losses: dict[tuple[str, str], pd.DataFrame]) -> dict[str, bytes]:
    return {stage: figure for stage in STAGES if (figure := loss_curves(losses, stage)) is not None}
