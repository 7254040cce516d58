"""Filtering stage: raw sources -> one manifest per data type (parquet) + a quarantine report.

Every record read ends in exactly one place: its data type's manifest (kept), the quarantine table (with its
source, position and reason), or the sampled-out count (``keep_fraction`` < 1). Per-record checks run on a
process pool when ``workers`` > 1; duplicate removal and sampling run in reading order, so the result is the
same for any number of workers.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from data.filtering import Verdict, check_record
from data.integrity import IntegrityError, file_digest
from data.parallel import ordered_map
from data.publish import publishing
from data.sources import RawRecord, read_source
from settings.data import FilterConfig, SourceSpec
from settings.layout import ManifestLayout
from settings.provenance import code_version

QUARANTINE_COLUMNS = ["task", "source", "position", "key", "reason", "detail"]


def _check_chunk(chunk: list[tuple[RawRecord, str, FilterConfig]]) -> list[tuple[str, int, str, Verdict]]:
    return [(record.source, record.position, record.key, check_record(record, task, config))
            for record, task, config in chunk]


def sampled_in(seed: int, source: str, position: int, fraction: float) -> bool:
    """Deterministic keep-fraction draw for one record (a hash, so it does not depend on reading order)."""
    if fraction >= 1.0:
        return True
    digest = hashlib.sha256(f"{seed}:{source}:{position}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def verdicts(specs: list[SourceSpec], filters: dict[str, FilterConfig], workers: int,
             progress: bool) -> Iterator[tuple[str, int, str, Verdict]]:
    """(source, position, key, verdict) for every record of every source, in reading order."""
    def jobs() -> Iterator[tuple[RawRecord, str, FilterConfig]]:
        for spec in specs:
            for record in read_source(spec):
                yield record, spec.feeds, filters[spec.feeds]

    with tqdm(desc="filtering records", unit="rec", disable=not progress) as bar:
        for results in ordered_map(_check_chunk, jobs(), workers):
            bar.update(len(results))
            yield from results


class ManifestIntegrityError(IntegrityError):
    """A manifest differs from what the filter stage recorded (rows or hash): it was changed or half-written."""


def build_manifests(specs: list[SourceSpec], filters: dict[str, FilterConfig], out: str | Path, seed: int = 0,
                    workers: int = 1, progress: bool = True) -> dict:
    """Filter every source; publish ``<task>.parquet``, ``quarantine.parquet``, ``report.json`` (with each
    manifest's rows and sha256) and ``report.md`` together, or leave the previous ones untouched on failure."""
    missing = sorted({s.feeds for s in specs} - set(filters))
    if missing:
        raise ValueError(f"no filter settings for data type(s) {missing}; add them under data.filters in params.yaml.")
    started = time.perf_counter()
    kept: dict[str, list[dict]] = {task: [] for task in sorted({s.feeds for s in specs})}
    quarantined: list[dict] = []
    seen: dict[str, set[str]] = {task: set() for task in kept}
    stats: dict[str, Counter] = {}
    by_name = {spec.name: spec for spec in specs}
    for name, position, key, verdict in verdicts(specs, filters, workers, progress):
        spec = by_name[name]
        config = filters[spec.feeds]
        counter = stats.setdefault(name, Counter())
        counter["read"] += 1
        reason, detail = verdict.reason, verdict.detail
        if reason is None and config.dedup and verdict.dedup_key is not None:
            if verdict.dedup_key in seen[spec.feeds]:
                reason, detail = "duplicate", "an earlier record has the same image (and conversation)"
            seen[spec.feeds].add(verdict.dedup_key)
        if reason is not None:
            counter["quarantined"] += 1
            counter[f"reason:{reason}"] += 1
            quarantined.append({"task": spec.feeds, "source": name, "position": position, "key": printable(key),
                                "reason": reason, "detail": printable(detail)})
        elif not sampled_in(seed, name, position, config.keep_fraction):
            counter["sampled_out"] += 1
        else:
            counter["kept"] += 1
            counter["repaired"] += int(verdict.info.get("source_mode", "RGB") != "RGB")
            kept[spec.feeds].append({"source": name, "position": position, "key": key, **verdict.info})
    seconds = time.perf_counter() - started
    report = summarize(specs, stats, filters, seconds, workers)
    with publishing(out) as staging:
        files = ManifestLayout(staging)
        for task, rows in kept.items():
            pd.DataFrame(rows).to_parquet(files.manifest(task), index=False)
        pd.DataFrame(quarantined, columns=QUARANTINE_COLUMNS).to_parquet(files.quarantine, index=False)
        report["manifests"] = {task: {"rows": len(rows), "sha256": file_digest(files.manifest(task))}
                               for task, rows in kept.items()}
        files.report.write_text(json.dumps(report, indent=1))
        files.report_markdown.write_text(report_markdown(report))
    return report


def printable(text: str) -> str:
    """``text`` as valid UTF-8: a lone surrogate (possible in JSON) becomes its escape instead of breaking the
    parquet writer after the whole pass."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def verify_manifests(folder: str | Path) -> dict[str, dict]:
    """Check every manifest in ``folder`` against the sha256 its report recorded (which fixes its rows too); returns
    the record per data type ({"rows", "sha256"}). Raises ManifestIntegrityError naming the file and the fix."""
    files = ManifestLayout(Path(folder))
    report_path = files.report
    try:
        recorded = json.loads(report_path.read_text())["manifests"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ManifestIntegrityError(f"{report_path} is missing or has no manifest index ({error}); rerun the filter "
                                     "stage (dvc repro manifests).") from None
    for task, entry in recorded.items():
        path = files.manifest(task)
        if not path.is_file() or file_digest(path) != entry["sha256"]:
            raise ManifestIntegrityError(f"{path} is missing or differs from the one the filter stage wrote (sha256 "
                                         f"{entry['sha256'][:12]}...); rerun the filter stage (dvc repro manifests).")
    return recorded


def summarize(specs: list[SourceSpec], stats: dict[str, Counter], filters: dict[str, FilterConfig],
              seconds: float, workers: int) -> dict:
    """Counts per source and data type, quarantine counts per reason, throughput and the settings used."""
    sources = {}
    for spec in specs:
        counter = stats.get(spec.name, Counter())
        sources[spec.name] = {
            "task": spec.feeds, "format": spec.format,
            **{k: counter[k] for k in ("read", "kept", "quarantined", "sampled_out", "repaired")},
            "reasons": {k.split(":", 1)[1]: v for k, v in sorted(counter.items()) if k.startswith("reason:")},
        }
    tasks: dict[str, dict] = {}
    reasons: Counter = Counter()
    for entry in sources.values():
        total = tasks.setdefault(entry["task"], Counter())
        total.update({k: entry[k] for k in ("read", "kept", "quarantined", "sampled_out", "repaired")})
        reasons.update(entry["reasons"])
    read = sum(t["read"] for t in tasks.values())
    return {
        "tasks": {task: dict(counter) for task, counter in sorted(tasks.items())},
        "sources": sources,
        "reasons": dict(sorted(reasons.items())),
        "read": read,
        "quarantine_rate": (sum(t["quarantined"] for t in tasks.values()) / read) if read else 0.0,
        "seconds": round(seconds, 3),
        "records_per_second": round(read / seconds, 1) if seconds > 0 else None,
        "workers": workers,
        "code_version": code_version(),
        "filters": {task: asdict(config) for task, config in sorted(filters.items())},
    }


def report_markdown(report: dict) -> str:
    """The report as Markdown tables: per data type, then quarantine counts by reason."""
    lines = ["# Filtering report", "", "| data type | read | kept | quarantined | sampled out | repaired |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for task, t in report["tasks"].items():
        lines.append(f"| {task} | {t.get('read', 0)} | {t.get('kept', 0)} | {t.get('quarantined', 0)} | "
                     f"{t.get('sampled_out', 0)} | {t.get('repaired', 0)} |")
    lines += ["", f"Quarantine rate: {report['quarantine_rate']:.2%}; {report['records_per_second']} records/s "
              f"with {report['workers']} worker(s).", "", "| reason | records |", "| --- | ---: |"]
    lines += [f"| {reason} | {count} |" for reason, count in report["reasons"].items()]
    return "\n".join(lines) + "\n"
