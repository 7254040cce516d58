"""Runs one training stage of one variant with Composer: build the model from the previous stage (or the
foundations), freeze per the stage, stream the stage's data mixture phase by phase, checkpoint with autoresume,
keep EMA weights and export them in the official checkpoint format. Its files (checkpoints with the fingerprint
of what they were trained from, logs, export, sample grids, metrics, the loss curve) are named by
``settings.layout.StageLayout``.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib.util
import itertools
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from composer import Trainer
from composer.algorithms import EMA, GradientClipping
from composer.callbacks import CheckpointSaver, LRMonitor, MemoryMonitor, SpeedMonitor
from composer.core import Callback, DataSpec, Evaluator
from composer.loggers import FileLogger, InMemoryLogger, LoggerDestination
from composer.optim import ConstantWithWarmupScheduler
from composer.utils import dist, parse_uri
from composer.utils.device import get_device
from huggingface_hub import ModelCard
from streaming.base.util import clean_stale_shared_memory
from torch.distributed.tensor import DTensor
from torch.utils.data import DataLoader
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from data.collate import MixedBatchCollator
from data.integrity import file_digest
from data.mixture import build_mixture
from data.publish import claim, output_lock, publishing, write_atomic
from data.shard_store import ShardStoreError, index_digest, is_url, join
from janusflow.config import JanusFlowConfig, official_janusflow_1_3b_config, tiny_config
from janusflow.foundations.alignment import align_understanding
from janusflow.foundations.assemble import from_pretrained_parts, from_tiny_foundations
from janusflow.foundations.codec import profile_codec
from janusflow.foundations.pretrained import FoundationMissingError
from janusflow.hub import CARD_NAME, model_card
from janusflow.modeling import JanusFlowModel
from janusflow.pipeline import JanusFlowPipeline
from janusflow.processor import JanusFlowProcessor
from janusflow.training.callbacks import (
    CompleteOptimizerState,
    LossCurve,
    MixedBatches,
    SampleGrid,
    StageRuntimeEstimator,
    StepSeed,
    StopOnNonFiniteLoss,
)
from janusflow.training.checkpoint_files import LATEST, NAME, fall_back_to_intact
from janusflow.training.composer_model import JanusFlowComposerModel
from janusflow.training.microbatches import num_samples, split_batch
from janusflow.training.objective import TERMS
from janusflow.training.sharding import distribution_of, patch_composer_ema, sharded_units
from janusflow.training.stages import set_trainable
from janusflow.training.variants import variant_model_config
from janusflow.vae import LatentCodec
from settings.data import TASKS, DataSettings
from settings.foundations import FoundationSettings
from settings.layout import StageLayout
from settings.model import TinyModelSettings
from settings.params import Params, Profile, as_params
from settings.provenance import code_version
from settings.run import RunKey
from settings.sampling import SamplingSettings
from settings.training import StageSettings, TrainSettings, Variant
from settings.typed import SettingsError


class MissingUpstreamError(FileNotFoundError):
    """A stage's starting weights are not there; the message names the stage or builder that makes them."""


@dataclass
class StageRun:
    """One (profile, variant, seed, stage) run and the settings it reads."""

    profile: Profile
    sampling: SamplingSettings
    variant: Variant
    stage: StageSettings   # as the variant runs it (``StageSettings.for_variant``)
    seed: int  # the run's seed (params.yaml seeds): the new parts' initialisation, data order, noise

    @classmethod
    def from_params(cls, params: Params | str | Path, profile: str | None, variant: str, stage: str,
                    seed: int | None = None) -> StageRun:
        """``params``: parsed, or a params file; ``profile`` None: the file's own; ``seed`` None: the first of its
        ``seeds``."""
        params = as_params(params)
        chosen, settings = params.variant(variant), params.select(profile)
        return cls(profile=settings, sampling=params.sampling, variant=chosen,
                   stage=settings.stage(stage).for_variant(chosen), seed=params.run(variant, seed).seed)

    @property
    def settings(self) -> TrainSettings:
        return self.profile.training

    @property
    def data(self) -> DataSettings:
        return self.profile.data

    @property
    def key(self) -> RunKey:
        return RunKey(self.variant.name, self.seed)

    @property
    def files(self) -> StageLayout:
        """Where this stage's checkpoints, logs, export, samples, metrics and losses go."""
        return self.settings.layout.stage(self.key, self.stage.name)

    @property
    def directory(self) -> Path:
        return self.files.root

    def upstream(self) -> Path | None:
        previous = self.stage.previous
        return None if previous is None else self.settings.layout.export(self.key, previous)

    def base_config(self, vocab_size: int) -> JanusFlowConfig:
        model = self.profile.model
        return tiny_config(model, vocab_size) if isinstance(model, TinyModelSettings) else official_janusflow_1_3b_config()

    def tokenizer(self) -> PreTrainedTokenizerBase:
        upstream = self.upstream()
        if upstream is not None:
            return AutoTokenizer.from_pretrained(self._require(upstream))
        foundations = self.profile.foundations
        if isinstance(foundations, FoundationSettings):
            directory = foundations.directory("tokenizer")
            if not (directory / "tokenizer.json").is_file():
                raise MissingUpstreamError(f"stage1 needs the tokenizer foundation in {directory}; build it with "
                                           "python -m janusflow.foundations.cli tokenizer.")
            return AutoTokenizer.from_pretrained(directory)
        source = self.profile.model_dir or foundations.llm
        if not source:
            raise MissingUpstreamError("the paper profile's stage1 reads its tokenizer from model_dir or "
                                       "foundations.llm in params.yaml; set one to a local directory.")
        return AutoTokenizer.from_pretrained(source, local_files_only=True)

    def _require(self, export: Path) -> Path:
        if not (export / "config.json").is_file():
            previous = self.stage.previous
            raise MissingUpstreamError(
                f"{self.stage.name} of variant {self.variant.name} starts from {export}, which {previous} produces; "
                f"run it first: python -m janusflow.training.cli {previous} --variant {self.variant.name} "
                f"--seed {self.seed} --profile {self.profile.name}")
        return export

    def initial_model(self, vocab_size: int) -> JanusFlowModel:
        upstream = self.upstream()
        if upstream is not None:
            return JanusFlowModel.from_pretrained(self._require(upstream))
        config = variant_model_config(self.variant, self.base_config(vocab_size))
        foundations = self.profile.foundations
        if isinstance(foundations, FoundationSettings):
            directory = foundations.out
            for part in ("llm", "encoder"):
                if not (directory / part / "config.json").is_file():
                    raise MissingUpstreamError(f"stage1 starts from the {part} foundation in {directory / part}; build "
                                               f"it with python -m janusflow.foundations.cli {part}.")
            return from_tiny_foundations(config, directory, self.seed)
        return from_pretrained_parts(config, foundations.llm, foundations.encoder, self.seed)

    def align_understanding(self, model: JanusFlowModel, tokenizer: PreTrainedTokenizerBase) -> dict[str, float] | None:
        """Stage 1 of the tiny profile, when the LLM foundation reads scenes and the variant's images go through
        the SigLIP encoder: start the und aligner from the fit onto the LLM's slot vectors
        (``janusflow.foundations.alignment``) and return the fit's figures; otherwise None."""
        foundations, world = self.profile.foundations, self.data.shapes_world
        if self.upstream() is not None or not isinstance(foundations, FoundationSettings):
            return None
        if world is None or not foundations.llm.reading.batch_size or model.config.und_encoder_source != "siglip":
            return None
        return align_understanding(model, tokenizer, world)

    def codec(self) -> LatentCodec:
        try:
            return profile_codec(self.profile)
        except FoundationMissingError as error:
            raise MissingUpstreamError(str(error)) from error


def source_digest() -> str:
    """A hash of the model, data and settings code (``janusflow/``, ``data/``, ``settings/``): a stage rerun after a
    code change trains afresh instead of resuming checkpoints that older code made."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for package in ("janusflow", "data", "settings"):
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


BOOKKEEPING = ("out", "save_folder", "tensorboard", "mlflow", "monitor_window")   # where and how a run is recorded


def run_fingerprint(run: StageRun) -> str:
    """What decides a stage's result: its settings, its variant, the code, and the upstream weights it starts
    from (by content, so that every rank and every machine with the same upstream agrees)."""
    upstream = run.upstream()
    weights = sorted(upstream.glob("*.safetensors")) if upstream is not None else []
    record = {"variant": asdict(run.variant), "stage": asdict(run.stage),
              "training": {k: v for k, v in asdict(run.settings).items() if k not in BOOKKEEPING},
              "model": run.profile.model, "seed": run.seed, "code": source_digest(),
              "upstream": [(w.name, file_digest(w)) for w in weights]}
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]


def checkpoint_folder(run: StageRun, fingerprint: str) -> str:
    """Where Composer saves this stage's checkpoints and autoresumes from: the local checkpoints folder, or with
    ``training.save_folder`` the object store, under ``<profile>/<variant>/seed<n>/<stage>/<fingerprint>``. The
    fingerprint in the path starts a changed stage afresh there, as ``claim_checkpoints`` does locally."""
    if run.settings.save_folder is None:
        return str(run.files.checkpoints)
    relative = run.files.root.relative_to(run.settings.layout.root).parts
    return join(run.settings.save_folder, run.profile.name, *relative, fingerprint)


def claim_checkpoints(run: StageRun, fingerprint: str) -> bool:
    """Keep the local checkpoints only if they were trained from what this run would train from, and resume from
    the newest intact one; return whether stale ones were discarded (autoresume would otherwise call a changed
    stage finished)."""
    stale = claim(run.files.checkpoints, run.files.fingerprint, {"fingerprint": fingerprint}, "discard")
    fall_back_to_intact(run.files.checkpoints)
    return stale


def mixed_loader(run: StageRun, processor: JanusFlowProcessor, ratio: dict[str, float], batches: int, name: str,
                 seed: int, validation: bool = False) -> DataSpec:
    """A DataSpec over a Streaming mixture that yields exactly ``batches`` global batches per epoch: of the training
    shards, shuffled, or of the held-out validation shards (``<shards>/val``) in order."""
    world = dist.get_world_size()
    if run.stage.batch_size % world:
        raise SettingsError(f"stages.{run.stage.name}.batch_size {run.stage.batch_size} is not divisible by the "
                            f"{world} training processes; change one of them.")
    per_rank = run.stage.batch_size // world
    loader = run.data.loader
    latents = run.data.latent_source(validation) if run.settings.speed.precomputed_latents else None
    dataset = build_mixture(run.data.shard_source(validation), ratio, processor, run.data.paths.cache, per_rank,
                            seed=seed, name=name, epoch_size=batches * run.stage.batch_size, shuffle=not validation,
                            generation_template=run.sampling.template, predownload=loader.predownload,
                            latents=latents)
    workers = loader.num_workers
    dataloader = DataLoader(dataset, batch_size=per_rank, collate_fn=MixedBatchCollator(processor),
                            num_workers=workers, prefetch_factor=loader.prefetch_factor if workers else None,
                            drop_last=True)
    return DataSpec(dataloader, get_num_samples_in_batch=num_samples, split_batch=split_batch)


def validation_batches(run: StageRun, processor: JanusFlowProcessor, ratio: dict[str, float], batches: int,
                       name: str, seed: int) -> DataSpec:
    """``batches`` batches of the held-out validation shards, read once and kept, so that every evaluation and a
    resumed run measure the same samples: Streaming draws a new subset of a proportioned stream in every epoch."""
    spec = mixed_loader(run, processor, ratio, batches, name, seed, validation=True)
    return DataSpec(list(itertools.islice(spec.dataloader, batches)), get_num_samples_in_batch=num_samples,
                    split_batch=split_batch)


def monitors(device: str, window: int, total_batches: int) -> list[Callback]:
    """Composer's standard monitors: throughput over ``window`` batches (and MFU where the model reports its
    FLOPs), learning rate, the time left in the stage of ``total_batches`` and, on GPUs, memory (on CPU it only
    warns that it cannot measure)."""
    found: list[Callback] = [SpeedMonitor(window_size=window), LRMonitor(), StageRuntimeEstimator(total_batches)]
    return [*found, MemoryMonitor()] if device == "gpu" else found


def mlflow_logger(run: StageRun) -> LoggerDestination:
    """Composer's MLflow logger for this stage: one MLflow run per (variant, seed, stage), taken up again when the
    stage resumes, tagged with the profile, variant, seed and stage; rank 0 logs."""
    settings = run.settings.mlflow
    if importlib.util.find_spec("mlflow") is None:
        raise SettingsError("training.mlflow.enabled is true but the mlflow package is not installed; pip install "
                            "mlflow-skinny, or set training.mlflow.enabled: false.")
    from composer.loggers import MLFlowLogger

    store = run.settings.layout.mlflow_store
    if settings.tracking_uri is None:
        store.parent.mkdir(parents=True, exist_ok=True)
    uri = settings.tracking_uri or f"sqlite:///{store.resolve()}"
    tags = {"profile": run.profile.name, "variant": run.variant.name, "seed": str(run.seed), "stage": run.stage.name}
    return MLFlowLogger(experiment_name=settings.experiment, run_name=f"{run.key.name}-{run.stage.name}",
                        tracking_uri=uri, tags=tags, log_system_metrics=False, resume=True)


def checkpointing(run: StageRun, checkpoints: str) -> tuple[dict[str, Any], list[Callback]]:
    """Trainer arguments and callbacks that save to and autoresume from ``checkpoints``. For an object store the
    saver is built here, with its local copies in a temporary folder: the Trainer's own would download the latest
    checkpoint into a folder named after the URL under the working directory. The store keeps every checkpoint
    (``checkpoints_to_keep`` prunes the local copies)."""
    s = run.settings
    if not is_url(checkpoints):
        return {"save_folder": checkpoints, "save_interval": f"{s.checkpoint_interval}ba",
                "save_num_checkpoints_to_keep": s.checkpoints_to_keep, "save_overwrite": True}, []
    path = parse_uri(checkpoints)[2]
    saver = CheckpointSaver(folder=checkpoints, remote_file_name=f"{path}/{NAME}",
                            latest_remote_file_name=f"{path}/{LATEST}", save_interval=f"{s.checkpoint_interval}ba",
                            num_checkpoints_to_keep=s.checkpoints_to_keep, overwrite=True)
    return {"save_folder": None}, [saver]


def build_trainer(run: StageRun, composer_model: JanusFlowComposerModel, device: str, checkpoints: str,
                  extra_callbacks: list | None = None) -> tuple[Trainer, InMemoryLogger]:
    """The stage's Trainer, checkpointing to (and resuming from) ``checkpoints`` (``checkpoint_folder``)."""
    s, stage = run.settings, run.stage
    if s.parallelism is not None:
        patch_composer_ema()
    trainable = [p for p in composer_model.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=stage.learning_rate, betas=s.betas, weight_decay=s.weight_decay,
                                  fused=device == "gpu")  # one kernel per step on GPUs; CPU keeps torch's default
    memory = InMemoryLogger()
    loggers: list = [FileLogger(filename=str(run.files.logs / "log-rank{rank}.txt"), overwrite=True,
                                capture_stdout=False, capture_stderr=False), memory]
    if s.tensorboard:
        if importlib.util.find_spec("tensorboard") is None:
            raise SettingsError("training.tensorboard is true but the tensorboard package is not installed; "
                                "pip install tensorboard, or set training.tensorboard: false.")
        from composer.loggers import TensorboardLogger

        loggers.append(TensorboardLogger(log_dir=str(run.files.tensorboard)))
    if s.mlflow.enabled:
        loggers.append(mlflow_logger(run))
    microbatch = s.device_microbatch_size or stage.batch_size // dist.get_world_size()
    evaluator = None
    if s.eval_interval:
        evaluator = Evaluator(label="val", dataloader=validation_batches(
            run, composer_model.processor, stage.mixture[-1].ratio, s.eval_batches,
            f"{run.key.name}-{stage.name}-val", run.seed + 1), metric_names=[f"val_{t}" for t in TERMS],
            device_eval_microbatch_size=microbatch)
    saving, savers = checkpointing(run, checkpoints)
    samples = []
    if s.sample_prompts and "gen" in run.variant.tasks:
        samples = [SampleGrid(list(s.sample_prompts), run.files, s.sample_interval, run.sampling)]
    trainer = Trainer(
        model=composer_model, run_name=f"{run.key.name}-{stage.name}",
        optimizers=optimizer, schedulers=ConstantWithWarmupScheduler(t_warmup=f"{stage.warmup_steps}ba"),
        algorithms=[EMA(half_life=f"{s.ema_half_life}ba"), GradientClipping("norm", s.gradient_clip), MixedBatches()],
        callbacks=[StepSeed(), CompleteOptimizerState(),
                   StopOnNonFiniteLoss(checkpoints), *samples, *monitors(device, s.monitor_window, stage.steps),
                   LossCurve(memory, run.files.losses, s.checkpoint_interval, TERMS),
                   *savers, *(extra_callbacks or [])],
        loggers=loggers, progress_bar=True, log_to_console=False,
        eval_dataloader=evaluator, eval_interval=f"{s.eval_interval}ba" if s.eval_interval else 1,
        eval_subset_num_batches=s.eval_batches,
        **saving, autoresume=True,
        device=device, precision=s.precision,
        device_train_microbatch_size=microbatch,
        parallelism_config=s.parallelism_config(), seed=run.seed, deterministic_mode=device == "cpu",
        max_duration=f"{stage.steps}ba",
    )
    return trainer, memory


def release_loader(trainer: Trainer) -> None:
    """Drop the finished phase's loader, so that its Streaming dataset lets go of the shard sets' shared caches
    before the next phase reads them (Streaming lets one live dataset use a cache folder at a time)."""
    trainer.state.set_dataloader(None)
    trainer.state.train_dataloader = None
    trainer._train_data_spec = None
    gc.collect()


def train_phases(trainer: Trainer, run: StageRun, processor: JanusFlowProcessor) -> None:
    """Fit each mixture phase in turn from wherever the (possibly resumed) run stands."""
    for index, (start, end, phase) in enumerate(run.stage.phase_bounds()):
        done = int(trainer.state.timestamp.batch)
        if done >= end:
            continue
        if done == start:
            trainer.state.dataset_state = None
        release_loader(trainer)
        loader = mixed_loader(run, processor, phase.ratio, end - start,
                              f"{run.key.name}-{run.stage.name}-phase{index}", run.seed)
        trainer.fit(train_dataloader=loader, duration=f"{end - done}ba")


def ema_state_dict(trainer: Trainer) -> dict[str, torch.Tensor]:
    """The EMA weights of the JanusFlow model (keys without the ``model.`` prefix). Under FSDP every rank must
    call it: the state dict is gathered from all of them (FSDP2's sharded tensors one by one)."""
    ema = next(a for a in trainer.state.algorithms if isinstance(a, EMA))
    model = trainer.state.model
    swap = not ema.ema_weights_active and ema.ema_model is not None
    if swap:
        ema.ema_model.swap_params(model)
    try:
        inner = getattr(model, "module", model).model
        return {k: (v.full_tensor() if isinstance(v, DTensor) else v).detach().clone()
                for k, v in inner.state_dict().items()}
    finally:
        if swap:
            ema.ema_model.swap_params(model)


def loss_summary(memory: InMemoryLogger) -> dict[str, Any]:
    summary = {}
    for key in [f"loss/train/{t}" for t in (*TERMS, "total")] + [f"metrics/val/val_{t}" for t in TERMS]:
        series = memory.data.get(key) or []
        values = [float(v) for _, v in series]
        if values:
            tail = values[-10:]
            summary[key] = {"first": round(values[0], 4), "last10_mean": round(sum(tail) / len(tail), 4),
                            "points": len(values)}
    return summary


def shard_ids(source: str) -> dict[str, str]:
    """The content id of each training shard set under ``source`` that exists."""
    ids = {}
    for task in TASKS:
        with contextlib.suppress(ShardStoreError):
            ids[task] = index_digest(join(source, task))
    return ids


def export_card(run: StageRun, report: dict[str, Any]) -> ModelCard:
    """The export's model card: the stages so far (those of the upstream export's card, then this one), the shard
    streams it read, its final losses and the commit."""
    upstream = run.upstream()
    earlier = ModelCard.load(upstream / CARD_NAME).data.janusflow["stages"] \
        if upstream is not None and (upstream / CARD_NAME).is_file() else []
    facts = {"profile": run.profile.name, "variant": asdict(run.variant), "seed": run.seed,
             "stages": [*earlier, asdict(run.stage)], "commit": report["code_version"],
             "data": shard_ids(run.data.shard_source())}
    losses = {key.rsplit("/", 1)[-1]: value["last10_mean"] for key, value in report["losses"].items()
              if key.startswith("loss/train/")}
    name = f"JanusFlow {run.profile.name} {run.variant.name} seed{run.seed} {run.stage.name}"
    return model_card(name, facts, losses)


def run_stage(run: StageRun, device: str | None = None, extra_callbacks: list | None = None) -> dict[str, Any]:
    """Train (or resume) one stage of one variant and export its EMA weights; returns what metrics.json holds.
    The stage's folder is locked for the whole run (by rank 0), so a second run of the same stage refuses to start
    instead of writing into the same checkpoints."""
    lock = output_lock(run.directory) if dist.get_global_rank() == 0 else contextlib.nullcontext()
    with lock:
        return _train_and_export(run, device, extra_callbacks)


def _train_and_export(run: StageRun, device: str | None, extra_callbacks: list | None) -> dict[str, Any]:
    started = time.perf_counter()
    clean_stale_shared_memory()
    gc.collect()  # an earlier run in this process may hold its Streaming datasets (same cache folders) in cycles
    device = device or ("gpu" if torch.cuda.is_available() else "cpu")
    tokenizer = run.tokenizer()
    model = run.initial_model(len(tokenizer))
    alignment = run.align_understanding(model, tokenizer)
    processor = JanusFlowProcessor.for_model(tokenizer, model.config)
    parts = set_trainable(model, run.stage.trainable)
    speed = run.settings.speed
    if speed.channels_last:
        model.to_channels_last()
    if speed.compile_layers:
        model.compile_decoder_layers()
    composer_model = JanusFlowComposerModel(JanusFlowPipeline(model, processor, run.codec()), run.seed,
                                            run.settings.p_uncond, speed.fused_cross_entropy,
                                            zero_unused_gradients=run.settings.parallelism == "fsdp2")
    if dist.get_world_size() > 1:
        dist.initialize_dist(get_device(device))  # the Trainer's own call finds it done
    shared = [run_fingerprint(run) if dist.get_global_rank() == 0 else ""]   # one rank hashes the upstream weights
    dist.broadcast_object_list(shared)
    fingerprint = shared[0]
    remote = run.settings.save_folder is not None
    discarded = claim_checkpoints(run, fingerprint) if dist.get_global_rank() == 0 and not remote else False
    dist.barrier()
    checkpoints = checkpoint_folder(run, fingerprint)
    trainer, memory = build_trainer(run, composer_model, device, checkpoints, extra_callbacks)
    resumed_at = int(trainer.state.timestamp.batch)
    if resumed_at == 0 and dist.get_global_rank() == 0:
        shutil.rmtree(run.files.samples, ignore_errors=True)  # grids of an earlier, discarded run
    train_phases(trainer, run, processor)
    trainer.close()
    report = {"variant": asdict(run.variant), "seed": run.seed, "stage": asdict(run.stage),
              "training": asdict(run.settings),
              "profile": run.profile.name, "device": device, "world_size": dist.get_world_size(),
              "distribution": distribution_of(trainer.state.model), "sharded_units": sharded_units(trainer.state.model),
              "trainable_parts": parts, "understanding_alignment": alignment, "resumed_at_batch": resumed_at,
              "discarded_stale_checkpoints": discarded, "checkpoints": checkpoints,
              "batches": int(trainer.state.timestamp.batch), "losses": loss_summary(memory),
              "seconds": round(time.perf_counter() - started, 1), "code_version": code_version()}
    weights = ema_state_dict(trainer)
    if dist.get_global_rank() == 0:
        exported = JanusFlowModel(model.config)  # FSDP has replaced the trained model's parameters by shards
        exported.load_state_dict(weights)
        with publishing(run.files.export) as staging:
            JanusFlowPipeline(exported, processor, None).save_pretrained(staging)
            export_card(run, report).save(staging / CARD_NAME)
        write_atomic(run.files.metrics, json.dumps(report, indent=1, default=str))
    return report
