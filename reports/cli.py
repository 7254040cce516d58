"""Builds the comparison report of variants A-F from whatever the pipeline has produced so far.

    python -m reports.cli                   # tiny profile: <report.out>/report.md, report.html, report.json
    python -m reports.cli --profile paper

Reads evaluation results, tables, loss curves and sample grids; trains and evaluates nothing, so it reruns in
seconds after a template change. Prints where the report is.
"""

from __future__ import annotations

import sys

from evals.run import EvalRun
from reports.collect import collect
from reports.render import render
from settings.cli import command_parser, parse_with_profile
from settings.params import load_params
from settings.typed import SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(__doc__)
    parser.add_argument("--where", action="store_true", help="only print where the report is")
    args = parse_with_profile(parser, argv)
    try:
        params = load_params(args.params)
        settings = params.select(args.profile).report
        if args.where:
            html = settings.layout.html.resolve()
            print(f"report: {html}" if html.is_file() else f"no report yet at {html}; run make run (or dvc repro).")
            return 0 if html.is_file() else 1
        run = EvalRun.from_params(params, args.profile)
        inputs = collect(run, settings, dict(params.variants))
        paths = render(inputs, settings.out, settings.close_tolerance)
    except (SettingsError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"report ({len(inputs.evaluated)} of {len(inputs.variants)} variants evaluated): "
          f"{paths['html'].resolve()}  (Markdown: {paths['markdown']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
