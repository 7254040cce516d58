"""The official GenEval and DPG-Bench judges as their own node: their result files are read as the official
scripts write them, a judge runs once per evaluated checkpoint, failures name the command, and the tables read
the scores back."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from evals.judges import judge_variant, main, read_dpg, read_geneval, read_results, with_judgements
from evals.tables import write_tables
from settings.evaluation import EvalSettings
from settings.params import load_params
from settings.run import RunKey

ROOT = Path(__file__).resolve().parents[1]
RUN = RunKey("F", 0)
DPG_OUTPUT = """\
grids/item_a.png, 0.5, 1.0, 1.0, 0.5, 0.75
grids/item_b.png, 1.0, 1.0, 0.5, 0.5, 0.75
Model: grids
L1 category scores:
\tentity: 80.0
\tattribute: 62.5
L2 category scores:
\tentity - whole: 80.0
\tattribute - color: 62.5
Image path: grids
Save results to: results.txt
DPG-Bench score: 75.0
"""
# Stands in for an official judge: counts its runs, writes its results file in the official format.
FAKE_JUDGE = """
import json, pathlib, sys
kind, images, results = sys.argv[1:4]
runs = pathlib.Path(results).parent.parent / f"{kind}_runs.txt"
runs.write_text(runs.read_text() + "x" if runs.exists() else "x")
if kind == "geneval":
    rows = [{"tag": "colors", "correct": True}, {"tag": "colors", "correct": False}, {"tag": "counting", "correct": True}]
    pathlib.Path(results).write_text("".join(json.dumps(r) + "\\n" for r in rows))
elif kind == "dpg":
    pathlib.Path(results).write_text(pathlib.Path(sys.argv[4]).read_text())
else:
    sys.exit(3)
"""


def test_official_result_files_are_scored_as_the_official_scripts_do(tmp_path):
    rows = [{"tag": "counting", "correct": True}, {"tag": "counting", "correct": False},
            {"tag": "colors", "correct": True}]
    (tmp_path / "geneval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert read_geneval(tmp_path / "geneval.jsonl") == {"colors": 100.0, "counting": 50.0, "overall": 75.0,
                                                        "images": 3, "judge": "GenEval evaluator"}
    (tmp_path / "dpg.txt").write_text(DPG_OUTPUT)
    assert read_dpg(tmp_path / "dpg.txt") == {"dpg_score": 75.0, "categories": {"entity": 80.0, "attribute": 62.5},
                                              "images": 2, "judge": "DPG-Bench mPLUG"}
    (tmp_path / "cut.txt").write_text(DPG_OUTPUT.split("Model:")[0])
    with pytest.raises(ValueError, match="no 'DPG-Bench score:' line; the DPG judge did not finish"):
        read_dpg(tmp_path / "cut.txt")


def evaluated(tmp_path: Path, fingerprint: str, judges: dict[str, str]) -> EvalSettings:
    settings = replace(load_params().select("paper").evaluation, out=tmp_path / "evals", external_judges=judges)
    variant = settings.layout.run_dir(RUN)
    for folder in ("generation/geneval/geneval/00000", "generation/dpg/grids"):
        (variant / folder).mkdir(parents=True, exist_ok=True)
    result = {"variant": "F", "tasks": ["und", "gen"], "profile": "paper", "benchmark_set": "standard",
              "description": "final", "fid_extractor": "inception_v3", "checkpoint_fingerprint": fingerprint,
              "generation": {"geneval": {"judge": "external"}, "dpg": {"judge": "external"},
                             "fid": {"fid": 9.0, "kid": 0.001, "images": 30000, "clip_score": 26.0}},
              "understanding": {name: {"score": 80.0, "accuracy": 80.0} for name in ("pope", "vqav2", "gqa", "mmbench")},
              "summary": {"geneval_overall": None, "dpg_score": None, "fid": 9.0, "kid": 0.001, "clip_score": 26.0,
                          "clip_cosine": 0.26, "pope": 80.0, "pope_accuracy": 80.0, "vqav2": 80.0, "gqa": 80.0,
                          "mmbench": 80.0}}
    (variant / "metrics.json").write_text(json.dumps(result))
    return settings


def test_each_judge_runs_once_per_checkpoint_and_the_tables_read_its_scores_back(tmp_path):
    (tmp_path / "judge.py").write_text(FAKE_JUDGE)
    (tmp_path / "dpg_output.txt").write_text(DPG_OUTPUT)
    judges = {"geneval": f"{sys.executable} {tmp_path}/judge.py geneval {{images}} {{results}}",
              "dpg": f"{sys.executable} {tmp_path}/judge.py dpg {{images}} {{results}} {tmp_path}/dpg_output.txt"}
    settings = evaluated(tmp_path, "weights-1", judges)
    first = judge_variant(settings, RUN)
    assert first["judges"] == ["dpg", "geneval"] and first["geneval"]["overall"] == 75.0  # the mean of the tasks (50, 100)
    assert first["dpg"]["dpg_score"] == 75.0
    judge_variant(settings, RUN)  # the same weights: nothing to judge again
    runs = settings.out / "judged" / "F"
    assert (runs / "geneval_runs.txt").read_text() == "x" and (runs / "dpg_runs.txt").read_text() == "x"
    result = read_results(settings.out, ["F"], 0)["F"]
    assert result["summary"]["dpg_score"] == 75.0 and result["generation"]["dpg"]["categories"]["entity"] == 80.0
    write_tables(settings.out, "paper", ["F"], 0)
    table2 = (settings.out / "tables" / "table2_geneval_dpg.csv").read_text().splitlines()
    assert table2[1].split(",")[:5] == ["paper", "standard", "unified", "ours F", "0.75"]
    assert ",75.0," in table2[1]  # the DPG score, read back instead of left "external"
    evaluated(tmp_path, "weights-2", judges)  # retrained: the old judgements no longer apply
    assert read_results(settings.out, ["F"], 0)["F"]["summary"]["dpg_score"] is None
    judge_variant(settings, RUN)
    assert (runs / "geneval_runs.txt").read_text() == "xx"


def test_a_failing_or_misconfigured_judge_is_named_and_nothing_is_read_back(tmp_path):
    (tmp_path / "judge.py").write_text(FAKE_JUDGE)
    failing = evaluated(tmp_path, "w", {"geneval": f"{sys.executable} {tmp_path}/judge.py broken {{images}} {{results}}"})
    with pytest.raises(RuntimeError, match="the geneval judge exited with status 3: .*judge.py broken"):
        judge_variant(failing, RUN)
    missing = evaluated(tmp_path, "w", {"dpg": "no-such-program {images} {results}"})
    with pytest.raises(RuntimeError, match="fix evaluation.external_judges.dpg in params.yaml"):
        judge_variant(missing, RUN)
    silent = evaluated(tmp_path, "w", {"dpg": f"{sys.executable} -c pass {{images}} {{results}}"})
    with pytest.raises(FileNotFoundError, match="the dpg judge wrote no .*dpg_results.txt"):
        judge_variant(silent, RUN)
    result = json.loads((failing.layout.run_dir(RUN) / "metrics.json").read_text())
    assert with_judgements(result, {"checkpoint_fingerprint": "other", "dpg": {"dpg_score": 1.0}}) == result


def test_the_tiny_profile_has_nothing_to_judge_outside_its_evaluation(tmp_path, capsys):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["profiles"]["tiny"]["evaluation"]["out"] = str(tmp_path / "evals")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert main(["--variant", "F", "--params", str(tmp_path / "params.yaml"), "--profile", "tiny"]) == 0
    assert "no external judges in this profile" in capsys.readouterr().out
    judged = json.loads((tmp_path / "evals" / "judged" / "F" / "seed0" / "judged.json").read_text())
    assert judged == {"variant": "F", "seed": 0, "checkpoint_fingerprint": None, "judges": []}
