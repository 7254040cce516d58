"""The lineage, written once: one row per node (its name, command, inputs, outputs and params). dvc.yaml is
generated from this table and the Dagster assets take their names, upstream assets and ``code_version`` from it,
so the two engines run the same graph under the same names.

    python -m orchestration.lineage            # rewrite dvc.yaml from the table
    python -m orchestration.lineage --check    # exit 1 when dvc.yaml differs from the table

A node's code deps are the project files its CLI module imports, directly or not (``orchestration.code_deps``),
plus the non-Python files it reads (``resources``). Paths use DVC's templating: ``${profile}`` is params.yaml's
top-level profile; a per-run node is a DVC ``matrix`` over ``variants`` x ``seeds``, whose item is
``${item.variant}`` and ``${item.seed}`` (written ``{RUN}`` below, the run's folder ``<variant>/seed<seed>``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from orchestration.code_deps import ROOT, collapse, content_hash, module_closure
from settings.data import TASKS
from settings.layout import DataLayout, EvalLayout, FoundationLayout, ReportLayout, TrainingLayout
from settings.run import RunKey
from settings.training import STAGES

ART = Path("artifacts/${profile}")
RUN = RunKey("${item.variant}", "${item.seed}")  # the matrix item's run; its folder is <variant>/seed<seed>
RUN_ARGS = "--variant ${item.variant} --seed ${item.seed}"
# The tiny profile's outputs (artifacts/<profile>/...), named by settings.layout like every other reader
DATA = DataLayout.of(ART / "raw/shapes", ART / "manifests", ART / "shards", ART / "cache/streaming", ART / "latents")
FOUNDATION_FOLDERS = FoundationLayout(ART / "foundations")
TRAINING = TrainingLayout(ART / "training")
EVALS = EvalLayout(ART / "evals")
REPORT = ReportLayout(ART / "report")
DVC_YAML = ROOT / "dvc.yaml"
HEADER = """\
# Generated from orchestration/lineage.py (python -m orchestration.lineage); edit the table there, not this file.
# The same nodes, under the same names, are the Dagster assets in orchestration/assets.py.
# Settings come from params.yaml (``profile`` picks the profile; ``variants`` x ``seeds`` is each matrix), so editing
# one value there reruns exactly the stages that read it:  dvc repro   |   dvc exp run -S variants.C.repa=false
# The paper profile reads external raw data: track it with ``dvc add data/raw`` and repro from ``manifests``.
"""
FOUNDATIONS = ("tokenizer", "llm", "encoder", "vae")
FOUNDATION_FILES = {"tokenizer": "tokenizer.json", "llm": "model.safetensors", "encoder": "model.safetensors",
                    "vae": "diffusion_pytorch_model.safetensors"}   # each foundation's weights, in its library's name
SHARDS = tuple(str(DATA.shards.stream(task, validation)) for validation in (False, True) for task in TASKS)
LATENT_SETS = tuple(str(DATA.latents.stream("gen", validation)) for validation in (False, True))


def weights(name: str) -> str:
    return str(FOUNDATION_FOLDERS.directory(name) / FOUNDATION_FILES[name])


@dataclass(frozen=True)
class Node:
    """One lineage node: a DVC stage (a ``matrix`` over variants x seeds when ``per_run``) and its asset(s)."""

    name: str
    cli: str                               # the module run with ``python -m``; its imports are the code deps
    args: str                              # the CLI's arguments (RUN_ARGS for a per-run node)
    inputs: tuple[str, ...] = ()           # artifacts it reads
    outs: tuple[Any, ...] = ()             # a path, or {path: DVC options}
    params: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    plots: tuple[Any, ...] = ()
    resources: tuple[str, ...] = ()        # non-Python files the code reads (reference tables, templates)
    per_run: bool = False
    assets: tuple[str, ...] = field(default=())  # Dagster asset keys, when not just the node's name
    launched: bool = False                 # started by params.yaml ``launcher`` (training: one GPU or many)

    @property
    def asset_keys(self) -> tuple[str, ...]:
        return self.assets or (self.name,)

    def asset_hashes(self, key: str, hashes: dict[str, str]) -> dict[str, str]:
        """The part of the node's output hashes (dvc.lock) that is asset ``key``'s: all of them for a one-asset
        node; for ``shards``, the folders of its data type (``shards/und``, ``shards/val/und`` for shards_und)."""
        if len(self.asset_keys) == 1:
            return hashes
        part = key.removeprefix(f"{self.name}_")
        return {path: value for path, value in hashes.items() if path.endswith(f"/{part}")}

    @property
    def command(self) -> str:
        return f"{'${launcher}' if self.launched else 'python -m'} {self.cli} {self.args} --profile ${{profile}}"

    def code(self) -> list[str]:
        """The project code and resources this node runs, as DVC deps; an empty file (a bare ``__init__.py``)
        is left out, as DVC warns about it; once it holds code, ``--check`` asks for dvc.yaml to be rewritten."""
        deps = collapse(module_closure((self.cli,)))
        return [*(d for d in deps if (ROOT / d).is_dir() or (ROOT / d).stat().st_size), *self.resources]

    def code_version(self) -> str:
        """Changes whenever a file of ``code()`` changes: Dagster marks the asset's materializations stale."""
        return code_version_of(self.name)

    def produced(self) -> list[str]:
        """Every path the node writes (outs, metrics, plots)."""
        return [next(iter(o)) if isinstance(o, dict) else o for o in (*self.outs, *self.metrics, *self.plots)]

    def dvc_stage(self) -> dict[str, Any]:
        stage: dict[str, Any] = {"cmd": self.command, "deps": [*self.inputs, *self.code()], "params": list(self.params)}
        if self.outs:
            stage["outs"] = [dict(o) if isinstance(o, dict) else o for o in self.outs]
        if self.metrics:
            stage["metrics"] = [{path: {"cache": False}} for path in self.metrics]
        if self.plots:
            stage["plots"] = [dict(p) for p in self.plots]
        return {"matrix": {"variant": "${variants}", "seed": "${seeds}"}, **stage} if self.per_run else stage


def foundation(name: str) -> Node:
    inputs = (*SHARDS[:3], str(DATA.world.heldout.root), *((weights("tokenizer"),) if name in ("llm", "encoder") else ()))
    model_params = ("profiles.${profile}.model",) if name in ("llm", "encoder") else ()
    world = ("profiles.${profile}.data.shapes_world",) if name == "llm" else ()
    outs = {"tokenizer": ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"),
            "llm": ("config.json", "generation_config.json", "model.safetensors"),
            "encoder": ("config.json", "model.safetensors"),
            "vae": ("config.json", "diffusion_pytorch_model.safetensors")}[name]
    folder = FOUNDATION_FOLDERS.directory(name)
    return Node(f"foundation_{name}", "janusflow.foundations.cli", f"{name} --no-progress", inputs,
                tuple(str(folder / o) for o in outs),
                ("seed", *model_params, f"profiles.${{profile}}.foundations.{name}",
                 f"profiles.${{profile}}.foundations.gates.{name}", *world),
                metrics=(str(FOUNDATION_FOLDERS.metrics(name)),))


def training_stage(stage: str) -> Node:
    index = STAGES.index(stage)
    previous = (str(TRAINING.export(RUN, STAGES[index - 1])),) if index else ()
    files = TRAINING.stage(RUN, stage)
    reading = ("profiles.${profile}.data.shapes_world", "profiles.${profile}.foundations.llm.reading") \
        if stage == "stage1" else ()  # stage 1 fits the aligner to the LLM's scene reading
    return Node(stage, "janusflow.training.cli", f"{stage} {RUN_ARGS}",
                (*(weights(n) for n in FOUNDATIONS), *SHARDS, *LATENT_SETS, *previous), (str(files.export),),
                ("seed", "launcher", "sampling", "variants.${item.variant}", "profiles.${profile}.model",
                 "profiles.${profile}.training",
                 f"profiles.${{profile}}.stages.{stage}", "profiles.${profile}.data.loader", *reading),
                metrics=(str(files.metrics),),
                plots=({str(files.losses): {"cache": False, "persist": True, "x": "step", "y": "total"}},),
                per_run=True, launched=True)


NODES: tuple[Node, ...] = (
    Node("raw_sources", "data.cli", "shapes-world --no-progress",
         params=("seed", "profiles.${profile}.data.shapes_world"), outs=(str(DATA.world.root),)),
    Node("manifests", "data.cli", "filter --no-progress", (str(DATA.world.root),),
         (*(str(DATA.manifests.manifest(task)) for task in TASKS), str(DATA.manifests.quarantine),
          str(DATA.manifests.report_markdown)),
         ("seed", "profiles.${profile}.data.sources", "profiles.${profile}.data.filters"),
         metrics=(str(DATA.manifests.report),)),
    Node("shards", "data.cli", "shards --no-progress", tuple(str(DATA.manifests.manifest(task)) for task in TASKS),
         SHARDS, ("profiles.${profile}.data.shards", "profiles.${profile}.data.paths.remote"),
         metrics=(str(DATA.shards.summary),),
         assets=("shards_und", "shards_gen", "shards_text")),
    *(foundation(name) for name in FOUNDATIONS),
    Node("latents", "janusflow.training.latents", "--no-progress",
         (*(str(DATA.shards.stream("gen", validation)) for validation in (False, True)), weights("vae")),
         LATENT_SETS, ("profiles.${profile}.data.shards", "profiles.${profile}.data.paths.remote",
                       "profiles.${profile}.foundations.vae"),
         metrics=(str(DATA.latents.summary),)),
    *(training_stage(stage) for stage in STAGES),
    Node("benchmark_prompts", "evals.cli", "prompts --no-progress", (str(DATA.world.heldout.root),),
         (str(EVALS.prompts),), ("seed", "profiles.${profile}.evaluation.generation"),
         resources=("evals/reference/geneval_evaluation_metadata.jsonl", "evals/reference/dpg_bench_prompts.jsonl")),
    Node("benchmark_results", "evals.cli", f"variant {RUN_ARGS} --no-progress",
         (str(TRAINING.export(RUN)), str(EVALS.prompts), str(DATA.world.heldout.root), weights("encoder"),
          weights("vae")),
         # persist: an interrupted evaluation resumes (its samples and answers are kept per checkpoint hash)
         ({str(EVALS.run_dir(RUN)): {"persist": True}},),
         ("seed", "sampling", "variants.${item.variant}", "profiles.${profile}.evaluation"),
         metrics=(str(EVALS.summary(RUN)),), per_run=True),
    Node("external_judgements", "evals.judges", RUN_ARGS, (str(EVALS.run_dir(RUN)),),
         # persist: a judge's results stay while the evaluated weights do (GPU hours for the official judges)
         ({str(EVALS.judged_dir(RUN)): {"persist": True}},), ("profiles.${profile}.evaluation.external_judges",),
         per_run=True),
    Node("benchmark_tables", "evals.cli", "tables", (str(EVALS.summaries), str(EVALS.judgements)),
         (str(EVALS.tables),), ("variants", "seeds"), resources=("evals/reference/paper",)),
    Node("comparison_report", "reports.cli", "", (str(EVALS.tables), str(EVALS.summaries), str(EVALS.judgements),
                                                   str(TRAINING.root)),
         (str(REPORT.root),), ("variants", "seeds", "profiles.${profile}.report"),
         resources=("evals/reference/paper", "reports/templates")),
)
BY_NAME = {node.name: node for node in NODES}


@lru_cache(maxsize=None)
def code_version_of(name: str) -> str:
    """Node ``name``'s code hashed once per process (the shards' three assets share it)."""
    return content_hash(BY_NAME[name].code())
BY_ASSET = {key: node for node in NODES for key in node.asset_keys}


def overlaps(a: str, b: str) -> bool:
    """Whether one path is the other or lies inside it."""
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


def upstream(name: str) -> list[Node]:
    """The nodes whose outputs ``name`` reads, in table order."""
    node = BY_NAME[name]
    return [other for other in NODES if other is not node
            and any(overlaps(i, p) for i in node.inputs for p in other.produced())]


def upstream_assets(name: str) -> list[str]:
    return [key for node in upstream(name) for key in node.asset_keys]


def dvc_yaml() -> str:
    stages = {node.name: node.dvc_stage() for node in NODES}
    body = yaml.safe_dump({"stages": stages}, sort_keys=False, width=120, default_flow_style=None)
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only compare dvc.yaml with the table")
    args = parser.parse_args(argv)
    wanted = dvc_yaml()
    if args.check:
        if DVC_YAML.read_text() != wanted:
            print(f"{DVC_YAML} differs from orchestration/lineage.py; run python -m orchestration.lineage.")
            return 1
        print(f"{DVC_YAML} matches the lineage table ({len(NODES)} nodes).")
        return 0
    DVC_YAML.write_text(wanted)
    print(f"wrote {DVC_YAML} ({len(NODES)} nodes).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
