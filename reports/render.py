"""Writes the comparison report: one Jinja2 Markdown template rendered twice, as ``report.md`` with its pictures
in ``figures/`` and as a self-contained ``report.html`` (pictures inlined, Markdown turned into HTML by
markdown-it), plus ``report.json`` with the checked claims and the numbers behind them."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markdown_it import MarkdownIt

from data.publish import publishing
from evals.catalog import HEADLINE, METRICS, paper_columns
from reports.claims import check_claims, pooled_scores
from reports.collect import ReportInputs
from reports.figures import metric_bars, stage_figures, sweep_plot, thumbnail
from settings.layout import ReportLayout
from settings.provenance import code_version

TEMPLATES = Path(__file__).resolve().parent / "templates"


def comparison_table(inputs: ReportInputs, metrics: list[str]) -> pd.DataFrame:
    """Table 5's layout: each variant's design, our numbers (the mean ± the standard deviation over seeds when a
    variant has several runs), then the paper's numbers for the same variant."""
    paper = inputs.paper_table5.set_index("exp") if inputs.paper_table5 is not None else None
    means, spreads = pooled_scores(inputs.pooled)
    rows = []
    for name, variant in inputs.variants.items():
        summary = (inputs.results.get(name) or {}).get("summary") or {}
        row = {"exp": name, "REPA": "yes" if variant.repa else "no", "und encoder": variant.und_encoder,
               "trains on": "+".join(variant.tasks)}
        several = len(inputs.pooled.get(name, [])) > 1
        row |= {f"ours: {m}": (f"{means[name][m]:.2f} ± {spreads[name].get(m, 0.0):.2f}"
                               if several and means[name].get(m) is not None else summary.get(m)) for m in metrics}
        if paper is not None and name in paper.index:
            row |= {f"paper: {label}": paper.at[name, column] for column, label in paper_columns().items()}
        rows.append(row)
    return pd.DataFrame(rows).dropna(axis=1, how="all")


def with_controls(metrics: list[str], understanding: list[str]) -> list[str]:
    """``metrics`` with each understanding metric followed by its shuffled-image control."""
    return [name for m in metrics for name in ((m, f"{m}_shuffled") if m in understanding else (m,))]


def image_control_table(results: dict[str, dict]) -> pd.DataFrame:
    """Per variant and understanding benchmark, overall and per category (POPE: per split, F1): the score with
    each question's own image, with the images shuffled across questions, and the gap, which is what the image
    contributes (about 0 for a model that answers from priors)."""
    rows = []
    for variant, result in results.items():
        for benchmark, metrics in (result.get("understanding") or {}).items():
            shuffled = metrics.get("shuffled")
            if not shuffled:
                continue
            parts = {"overall": (metrics["score"], shuffled["score"])}
            parts |= {c: (v, shuffled.get("categories", {}).get(c)) for c, v in metrics.get("categories", {}).items()}
            parts |= {s: (v["f1"], shuffled.get("splits", {}).get(s, {}).get("f1"))
                      for s, v in metrics.get("splits", {}).items()}
            for part, (own, other) in parts.items():
                rows.append({"variant": variant, "benchmark": benchmark, "part": part, "own image": own,
                             "shuffled images": other, "gap": None if other is None else round(own - other, 2)})
    return pd.DataFrame(rows)


GENERATION_ROWS = (("GenEval overall", "geneval", "overall"), ("GenEval single object", "geneval", "single_object"),
                   ("GenEval two objects", "geneval", "two_object"), ("GenEval counting", "geneval", "counting"),
                   ("GenEval colours", "geneval", "colors"), ("GenEval position", "geneval", "position"),
                   ("GenEval colour attribution", "geneval", "color_attr"), ("DPG score", "dpg", "dpg_score"),
                   ("CLIP cosine x100", None, "clip_cosine"), ("FID (lower)", None, "fid"))


def _generation_value(scores: dict, group: str | None, key: str, with_interval: bool = False) -> float | str | None:
    """One number of a bound or of a variant's results (``group`` None: the top level, where a bound keeps its
    alignment score and FID); GenEval's with its bootstrap interval when asked and known."""
    part = (scores.get(group) or {}) if group else scores
    value = part.get(key)
    interval = (part.get("interval_95") or {}).get(key) if with_interval else None
    if value is None or not interval:
        return value
    return f"{value:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def generation_bounds_table(results: dict[str, dict]) -> pd.DataFrame:
    """Each generation metric per variant between its floor (ground-truth renders judged against shuffled prompts)
    and its ceilings (the renders through the VAE, and the renders themselves), all on the same prompts and judge;
    GenEval with its 95% bootstrap interval over prompts."""
    generated = {v: {**r["generation"], **(r["generation"].get("fid") or {})} for v, r in results.items()
                 if r.get("generation")}
    bounds = next((g["bounds"] for g in generated.values() if g.get("bounds")), None)
    if bounds is None:
        return pd.DataFrame()
    rows = []
    for label, group, key in GENERATION_ROWS:
        row = {"metric": label, "floor": _generation_value(bounds["floor"], group, key)}
        row |= {v: _generation_value(g, group, key, with_interval=True) for v, g in generated.items()}
        row |= {"through the VAE": _generation_value(bounds["through_vae"], group, key),
                "ceiling": _generation_value(bounds["ceiling"], group, key)}
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "(nothing yet)"
    return frame.astype(object).where(frame.notna(), None).to_markdown(index=False, floatfmt=".2f", missingval="-")


def demote(markdown: str, levels: int = 1) -> str:
    """Push every heading of an embedded Markdown document down ``levels`` levels."""
    return "\n".join("#" * levels + line if line.startswith("#") else line for line in markdown.splitlines())


class Pictures:
    """Names pictures for the template: a file link under ``figures/`` (Markdown) or a data URI (HTML)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.files = folder, {}

    def add(self, name: str, data: bytes) -> str:
        self.files[name] = data
        return name

    def link(self, name: str, inline: bool) -> str:
        if inline:
            return "data:image/png;base64," + base64.b64encode(self.files[name]).decode()
        return f"figures/{name}"

    def write(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, data in self.files.items():
            (self.folder / name).write_bytes(data)


def context(inputs: ReportInputs, pictures: Pictures, tolerance: float) -> dict:
    sets = {r.get("benchmark_set", "shapes world") for r in inputs.results.values()}
    benchmark_set = "standard" if sets == {"standard"} else "shapes world"
    wanted = HEADLINE[benchmark_set]["generation"] + HEADLINE[benchmark_set]["understanding"]
    claims = check_claims(inputs.results, inputs.paper_table5, tolerance, inputs.pooled)
    bars = metric_bars(inputs.pooled, [(m, METRICS[m].label) for m in wanted])
    stages = {stage: pictures.add(f"losses_{stage}.png", data) for stage, data in stage_figures(inputs.losses).items()}
    sweeps = {}
    for variant, result in inputs.results.items():
        settings = ((result.get("generation") or {}).get("settings") or {})
        plot = sweep_plot(result.get("sweep") or [], float(settings.get("cfg_weight", 2.0)),
                          int(settings.get("steps", 30)))
        if plot is not None:
            sweeps[variant] = {"picture": pictures.add(f"sweep_{variant}.png", plot),
                               "table": markdown_table(pd.DataFrame(result["sweep"]))}
    grids = {v: pictures.add(f"samples_{v}.png", path.read_bytes()) for v, path in inputs.sample_grids.items()}
    examples = [{"picture": pictures.add(f"example_{i}.png", thumbnail(e.image)), "example": e}
                for i, e in enumerate(inputs.examples) if e.image.is_file()]
    return {
        "profile": inputs.profile, "benchmark_set": benchmark_set,
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "code_version": code_version(),
        "variants": inputs.variants, "evaluated": inputs.evaluated,
        "missing": [v for v in inputs.variants if v not in inputs.results],
        "comparison": markdown_table(comparison_table(
            inputs, with_controls(wanted, HEADLINE[benchmark_set]["understanding"]))),
        "image_control": markdown_table(image_control_table(inputs.results)), "claims": claims,
        "generation_bounds": markdown_table(generation_bounds_table(inputs.results)),
        "bars": pictures.add("metrics.png", bars) if bars else None,
        "seeds": {v: len(runs) for v, runs in inputs.pooled.items()},
        "stages": stages, "sweeps": sweeps, "grids": grids, "sample_prompts": inputs.sample_prompts,
        "examples": examples, "example_variants": [v for v in inputs.evaluated
                                                   if any(v in e.predictions for e in inputs.examples)],
        "fid_note": any((r.get("fid_extractor") or "").startswith("tiny") for r in inputs.results.values()),
        "tables": demote(inputs.tables_markdown, 1) if inputs.tables_markdown else "",
    }


HTML_SHELL = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }}
img {{ max-width: 100%; }}
code {{ background: #f6f6f6; padding: 0 3px; }}
</style></head>
<body>
{body}
</body></html>
"""


def render(inputs: ReportInputs, out: Path, tolerance: float) -> dict[str, Path]:
    """Write ``report.md`` (+ ``figures/``), ``report.html`` and ``report.json`` under ``out``, replacing the
    previous report whole (no new Markdown beside old figures)."""
    environment = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, keep_trailing_newline=True)
    template = environment.get_template("report.md.j2")
    with publishing(out) as staging:
        files = ReportLayout(staging)
        pictures = Pictures(staging / "figures")
        values = context(inputs, pictures, tolerance)
        pictures.write()
        markdown = template.render(**values, picture=lambda name: pictures.link(name, inline=False))
        inline = template.render(**values, picture=lambda name: pictures.link(name, inline=True))
        body = MarkdownIt("commonmark").enable("table").render(inline)
        files.markdown.write_text(markdown)
        files.html.write_text(HTML_SHELL.format(title=f"JanusFlow ablations ({inputs.profile})", body=body))
        files.record.write_text(json.dumps({
            "profile": inputs.profile, "evaluated": inputs.evaluated, "missing": values["missing"],
            "claims": [asdict(c) | {"paper_label": c.paper.label, "ours_label": c.ours.label}
                       for c in values["claims"]],
            "summaries": {v: r["summary"] for v, r in inputs.results.items()}, "code_version": values["code_version"],
        }, indent=1, default=str) + "\n")
    published = ReportLayout(out)
    return {"markdown": published.markdown, "html": published.html, "json": published.record}
