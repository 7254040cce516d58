"""The lineage table is the one definition of the graph: dvc.yaml is generated from it, the Dagster assets take
their names, upstream assets and code versions from it, and each node's code deps are what its CLI imports.
Per-run nodes are partitioned (and DVC-matrixed) by variant x seed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import parsed
from dagster import AssetKey

from janusflow.training.run import StageRun
from orchestration import lineage
from orchestration.code_deps import collapse, content_hash, imported_modules, module_closure
from orchestration.definitions import defs
from orchestration.lineage import BY_NAME, NODES, upstream_assets
from orchestration.partitions import partition_key, run_of, run_of_dvc_item, runs_partitions
from orchestration.resources import default_dvc
from settings.run import RunKey

ROOT = Path(__file__).resolve().parents[1]


def test_dvc_yaml_is_the_table_written_out_and_a_hand_edit_is_caught(tmp_path, monkeypatch, capsys):
    assert lineage.main(["--check"]) == 0
    edited = tmp_path / "dvc.yaml"
    edited.write_text((ROOT / "dvc.yaml").read_text().replace("--seed ${item.seed}", "--seed 0", 1))
    monkeypatch.setattr(lineage, "DVC_YAML", edited)
    assert lineage.main(["--check"]) == 1
    assert "differs from orchestration/lineage.py; run python -m orchestration.lineage" in capsys.readouterr().out
    assert lineage.main([]) == 0 and edited.read_text() == (ROOT / "dvc.yaml").read_text()


def test_every_asset_has_its_nodes_name_upstream_and_code_version():
    graph = defs.get_repository_def().asset_graph
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == {key for node in NODES for key in node.asset_keys}
    for node in NODES:
        for key in node.asset_keys:
            asset = graph.get(AssetKey(key))
            assert {k.to_user_string() for k in asset.parent_keys} == set(upstream_assets(node.name)), key
            assert asset.code_version == node.code_version() and len(asset.code_version) == 16
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert list(stages) == [node.name for node in NODES]
    assert stages["benchmark_results"]["cmd"] == \
        "python -m evals.cli variant --variant ${item.variant} --seed ${item.seed} --no-progress --profile ${profile}"
    assert stages["benchmark_results"]["matrix"] == {"variant": "${variants}", "seed": "${seeds}"}


def test_code_deps_are_what_each_cli_imports_including_what_hand_lists_missed():
    prompts = BY_NAME["benchmark_prompts"].code()
    covered = {path for path in ("data/shapes/scene.py", "data/shapes/captions.py", "evals/generation")
               if any(path == dep or path.startswith(dep + "/") for dep in prompts)}
    assert covered == {"data/shapes/scene.py", "data/shapes/captions.py", "evals/generation"}   # or their folder
    training = BY_NAME["stage2"].code()
    assert {"janusflow/vae.py", "janusflow/foundations/codec.py", "data/images.py", "janusflow/training/run.py",
            "janusflow/training/objective.py", "janusflow/modeling"} <= set(training)
    assert "janusflow/training/latents.py" not in training and "janusflow/training/latents.py" in \
        BY_NAME["latents"].code()
    assert "reports/templates" in BY_NAME["comparison_report"].code()
    for node in NODES:
        assert all((ROOT / dep).exists() for dep in node.code()), node.name
        assert all((ROOT / dep).is_dir() or (ROOT / dep).stat().st_size for dep in node.code())  # DVC warns on empty
    assert upstream_assets("stage2") == ["shards_und", "shards_gen", "shards_text", "foundation_tokenizer",
                                         "foundation_llm", "foundation_encoder", "foundation_vae", "latents", "stage1"]
    assert upstream_assets("latents") == ["shards_und", "shards_gen", "shards_text", "foundation_vae"]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_imports_are_followed_inside_functions_relatively_and_through_packages(tmp_path):
    write(tmp_path, {
        "data/__init__.py": "",
        "data/cli.py": "import json\nfrom data.a import f\n\ndef main():\n    from .sub import deep\n",
        "data/a.py": "from . import b\n",
        "data/b.py": "",
        "data/sub/__init__.py": "",
        "data/sub/deep.py": "from ..b import thing\n",
        "data/unused.py": "",
        "evals/__init__.py": "",
        "evals/x.py": "",
    })
    assert imported_modules(tmp_path / "data" / "cli.py", tmp_path) == {"data.a", "data.sub", "data.sub.deep"}
    closure = module_closure(("data.cli",), tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in closure] == [
        "data/__init__.py", "data/a.py", "data/b.py", "data/cli.py", "data/sub/__init__.py", "data/sub/deep.py"]
    assert collapse(closure, tmp_path) == ["data/__init__.py", "data/a.py", "data/b.py", "data/cli.py", "data/sub"]
    with pytest.raises(ValueError, match="not in the project"):
        module_closure(("numpy",), tmp_path)


def test_the_code_version_changes_with_any_file_it_covers(tmp_path):
    write(tmp_path, {"data/sub/deep.py": "x = 1\n", "data/b.py": ""})
    before = content_hash(["data/sub", "data/b.py"], tmp_path)
    assert content_hash(["data/b.py", "data/sub"], tmp_path) == before  # order does not matter
    (tmp_path / "data" / "sub" / "deep.py").write_text("x = 2\n")
    assert content_hash(["data/sub", "data/b.py"], tmp_path) != before


def test_seeds_are_a_second_dimension_of_every_per_run_node(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["seeds"] = [0, 1, 2]
    keys = runs_partitions(parsed(params)).get_partition_keys()
    assert len(keys) == 18 and run_of(keys[-1]) == RunKey("F", 2) and str(partition_key(RunKey("C", 1))) == "1|C"
    assert run_of_dvc_item("F-2") == RunKey("F", 2) and RunKey("F", 2).folder == Path("F/seed2")
    with pytest.raises(ValueError, match="not a DVC run item"):
        run_of_dvc_item("F")
    for bad in ([], [0, 0], [-1]):
        with pytest.raises(ValueError, match="give a list of distinct non-negative integers"):
            parsed({**params, "seeds": bad})
    with pytest.raises(ValueError, match=r"seeds is '0' \(str\); expected a list of integers"):
        parsed({**params, "seeds": "0"})
    env = {"DVC_NO_ANALYTICS": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, env=env)
    subprocess.run([default_dvc(), "init", "-q"], cwd=tmp_path, check=True, env=env)
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    listed = subprocess.run([default_dvc(), "stage", "list", "--name-only"], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    names = listed.stdout.split()
    assert len(names) == 8 + 5 * 18 + 3   # 8 single nodes (data, foundations, latents), 5 per run, 3 after
    assert [n for n in names if n.startswith("stage2@F")] == ["stage2@F-0", "stage2@F-1", "stage2@F-2"]


def test_a_run_trains_from_its_seed_into_its_own_folder():
    first = StageRun.from_params(ROOT / "params.yaml", "tiny", "F", "stage2")
    other = StageRun.from_params(ROOT / "params.yaml", "tiny", "F", "stage2", seed=3)
    assert first.seed == 0 and first.key == RunKey("F", 0)
    assert other.directory.parts[-3:] == ("F", "seed3", "stage2") and other.upstream().parts[-4:] == (
        "F", "seed3", "stage1", "export")
