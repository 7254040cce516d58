"""The paper's result tables (2: GenEval + DPG-Bench, 3: MJHQ FID, 4: understanding, 5: ablations A-F) from the
variants' ``metrics.json``, as CSV and Markdown.

Every row names its profile and benchmark set. The paper's own rows (``reference/paper/*.csv``) are added as
reference rows only where the benchmark is the same, i.e. for the paper profile's standard sets; the tiny
profile's shapes-world numbers have columns of their own (``shapes_*``) and its FID column says that its features
are the tiny encoder's, not Inception's.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from data.publish import publishing
from evals.catalog import shapes_columns, standard_columns
from evals.judges import read_results
from settings.layout import TABLES_MARKDOWN, EvalLayout

REFERENCE_DIR = Path(__file__).resolve().parent / "reference" / "paper"
TABLES = {
    "table2_geneval_dpg": "Table 2: text-to-image generation (GenEval overall, DPG-Bench)",
    "table3_mjhq_fid": "Table 3: MJHQ FID",
    "table4_understanding": "Table 4: multimodal understanding",
    "table5_ablations": "Table 5: ablations A-F",
}
FEATURES = {"inception_v3": "Inception-V3", "tiny_understanding_encoder": "tiny encoder (not comparable to Inception)"}


def reference(name: str, reference_dir: Path = REFERENCE_DIR) -> pd.DataFrame:
    path = reference_dir / f"{name}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"the paper's table is not at {path}; restore evals/reference/paper from the "
                                "repository (git checkout -- evals/reference).")
    frame = pd.read_csv(path)
    frame.insert(0, "benchmark_set", "standard")
    frame.insert(0, "profile", "paper (published)")
    return frame


def _row(result: dict, **columns: object) -> dict:
    return {"profile": result["profile"], "benchmark_set": result["benchmark_set"], **columns}


def _standard(results: list[dict]) -> bool:
    return bool(results) and all(r["benchmark_set"] == "standard" for r in results)


def _features(result: dict) -> str | None:
    return FEATURES.get(result.get("fid_extractor") or "", result.get("fid_extractor"))


def _with_reference(ours: pd.DataFrame, results: list[dict], name: str, reference_dir: Path,
                    **columns: object) -> pd.DataFrame:
    """``ours`` followed by the paper's rows of table ``name``, when every result is on the standard benchmarks."""
    if not _standard(results):
        return ours
    return pd.concat([ours, reference(name, reference_dir).assign(**columns)], ignore_index=True)


def table2(results: list[dict], reference_dir: Path = REFERENCE_DIR) -> pd.DataFrame:
    rows = []
    for r in results:
        if r["generation"] is None:
            continue
        geneval = r["generation"]["geneval"]
        tasks = {f"geneval_{k}": v for k, v in geneval.items() if k not in ("overall", "images", "prompts_without_images",
                                                                         "judge", "folder", "results")}
        overall = geneval.get("overall")
        dpg = r["generation"]["dpg"].get("dpg_score")
        shapes = r["benchmark_set"] != "standard"
        rows.append(_row(r, type="unified" if "und" in r.get("tasks", ["und"]) else "gen_only",
                         method=f"ours {r['variant']}",
                         **({"shapes_geneval_overall": overall, "shapes_dpg": dpg} if shapes else
                            {"geneval_overall": None if overall is None else overall / 100, "dpg_bench": dpg}),
                         **tasks))
    return _with_reference(pd.DataFrame(rows), results, "table2_geneval_dpg", reference_dir)


def table3(results: list[dict], reference_dir: Path = REFERENCE_DIR) -> pd.DataFrame:
    rows = []
    for r in results:
        if r["generation"] is None:
            continue
        fid = r["generation"]["fid"]
        column = "mjhq_fid" if r["benchmark_set"] == "standard" else "shapes_fid"
        rows.append(_row(r, method=f"ours {r['variant']}", **{column: fid["fid"]}, kid=fid["kid"],
                         images=fid["images"], fid_features=_features(r)))
    return _with_reference(pd.DataFrame(rows), results, "table3_mjhq_fid30k", reference_dir,
                           fid_features="Inception-V3")


UNDERSTANDING_COLUMNS = {"standard": standard_columns("understanding"), "shapes": shapes_columns("understanding")}


def table4(results: list[dict], reference_dir: Path = REFERENCE_DIR) -> pd.DataFrame:
    rows = []
    for r in results:
        if not r["understanding"]:
            continue
        names = UNDERSTANDING_COLUMNS["standard" if r["benchmark_set"] == "standard" else "shapes"]
        rows.append(_row(r, type="unified" if r["generation"] is not None else "und_only",
                         model=f"ours {r['variant']}",
                         **{names[b]: m["score"] for b, m in r["understanding"].items() if b in names}))
    return _with_reference(pd.DataFrame(rows), results, "table4_understanding", reference_dir)


def table5(results: list[dict], reference_dir: Path = REFERENCE_DIR) -> pd.DataFrame:
    rows = []
    for r in results:
        s = r["summary"]
        if r["benchmark_set"] == "standard":
            measured = {"pope": s["pope"], "vqav2_val": s["vqav2"], "gqa": s["gqa"], "fid": s["fid"],
                        "clip_score": s["clip_score"]}
        else:
            measured = {"shapes_pope": s["pope"], "shapes_vqa": s["vqa"], "shapes_mmbench": s["mmbench"],
                        "shapes_fid": s["fid"], "clip_score": s["clip_score"], "clip_cosine": s.get("clip_cosine"),
                        "shapes_geneval_overall": s["geneval_overall"], "shapes_dpg": s["dpg_score"]}
        rows.append(_row(r, exp=r["variant"], description=r.get("description", ""), **measured,
                         fid_features=_features(r)))
    ours = pd.DataFrame(rows)
    if not _standard(results):
        return ours
    paper = reference("table5_ablations", reference_dir).rename(columns={"fid_mjhq10k": "fid"})
    return pd.concat([ours, paper.assign(fid_features="Inception-V3 (MJHQ-10k, w=7.5)")], ignore_index=True)


BUILDERS = {"table2_geneval_dpg": table2, "table3_mjhq_fid": table3, "table4_understanding": table4,
            "table5_ablations": table5}


def markdown(frame: pd.DataFrame, title: str) -> str:
    shown = frame.dropna(axis=1, how="all")
    body = shown.to_markdown(index=False, floatfmt=".2f") if not shown.empty else "(no evaluated variant yet)"
    notes = []
    if "fid_features" in shown and (shown["fid_features"] == FEATURES["tiny_understanding_encoder"]).any():
        notes.append("FID/KID on the tiny profile use the tiny understanding encoder's pooled features: they rank "
                     "tiny checkpoints against each other and are not comparable to Inception FID.")
    if any(c.startswith("shapes_") for c in shown.columns):
        notes.append("shapes_* columns are the tiny profile's shapes-world benchmarks (held-out scenes), not the "
                     "standard benchmarks; the paper's rows appear only beside the same benchmark.")
    return f"## {title}\n\n{body}\n" + "".join(f"\n{note}\n" for note in notes)


def write_tables(out: Path, profile: str, variants: list[str], seed: int,
                 reference_dir: Path = REFERENCE_DIR) -> list[Path]:
    """Tables 2-5 for every evaluated variant's run from ``seed`` (the study's first; the report pools every seed)
    under ``out/tables/`` (CSV + Markdown), plus ``tables.md``."""
    results = [r for r in read_results(out, variants, seed).values() if r["profile"] == profile]
    folder = EvalLayout(out).tables
    names, sections = [], []
    with publishing(folder) as staging:
        for name, title in TABLES.items():
            frame = BUILDERS[name](results, reference_dir)
            frame.to_csv(staging / f"{name}.csv", index=False)
            section = markdown(frame, title)
            (staging / f"{name}.md").write_text(section)
            sections.append(section)
            names += [f"{name}.csv", f"{name}.md"]
        (staging / TABLES_MARKDOWN).write_text(f"# Benchmark tables ({profile} profile)\n\n" + "\n".join(sections))
    return [folder / name for name in (*names, TABLES_MARKDOWN)]
