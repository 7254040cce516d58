"""Type-checked dataclasses from YAML sections: unknown, missing and mistyped keys are errors that name the key and
what it takes."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
SET_BY = "set_by"   # field metadata: the field is filled from another part of params.yaml (e.g. the top-level seed)


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
    if dataclasses.is_dataclass(hint):
        return f"a mapping with keys {sorted(f.name for f in dataclasses.fields(hint) if SET_BY not in f.metadata)}"
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
        errors = []
        for arg in args:
            try:
                return check_value(value, arg, where)
            except SettingsError as error:
                errors.append((arg, error))
        meant = _meant(value, [arg for arg, _ in errors])
        if meant is not None:
            raise dict(errors)[meant]
    elif dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return from_section(hint, value, where)
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
        if _named_by_key(args[1]):
            return {check_value(k, args[0], f"{where} key"): from_section(args[1], v, f"{where}.{k}", name=k)
                    for k, v in value.items()}
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
    raise SettingsError(f"{where} is {value!r} ({type(value).__name__}); expected {describe(hint)}.")


def from_section(cls: type[T], section: dict[str, Any] | None, where: str, **given: Any) -> T:
    """Build dataclass ``cls`` from a params section; ``where`` names the section in error messages. Every field is
    required, whatever its default (which serves library callers): a value a run uses is written in params.yaml.
    Fields marked ``SET_BY`` come from elsewhere in the file (``given``, else their default) and may not appear. Unknown keys, missing keys and values
    of the wrong type are errors that name the key and what it takes."""
    label = where or "params.yaml"   # the top level names its keys without a prefix
    if section is not None and not isinstance(section, dict):
        raise SettingsError(f"{label} is {section!r}; expected {describe(cls)}.")
    section = dict(section or {})
    injected = {f.name for f in dataclasses.fields(cls) if SET_BY in f.metadata}
    names = sorted(f.name for f in dataclasses.fields(cls) if f.name not in injected)
    unknown = sorted(set(section) - set(names))
    if unknown:
        raise SettingsError(f"{label} has unknown key(s) {unknown}; valid keys are {names}.")
    hints = typing.get_type_hints(cls)
    typed = {key: check_value(value, hints[key], f"{where}.{key}" if where else key)
             for key, value in section.items()}
    missing = [name for name in names if name not in section]
    if missing:
        raise SettingsError(f"{label} is missing key(s) {missing}; valid keys are {names}.")
    try:
        return cls(**typed, **given)
    except SettingsError:
        raise
    except (TypeError, ValueError) as error:
        raise SettingsError(f"{label}: {error}") from error


def _meant(value: Any, members: list[Any]) -> Any:
    """The dataclass of a union that a mapping was meant to be (the one sharing most keys with it), so that the
    error names what is wrong inside it rather than listing every member; None for other values."""
    classes = [hint for hint in members if dataclasses.is_dataclass(hint)]
    if not isinstance(value, dict) or not classes:
        return None
    return max(classes, key=lambda hint: len(set(value) & {f.name for f in dataclasses.fields(hint)}))


def _named_by_key(hint: Any) -> bool:
    """Whether ``hint`` is a dataclass whose ``name`` is its key in the enclosing mapping (a stage, a variant)."""
    return dataclasses.is_dataclass(hint) and any(f.name == "name" and SET_BY in f.metadata
                                                  for f in dataclasses.fields(hint))
