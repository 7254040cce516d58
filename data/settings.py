"""Typed views of params.yaml sections: unknown keys are errors that list the valid ones."""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class SettingsError(ValueError):
    """A params.yaml section has an unknown key, a missing key or a value of the wrong kind."""


def describe(hint: Any) -> str:
    """A type hint in the words of a params.yaml reader: "an integer", "a list of strings", "a number or null"."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(arg) for arg in args)
    if origin in (tuple, list):
        if not args:
            return "a list"
        count = f"{len(args)} " if origin is tuple and args[-1] is not Ellipsis else ""
        return f"a list of {count}{describe(args[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin is dict:
        return "a mapping"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null",
            Path: "a path"}.get(hint, getattr(hint, "__name__", str(hint)))


def check_value(value: Any, hint: Any, where: str) -> Any:
    """``value`` if it is of type ``hint``, in the form the code uses (a YAML list becomes a tuple where a tuple is
    expected, an integer a float where a number is, a string a Path); otherwise a SettingsError that names the key,
    the expected type and the value. ``repa: "false"`` would otherwise be true, and ``hashes: "sha1"`` four hashes."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or isinstance(hint, typing.TypeVar):
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            try:
                return check_value(value, arg, where)
            except SettingsError:
                continue
    elif origin in (tuple, list) and isinstance(value, (list, tuple)):
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) == len(value):
                return tuple(check_value(v, a, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        else:
            items = [check_value(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)] if args else list(value)
            return tuple(items) if origin is tuple else items
    elif origin is dict and isinstance(value, dict):
        if not args:
            return value
        return {check_value(k, args[0], f"{where} key"): check_value(v, args[1], f"{where}.{k}")
                for k, v in value.items()}
    elif origin is typing.Literal:
        if value in args:
            return value
    elif hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif hint is Path and isinstance(value, (str, Path)):
        return Path(value)
    elif hint is type(None) and value is None:
        return None
    elif hint in (bool, str) and isinstance(value, hint):
        return value
    elif origin is None and hint not in (bool, str, int, float, Path, type(None)) and isinstance(hint, type) \
            and not dataclasses.is_dataclass(hint):
        return value   # a class of the code's own (checked where it is built)
    raise SettingsError(f"{where} is {value!r} ({type(value).__name__}); expected {describe(hint)}.")


def from_section(cls: type[T], section: dict[str, Any] | None, where: str) -> T:
    """Build dataclass ``cls`` from a params section; ``where`` names the section in error messages. Unknown keys,
    missing keys and values of the wrong type are errors that name the key and what it takes."""
    if section is not None and not isinstance(section, dict):
        raise SettingsError(f"{where} is {section!r}; expected a mapping with keys "
                            f"{sorted(f.name for f in dataclasses.fields(cls))}.")
    section = dict(section or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(section) - names)
    if unknown:
        raise SettingsError(f"{where} has unknown key(s) {unknown}; valid keys are {sorted(names)}.")
    required = [f.name for f in dataclasses.fields(cls) if f.init and f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in section]
    if missing:
        raise SettingsError(f"{where} is missing key(s) {missing}; valid keys are {sorted(names)}.")
    hints = typing.get_type_hints(cls)
    typed = {key: check_value(value, hints[key], f"{where}.{key}") for key, value in section.items()}
    try:
        return cls(**typed)
    except TypeError as error:
        raise SettingsError(f"{where}: {error}; valid keys are {sorted(names)}.") from error


def _read_params(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no params file at {path}; run from the repository root or pass --params PATH.")
    return yaml.safe_load(path.read_text()) or {}


def add_profile_options(parser: argparse.ArgumentParser) -> None:
    """``--params`` and ``--profile``, the same in every command."""
    parser.add_argument("--params", default="params.yaml", help="the params file (default: params.yaml)")
    parser.add_argument("--profile", default=None,
                        help="a profile of the params file (default: its top-level 'profile', as dvc.yaml runs)")


def selected_profile(path: str | Path, given: str | None = None) -> str:
    """The profile a command runs: ``given`` (``--profile``) if set, else the params file's top-level ``profile``,
    so that a command run by hand reads the same settings as ``dvc repro`` and the Dagster assets."""
    if given:
        return given
    chosen = _read_params(path).get("profile", "tiny")
    if not isinstance(chosen, str) or not chosen:
        raise SettingsError(f"{path}: the top-level profile is {chosen!r}; set it to a profile name (tiny or paper).")
    return chosen


def parse_with_profile(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """``parser.parse_args`` with ``--profile`` resolved by ``selected_profile``; a missing params file or a bad
    top-level profile is a usage error that names it."""
    args = parser.parse_args(argv)
    try:
        args.profile = selected_profile(args.params, args.profile)
    except (FileNotFoundError, SettingsError) as error:
        parser.error(str(error))
    return args


def load_profile(path: str | Path, profile: str) -> dict[str, Any]:
    """The ``profiles.<profile>`` section of a params file, plus the top-level ``seed``."""
    params = _read_params(path)
    profiles = params.get("profiles") or {}
    if profile not in profiles:
        raise SettingsError(f"profile {profile!r} is not in {path}; choose one of {sorted(profiles)}.")
    return {"seed": params.get("seed", 0), **profiles[profile]}


def code_version() -> str:
    """The git commit of the working tree (with ``+dirty`` when it has uncommitted changes), or ``unknown``."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def resolve_workers(value: int | str) -> int:
    """``workers`` from params: a count, or ``auto`` for every core this process may use."""
    if value == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    if isinstance(value, int) and value >= 1:
        return value
    raise SettingsError(f"workers={value!r}; use a positive integer or 'auto'.")
