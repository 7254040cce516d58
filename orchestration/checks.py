"""Asset checks that block what comes after a bad result (``blocking=True``): the quarantine rate within the
bounds of params.yaml ``checks``, shard integrity and counts, foundation quality gates, finite weights and a
falling loss per stage, the latents sets against the generation shards, and metric sanity per variant. The rules themselves are the library's or plain reads."""

import math

import pandas as pd
import torch
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetKey, asset_check
from safetensors import safe_open

from data.shards import ShardIntegrityError, verify_shards
from evals.catalog import controlled, metric_of, summary_keys
from janusflow.training.objective import TERMS
from orchestration.assets import (
    FOUNDATION_ASSETS,
    TASKS,
    benchmark_results,
    latents,
    manifests,
    runs,
    stage1,
    stage2,
    stage3,
)
from orchestration.metadata import read_json
from orchestration.partitions import run_of
from orchestration.resources import PipelinePaths


@asset_check(asset=manifests, blocking=True, description="Each data type's quarantine rate lies within "
             "checks.quarantine_rate (a rate of 0 on the tiny profile would mean the filters never ran).")
def quarantine_rate_in_bounds(context: AssetCheckExecutionContext, paths: PipelinePaths) -> AssetCheckResult:
    bounds = paths.checks().quarantine_rate
    low, high = bounds.min, bounds.max
    report = read_json(paths.data().layout.manifests.report)
    rates = {t: c["quarantined"] / c["read"] for t, c in (report.get("tasks") or {}).items() if c.get("read")}
    outside = {t: r for t, r in rates.items() if not low <= r <= high}
    return AssetCheckResult(passed=bool(rates) and not outside,
                            metadata={"rates": str({t: round(r, 4) for t, r in rates.items()}),
                                      "bounds": f"[{low}, {high}]", "outside": str(outside or "none")})


def shard_check(task: str):
    @asset_check(asset=AssetKey(f"shards_{task}"), name="shards_intact", blocking=True,
                 description="Every shard, training and held-out, matches its index (size, sha1, xxh64), and "
                             "together they hold the manifest's kept rows.")
    def check(context: AssetCheckExecutionContext, paths: PipelinePaths) -> AssetCheckResult:
        files = paths.data().layout
        kept = (read_json(files.manifests.report).get("tasks") or {}).get(task, {}).get("kept")
        try:
            samples = verify_shards(files.shards.stream(task))
            held_out = verify_shards(files.shards.stream(task, validation=True))
        except (ShardIntegrityError, FileNotFoundError) as error:
            return AssetCheckResult(passed=False, metadata={"error": str(error)})
        return AssetCheckResult(passed=samples + held_out == kept,
                                metadata={"samples": samples, "validation_samples": held_out,
                                          "manifest_kept": kept or 0})

    return check


@asset_check(asset=latents, name="latents_intact", blocking=True,
             description="Every latents shard matches its index, and each split holds the generation shards' samples.")
def latents_intact(context: AssetCheckExecutionContext, paths: PipelinePaths) -> AssetCheckResult:
    files = paths.data().layout
    counts = {}
    try:
        for validation in (False, True):
            counts[validation] = (verify_shards(files.latents.stream("gen", validation)),
                                  verify_shards(files.shards.stream("gen", validation)))
    except (ShardIntegrityError, FileNotFoundError) as error:
        return AssetCheckResult(passed=False, metadata={"error": str(error)})
    return AssetCheckResult(passed=all(a == b for a, b in counts.values()),
                            metadata={"samples": counts[False][0], "validation_samples": counts[True][0],
                                      "generation_shard_samples": counts[False][1] + counts[True][1]})


def foundation_check(foundation):
    name = foundation.key.path[-1].removeprefix("foundation_")

    @asset_check(asset=foundation, name="quality_gates", blocking=True,
                 description=f"The {name} foundation passed its quality gates (params.yaml foundations.gates).")
    def check(context: AssetCheckExecutionContext, paths: PipelinePaths) -> AssetCheckResult:
        report = read_json(paths.foundations().layout.metrics(name))
        return AssetCheckResult(passed=bool(report.get("passed")),
                                metadata={"failures": "; ".join(report.get("failures") or []) or "none"})

    return check


def finite_weights(directory) -> tuple[int, list[str]]:
    """Tensors in the export's safetensors files, and the names of those holding NaN or infinity."""
    count, bad = 0, []
    for file in sorted(directory.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():
                count += 1
                tensor = handle.get_tensor(key)
                if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                    bad.append(key)
    return count, bad


def loss_fell(curve: pd.DataFrame, terms: tuple[str, ...] = TERMS) -> tuple[float, float]:
    """The loss over the first and the last tenth of the stage (5 batches at least, half the stage at most), summed
    over its terms. Each term's tenths count only the batches that held its data type (a term is logged as 0
    without it), so which data types a small batch happened to draw does not decide."""
    first = last = 0.0
    for term in terms:
        values = curve[term].dropna()
        values = values[values != 0]
        if values.empty:
            continue
        window = max(1, min(len(values) // 2, max(5, len(values) // 10)))
        first += float(values.head(window).mean())
        last += float(values.tail(window).mean())
    return first, last


def stage_check(stage_asset):
    stage = stage_asset.key.path[-1]

    @asset_check(asset=stage_asset, name="finite_weights_and_falling_loss", blocking=True, partitions_def=runs,
                 description=f"{stage}'s exported weights are all finite and its loss fell over the stage.")
    def check(context: AssetCheckExecutionContext, paths: PipelinePaths) -> AssetCheckResult:
        files = paths.training().layout.stage(run_of(context.partition_key), stage)
        tensors, bad = finite_weights(files.export)
        first, last = loss_fell(pd.read_csv(files.losses)) if files.losses.is_file() else (math.nan, math.nan)
        return AssetCheckResult(passed=tensors > 0 and not bad and last < first,
                                metadata={"tensors": tensors, "non_finite": ", ".join(bad) or "none",
                                          "loss_first_tenth": round(first, 4), "loss_last_tenth": round(last, 4)})

    return check


METRIC_KEYS = set(summary_keys())


def metric_problems(summary: dict) -> list[str]:
    """What is wrong with a summary: non-finite numbers, percentages outside 0-100, negative FID or KID."""
    problems = []
    for key, value in summary.items():
        if value is None:
            continue
        if not math.isfinite(float(value)):
            problems.append(f"{key} is {value}")
        elif key in METRIC_KEYS and metric_of(key).problem(float(value)):
            problems.append(f"{key} = {value} {metric_of(key).problem(float(value))}")
    return problems


def result_problems(result: dict) -> list[str]:
    """Everything wrong with one variant's metrics.json: bad numbers, a trained task without its metrics, and
    benchmarks where most questions failed to run."""
    summary = result.get("summary") or {}
    problems = metric_problems(summary) if summary else ["no results"]
    tasks = result.get("tasks") or []
    if "gen" in tasks and summary.get("fid") is None:
        problems.append("a generating variant has no FID")
    if "und" in tasks and not any(summary.get(k) is not None for k in controlled()):
        problems.append("an understanding variant has no understanding score")
    for benchmark, metrics in (result.get("understanding") or {}).items():
        if metrics.get("questions") and metrics.get("errors", 0) > metrics["questions"] // 2:
            problems.append(f"{benchmark}: {metrics['errors']} of {metrics['questions']} questions failed to run")
    return problems


@asset_check(asset=benchmark_results, blocking=True, partitions_def=runs,
             description="Every benchmark number is finite and within its range, each task the variant trained has "
                         "its metrics, and most questions ran without an error.")
def metrics_are_sane(context: AssetCheckExecutionContext, paths: PipelinePaths) -> AssetCheckResult:
    result = read_json(paths.evaluation().layout.metrics(run_of(context.partition_key)))
    problems = result_problems(result)
    return AssetCheckResult(passed=not problems, metadata={"problems": "; ".join(problems) or "none"})


CHECKS = [quarantine_rate_in_bounds, *(shard_check(t) for t in TASKS), *(foundation_check(f) for f in FOUNDATION_ASSETS),
          latents_intact,
          *(stage_check(s) for s in (stage1, stage2, stage3)), metrics_are_sane]
