"""The paper's qualitative claims about its ablations (Table 5), checked by one rule on the paper's own numbers
and on ours:

- REPA helps generation: F (with REPA) beats A (without) on every generation metric.
- Decoupled encoders help understanding: F (SigLIP for understanding) beats B (one shared VAE+ConvNeXt encoder)
  and C (a separate VAE+ConvNeXt encoder) on every understanding metric.
- The unified model is close to the specialists: F is within ``tolerance`` (relative) of D on every
  understanding metric and of E on every generation metric.

A claim is decided only where its metrics agree: it "holds" when every metric says so, "does not hold" when none
does, and otherwise the metrics disagree, which is reported as such rather than as a verdict. A claim that lacks
a variant or metric is "not checked", never "holds".

With several seeds (params.yaml ``seeds``) every score is the mean over the variant's runs, and a comparison
counts only when the two means differ by more than their spreads together (sample standard deviations over
seeds): a difference inside the spread leaves the claim "within the seed spread", not decided.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from evals.catalog import HEADLINE, metric_of, paper_metrics, paper_names

Scores = dict[str, dict[str, float | None]]   # variant -> metric -> value (the mean over seeds)
Spreads = dict[str, dict[str, float]]          # variant -> metric -> standard deviation over seeds (0: one run)


@dataclass(frozen=True)
class Verdict:
    holds: bool | None          # None: not checked, the metrics disagree, or a difference is within the spread
    evidence: str
    disagree: bool = False      # some metrics say it holds, others that it does not
    within_spread: bool = False  # no metric contradicts the claim, but some differ by less than the seed spread

    @property
    def label(self) -> str:
        if self.disagree:
            return "metrics disagree"
        if self.within_spread:
            return "within the seed spread"
        return {True: "holds", False: "does not hold", None: "not checked"}[self.holds]

    @classmethod
    def of(cls, outcomes: list[bool | None], evidence: str) -> Verdict:
        """The verdict of per-metric outcomes (None: within the spread): all true holds, all false does not, true
        and false disagree, and otherwise a difference inside the spread leaves it undecided."""
        decided = [o for o in outcomes if o is not None]
        if True in decided and False in decided:
            return cls(None, evidence, disagree=True)
        if None in outcomes:
            return cls(None, evidence, within_spread=True)
        if outcomes and all(outcomes):
            return cls(True, evidence)
        return cls(False, evidence)


@dataclass(frozen=True)
class Claim:
    name: str
    statement: str
    paper: Verdict
    ours: Verdict


def better(metric: str, a: float, b: float) -> bool:
    """Whether ``a`` is strictly better than ``b`` on ``metric``."""
    return metric_of(metric).better(a, b)


def spread_of(spreads: Spreads | None, variant: str, metric: str) -> float:
    return float((spreads or {}).get(variant, {}).get(metric, 0.0))


def _values(scores: Scores, variant: str, metrics: list[str]) -> dict[str, float] | None:
    row = scores.get(variant) or {}
    found = {m: row.get(m) for m in metrics}
    present = {m: float(v) for m, v in found.items() if v is not None and not pd.isna(v)}
    return present or None


def _fmt(value: float) -> str:
    return f"{value:.2f}"


def beats(scores: Scores, winner: str, losers: list[str], metrics: list[str],
          spreads: Spreads | None = None) -> Verdict:
    """``winner`` strictly better than every one of ``losers`` on every metric both have, by more than the two
    variants' seed spreads together (a smaller difference decides nothing)."""
    ours = _values(scores, winner, metrics)
    if ours is None or any(_values(scores, l, metrics) is None for l in losers):
        return Verdict(None, f"needs {', '.join([winner, *losers])} on {', '.join(metrics)}")
    parts, outcomes = [], []
    for loser in losers:
        theirs = _values(scores, loser, metrics) or {}
        for metric in sorted(set(ours) & set(theirs), key=metrics.index):
            margin = spread_of(spreads, winner, metric) + spread_of(spreads, loser, metric)
            won = better(metric, ours[metric], theirs[metric])
            inside = margin > 0 and abs(ours[metric] - theirs[metric]) <= margin
            outcomes.append(None if inside else won)
            verb = "within the spread of" if inside else "vs" if won else "not better than"
            parts.append(f"{metric} {winner} {_fmt(ours[metric])} {verb} {loser} {_fmt(theirs[metric])}"
                         + (f" (spread {_fmt(margin)})" if margin > 0 else ""))
    return Verdict.of(outcomes, "; ".join(parts))


def close(scores: Scores, unified: str, specialist: str, metrics: list[str], tolerance: float) -> list[str] | None:
    """Per-metric gaps of ``unified`` behind ``specialist``; None when either lacks the metrics. A gap counts
    against the claim only when the unified model is worse by more than ``tolerance`` of the specialist's value."""
    ours, theirs = _values(scores, unified, metrics), _values(scores, specialist, metrics)
    if ours is None or theirs is None:
        return None
    lines = []
    for metric in sorted(set(ours) & set(theirs), key=metrics.index):
        a, b = ours[metric], theirs[metric]
        gap = (a - b) / abs(b) if b else (0.0 if a == b else float("inf"))
        worse_by = -gap if metric_of(metric).higher_is_better else gap
        ok = worse_by <= tolerance
        lines.append(f"{'ok' if ok else 'FAR'}: {metric} {unified} {_fmt(a)} vs {specialist} {_fmt(b)} "
                     f"({'worse' if worse_by > 0 else 'better'} by {abs(gap) * 100:.1f}%)")
    return lines


def specialists(scores: Scores, metrics: dict[str, list[str]], tolerance: float) -> Verdict:
    und = close(scores, "F", "D", metrics["understanding"], tolerance)
    gen = close(scores, "F", "E", metrics["generation"], tolerance)
    if und is None or gen is None:
        return Verdict(None, "needs F, D (understanding) and E (generation)")
    lines = und + gen
    return Verdict.of([line.startswith("ok") for line in lines], "; ".join(lines))


def pooled_scores(pooled: dict[str, list[dict]]) -> tuple[Scores, Spreads]:
    """Each variant's mean over its runs (seeds) and the sample standard deviation (0 for a single run)."""
    means: Scores = {}
    spreads: Spreads = {}
    for variant, runs in pooled.items():
        frame = pd.DataFrame(runs).apply(pd.to_numeric, errors="coerce")
        means[variant] = {m: (None if pd.isna(v) else float(v)) for m, v in frame.mean().items()}
        spreads[variant] = {m: float(v) for m, v in frame.std(ddof=1).fillna(0.0).items()} if len(frame) > 1 else {}
    return means, spreads


def paper_scores(table5: pd.DataFrame) -> Scores:
    names = paper_names()
    frame = table5.rename(columns=names).set_index("exp")
    return {str(v): {m: frame.at[v, m] for m in names.values()} for v in frame.index}


def our_scores(results: dict[str, dict]) -> Scores:
    return {v: dict(r["summary"]) for v, r in results.items()}


def check_claims(results: dict[str, dict], table5: pd.DataFrame | None, tolerance: float,
                 pooled: dict[str, list[dict]] | None = None) -> list[Claim]:
    """The three claims on the paper's Table 5 and on ours: ``results`` (one run per variant), or, given
    ``pooled`` (every run's summary per variant), their means with the seed spread."""
    sets = {r.get("benchmark_set", "shapes world") for r in results.values()}
    ours_metrics = HEADLINE["standard" if sets == {"standard"} else "shapes world"]
    ours, spreads = pooled_scores(pooled) if pooled else (our_scores(results), {})
    paper = paper_scores(table5) if table5 is not None else {}
    rules = [
        ("repa", "REPA helps generation (F with REPA vs A without)",
         lambda s, m, d: beats(s, "F", ["A"], m["generation"], d)),
        ("decoupled", "Decoupled encoders help understanding (F's SigLIP vs B's shared and C's separate "
                      "VAE+ConvNeXt encoder)",
         lambda s, m, d: beats(s, "F", ["B", "C"], m["understanding"], d)),
        ("specialists", f"The unified model is close to the specialists (F within {tolerance * 100:.0f}% of D on "
                        "understanding and of E on generation)",
         lambda s, m, d: specialists(s, m, tolerance)),
    ]
    return [Claim(name, statement, rule(paper, paper_metrics(), {}), rule(ours, ours_metrics, spreads))
            for name, statement, rule in rules]
