"""Official-format checkpoint files: ``config.json`` + ``model.safetensors`` (or an index + shards), and the
sha256 record our exports carry. It knows the file format only; ``JanusFlowModel.from_pretrained`` builds the
model from them.

Loading is strict: every key the model has must be present with the same shape, and nothing else may be there.
Only our own additions (``repa_head.*``) may be absent, since official weights do not carry them.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from huggingface_hub import save_torch_state_dict
from safetensors import safe_open
from torch import nn

from data.integrity import check_digests, record_digests
from janusflow.config import JanusFlowConfig

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"
DIGESTS_NAME = "weights.sha256.json"   # written with our exports; official checkpoints have none
OPTIONAL_PREFIXES = ("repa_head.",)
_MAX_LISTED = 12


class CheckpointMismatchError(RuntimeError):
    """The checkpoint's tensors do not match the model its config describes."""


def _listing(title: str, items: list[str]) -> str:
    shown = "\n    ".join(items[:_MAX_LISTED])
    more = f"\n    ... and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return f"  {title} ({len(items)}):\n    {shown}{more}"


def compare_state_dicts(expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]],
                        optional_prefixes: tuple[str, ...] = OPTIONAL_PREFIXES) -> list[str]:
    """Human-readable differences between the keys/shapes a model expects and those a checkpoint holds."""
    missing = sorted(k for k in expected.keys() - found.keys() if not k.startswith(optional_prefixes))
    unexpected = sorted(found.keys() - expected.keys())
    mismatched = sorted(
        f"{k}: checkpoint {list(found[k])} vs model {list(expected[k])}"
        for k in expected.keys() & found.keys() if tuple(found[k]) != tuple(expected[k])
    )
    problems = []
    if missing:
        problems.append(_listing("missing keys", missing))
    if unexpected:
        problems.append(_listing("unexpected keys", unexpected))
    if mismatched:
        problems.append(_listing("shape mismatches", mismatched))
    return problems


def weight_files(directory: Path) -> list[Path]:
    """The safetensors files of a checkpoint directory, sharded or not."""
    index = directory / INDEX_NAME
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        files = sorted({directory / name for name in weight_map.values()})
        absent = [f.name for f in files if not f.is_file()]
        if absent:
            raise FileNotFoundError(f"{index} lists shard(s) {absent} that are not in {directory}; copy them there.")
        return files
    single = directory / WEIGHTS_NAME
    if single.is_file():
        return [single]
    raise FileNotFoundError(
        f"{directory} has no {WEIGHTS_NAME} or {INDEX_NAME}. A JanusFlow directory holds config.json and the "
        "weights as safetensors (for example a local copy of deepseek-ai/JanusFlow-1.3B)."
    )


def read_state_dict(directory: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the checkpoint; weights saved here are checked against their recorded sha256 first (a
    flipped byte in tensor data would otherwise load silently)."""
    files = weight_files(directory)
    check_digests(directory, DIGESTS_NAME, "restore the checkpoint (dvc checkout) or export it again.")
    state: dict[str, torch.Tensor] = {}
    for path in files:
        with safe_open(str(path), framework="pt") as handle:
            for key in handle.keys():
                state[key] = handle.get_tensor(key)
    return state


def check_loadable(directory: Path, model_keys: dict[str, tuple[int, ...]], state: dict[str, torch.Tensor]) -> None:
    """Raise CheckpointMismatchError, with the fix, when ``state`` does not fit a model with ``model_keys``."""
    problems = compare_state_dicts(model_keys, {k: tuple(v.shape) for k, v in state.items()})
    if problems:
        raise CheckpointMismatchError(
            f"weights in {directory} do not match the model its config.json describes:\n" + "\n".join(problems)
            + "\nUse the config.json that was saved with these weights, or a checkpoint of this model."
        )


def read_config(directory: Path) -> JanusFlowConfig:
    if not (directory / CONFIG_NAME).is_file():
        raise FileNotFoundError(
            f"{directory} has no {CONFIG_NAME}. Pass a JanusFlow checkpoint directory (config.json with model_type "
            "'multi_modality' + model.safetensors), e.g. a local download of deepseek-ai/JanusFlow-1.3B."
        )
    return JanusFlowConfig.from_json_file(directory / CONFIG_NAME)


def save_pretrained(model: nn.Module, directory: str | Path, max_shard_size: str | int = "5GB",
                    include_repa_head: bool = True) -> Path:
    """Write ``config.json`` and safetensors weights (sharded above ``max_shard_size``) in the official layout."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in [*directory.glob("model*.safetensors"), directory / INDEX_NAME]:
        stale.unlink(missing_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()
             if include_repa_head or not k.startswith(OPTIONAL_PREFIXES)}
    save_torch_state_dict(state, directory, max_shard_size=max_shard_size, metadata={"format": "pt"})
    model.config.to_json_file(directory / CONFIG_NAME)
    record_digests(directory, [p.name for p in weight_files(directory)], DIGESTS_NAME)
    return directory
