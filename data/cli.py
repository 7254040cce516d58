"""Command line for the data lineage; each command is one DVC stage and one Dagster asset.

    python -m data.cli shapes-world   # tiny profile: write the raw shapes world
    python -m data.cli filter         # raw sources -> manifests + quarantine report
    python -m data.cli shards         # manifests -> MDS shards (und / gen / text), verified

Settings come from params.yaml (``--params``, ``--profile``); paths from its ``data.paths``.
"""

from __future__ import annotations

import argparse
import sys

from data.manifest import build_manifests
from data.shapes.world import write_shapes_world
from data.shards import write_shards
from settings.cli import add_profile_options, parse_with_profile
from settings.params import Profile, load_params


def shapes_world(profile: Profile, progress: bool) -> dict:
    data = profile.data
    if data.shapes_world is None:
        raise SystemExit("this profile has no data.shapes_world section; the shapes world belongs to the tiny profile.")
    counts = write_shapes_world(data.shapes_world, data.paths.raw, progress=progress)
    print(f"shapes world written to {data.paths.raw}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


def filter_sources(profile: Profile, progress: bool) -> dict:
    data = profile.data
    report = build_manifests(data.sources, data.filters, data.paths.manifests, seed=profile.seed,
                             workers=data.workers, progress=progress)
    print(data.layout.manifests.report_markdown.read_text())
    return report


def shards(profile: Profile, progress: bool) -> dict:
    data = profile.data
    summary = write_shards(data.sources, data.paths.manifests, data.paths.shards, data.shards,
                           workers=data.workers, progress=progress)
    for task, info in summary["tasks"].items():
        print(f"{task}: {info['samples']} samples in {info['shards']} shard(s), {info['bytes']:,} bytes; held out for "
              f"validation: {info['validation']['samples']} samples; hashes verified")
    return summary


COMMANDS = {"shapes-world": shapes_world, "filter": filter_sources, "shards": shards}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=sorted(COMMANDS))
    add_profile_options(parser)
    parser.add_argument("--no-progress", action="store_true")
    args = parse_with_profile(parser, argv)
    profile = load_params(args.params).select(args.profile)
    COMMANDS[args.command](profile, progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    sys.exit(main())
