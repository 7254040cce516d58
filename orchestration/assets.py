"""One asset per lineage node, each calling the library function behind the matching CLI and DVC stage:
raw sources -> manifests (+ quarantine) -> MDS shards per data type -> foundations -> stage 1/2/3 per variant
-> benchmark results per variant -> benchmark tables -> comparison report."""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    AutomationCondition,
    MaterializeResult,
    StaticPartitionsDefinition,
    asset,
    multi_asset,
)

from data import cli as data_cli
from data.sources.base import TASKS
from evals.run import EvalRun, evaluate_variant
from evals.tables import write_tables
from janusflow.foundations import cli as foundations_cli
from janusflow.params import DEFAULT_PARAMS, load_params
from orchestration import node_metadata
from orchestration.metadata import data_version, task_outputs
from orchestration.resources import DvcResource, PipelinePaths, TrainerLauncher
from reports.collect import collect
from reports.render import render

POOL = "janusflow"  # every asset writes artifacts and dvc.lock: one at a time (limit in .dagster_home/dagster.yaml)
variants = StaticPartitionsDefinition(list(load_params(DEFAULT_PARAMS)["variants"]))
on_new_inputs = AutomationCondition.eager()


@asset(group_name="data", pool=POOL, description="Raw sources: the shapes world (tiny) or the external data "
       "the paper profile's sources point at.")
def raw_sources(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    profile = paths.data()
    if profile.shapes_world is None:
        return MaterializeResult(metadata=node_metadata.raw_sources(paths), data_version=data_version({}, []))
    data_cli.shapes_world(profile, progress=False)
    return MaterializeResult(metadata=node_metadata.raw_sources(paths),
                             data_version=data_version(dvc.commit("shapes_world"), [profile.paths["raw"]]))


@asset(group_name="data", deps=[raw_sources], pool=POOL,
       description="Filtered manifests per data type (parquet) and the quarantine report.")
def manifests(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    profile = paths.data()
    data_cli.filter_sources(profile, progress=False)
    return MaterializeResult(metadata=node_metadata.manifests(paths),
                             data_version=data_version(dvc.commit("filter"), [profile.paths["manifests"]]))


@multi_asset(specs=[AssetSpec(f"shards_{task}", deps=[manifests], group_name="data",
                              description=f"MDS shards of the {task} data (zstd, sha1 + xxh64), and its held-out "
                                          f"validation split (val/{task})") for task in TASKS],
             pool=POOL)
def shards(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource):
    profile = paths.data()
    data_cli.shards(profile, progress=False)
    hashes = dvc.commit("shards")
    for task in TASKS:
        yield MaterializeResult(asset_key=f"shards_{task}", metadata=node_metadata.shards(paths, task),
                                data_version=data_version(task_outputs(hashes, task), [profile.paths["shards"] / task]))


SHARD_KEYS = [AssetKey(f"shards_{task}") for task in TASKS]


def foundation_asset(name: str, upstream: list):
    @asset(name=f"foundation_{name}", group_name="foundations", deps=[*SHARD_KEYS, *upstream], pool=POOL,
           description=f"The tiny profile's {name} foundation, pretrained from the shapes world, with its quality "
                       "gates (params.yaml foundations.gates).")
    def build(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
        ctx = foundations_cli.Context(paths.params, paths.profile_name, progress=False)
        foundations_cli.record(name, foundations_cli.build(name, ctx), ctx)
        return MaterializeResult(metadata=node_metadata.foundation(paths, name),
                                 data_version=data_version(dvc.commit(f"foundation_{name}"),
                                                           [ctx.settings.directory(name)]))

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
        launcher.launch(context, paths, stage, variant)
        folder = paths.training().stage_dir(variant, stage)
        return MaterializeResult(metadata=node_metadata.training_stage(paths, stage, variant),
                                 data_version=data_version(dvc.commit(f"{stage}@{variant}"), [folder / "export"]))

    return train


stage1 = stage_asset("stage1", [*FOUNDATION_ASSETS, *SHARD_KEYS])
stage2 = stage_asset("stage2", [stage1])
stage3 = stage_asset("stage3", [stage2])


@asset(group_name="evaluation", deps=[raw_sources], pool=POOL,
       description="The benchmark prompt sets (GenEval, DPG, FID prompts) every variant is sampled on.")
def benchmark_prompts(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    metadata = node_metadata.benchmark_prompts(paths)  # builds the prompt sets (once; later calls read them)
    return MaterializeResult(metadata=metadata, data_version=data_version(dvc.commit("eval_prompts"),
                                                                          [paths.evaluation().out / "prompts"]))


@asset(group_name="evaluation", partitions_def=variants, deps=[stage3, benchmark_prompts], pool=POOL,
       automation_condition=on_new_inputs,
       description="Every benchmark of the profile for one variant's stage-3 checkpoint (generation and "
                   "understanding; sweeps for evaluation.generation.sweep_variants).")
def benchmark_results(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    variant = context.partition_key
    run = EvalRun.from_params(paths.params, paths.profile_name)
    evaluate_variant(run, variant, progress=False)
    return MaterializeResult(
        metadata=node_metadata.benchmark_results(paths, variant),
        data_version=data_version(dvc.commit(f"evaluate@{variant}"), [run.settings.summary_path(variant)]))


@asset(group_name="reporting", deps=[benchmark_results], pool=POOL, automation_condition=on_new_inputs,
       description="The paper's Tables 2-5 from every evaluated variant (CSV + Markdown).")
def benchmark_tables(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    run = EvalRun.from_params(paths.params, paths.profile_name)
    write_tables(run.settings.out, run.profile_name, list(run.params["variants"]))
    return MaterializeResult(metadata=node_metadata.benchmark_tables(paths),
                             data_version=data_version(dvc.commit("tables"), [run.settings.out / "tables" / "tables.md"]))


@asset(group_name="reporting", deps=[benchmark_tables], pool=POOL, automation_condition=on_new_inputs,
       description="The comparison report of A-F (Markdown + self-contained HTML) with the paper's claims checked.")
def comparison_report(context: AssetExecutionContext, paths: PipelinePaths, dvc: DvcResource) -> MaterializeResult:
    settings = paths.report()
    run = EvalRun.from_params(paths.params, paths.profile_name)
    written = render(collect(run, settings, dict(run.params["variants"])), settings.out, settings.close_tolerance)
    return MaterializeResult(metadata=node_metadata.comparison_report(paths),
                             data_version=data_version(dvc.commit("report"), [written["markdown"]]))


ASSETS = [raw_sources, manifests, shards, *FOUNDATION_ASSETS, stage1, stage2, stage3, benchmark_prompts,
          benchmark_results, benchmark_tables, comparison_report]
