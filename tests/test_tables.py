"""Tables 2-5: our rows marked with their profile and benchmark set; the paper's rows only beside the same
benchmark; the tiny FID labelled as not comparable to Inception FID."""

from __future__ import annotations

import json

from evals.tables import table2, table4, table5, write_tables


def result(variant: str, profile: str, benchmark_set: str, extractor: str) -> dict:
    generation = None if variant == "D" else {
        "geneval": {"overall": 40.0, "counting": 25.0, "images": 8},
        "dpg": {"dpg_score": 55.5}, "fid": {"fid": 12.5, "kid": 0.01, "images": 100, "clip_score": 20.0}}
    names = ["vqa", "pope", "mmbench"] if benchmark_set == "shapes world" else ["pope", "vqav2", "gqa", "mmbench"]
    understanding = {} if variant == "E" else {n: {"score": 70.0, "accuracy": 71.0} for n in names}
    summary = {"geneval_overall": 40.0, "dpg_score": 55.5, "fid": 12.5, "kid": 0.01, "clip_score": 20.0,
               "clip_cosine": 20.0, "vqa": 70.0, "pope": 70.0, "pope_accuracy": 71.0, "mmbench": 70.0, "vqav2": 70.0,
               "gqa": 70.0}
    return {"variant": variant, "description": f"variant {variant}", "tasks": ["und", "gen"], "profile": profile,
            "benchmark_set": benchmark_set, "fid_extractor": extractor, "generation": generation,
            "understanding": understanding, "summary": summary}


def test_tiny_tables_have_no_paper_rows_and_label_the_features(tmp_path):
    results = [result(v, "tiny", "shapes world", "tiny_understanding_encoder") for v in "DEF"]
    for r in results:
        (tmp_path / r["variant"] / "seed0").mkdir(parents=True)
        (tmp_path / r["variant"] / "seed0" / "metrics.json").write_text(json.dumps(r))
    t5 = table5(results)
    assert list(t5["exp"]) == ["D", "E", "F"] and set(t5["profile"]) == {"tiny"}
    assert set(t5["fid_features"]) == {"tiny encoder (not comparable to Inception)"}
    assert "pope" not in t5 and list(t5["shapes_pope"]) == [70.0] * 3
    assert list(table2(results)["method"]) == ["ours E", "ours F"]              # D has no generation
    assert list(table4(results)["model"]) == ["ours D", "ours F"]               # E has no understanding
    written = write_tables(tmp_path, "tiny", ["A", "D", "E", "F"], 0)
    assert len(written) == 9
    text = (tmp_path / "tables" / "tables.md").read_text()
    assert "| tiny" in text and "not comparable to Inception FID" in text and "paper (published)" not in text


def test_paper_tables_add_the_published_rows():
    results = [result("F", "paper", "standard", "inception_v3")]
    t5 = table5(results)
    assert list(t5["profile"]) == ["paper"] + ["paper (published)"] * 6
    published_f = t5[(t5["profile"] == "paper (published)") & (t5["exp"] == "F")].iloc[0]
    assert (published_f["pope"], published_f["fid"], published_f["clip_score"]) == (84.73, 17.61, 26.40)
    t2 = table2(results)
    assert t2.iloc[0]["geneval_overall"] == 0.40 and "JanusFlow" in set(t2["method"])
    t4 = table4(results)
    assert t4.iloc[0][["pope", "mmb_dev", "vqav2_val", "gqa"]].tolist() == [70.0] * 4
