"""The project code a lineage node runs, found from its entry modules' imports: the files DVC hashes for the
node and Dagster's ``code_version``, so neither list is written by hand nor drifts from the code.

Imports are read with ``ast`` (nothing is executed), at module level and inside functions, and followed only
into the project's own packages; a package's ``__init__`` counts as imported with any of its submodules."""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("settings", "data", "janusflow", "evals", "reports", "orchestration")


def module_file(module: str, root: Path = ROOT) -> Path | None:
    """The file of a project module (``a.b`` -> a/b.py or a/b/__init__.py), or None outside the project."""
    if module.split(".")[0] not in PACKAGES:
        return None
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def file_module(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every project module ``path`` imports (``from a import b`` counts ``a.b`` when b is a module)."""
    package = file_module(path, root) if path.name == "__init__.py" else file_module(path, root).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if module_file(name, root) is not None}


def with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


@lru_cache(maxsize=None)
def module_closure(entries: tuple[str, ...], root: Path = ROOT) -> tuple[Path, ...]:
    """The files of ``entries`` and of every project module they import, directly or not, sorted."""
    seen: set[Path] = set()
    pending = [name for entry in entries for name in with_parents(entry)]
    while pending:
        path = module_file(pending.pop(), root)
        if path is None:
            raise ValueError(f"{entries}: a module is not in the project ({', '.join(PACKAGES)}); check the node's "
                             "entry modules in orchestration/lineage.py.")
        if path in seen:
            continue
        seen.add(path)
        pending += [name for module in imported_modules(path, root) for name in with_parents(module)]
    return tuple(sorted(seen))


def collapse(files: tuple[Path, ...], root: Path = ROOT) -> list[str]:
    """The files as DVC deps, relative to ``root``: a folder stands for its files when every Python file under it
    is among them (the shortest such folder wins), so new files there are covered too."""
    chosen = set(files)
    folders = sorted({parent for f in files for parent in f.parents if root in parent.parents},
                     key=lambda p: len(p.parts))
    covered: set[Path] = set()
    deps: list[str] = []
    for folder in folders:
        if any(folder.is_relative_to(c) for c in covered):
            continue
        inside = set(folder.rglob("*.py"))
        if inside and inside <= chosen:
            covered.add(folder)
            deps.append(folder.relative_to(root).as_posix())
    deps += [f.relative_to(root).as_posix() for f in files if not any(f.is_relative_to(c) for c in covered)]
    return sorted(deps)


def content_hash(paths: list[str], root: Path = ROOT) -> str:
    """A short hash of the files (folders: every file under them, caches left out) by path and content."""
    digest = hashlib.sha256()
    for name in sorted(paths):
        target = root / name
        files = sorted(p for p in target.rglob("*") if p.is_file() and "__pycache__" not in p.parts) \
            if target.is_dir() else [target]
        for file in files:
            digest.update(file.relative_to(root).as_posix().encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
