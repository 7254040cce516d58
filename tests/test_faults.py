"""Fault injection on the data stages as DVC runs them (``python -m data.cli``): a stage killed at several points
publishes nothing and leaves the previous output intact, a second concurrent run is refused, damaged inputs stop
the next stage, and a rerun gives exactly what an undisturbed run gives."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import small_data_params

from data.publish import output_lock

REPO = Path(__file__).resolve().parents[1]
STAGES = {"shapes-world": "raw", "filter": "manifests", "shards": "shards"}
TIMING = ("seconds", "records_per_second")
KILL_ON_CALL = """
import os, runpy, sys
from importlib import import_module

module, _, attribute = sys.argv[1].partition(":")
owner_name, _, method = attribute.rpartition(".")
owner = import_module(module)
for part in filter(None, owner_name.split(".")):
    owner = getattr(owner, part)
original, calls, kill_at = getattr(owner, method), [0], int(sys.argv[2])

def killing(*args, **kwargs):
    calls[0] += 1
    if calls[0] == kill_at:
        os.kill(os.getpid(), 9)
    return original(*args, **kwargs)

setattr(owner, method, killing)
if len(sys.argv) > 3 and sys.argv[3] == "no-exchange":
    import data.publish
    data.publish._exchange = lambda first, second: False
sys.argv = ["data.cli", *sys.argv[4:]]
runpy.run_module("data.cli", run_name="__main__")
"""


def run(params: Path, stage: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "data.cli", stage, "--params", str(params), "--no-progress"],
                          cwd=REPO, capture_output=True, text=True)


def killed(params: Path, stage: str, target: str, call: int, exchange: bool = True) -> None:
    """Run ``stage`` and SIGKILL it on the ``call``-th call of ``target`` (module:Owner.method)."""
    result = subprocess.run([sys.executable, "-c", KILL_ON_CALL, target, str(call), "exchange" if exchange else
                             "no-exchange", stage, "--params", str(params), "--no-progress"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]


def digests(folder: Path) -> dict[str, str]:
    """Every file's sha256, except the timings in a filter report (they differ between any two runs)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.name == "report.json":
            data = json.dumps({k: v for k, v in json.loads(data).items() if k not in TIMING}).encode()
        if path.name == "report.md":
            data = b"\n".join(line for line in data.splitlines() if b"records/s" not in line)
        out[path.relative_to(folder).as_posix()] = hashlib.sha256(data).hexdigest()
    return out


def single_process(params: Path) -> Path:
    """No process pool to start: each stage run then costs little more than its imports."""
    raw = yaml.safe_load(params.read_text())
    raw["profiles"]["tiny"]["data"]["workers"] = 1
    params.write_text(yaml.safe_dump(raw))
    return params


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path, dict[str, dict[str, str]]]:
    """The three data stages run undisturbed once: (root, params, every output's digests). Each test leaves the
    outputs as it found them (its rerun restores them), so that the next one starts from the same lineage."""
    root = tmp_path_factory.mktemp("lineage")
    params = single_process(small_data_params(root))
    raw = yaml.safe_load(params.read_text())
    raw["profiles"]["tiny"]["foundations"]["out"] = str(root / "foundations")
    params.write_text(yaml.safe_dump(raw))
    for stage in STAGES:
        assert run(params, stage).returncode == 0
    return root, params, {stage: digests(root / folder) for stage, folder in STAGES.items()}


@pytest.mark.parametrize(("stage", "target", "call"), [
    ("shapes-world", "tarfile:TarFile.addfile", 30),            # inside the first generation tar
    ("shapes-world", "data.shapes.world:write_eval", 1),         # training sources written, held-out not yet
    ("filter", "pandas:DataFrame.to_parquet", 2),                # between two manifests
    ("filter", "data.publish:swap_in", 1),                       # verified, not yet published
    ("shards", "streaming:MDSWriter.write", 25),                 # midway through a shard
    ("shards", "data.shards:verify_shards", 3),                  # written, half verified
])
def test_a_stage_killed_midway_leaves_the_previous_output_and_a_rerun_matches_an_undisturbed_run(
        built, stage, target, call):
    root, params, undisturbed = built
    folder = root / STAGES[stage]
    killed(params, stage, target, call)
    assert digests(folder) == undisturbed[stage]
    assert list(root.glob(f".{folder.name}.staging/*"))   # what the kill left is there, unpublished
    assert run(params, stage).returncode == 0
    assert digests(folder) == undisturbed[stage]
    assert not list(root.glob(".*.staging"))


def test_a_first_run_killed_midway_publishes_nothing(tmp_path):
    params = single_process(small_data_params(tmp_path))
    killed(params, "shapes-world", "tarfile:TarFile.addfile", 30)
    assert not (tmp_path / "raw").exists()
    assert run(params, "filter").returncode == 1   # nothing to read: the next stage stops, it does not read half


def test_a_kill_between_the_two_renames_is_repaired_by_the_next_run(built):
    root, params, undisturbed = built
    killed(params, "filter", "os:rename", 2, exchange=False)   # the old output moved aside, the new not yet in
    assert not (root / "manifests").exists() and (root / ".manifests.previous").is_dir()
    assert run(params, "shards").returncode == 1       # no manifests: the shard stage stops
    assert run(params, "filter").returncode == 0
    assert digests(root / "manifests") == undisturbed["filter"]


def test_a_second_concurrent_run_of_a_stage_is_refused_and_writes_nothing(built):
    root, params, undisturbed = built
    with output_lock(root / "manifests"):
        second = run(params, "filter")
    assert second.returncode == 1
    assert f"{root / 'manifests'} is being written by another run (pid " in second.stderr
    assert digests(root / "manifests") == undisturbed["filter"]


def test_a_manifest_with_one_flipped_byte_stops_the_shard_stage(built):
    root, params, undisturbed = built
    manifest = root / "manifests" / "gen.parquet"
    data = bytearray(manifest.read_bytes())
    data[len(data) // 2] ^= 0x01   # same size, still parquet-shaped: only the recorded sha256 tells
    manifest.write_bytes(bytes(data))
    result = run(params, "shards")
    assert result.returncode == 1
    assert "gen.parquet is missing or differs from the one the filter stage wrote" in result.stderr
    assert digests(root / "shards") == undisturbed["shards"]
    assert run(params, "filter").returncode == 0 and digests(root / "manifests") == undisturbed["filter"]


def test_a_foundation_killed_after_training_keeps_the_previous_one_and_its_rerun_matches(built):
    root, params, _ = built
    command = [sys.executable, "-m", "janusflow.foundations.cli", "tokenizer", "--params", str(params),
               "--no-progress"]
    first = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    folder = root / "foundations" / "tokenizer"
    before = digests(folder)
    assert first.returncode in (0, 1) and "tokenizer.json" in before   # 1: a gate failed; published with its verdict
    kill = KILL_ON_CALL.replace('runpy.run_module("data.cli"', 'runpy.run_module("janusflow.foundations.cli"')
    result = subprocess.run([sys.executable, "-c", kill, "janusflow.foundations.gates:gate_failures", "1", "exchange",
                             *command[3:]], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]   # trained, metrics not yet written
    assert digests(folder) == before and list(root.glob("foundations/.tokenizer.staging/tokenizer.json"))
    assert subprocess.run(command, cwd=REPO, capture_output=True, text=True).returncode == first.returncode
    assert digests(folder) == before
