"""One asset per lineage node, each calling the library function behind the matching CLI and DVC stage:
raw sources -> manifests (+ quarantine) -> MDS shards per data type -> foundations -> stage 1/2/3 per variant
-> benchmark results per variant -> benchmark tables -> comparison report."""

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    AutomationCondition,
    MaterializeResult,
    MetadataValue,
    StaticPartitionsDefinition,
    asset,
    multi_asset,
)

from data import cli as data_cli
from evals.run import EvalRun, evaluate_variant
from evals.tables import write_tables
from janusflow.foundations import cli as foundations_cli
from janusflow.params import DEFAULT_PARAMS, load_params
from orchestration.metadata import data_version, image, read_json, table
from orchestration.resources import DvcResource, PipelinePaths, TrainerLauncher
from reports.collect import collect
from reports.figures import loss_curves
from reports.render import render

POOL = "janusflow"  # every asset writes artifacts and dvc.lock: one at a time (limit in .dagster_home/dagster.yaml)
TASKS = ("und", "gen", "text")
variants = StaticPartitionsDefinition(list(load_params(DEFAULT_PARAMS)["variants"]))
on_new_inputs = AutomationCondition.eager()


@asset(group_name="data", pool=POOL, description="Raw sources: the shapes world (tiny) or the external data "
       "the paper profile's sources point at.")
def raw_sources(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    profile = paths.data()
    raw = profile.paths["raw"]
    if profile.shapes_world is None:
        listed = [{"source": s.name, "format": s.format, "path": s.path, "feeds": s.feeds} for s in profile.sources]
        return MaterializeResult(metadata={"sources": table(listed)}, data_version=data_version({}, []))
    counts = data_cli.shapes_world(profile, progress=False)
    return MaterializeResult(
        metadata={"records": table([{"kind": k, "count": v} for k, v in counts.items()]), "path": MetadataValue.path(str(raw))},
        data_version=data_version(dvc.commit("shapes_world"), [raw]))


@asset(group_name="data", deps=[raw_sources], pool=POOL,
       description="Filtered manifests per data type (parquet) and the quarantine report.")
def manifests(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    profile = paths.data()
    report = data_cli.filter_sources(profile, progress=False)
    folder = profile.paths["manifests"]
    reasons: dict[str, int] = {}
    for source in report["sources"].values():
        for reason, count in (source.get("reasons") or {}).items():
            reasons[reason] = reasons.get(reason, 0) + count
    return MaterializeResult(
        metadata={"rows": table([{"task": t, **c} for t, c in report["tasks"].items()]),
                  "quarantined_by_reason": table([{"reason": r, "records": n} for r, n in sorted(reasons.items())]),
                  "quarantined": sum(reasons.values()), "report": MetadataValue.path(str(folder / "report.md"))},
        data_version=data_version(dvc.commit("filter"), [folder]))


@multi_asset(specs=[AssetSpec(f"shards_{task}", deps=[manifests], group_name="data",
                              description=f"MDS shards of the {task} data (zstd, sha1 + xxh64), and its held-out "
                                          f"validation split (val/{task})") for task in TASKS],
             pool=POOL)
def shards(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource):
    profile = paths.data()
    summary = data_cli.shards(profile, progress=False)
    hashes = dvc.commit("shards")
    for task in TASKS:
        info = summary["tasks"].get(task, {})
        folder = profile.paths["shards"] / task
        yield MaterializeResult(
            asset_key=f"shards_{task}",
            metadata={"samples": info.get("samples", 0), "shards": info.get("shards", 0),
                      "bytes": info.get("bytes", 0),
                      "validation_samples": info.get("validation", {}).get("samples", 0),
                      "path": MetadataValue.path(str(folder))},
            data_version=data_version({k: v for k, v in hashes.items() if k.endswith(f"/{task}")}, [folder]))


SHARD_KEYS = [AssetKey(f"shards_{task}") for task in TASKS]


def foundation_asset(name: str, upstream: list):
    @asset(name=f"foundation_{name}", group_name="foundations", deps=[*SHARD_KEYS, *upstream], pool=POOL,
           description=f"The tiny profile's {name} foundation, pretrained from the shapes world, with its quality "
                       "gates (params.yaml foundations.gates).")
    def build(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
        ctx = foundations_cli.Context(paths.params, paths.profile_name, progress=False)
        metrics = foundations_cli.build(name, ctx)
        failures = foundations_cli.record(name, metrics, ctx)
        folder = ctx.settings.directory(name)
        return MaterializeResult(
            metadata={"metrics": table([{"metric": k, "value": v} for k, v in metrics.items()]),
                      "gates_passed": not failures, "gate_failures": MetadataValue.text("; ".join(failures) or "none"),
                      "path": MetadataValue.path(str(folder))},
            data_version=data_version(dvc.commit(f"foundation_{name}"), [folder]))

    return build


foundation_tokenizer = foundation_asset("tokenizer", [])
foundation_llm = foundation_asset("llm", [foundation_tokenizer])
foundation_encoder = foundation_asset("encoder", [foundation_tokenizer])
foundation_vae = foundation_asset("vae", [])
FOUNDATION_ASSETS = [foundation_tokenizer, foundation_llm, foundation_encoder, foundation_vae]


def stage_asset(stage: str, upstream: list):
    @asset(name=stage, group_name="training", partitions_def=variants, deps=upstream, pool=POOL,
           description=f"{stage} of one ablation variant, trained with Composer; the partition is the variant.")
    def train(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource,
              launcher: TrainerLauncher) -> MaterializeResult:
        variant = context.partition_key
        report = launcher.launch(context, paths, stage, variant)
        folder = paths.training().stage_dir(variant, stage)
        metadata = {"batches": report.get("batches", 0), "seconds": report.get("seconds", 0.0),
                    "resumed_at_batch": report.get("resumed_at_batch", 0),
                    "losses": table([{"series": k, **v} for k, v in (report.get("losses") or {}).items()]),
                    "export": MetadataValue.path(str(folder / "export"))}
        curve = folder / "losses.csv"
        if curve.is_file():
            metadata["loss_curve"] = image(loss_curves({(variant, stage): pd.read_csv(curve)}, stage), "loss curve")
        grids = sorted((folder / "samples").glob("ba*.png"), key=lambda p: int(p.stem[2:]))
        if grids:
            metadata["samples"] = image(grids[-1].read_bytes(), "sample grid")
        return MaterializeResult(metadata=metadata,
                                 data_version=data_version(dvc.commit(f"{stage}@{variant}"), [folder / "export"]))

    return train


stage1 = stage_asset("stage1", [*FOUNDATION_ASSETS, *SHARD_KEYS])
stage2 = stage_asset("stage2", [stage1])
stage3 = stage_asset("stage3", [stage2])


@asset(group_name="evaluation", deps=[raw_sources], pool=POOL,
       description="The benchmark prompt sets (GenEval, DPG, FID prompts) every variant is sampled on.")
def benchmark_prompts(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    run = EvalRun.from_params(paths.params, paths.profile_name)
    sets = run.prompt_sets
    folder = run.settings.out / "prompts"
    return MaterializeResult(metadata={"geneval": len(sets.geneval), "dpg": len(sets.dpg), "fid": len(sets.fid)},
                             data_version=data_version(dvc.commit("eval_prompts"), [folder]))


@asset(group_name="evaluation", partitions_def=variants, deps=[stage3, benchmark_prompts], pool=POOL,
       automation_condition=on_new_inputs,
       description="Every benchmark of the profile for one variant's stage-3 checkpoint (generation and "
                   "understanding; sweeps for evaluation.generation.sweep_variants).")
def benchmark_results(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    variant = context.partition_key
    run = EvalRun.from_params(paths.params, paths.profile_name)
    result = evaluate_variant(run, variant, progress=False)
    summary = {k: v for k, v in result["summary"].items() if v is not None}
    return MaterializeResult(
        metadata={"summary": table([summary]), "seconds": result["seconds"],
                  "metrics": MetadataValue.path(str(run.settings.variant_dir(variant) / "metrics.json"))},
        data_version=data_version(dvc.commit(f"evaluate@{variant}"), [run.settings.summary_path(variant)]))


@asset(group_name="reporting", deps=[benchmark_results], pool=POOL, automation_condition=on_new_inputs,
       description="The paper's Tables 2-5 from every evaluated variant (CSV + Markdown).")
def benchmark_tables(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    run = EvalRun.from_params(paths.params, paths.profile_name)
    written = write_tables(run.settings.out, run.profile_name, list(run.params["variants"]))
    tables_md = run.settings.out / "tables" / "tables.md"
    return MaterializeResult(metadata={"tables": MetadataValue.md(tables_md.read_text()), "files": len(written)},
                             data_version=data_version(dvc.commit("tables"), [tables_md]))


@asset(group_name="reporting", deps=[benchmark_tables], pool=POOL, automation_condition=on_new_inputs,
       description="The comparison report of A-F (Markdown + self-contained HTML) with the paper's claims checked.")
def comparison_report(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    settings = paths.report()
    run = EvalRun.from_params(paths.params, paths.profile_name)
    inputs = collect(run, settings, dict(run.params["variants"]))
    written = render(inputs, settings.out, settings.close_tolerance)
    claims = read_json(written["json"]).get("claims", [])
    return MaterializeResult(
        metadata={"html": MetadataValue.path(str(written["html"].resolve())),
                  "markdown": MetadataValue.path(str(written["markdown"].resolve())),
                  "evaluated": ", ".join(inputs.evaluated) or "none",
                  "claims": table([{"claim": c["statement"], "paper": c["paper_label"], "ours": c["ours_label"]}
                                   for c in claims])},
        data_version=data_version(dvc.commit("report"), [written["markdown"]]))


ASSETS = [raw_sources, manifests, shards, *FOUNDATION_ASSETS, stage1, stage2, stage3, benchmark_prompts,
          benchmark_results, benchmark_tables, comparison_report]
