"""Publishes one trained run to a Hugging Face Hub model repository: its final export (weights, tokenizer,
processor files, model card) with the evaluation's headline numbers added to the card, as the hub's
``model-index`` results and as a table.

    janusflow-push --variant F --repo-id you/janusflow-tiny-F          # needs network access and a token
    janusflow-push --variant F --repo-id you/janusflow-tiny-F --out DIR   # only write what would be pushed

The export stays as the training stage wrote it (DVC tracks it); the folder pushed is a copy. Log in first
(``hf auth login``) or pass ``--token``/set HF_TOKEN.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from huggingface_hub import ModelCard
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.repocard_data import EvalResult

from evals.catalog import CATALOG, summary_keys
from evals.run import EvalRun
from janusflow.hub import CARD_NAME, push, with_results
from settings.cli import command_parser, parse_with_profile, run_options
from settings.layout import FINAL_STAGE
from settings.typed import SettingsError

TASK_TYPES = {"generation": "text-to-image", "understanding": "visual-question-answering"}


def eval_results(summary: Mapping[str, float | None], benchmarks: str) -> list[EvalResult]:
    """The model-index entries of a run's summary: one per metric it has a value for, in catalog order."""
    return [EvalResult(task_type=TASK_TYPES[m.task], dataset_type=f"janusflow/{m.name}",
                       dataset_name=f"{m.title} ({benchmarks})", metric_type=m.name, metric_name=m.label,
                       metric_value=summary[m.name])
            for m in CATALOG if summary.get(m.name) is not None]


def results_table(summary: Mapping[str, float | None]) -> str:
    """The summary as Markdown: each metric with a value, and the shuffled-image control where there is one."""
    rows = ["| metric | value | shuffled-image control |", "| --- | --- | --- |"]
    for m in CATALOG:
        if summary.get(m.name) is None:
            continue
        control = summary.get(f"{m.name}_shuffled") if m.control else None
        rows.append(f"| {m.label} | {summary[m.name]:g} | {'' if control is None else f'{control:g}'} |")
    return "\n".join(rows)


def staged_repository(export: Path, summary: Mapping[str, float | None], benchmarks: str, out: Path) -> Path:
    """A copy of ``export`` in ``out`` whose card carries the results of ``summary``."""
    if not (export / CARD_NAME).is_file():
        raise FileNotFoundError(f"{export} has no {CARD_NAME}; it was exported before exports carried a model card. "
                                "Train the stage again (its checkpoints resume) to write one.")
    unknown = sorted(set(summary) - set(summary_keys()) - {"seconds"})
    if unknown:
        raise SettingsError(f"the evaluation summary has keys the metrics catalog does not know: {unknown}; evaluate "
                            "the run again with this code (python -m evals.cli variant).")
    shutil.copytree(export, out, dirs_exist_ok=True)
    card = with_results(ModelCard.load(export / CARD_NAME), eval_results(summary, benchmarks), results_table(summary))
    card.save(out / CARD_NAME)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(__doc__, run_options())
    parser.add_argument("--repo-id", required=True, help="the model repository, <user or org>/<name>")
    parser.add_argument("--out", type=Path, default=None,
                        help="write the folder that would be pushed here and push nothing")
    parser.add_argument("--public", action="store_true", help="create the repository public (default: private)")
    parser.add_argument("--token", default=None, help="a Hugging Face token (default: the logged-in one, HF_TOKEN)")
    args = parse_with_profile(parser, argv)
    try:
        run = EvalRun.from_params(args.params, args.profile)
        key = run.params.run(args.variant, args.seed)
        summary_path = run.settings.layout.summary(key)
        if not summary_path.is_file():
            raise FileNotFoundError(f"variant {key.variant} seed {key.seed} has no evaluation summary at "
                                    f"{summary_path}; evaluate it first: python -m evals.cli variant --variant "
                                    f"{key.variant}.")
        summary = json.loads(summary_path.read_text())
        export = run.checkpoint_path(key)
        benchmarks = "shapes world" if run.profile.tiny else "standard benchmarks"
        if args.out is not None:
            staged_repository(export, summary, benchmarks, args.out)
            print(f"wrote {args.out} ({FINAL_STAGE} export of {key.variant} seed {key.seed} with its results); "
                  "nothing pushed")
            return 0
        with tempfile.TemporaryDirectory() as folder:
            url = push(staged_repository(export, summary, benchmarks, Path(folder) / "repository"), args.repo_id,
                       private=not args.public, token=args.token,
                       message=f"JanusFlow {run.profile_name} variant {key.variant} seed {key.seed}")
    except (SettingsError, FileNotFoundError, HfHubHTTPError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"pushed {key.variant} seed {key.seed} to {args.repo_id}: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
