"""The comparison report: the paper's claims checked by one rule (on the paper's own Table 5 and on ours), the
Table 5-style comparison, and a Markdown + self-contained HTML report with its pictures."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from PIL import Image

from evals.tables import REFERENCE_DIR
from reports.claims import check_claims
from reports.collect import Example, ReportInputs, round_robin
from reports.render import comparison_table, generation_bounds_table, image_control_table, render, with_controls
from settings.training import Variant

TABLE5 = pd.read_csv(REFERENCE_DIR / "table5_ablations.csv")
VARIANTS = {name: Variant(name=name, description=description, repa=repa, und_encoder=encoder, tasks=tasks)
            for name, description, repa, encoder, tasks in [
                ("A", "no REPA", False, "siglip", ("und", "gen", "text")),
                ("B", "shared", True, "shared_generation", ("und", "gen", "text")),
                ("C", "separate", True, "separate_generation", ("und", "gen", "text")),
                ("D", "und only", True, "siglip", ("und",)),
                ("E", "gen only", True, "none", ("gen",)),
                ("F", "final", True, "siglip", ("und", "gen", "text"))]}


def result(variant: str, **summary: float) -> dict:
    gen = {k: summary.get(k) for k in ("geneval_overall", "dpg_score", "fid", "clip_cosine")}
    und = {k: summary.get(k) for k in ("vqa", "pope", "mmbench")}
    return {"variant": variant, "profile": "tiny", "benchmark_set": "shapes world",
            "fid_extractor": "tiny_understanding_encoder", "summary": gen | und,
            "generation": {"settings": {"cfg_weight": 2.0, "steps": 30}} if gen["fid"] is not None else None,
            "sweep": None}


def shapes_results(a_fid: float = 60.0) -> dict[str, dict]:
    gen = dict(geneval_overall=40.0, dpg_score=30.0, clip_cosine=20.0)
    und = dict(vqa=70.0, pope=80.0, mmbench=40.0)
    return {"A": result("A", fid=a_fid, **(gen | {"geneval_overall": 35.0, "dpg_score": 28.0, "clip_cosine": 18.0}), **und),
            "B": result("B", fid=52.0, **gen, vqa=50.0, pope=70.0, mmbench=20.0),
            "C": result("C", fid=51.0, **gen, vqa=55.0, pope=72.0, mmbench=25.0),
            "D": result("D", vqa=72.0, pope=81.0, mmbench=41.0),
            "E": result("E", fid=48.0, geneval_overall=41.0, dpg_score=31.0, clip_cosine=21.0),
            "F": result("F", fid=50.0, **gen, **und)}


def test_the_papers_own_numbers_support_its_three_claims_at_ten_percent():
    claims = {c.name: c for c in check_claims({}, TABLE5, tolerance=0.10)}
    assert [claims[n].paper.holds for n in ("repa", "decoupled", "specialists")] == [True, True, True]
    assert claims["repa"].paper.evidence == "fid F 17.61 vs A 19.84; clip_score F 26.40 vs A 24.94"
    assert "ok: fid F 17.61 vs E 16.69 (worse by 5.5%)" in claims["specialists"].paper.evidence
    assert all(c.ours.holds is None and c.ours.label == "not checked" for c in claims.values())


def test_a_tighter_tolerance_leaves_fid_against_the_other_metrics_of_the_specialist_claim():
    claims = {c.name: c for c in check_claims({}, TABLE5, tolerance=0.05)}
    assert claims["specialists"].paper.holds is None and claims["specialists"].paper.label == "metrics disagree"
    assert "FAR: fid F 17.61 vs E 16.69 (worse by 5.5%)" in claims["specialists"].paper.evidence


def test_our_claims_follow_our_numbers():
    claims = {c.name: c for c in check_claims(shapes_results(), TABLE5, tolerance=0.10)}
    assert claims["repa"].ours.holds is True and claims["decoupled"].ours.holds is True
    assert claims["specialists"].ours.holds is True
    mixed = {c.name: c for c in check_claims(shapes_results(a_fid=45.0), TABLE5, tolerance=0.10)}
    assert mixed["repa"].ours.holds is None and mixed["repa"].ours.label == "metrics disagree"
    assert "fid F 50.00 not better than A 45.00" in mixed["repa"].ours.evidence
    better_a = shapes_results(a_fid=45.0)
    better_a["A"]["summary"] |= {"geneval_overall": 50.0, "dpg_score": 40.0, "clip_cosine": 30.0}
    assert {c.name: c for c in check_claims(better_a, TABLE5, 0.1)}["repa"].ours.label == "does not hold"
    partial = {k: v for k, v in shapes_results().items() if k != "D"}
    assert {c.name: c for c in check_claims(partial, TABLE5, 0.1)}["specialists"].ours.label == "not checked"


def test_a_difference_inside_the_seed_spread_decides_nothing():
    results = shapes_results(a_fid=51.0)
    pooled = {v: [r["summary"]] for v, r in results.items()}
    pooled["F"] = [results["F"]["summary"] | {"fid": 50.0}, results["F"]["summary"] | {"fid": 54.0}]
    repa = {c.name: c for c in check_claims(results, TABLE5, 0.1, pooled)}["repa"].ours
    assert repa.label == "within the seed spread" and repa.holds is None
    assert "fid F 52.00 within the spread of A 51.00 (spread 2.83)" in repa.evidence
    assert "geneval_overall F 40.00 vs A 35.00" in repa.evidence  # no spread there: decided as before
    pooled["F"] = [results["F"]["summary"] | {"fid": 50.0}, results["F"]["summary"] | {"fid": 50.2}]
    assert {c.name: c for c in check_claims(results, TABLE5, 0.1, pooled)}["repa"].ours.label == "holds"
    pooled["A"] = [results["A"]["summary"] | {"geneval_overall": 45.0}]  # A now better on one metric: no verdict
    assert {c.name: c for c in check_claims(results, TABLE5, 0.1, pooled)}["repa"].ours.label == "metrics disagree"


def test_the_comparison_puts_our_numbers_beside_the_papers_for_each_variant():
    inputs = ReportInputs(profile="tiny", variants=VARIANTS, results=shapes_results(), pooled={},
                          paper_table5=TABLE5)
    frame = comparison_table(inputs, ["fid", "vqa"])
    assert list(frame["exp"]) == list("ABCDEF")
    assert list(frame.columns[:6]) == ["exp", "REPA", "und encoder", "trains on", "ours: fid", "ours: vqa"]
    f = frame.set_index("exp").loc["F"]
    assert (f["ours: fid"], f["ours: vqa"], f["paper: pope"], f["paper: fid (MJHQ-10k)"]) == (50.0, 70.0, 84.73, 17.61)
    assert pd.isna(frame.set_index("exp").loc["D", "ours: fid"])


def test_round_robin_takes_every_category_in_turn():
    assert round_robin([[1, 2, 3], ["a"], [10, 20]], 5) == [1, "a", 10, 2, 20]
    assert round_robin([[1], []], 4) == [1]


def test_the_report_is_markdown_with_figures_and_self_contained_html(tmp_path):
    image = tmp_path / "q.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(image)
    grid = tmp_path / "grid.png"
    Image.new("RGB", (512, 128), (30, 30, 200)).save(grid)
    results = shapes_results()
    results["F"]["sweep"] = [{"cfg_weight": w, "steps": s, "fid": 50.0 + w + s, "geneval_overall": 30.0 + w}
                             for w, s in [(1.0, 30), (2.0, 30), (4.0, 30), (2.0, 10)]]
    losses = pd.DataFrame({"step": range(20), "ar": [1.0 - i / 40 for i in range(20)], "rf": 0.9, "repa": -0.5,
                           "total": [1.4 - i / 40 for i in range(20)]})
    inputs = ReportInputs(
        profile="tiny", variants=VARIANTS, results=results,
        pooled={v: [r["summary"]] for v, r in results.items()} | {"F": [results["F"]["summary"],
                                                                        {**results["F"]["summary"], "fid": 54.0}]},
        losses={("F", "stage1"): losses, ("A", "stage1"): losses}, sample_grids={"F": grid},
        sample_prompts=["a photo of a red circle"],
        examples=[Example("eval-000000-color", image, "What color is the circle?", "red", {"F": "red", "A": "blue"})],
        paper_table5=TABLE5, tables_markdown="# Benchmark tables\n\n## Table 5\n\n| a |\n| --- |\n| 1 |\n")
    paths = render(inputs, tmp_path / "report", tolerance=0.10)
    markdown = paths["markdown"].read_text()
    for heading in ("## Table 5: the ablations, ours beside the paper's", "## The paper's claims, checked",
                    "## Training: loss curves per stage", "## Sweeps: CFG weight and sampling steps",
                    "## Samples per variant", "## Understanding examples", "## Benchmark tables", "### Table 5",
                    "## Does the image follow the prompt?"):
        assert heading in markdown
    assert "| REPA helps generation (F with REPA vs A without) | **holds** | **holds** |" in markdown
    assert "Numbers and bars are means over the seeds, with their standard deviation" in markdown
    assert "| 52.00 ± 2.83 |" in markdown  # F's FID over its two runs (50, 54); one-run variants stay plain
    figures = sorted(p.name for p in (tmp_path / "report" / "figures").iterdir())
    assert figures == ["example_0.png", "losses_stage1.png", "metrics.png", "samples_F.png", "sweep_F.png"]
    assert all(f"figures/{name}" in markdown for name in figures)
    html = paths["html"].read_text()
    assert "figures/" not in html and not re.search(r'(src|href)="https?://', html)
    assert html.count('src="data:image/png;base64,') == len(figures)
    assert "<table>" in html and '>ours: fid</th>' in html and '>84.73</td>' in html and ">nan<" not in html
    summary = json.loads(paths["json"].read_text())
    assert [c["ours_label"] for c in summary["claims"]] == ["holds", "holds", "holds"]
    assert summary["evaluated"] == list("ABCDEF") and summary["missing"] == []


def test_a_report_before_any_evaluation_says_so(tmp_path):
    inputs = ReportInputs(profile="tiny", variants=VARIANTS, results={}, pooled={}, paper_table5=TABLE5)
    markdown = render(inputs, tmp_path / "empty", tolerance=0.10)["markdown"].read_text()
    assert "Variants evaluated: none yet. Not evaluated yet: A, B, C, D, E, F." in markdown
    assert "No stage has trained yet." in markdown and "No understanding answers yet." in markdown


@pytest.mark.parametrize("change, message", [({"close_tolerance": 2}, "between 0 and 1"),
                                             ({"colour": 1}, "unknown key"), ({"out": None}, "report.out is None")])
def test_bad_report_settings_name_the_key(change, message):
    from conftest import parsed, repo_params

    from settings.typed import SettingsError

    params = repo_params()
    params["profiles"]["tiny"]["report"].update(change)
    with pytest.raises(SettingsError, match=message):
        parsed(params)


def test_curves_and_sweeps_leave_out_series_a_variant_does_not_train():
    from reports.figures import trained

    frame = pd.DataFrame({"rf": [0.0, 0.0], "ar": [0.5, 0.4], "repa": [None, None]})
    assert [trained(frame, c) for c in ("rf", "ar", "repa", "total")] == [False, True, False, False]


def test_every_understanding_number_has_its_shuffled_control_beside_it():
    assert with_controls(["fid", "vqa", "pope"], ["vqa", "pope"]) == ["fid", "vqa", "vqa_shuffled", "pope",
                                                                       "pope_shuffled"]
    understanding = {
        "vqa": {"score": 70.0, "categories": {"color": 90.0, "count": 50.0},
                "shuffled": {"score": 40.0, "categories": {"color": 12.0, "count": 50.0}}},
        "pope": {"score": 80.0, "splits": {"random": {"f1": 82.0}}, "shuffled": {"score": 51.0,
                                                                                 "splits": {"random": {"f1": 51.0}}}},
    }
    table = image_control_table({"F": {"understanding": understanding}, "E": {"understanding": None}})
    assert table.to_dict("records") == [
        {"variant": "F", "benchmark": "vqa", "part": "overall", "own image": 70.0, "shuffled images": 40.0, "gap": 30.0},
        {"variant": "F", "benchmark": "vqa", "part": "color", "own image": 90.0, "shuffled images": 12.0, "gap": 78.0},
        {"variant": "F", "benchmark": "vqa", "part": "count", "own image": 50.0, "shuffled images": 50.0, "gap": 0.0},
        {"variant": "F", "benchmark": "pope", "part": "overall", "own image": 80.0, "shuffled images": 51.0,
         "gap": 29.0},
        {"variant": "F", "benchmark": "pope", "part": "random", "own image": 82.0, "shuffled images": 51.0,
         "gap": 31.0},
    ]


def test_every_generation_number_sits_between_its_floor_and_ceilings():
    def bound(overall: float, dpg: float, cosine: float, fid: float | None) -> dict:
        found = {"geneval": {"overall": overall, "colors": overall}, "dpg": {"dpg_score": dpg}, "clip_cosine": cosine}
        return found | ({"fid": fid} if fid is not None else {})

    bounds = {"ceiling": bound(100.0, 99.7, 76.9, 2.5), "through_vae": bound(52.1, 62.3, 72.9, 6.0),
              "floor": bound(8.3, 16.7, -11.0, None)}
    generation = {"geneval": {"overall": 16.15, "colors": 18.75,
                              "interval_95": {"overall": [12.5, 20.0], "colors": [6.25, 31.25]}},
                  "dpg": {"dpg_score": 18.24}, "fid": {"fid": 29.9, "clip_cosine": 26.6}, "bounds": bounds}
    table = generation_bounds_table({"E": {"generation": generation}, "D": {"generation": None}})
    rows = {row["metric"]: row for row in table.to_dict("records")}
    assert list(table.columns) == ["metric", "floor", "E", "through the VAE", "ceiling"]
    assert rows["GenEval overall"] == {"metric": "GenEval overall", "floor": 8.3, "E": "16.15 [12.50, 20.00]",
                                       "through the VAE": 52.1, "ceiling": 100.0}
    assert rows["GenEval colours"]["E"] == "18.75 [6.25, 31.25]" and rows["GenEval position"]["E"] is None
    assert rows["DPG score"] == {"metric": "DPG score", "floor": 16.7, "E": 18.24, "through the VAE": 62.3,
                                 "ceiling": 99.7}
    assert rows["CLIP cosine x100"]["floor"] == -11.0 and rows["CLIP cosine x100"]["E"] == 26.6
    fid = rows["FID (lower)"]
    assert pd.isna(fid["floor"]) and (fid["E"], fid["through the VAE"], fid["ceiling"]) == (29.9, 6.0, 2.5)
    assert generation_bounds_table({"D": {"generation": None}}).empty
