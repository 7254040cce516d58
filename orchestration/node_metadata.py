"""The metadata of each lineage node's materialization, read from what the node wrote, so that a node built by a
Dagster run and one built by ``dvc repro`` (recorded by ``orchestration.dvc_state``) show the same in the UI.
Numbers are top-level floats and ints, so the UI plots them across materializations."""

from __future__ import annotations

from typing import Any

import pandas as pd
from dagster import MetadataValue

from evals.run import EvalRun
from orchestration.metadata import image, read_json, table
from orchestration.resources import PipelinePaths
from reports.figures import loss_curves
from settings.run import RunKey
from settings.training import STAGES

Metadata = dict[str, Any]


def raw_sources(paths: PipelinePaths) -> Metadata:
    profile = paths.data()
    if profile.shapes_world is None:
        listed = [{"source": s.name, "format": s.format, "path": s.path, "feeds": s.feeds} for s in profile.sources]
        return {"sources": table(listed)}
    counts = read_json(profile.layout.world.record).get("counts") or {}
    return {"records": table([{"kind": k, "count": v} for k, v in counts.items()]),
            "path": MetadataValue.path(str(profile.paths.raw))}


def manifests(paths: PipelinePaths) -> Metadata:
    files = paths.data().layout.manifests
    report = read_json(files.report)
    reasons: dict[str, int] = {}
    for source in (report.get("sources") or {}).values():
        for reason, count in (source.get("reasons") or {}).items():
            reasons[reason] = reasons.get(reason, 0) + count
    return {"rows": table([{"task": t, **c} for t, c in (report.get("tasks") or {}).items()]),
            "quarantined_by_reason": table([{"reason": r, "records": n} for r, n in sorted(reasons.items())]),
            "quarantined": sum(reasons.values()), "report": MetadataValue.path(str(files.report_markdown))}


def shards(paths: PipelinePaths, task: str) -> Metadata:
    files = paths.data().layout.shards
    info = (read_json(files.summary).get("tasks") or {}).get(task, {})
    return {"samples": info.get("samples", 0), "shards": info.get("shards", 0), "bytes": info.get("bytes", 0),
            "validation_samples": info.get("validation", {}).get("samples", 0),
            "path": MetadataValue.path(str(files.stream(task)))}


def foundation(paths: PipelinePaths, name: str) -> Metadata:
    files = paths.foundations().layout
    folder, report = files.directory(name), read_json(files.metrics(name))
    metrics = report.get("metrics") or {}
    return {"metrics": table([{"metric": k, "value": v} for k, v in metrics.items()]),
            **{k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
            "gates_passed": bool(report.get("passed")),
            "gate_failures": MetadataValue.text("; ".join(report.get("failures") or []) or "none"),
            "path": MetadataValue.path(str(folder))}


def latents(paths: PipelinePaths) -> Metadata:
    files = paths.data().layout.latents
    sets = read_json(files.summary).get("sets") or {}
    return {"samples": sum(sets.values()), "sets": table([{"set": k, "samples": v} for k, v in sets.items()]),
            "path": MetadataValue.path(str(files.root))}


def training_stage(paths: PipelinePaths, stage: str, run: RunKey) -> Metadata:
    files = paths.training().layout.stage(run, stage)
    report = read_json(files.metrics)
    losses = report.get("losses") or {}
    metadata: Metadata = {
        "batches": report.get("batches", 0), "seconds": float(report.get("seconds", 0.0)),
        "resumed_at_batch": report.get("resumed_at_batch", 0), "world_size": report.get("world_size", 1),
        "losses": table([{"series": k, **v} for k, v in losses.items()]),
        **{f"{k.replace('/', '_')}_last10": float(v["last10_mean"]) for k, v in losses.items()},
        "export": MetadataValue.path(str(files.export))}
    if files.losses.is_file():
        metadata["loss_curve"] = image(loss_curves({(run.variant, stage): pd.read_csv(files.losses)}, stage),
                                       "loss curve")
    if files.last_sample_grid is not None:
        metadata["samples"] = image(files.last_sample_grid.read_bytes(), "sample grid")
    return metadata


def benchmark_prompts(paths: PipelinePaths) -> Metadata:
    sets = EvalRun.from_params(paths.parsed(), paths.profile_name).prompt_sets
    return {"geneval": len(sets.geneval), "dpg": len(sets.dpg), "fid": len(sets.fid)}


def benchmark_results(paths: PipelinePaths, run: RunKey) -> Metadata:
    files = paths.evaluation().layout
    result = read_json(files.metrics(run))
    summary = {k: v for k, v in (result.get("summary") or {}).items() if v is not None}
    return {"summary": table([summary]), **{k: float(v) for k, v in summary.items()},
            "seconds": float(result.get("seconds", 0.0)),
            "metrics": MetadataValue.path(str(files.metrics(run)))}


def external_judgements(paths: PipelinePaths, run: RunKey) -> Metadata:
    judged = read_json(paths.evaluation().layout.judged(run))
    scores = {f"{name}_score": float(judged[name].get("overall", judged[name].get("dpg_score", 0.0)))
              for name in judged.get("judges") or []}
    return {"judges": ", ".join(judged.get("judges") or []) or "none (judged inside the evaluation)", **scores,
            "path": MetadataValue.path(str(paths.evaluation().layout.judged_dir(run)))}


def benchmark_tables(paths: PipelinePaths) -> Metadata:
    files = paths.evaluation().layout
    tables_md = files.tables_markdown
    return {"tables": MetadataValue.md(tables_md.read_text() if tables_md.is_file() else "(none)"),
            "files": len([p for p in files.tables.glob("*") if p.is_file()])}


def comparison_report(paths: PipelinePaths) -> Metadata:
    files = paths.report().layout
    report = read_json(files.record)
    claims = report.get("claims") or []
    return {"html": MetadataValue.path(str(files.html.resolve())),
            "markdown": MetadataValue.path(str(files.markdown.resolve())),
            "evaluated": ", ".join(report.get("evaluated") or []) or "none",
            "claims": table([{"claim": c["statement"], "paper": c["paper_label"], "ours": c["ours_label"]}
                             for c in claims])}


def of_asset(paths: PipelinePaths, asset: str, run: RunKey | None = None) -> Metadata:
    """The metadata of ``asset`` (and, for a per-run asset, of ``run``), by the function named for it."""
    if asset.startswith("shards_"):
        return shards(paths, asset.removeprefix("shards_"))
    if asset.startswith("foundation_"):
        return foundation(paths, asset.removeprefix("foundation_"))
    if asset in STAGES:
        return training_stage(paths, asset, run)
    return globals()[asset](paths) if run is None else globals()[asset](paths, run)
