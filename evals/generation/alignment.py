"""Text-image alignment: CLIPScore as the paper's Table 5 reports it (cosine similarity x 100).

The paper profile runs torchmetrics' ``CLIPScore`` with CLIP ViT-L/14 loaded from a local directory. The tiny
profile applies the same formula (``clip_score``: 100 x the mean cosine, floored at 0, as torchmetrics computes it)
to the tiny SigLIP-style dual encoder's image and text embeddings, and also reports the mean cosine without the
floor (``clip_cosine``): SigLIP-style embeddings of unrelated pairs have negative cosines, so a weak checkpoint's
floored score is 0 and only the unfloored one still ranks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import PreTrainedTokenizerBase

from janusflow.foundations.siglip import SiglipDualEncoder, tokenize
from janusflow.processor import preprocess_image


def mean_cosine(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> float:
    """100 x the mean cosine similarity of matching rows."""
    if image_embeddings.shape != text_embeddings.shape:
        raise ValueError(f"{len(image_embeddings)} image and {len(text_embeddings)} text embeddings of shapes "
                         f"{tuple(image_embeddings.shape)} / {tuple(text_embeddings.shape)}; give one text per image.")
    cosine = torch.nn.functional.cosine_similarity(image_embeddings.float(), text_embeddings.float(), dim=-1)
    return round(100.0 * cosine.mean().item(), 4)


def clip_score(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> float:
    """torchmetrics' CLIPScore: ``mean_cosine`` floored at 0."""
    return max(mean_cosine(image_embeddings, text_embeddings), 0.0)


def _check_pairs(images: Sequence[Path], prompts: Sequence[str]) -> None:
    if len(images) != len(prompts) or not images:
        raise ValueError(f"{len(images)} images and {len(prompts)} prompts; give one prompt per image (at least one).")


def _open(paths: Sequence[Path]) -> list[Image.Image]:
    """RGB copies of image files, read one batch at a time so that a large set never sits in memory."""
    images = []
    for path in paths:
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    return images


@torch.no_grad()
def tiny_clip_score(encoder: SiglipDualEncoder, tokenizer: PreTrainedTokenizerBase, images: Sequence[Path],
                    prompts: Sequence[str], batch_size: int = 128) -> dict[str, float]:
    """``clip_score`` and ``clip_cosine`` on the tiny dual encoder's embeddings of each image file and its prompt."""
    _check_pairs(images, prompts)
    size = encoder.image_spec.image_size
    image_rows, text_rows = [], []
    for start in range(0, len(images), batch_size):
        pixels = torch.stack([preprocess_image(image, size) for image in _open(images[start:start + batch_size])])
        ids, mask = tokenize(tokenizer, prompts[start:start + batch_size], encoder.text_spec.context_length)
        image_rows.append(encoder.embed_images(pixels))
        text_rows.append(encoder.embed_texts(ids, mask))
    image_embeddings, text_embeddings = torch.cat(image_rows), torch.cat(text_rows)
    return {"clip_score": clip_score(image_embeddings, text_embeddings), "clip_cosine": mean_cosine(image_embeddings, text_embeddings)}


def paper_clip_score(clip_dir: str | Path, images: Sequence[Path], prompts: Sequence[str],
                     device: str = "cpu", batch_size: int = 32) -> dict[str, float]:
    """torchmetrics' CLIPScore with a CLIP model (ViT-L/14 in the paper) from a local transformers directory."""
    _check_pairs(images, prompts)
    from torchmetrics.multimodal.clip_score import CLIPScore
    from transformers import CLIPModel, CLIPProcessor

    clip_dir = Path(clip_dir)
    if not (clip_dir / "config.json").is_file():
        raise FileNotFoundError(f"CLIPScore needs a CLIP model in transformers layout at {clip_dir} (config.json, "
                                "weights, tokenizer and preprocessor files of openai/clip-vit-large-patch14); copy it "
                                "there and set evaluation.clip_dir in params.yaml.")
    metric = CLIPScore(model_name_or_path=lambda: (CLIPModel.from_pretrained(clip_dir, local_files_only=True),
                                                   CLIPProcessor.from_pretrained(clip_dir, local_files_only=True)))
    metric = metric.to(device)
    for start in range(0, len(images), batch_size):
        tensors = [torch.from_numpy(np.array(image)).permute(2, 0, 1)
                   for image in _open(images[start:start + batch_size])]
        metric.update(tensors, list(prompts[start:start + batch_size]))
    return {"clip_score": round(float(metric.compute()), 4)}
