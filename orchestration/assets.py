"""One asset per lineage node, each calling the library function behind the matching CLI and DVC stage:
raw sources -> manifests (+ quarantine) -> MDS shards per data type -> foundations -> stage 1/2/3 per variant
-> benchmark results per variant -> benchmark tables -> comparison report.

Names, upstream assets and code versions come from the lineage table (``orchestration.lineage``), which also
writes dvc.yaml; ``dvc.commit(name)`` records an asset's outputs under its DVC stage of the same name."""

from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    AutomationCondition,
    MaterializeResult,
    PipesClient,
    ResourceParam,
    asset,
    multi_asset,
)

from data import stages as data_stages
from evals.judges import judge_variant
from evals.run import EvalRun, evaluate_variant
from evals.tables import write_tables
from janusflow.foundations.build import BuildContext, publish
from janusflow.training.latents import write_latents
from orchestration import node_metadata
from orchestration.lineage import BY_NAME, upstream_assets
from orchestration.metadata import data_version
from orchestration.partitions import run_of, runs_partitions
from orchestration.resources import DvcResource, PipelinePaths, TrainerLauncher
from reports.collect import collect
from reports.render import render
from settings.data import TASKS
from settings.params import DEFAULT_PARAMS, load_params

POOL = "janusflow"  # every asset writes artifacts and dvc.lock: one at a time (limit in .dagster_home/dagster.yaml)
runs = runs_partitions(load_params(DEFAULT_PARAMS))  # variant x seed
on_new_inputs = AutomationCondition.eager()


def lineage(name: str) -> dict:
    """The asset decorator arguments the lineage table fixes for node ``name``: its upstream assets and code
    version (the hash of the code DVC tracks for its stage, so a code change marks the asset stale in the UI)."""
    return {"deps": [AssetKey(key) for key in upstream_assets(name)], "code_version": BY_NAME[name].code_version()}


def built(context: AssetExecutionContext, name: str, metadata: dict) -> dict:
    """Logs what the node made (its numbers, shown in the run's log) and returns its metadata."""
    numbers = {k: v for k, v in metadata.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    partition = f" [{context.partition_key}]" if context.has_partition_key else ""
    context.log.info(f"{name}{partition} built: " + (", ".join(f"{k}={v:.4g}" for k, v in numbers.items()) or "done"))
    return metadata


def materialized(context: AssetExecutionContext, dvc: DvcResource, name: str, metadata: dict,
                 fallback: list[Path]) -> MaterializeResult:
    """The node's result: its metadata (logged), and a data version from the hashes its DVC stage (``name``, or
    ``name@<variant>-<seed>`` for a partition) records, else from the ``fallback`` files themselves."""
    stage = f"{name}@{run_of(context.partition_key).name}" if context.has_partition_key else name
    return MaterializeResult(metadata=built(context, name, metadata),
                             data_version=data_version(dvc.commit(stage), fallback))


@asset(group_name="data", pool=POOL, **lineage("raw_sources"),
       description="Raw sources: the shapes world (tiny) or the external data the paper profile's sources point at.")
def raw_sources(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    profile = paths.settings()
    if profile.data.shapes_world is None:
        return MaterializeResult(metadata=built(context, "raw_sources", node_metadata.raw_sources(paths)),
                                 data_version=data_version({}, []))
    data_stages.shapes_world(profile, progress=False)
    return materialized(context, dvc, "raw_sources", node_metadata.raw_sources(paths), [profile.data.paths.raw])


@asset(group_name="data", pool=POOL, **lineage("manifests"),
       description="Filtered manifests per data type (parquet) and the quarantine report.")
def manifests(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    profile = paths.settings()
    data_stages.filter_sources(profile, progress=False)
    return materialized(context, dvc, "manifests", node_metadata.manifests(paths), [profile.data.paths.manifests])


@multi_asset(specs=[AssetSpec(f"shards_{task}", group_name="data", **lineage("shards"),
                              description=f"MDS shards of the {task} data (zstd, sha1 + xxh64), and its held-out "
                                          f"validation split (val/{task})") for task in TASKS],
             name="shards", pool=POOL)
def shards(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource):
    profile = paths.settings()
    data_stages.shards(profile, progress=False)
    hashes = dvc.commit("shards")
    for task in TASKS:
        key = f"shards_{task}"
        yield MaterializeResult(asset_key=key, metadata=built(context, key, node_metadata.shards(paths, task)),
                                data_version=data_version(BY_NAME["shards"].asset_hashes(key, hashes),
                                                          [profile.data.paths.shards / task]))


def foundation_asset(name: str):
    node = f"foundation_{name}"

    @asset(name=node, group_name="foundations", pool=POOL, **lineage(node),
           description=f"The tiny profile's {name} foundation, pretrained from the shapes world, with its quality "
                       "gates (params.yaml foundations.gates).")
    def build(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
        ctx = BuildContext(paths.settings(), progress=False)
        publish(name, ctx)
        return materialized(context, dvc, node, node_metadata.foundation(paths, name), [ctx.settings.directory(name)])

    return build


foundation_tokenizer = foundation_asset("tokenizer")
foundation_llm = foundation_asset("llm")
foundation_encoder = foundation_asset("encoder")
foundation_vae = foundation_asset("vae")
FOUNDATION_ASSETS = [foundation_tokenizer, foundation_llm, foundation_encoder, foundation_vae]


@asset(group_name="foundations", pool=POOL, **lineage("latents"),
       description="The generation shards with each image's VAE posterior, encoded once ahead of training "
                   "(read by the stages with params.yaml training.speed.precomputed_latents).")
def latents(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    write_latents(paths.settings(), progress=False)
    return materialized(context, dvc, "latents", node_metadata.latents(paths), [paths.data().paths.latents])


def stage_asset(stage: str):
    @asset(name=stage, group_name="training", partitions_def=runs, pool=POOL, **lineage(stage),
           description=f"{stage} of one ablation variant, trained with Composer; the partition is the run "
                       "(variant x seed).")
    def train(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource, launcher: TrainerLauncher,
              pipes_client: ResourceParam[PipesClient]) -> MaterializeResult:
        run = run_of(context.partition_key)
        reported = launcher.launch(context, paths, stage, run, pipes_client)
        if reported is None:
            return materialized(context, dvc, stage, node_metadata.training_stage(paths, stage, run),
                                [paths.training().layout.export(run, stage)])
        hashes = dvc.commit(f"{stage}@{run.name}")
        return MaterializeResult(metadata=built(context, stage, dict(reported.metadata or {})),
                                 data_version=data_version(hashes, []) if hashes else reported.data_version)

    return train


stage1 = stage_asset("stage1")
stage2 = stage_asset("stage2")
stage3 = stage_asset("stage3")


@asset(group_name="evaluation", pool=POOL, **lineage("benchmark_prompts"),
       description="The benchmark prompt sets (GenEval, DPG, FID prompts) every variant is sampled on.")
def benchmark_prompts(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    metadata = node_metadata.benchmark_prompts(paths)  # builds the prompt sets (once; later calls read them)
    return materialized(context, dvc, "benchmark_prompts", metadata, [paths.evaluation().layout.prompts])


@asset(group_name="evaluation", partitions_def=runs, pool=POOL, **lineage("benchmark_results"),
       automation_condition=on_new_inputs,
       description="Every benchmark of the profile for one variant's stage-3 checkpoint (generation and "
                   "understanding; sweeps for evaluation.generation.sweep_variants).")
def benchmark_results(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    key = run_of(context.partition_key)
    run = EvalRun.from_params(paths.parsed(), paths.profile_name)
    evaluate_variant(run, key.variant, progress=False, seed=key.seed)
    return materialized(context, dvc, "benchmark_results", node_metadata.benchmark_results(paths, key),
                        [run.settings.layout.summary(key)])


@asset(group_name="evaluation", partitions_def=runs, pool=POOL, **lineage("external_judgements"),
       automation_condition=on_new_inputs,
       description="The official GenEval and DPG-Bench judges over one variant's samples (paper profile: commands "
                   "in evaluation.external_judges), their scores read back for the tables.")
def external_judgements(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    run = run_of(context.partition_key)
    settings = paths.evaluation()
    judge_variant(settings, run)
    return materialized(context, dvc, "external_judgements", node_metadata.external_judgements(paths, run),
                        [settings.layout.judged_dir(run)])


@asset(group_name="reporting", pool=POOL, automation_condition=on_new_inputs, **lineage("benchmark_tables"),
       description="The paper's Tables 2-5 from every evaluated variant (CSV + Markdown).")
def benchmark_tables(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    run = EvalRun.from_params(paths.parsed(), paths.profile_name)
    write_tables(run.settings.out, run.profile_name, list(run.params.variants), run.seeds[0])
    return materialized(context, dvc, "benchmark_tables", node_metadata.benchmark_tables(paths),
                        [run.settings.layout.tables_markdown])


@asset(group_name="reporting", pool=POOL, automation_condition=on_new_inputs, **lineage("comparison_report"),
       description="The comparison report of A-F (Markdown + self-contained HTML) with the paper's claims checked.")
def comparison_report(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    settings = paths.report()
    run = EvalRun.from_params(paths.parsed(), paths.profile_name)
    written = render(collect(run, settings, dict(run.params.variants)), settings.out, settings.close_tolerance)
    return materialized(context, dvc, "comparison_report", node_metadata.comparison_report(paths),
                        [written["markdown"]])


ASSETS = [raw_sources, manifests, shards, *FOUNDATION_ASSETS, latents, stage1, stage2, stage3, benchmark_prompts,
          benchmark_results, external_judgements, benchmark_tables, comparison_report]
