"""A checkpoint as a Hugging Face Hub model repository: a hub id resolves to its snapshot in the local cache
(nothing downloads at run time), an export carries a model card that says what it is, what trained it and how it
scores, and an export is pushed to a repository whole.

The card's metadata (``card.data``) holds the facts as YAML front matter, the standard ``model-index`` results
included, so that the hub indexes them and a later step (the push, after the evaluation) adds results to the card
the export wrote without rebuilding it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi, ModelCard, ModelCardData, constants, snapshot_download
from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
from huggingface_hub.repocard_data import EvalResult
from huggingface_hub.utils import validate_repo_id

CARD_NAME = "README.md"   # the hub's file name for a model card
LIBRARY = "janusflow-pipeline"
TAGS = ["janusflow", "rectified-flow", "multimodal", "text-to-image", "image-to-text"]


def resolve_checkpoint(path_or_id: str | Path) -> Path:
    """A checkpoint directory as given, or the cached snapshot of the hub repository ``path_or_id`` names. What can
    be neither (not a directory, not a repository id) comes back as a path, for the loader to report missing."""
    path = Path(path_or_id)
    if path.is_dir():
        return path
    try:
        validate_repo_id(str(path_or_id))
    except HFValidationError:
        return path
    try:
        return Path(snapshot_download(str(path_or_id), local_files_only=True))
    except LocalEntryNotFoundError as error:
        raise FileNotFoundError(
            f"no checkpoint at {str(path_or_id)!r}: it is not a directory, and the local Hugging Face cache "
            f"({constants.HF_HUB_CACHE}) holds no snapshot of a repository of that id. Pass a checkpoint directory, "
            f"or fetch the repository where there is network access (hf download {path_or_id}) and point "
            "HF_HUB_CACHE at that cache.") from error


def _stage_row(stage: Mapping[str, Any]) -> str:
    mixture = "; ".join(f"{':'.join(f'{v:g}' for v in phase['ratio'].values())} "
                        f"({'rest' if phase['steps'] is None else phase['steps']})" for phase in stage["mixture"])
    return (f"| {stage['name']} | {stage['trainable']} | {stage['steps']} | {stage['batch_size']} | "
            f"{stage['learning_rate']:g} | {mixture} |")


def model_card(name: str, facts: Mapping[str, Any], losses: Mapping[str, float]) -> ModelCard:
    """The card of an export. ``facts``: profile, variant (its record), seed, stages (the stage records it was
    trained through, in order), data (shard stream -> index digest) and commit; ``losses``: the last stage's final
    training losses by term."""
    variant, stages = facts["variant"], facts["stages"]
    data = ModelCardData(library_name=LIBRARY, license="mit", tags=TAGS, pipeline_tag="any-to-any",
                         model_name=name, janusflow=json.loads(json.dumps(facts)))   # YAML-safe: tuples as lists
    stage_rows = "\n".join(_stage_row(stage) for stage in stages)
    data_rows = "\n".join(f"| {stream} | {digest} |" for stream, digest in facts["data"].items())
    loss_rows = "\n".join(f"| {term} | {value:.4f} |" for term, value in losses.items())
    body = f"""# {name}

JanusFlow (understanding by autoregression, generation by rectified flow, in one LLM), profile
`{facts['profile']}`, ablation variant **{variant['name']}** ({variant['description']}), seed {facts['seed']},
trained with this repository's pipeline at commit `{facts['commit']}`.

## Use

```python
from janusflow.pipeline import JanusFlowPipeline
from settings.params import load_params

pipeline = JanusFlowPipeline.from_pretrained("<this repository or directory>", vae="<its VAE directory>")
images = pipeline.generate(["a photo of a red circle"], [0], load_params("params.yaml").sampling).to_pil()
```

## Training

| stage | trainable | steps | batch | learning rate | mixture und:gen:text (steps) |
| --- | --- | --- | --- | --- | --- |
{stage_rows}

## Data

| shard stream | index digest |
| --- | --- |
{data_rows}

## Final training losses ({stages[-1]['name']})

| term | loss |
| --- | --- |
{loss_rows}
"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def with_results(card: ModelCard, results: Sequence[EvalResult], table: str) -> ModelCard:
    """The card with the evaluation's results in its ``model-index`` metadata and ``table`` (Markdown) as its
    Evaluation section, replacing any earlier one."""
    data = card.data
    data.eval_results = list(results)
    body = card.text.split("\n## Evaluation\n")[0].strip("\n")
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n\n## Evaluation\n\n{table}\n")


def push(directory: str | Path, repo_id: str, *, private: bool = True, token: str | None = None,
         message: str | None = None) -> str:
    """Create (or reuse) the model repository ``repo_id`` and upload ``directory`` whole as one commit; returns
    the commit's URL."""
    directory = Path(directory)
    if not (directory / CARD_NAME).is_file():
        raise FileNotFoundError(f"{directory} has no {CARD_NAME} model card; push an export written by the training "
                                "stage (janusflow-train), which writes one.")
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(repo_id=repo_id, folder_path=directory, repo_type="model",
                             commit_message=message or f"Upload {directory.name}")
    return str(info.commit_url)
