"""The lineage table is the one definition of the graph: dvc.yaml is generated from it, the Dagster assets take
their names, upstream assets and code versions from it, and each node's code deps are what its CLI imports."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dagster import AssetKey

from orchestration import lineage
from orchestration.code_deps import collapse, content_hash, imported_modules, module_closure
from orchestration.definitions import defs
from orchestration.lineage import BY_NAME, NODES, upstream_assets

ROOT = Path(__file__).resolve().parents[1]


def test_dvc_yaml_is_the_table_written_out_and_a_hand_edit_is_caught(tmp_path, monkeypatch, capsys):
    assert lineage.main(["--check"]) == 0
    edited = tmp_path / "dvc.yaml"
    edited.write_text((ROOT / "dvc.yaml").read_text().replace("--variant ${key}", "--variant F", 1))
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
    assert stages["benchmark_results"]["do"]["cmd"] == \
        "python -m evals.cli variant --variant ${key} --no-progress --profile ${profile}"


def test_code_deps_are_what_each_cli_imports_including_what_hand_lists_missed():
    prompts = BY_NAME["benchmark_prompts"].code()
    assert {"data/shapes/scene.py", "data/shapes/captions.py", "evals/generation"} <= set(prompts)
    training = BY_NAME["stage2"].code()
    assert {"janusflow/vae.py", "janusflow/foundations/codec.py", "data/images.py", "janusflow/training",
            "janusflow/modeling"} <= set(training)
    assert "reports/templates" in BY_NAME["comparison_report"].code()
    for node in NODES:
        assert all((ROOT / dep).exists() for dep in node.code()), node.name
    assert upstream_assets("stage2") == ["shards_und", "shards_gen", "shards_text", "foundation_tokenizer",
                                         "foundation_llm", "foundation_encoder", "foundation_vae", "stage1"]


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
