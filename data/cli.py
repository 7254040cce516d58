"""Command line for the data lineage; each command is one DVC stage and one Dagster asset.

    python -m data.cli shapes-world   # tiny profile: write the raw shapes world
    python -m data.cli filter         # raw sources -> manifests + quarantine report
    python -m data.cli shards         # manifests -> MDS shards (und / gen / text), verified

Settings come from params.yaml (``--params``, ``--profile``); paths from its ``data.paths``.
"""

from __future__ import annotations

import sys

from data import stages
from settings.cli import command_parser, parse_with_profile, progress_option
from settings.params import Profile, load_params


def shapes_world(profile: Profile, progress: bool) -> None:
    counts = stages.shapes_world(profile, progress)
    print(f"shapes world written to {profile.data.paths.raw}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


def filter_sources(profile: Profile, progress: bool) -> None:
    stages.filter_sources(profile, progress)
    print(profile.data.layout.manifests.report_markdown.read_text())


def shards(profile: Profile, progress: bool) -> None:
    summary = stages.shards(profile, progress)
    for task, info in summary["tasks"].items():
        print(f"{task}: {info['samples']} samples in {info['shards']} shard(s), {info['bytes']:,} bytes; held out for "
              f"validation: {info['validation']['samples']} samples; hashes verified")
    for url in summary["uploaded"]:
        print(f"uploaded to {url}")


COMMANDS = {"shapes-world": shapes_world, "filter": filter_sources, "shards": shards}


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(__doc__, progress_option())
    parser.add_argument("command", choices=sorted(COMMANDS), help="which stage of the data lineage to run")
    args = parse_with_profile(parser, argv)
    profile = load_params(args.params).select(args.profile)
    COMMANDS[args.command](profile, progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    sys.exit(main())
