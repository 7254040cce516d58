"""The whole params.yaml as one typed object, parsed once per process: every package receives it (or its
section) instead of reading the file.

    params = load_params("params.yaml")
    tiny = params.select("tiny")          # a Profile: model, foundations, data, training, stages, evaluation, ...
    tiny.training.ema_half_life, params.sampling.cfg_weight, params.variant("F").repa
"""

from __future__ import annotations

import dataclasses
import functools
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from settings.checks import CheckSettings
from settings.data import DataSettings
from settings.evaluation import EvalSettings
from settings.foundations import FoundationSettings, PretrainedFoundations
from settings.model import ModelSettings, TinyModelSettings
from settings.report import ReportSettings
from settings.run import RunKey
from settings.sampling import SamplingSettings
from settings.training import Stage, StageSettings, TrainSettings, Variant
from settings.typed import SET_BY, SettingsError, from_section

DEFAULT_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


@dataclass(frozen=True)
class Profile:
    """One ``profiles.<name>`` section: the two profiles differ only in these values, never in code paths."""

    name: str = field(metadata={SET_BY: "its key under profiles"})
    seed: int = field(metadata={SET_BY: "the top-level seed"})   # data, foundations, evaluation prompts
    model: ModelSettings
    model_dir: Path | None                     # paper: a local copy of deepseek-ai/JanusFlow-1.3B
    foundations: FoundationSettings | PretrainedFoundations
    data: DataSettings
    training: TrainSettings
    stages: dict[Stage, StageSettings]
    evaluation: EvalSettings
    checks: CheckSettings
    report: ReportSettings

    def __post_init__(self) -> None:
        tiny = isinstance(self.model, TinyModelSettings)
        if tiny != isinstance(self.foundations, FoundationSettings):
            raise SettingsError(f"profiles.{self.name}: a tiny model trains its foundations here (foundations with out, "
                                "tokenizer, llm, encoder, vae, gates); the official model reads pretrained parts "
                                "(foundations with llm, encoder, vae).")

    @property
    def tiny(self) -> bool:
        """Whether the model is the small one whose foundations the pipeline trains (else the official one)."""
        return isinstance(self.model, TinyModelSettings)

    def stage(self, name: str) -> StageSettings:
        if name not in self.stages:
            raise SettingsError(f"unknown stage {name!r}; profile {self.name} defines {list(self.stages)}.")
        return self.stages[name]


@dataclass(frozen=True)
class Params:
    seed: int
    seeds: tuple[int, ...]          # each variant is trained (and evaluated) once per seed
    profile: str                    # the profile dvc.yaml, the Dagster definitions and every command run by default
    launcher: str                   # the module runner that starts a training stage ("python -m", "composer -n 8 -m")
    profiles: dict[str, dict[str, Any]]
    variants: dict[str, Variant]    # the paper's Table 5 ablations, in file order
    sampling: SamplingSettings

    def __post_init__(self) -> None:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise SettingsError(f"seeds in params.yaml is {list(self.seeds)}; give a list of distinct non-negative "
                                "integers, e.g. seeds: [0, 1, 2].")
        if not shlex.split(self.launcher) or shlex.split(self.launcher)[-1] != "-m":
            raise SettingsError(f"launcher in params.yaml is {self.launcher!r}; give a command that runs a Python "
                                "module and ends in -m: python -m, composer -n 8 -m, torchrun --nproc_per_node 8 -m.")
        if not self.variants:
            raise SettingsError("params.yaml has no variants; restore them from the repository (A-F).")
        parsed = {name: _profile(name, section, self.seed) for name, section in self.profiles.items()}
        object.__setattr__(self, "profiles", parsed)
        self.select(self.profile)
        for profile in parsed.values():
            unknown = sorted(set(profile.evaluation.generation.sweep_variants) - set(self.variants))
            if unknown:
                raise SettingsError(f"profiles.{profile.name}.evaluation.generation.sweep_variants names {unknown}; "
                                    f"params.yaml defines {list(self.variants)}.")

    def select(self, name: str | None = None) -> Profile:
        """Profile ``name``; None: the file's own ``profile``, as dvc.yaml and the Dagster assets run."""
        chosen = self.profile if name is None else name
        if chosen not in self.profiles:
            raise SettingsError(f"profile {chosen!r} is not in params.yaml; choose one of {sorted(self.profiles)}.")
        return self.profiles[chosen]

    def variant(self, name: str) -> Variant:
        if name not in self.variants:
            raise SettingsError(f"unknown variant {name!r}; params.yaml defines {list(self.variants)}.")
        return self.variants[name]

    def run(self, variant: str, seed: int | None = None) -> RunKey:
        """The run of ``variant`` from ``seed``; without one, from the first of ``seeds``."""
        self.variant(variant)
        return RunKey(variant, self.seeds[0] if seed is None else seed)

    def runs(self) -> list[RunKey]:
        """Every run of the study: each variant from each seed."""
        return [RunKey(variant, seed) for variant in self.variants for seed in self.seeds]


def _profile(name: str, section: Any, seed: int) -> Profile:
    profile = from_section(Profile, section, f"profiles.{name}", name=name, seed=seed)
    return dataclasses.replace(profile, data=_seed_world(profile.data, seed),
                               foundations=_seed_foundations(profile.foundations, seed))


def _seed_world(data: DataSettings, seed: int) -> DataSettings:
    world = data.shapes_world
    return data if world is None else dataclasses.replace(data, shapes_world=dataclasses.replace(world, seed=seed))


def _seed_foundations(foundations: FoundationSettings | PretrainedFoundations,
                      seed: int) -> FoundationSettings | PretrainedFoundations:
    """The top-level seed seeds every foundation's training."""
    if not isinstance(foundations, FoundationSettings):
        return foundations
    replace = dataclasses.replace
    return replace(foundations,
                   llm=replace(foundations.llm, training=replace(foundations.llm.training, seed=seed)),
                   encoder=replace(foundations.encoder, training=replace(foundations.encoder.training, seed=seed)),
                   vae=replace(foundations.vae, training=replace(foundations.vae.training, seed=seed)))


def read_params(text: str, where: str = "params.yaml") -> Params:
    """Parse the text of a params file."""
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict) or "profiles" not in raw:
        raise SettingsError(f"{where} has no 'profiles' section; restore it from the repository's params.yaml.")
    try:
        return from_section(Params, raw, "")
    except SettingsError as error:
        raise SettingsError(f"{where}: {error}") from error


def load_params(path: str | Path = DEFAULT_PARAMS) -> Params:
    """The params file at ``path``, parsed once per process (again only when the file changes)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no params file at {path}; run from the repository root or pass --params PATH.")
    stat = path.stat()
    return _parsed(path, stat.st_mtime_ns, stat.st_size)


def as_params(params: Params | str | Path) -> Params:
    """``params`` parsed: as given, or loaded from the file it names."""
    return params if isinstance(params, Params) else load_params(params)


@functools.lru_cache(maxsize=8)
def _parsed(path: Path, mtime_ns: int, size: int) -> Params:
    return read_params(path.read_text(), str(path))
