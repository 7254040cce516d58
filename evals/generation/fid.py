"""FID and KID on folder pairs with clean-fid ("clean" mode), from a feature extractor given explicitly.

Both folders go through the GigaGAN protocol first (``prepare_folder``: centre crop, LANCZOS to the evaluation
resolution), then clean-fid's ``clean`` resizing and feature extraction. Features are extracted once per folder
and both scores come from them (clean-fid's ``fid_from_feats`` and ``kernel_distance``, KID with a fixed seed).

Extractors:
- paper profile: clean-fid's Inception-V3 (``inception-2015-12-05.pt``) from a local directory; nothing downloads.
- tiny profile: the tiny understanding encoder's pooled features (the foundation, the same for every variant).
  Those numbers rank tiny checkpoints against each other and are not comparable to Inception FID; every result
  says which extractor made it.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from cleanfid.fid import fid_from_feats, get_folder_features, kernel_distance
from cleanfid.resize import build_resizer, make_resizer
from PIL import Image
from tqdm.auto import tqdm

from data.publish import atomic_file
from janusflow.foundations.siglip import SiglipDualEncoder
from janusflow.processor import IMAGE_MEAN, IMAGE_STD

INCEPTION_FILE = "inception-2015-12-05.pt"
INCEPTION_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
KID_SEED = 0


@dataclass(frozen=True)
class Extractor:
    name: str
    model_fn: Callable[[torch.Tensor], torch.Tensor]   # [B, 3, H, W] floats in [0, 255] -> [B, dim]
    fn_resize: Callable[[np.ndarray], np.ndarray]      # one HWC uint8 image -> the extractor's input size
    dim: int
    comparable_to_inception: bool
    weights: str = ""   # a fingerprint of weights that change between runs, part of cached features' names

    @property
    def cache_key(self) -> str:
        """Names cached features: the extractor and, for weights trained in the pipeline, which weights."""
        return f"{self.name}-{self.weights}" if self.weights else self.name


def weights_fingerprint(module: torch.nn.Module) -> str:
    """16 hex digits of the SHA-256 of a module's parameters and buffers, in state-dict order."""
    digest = hashlib.sha256()
    for key, tensor in module.state_dict().items():
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def inception_extractor(weights_dir: str | Path, device: str | torch.device = "cpu") -> Extractor:
    """clean-fid's Inception-V3 from ``weights_dir/inception-2015-12-05.pt``."""
    from cleanfid.inception_torchscript import InceptionV3W

    path = Path(weights_dir) / INCEPTION_FILE
    if not path.is_file():
        raise FileNotFoundError(f"FID needs clean-fid's Inception weights at {path}; download {INCEPTION_URL} on a "
                                f"machine with internet and copy it there (evaluation.fid.inception_dir in params.yaml).")
    model = InceptionV3W(str(path.parent), download=False).to(device).eval()
    return Extractor("inception_v3", model, build_resizer("clean"), 2048, True)


def encoder_extractor(encoder: SiglipDualEncoder, device: str | torch.device = "cpu") -> Extractor:
    """The tiny dual encoder's image tower, pooled by its MAP head (before the projection); fingerprinted, since
    each rebuild of the encoder foundation changes the features (and so the cached reference)."""
    tower = encoder.image_tower.to(device).eval()
    size = tower.spec.image_size
    mean = torch.tensor(IMAGE_MEAN, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGE_STD, device=device).view(1, 3, 1, 1) * 255

    @torch.no_grad()
    def model_fn(x: torch.Tensor) -> torch.Tensor:
        return tower.vision_tower.forward_head(tower((x.to(device) - mean) / std), pre_logits=True)

    return Extractor("tiny_understanding_encoder", model_fn, make_resizer("PIL", False, "bicubic", (size, size)),
                     tower.spec.width, False, weights_fingerprint(tower))


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def gigagan_resize(image: Image.Image, resolution: int) -> Image.Image:
    """The GigaGAN evaluation protocol: the largest centred square, LANCZOS-resized to ``resolution``."""
    image = image.convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    return square if side == resolution else square.resize((resolution, resolution), Image.Resampling.LANCZOS)


def prepare_folder(source: str | Path, target: str | Path, resolution: int, progress: bool = True) -> int:
    """Every image under ``source`` through ``gigagan_resize`` into ``target`` (flat PNGs; finished ones kept)."""
    source, target = Path(source), Path(target)
    files = require_images(source)
    target.mkdir(parents=True, exist_ok=True)
    for path in tqdm(files, desc=f"preparing {source.name} at {resolution}px", disable=not progress):
        out = target / (path.relative_to(source).with_suffix("").as_posix().replace("/", "__") + ".png")
        if not out.is_file():
            with Image.open(path) as image, atomic_file(out) as partial:   # a kill never leaves half a PNG
                gigagan_resize(image, resolution).save(partial, format="PNG")
    return len(files)


def require_images(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist; sample or copy the images there first.")
    files = image_files(folder)
    if not files:
        raise FileNotFoundError(f"image folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    return files


def folder_features(folder: str | Path, extractor: Extractor, device: str | torch.device = "cpu",
                    batch_size: int = 64, progress: bool = True) -> np.ndarray:
    require_images(folder)
    return get_folder_features(str(folder), extractor.model_fn, num_workers=0, batch_size=batch_size,
                               device=torch.device(device), mode="clean", custom_fn_resize=extractor.fn_resize,
                               description=f"features of {Path(folder).name}", verbose=progress)


def enough_images(count: int, dim: int, what: str) -> bool:
    """FID's covariance needs more images than feature dimensions; warn (with the count needed) when not."""
    if count > dim:
        return True
    warnings.warn(f"{what} has {count} images but the features have {dim} dimensions: the covariance is singular and "
                  f"FID is unreliable; use at least {dim + 1} images (many more for stable numbers).", stacklevel=2)
    return False


def fid_kid(generated: np.ndarray, reference: np.ndarray, extractor: Extractor) -> dict:
    """FID and KID between two feature sets; KID's random subsets come from a fixed seed."""
    reliable = all([enough_images(len(generated), extractor.dim, "the generated set"),
                    enough_images(len(reference), extractor.dim, "the reference set")])
    state = np.random.get_state()
    np.random.seed(KID_SEED)
    try:
        kid = kernel_distance(generated, reference)
    finally:
        np.random.set_state(state)
    return {"fid": round(float(fid_from_feats(generated, reference)), 4), "kid": round(float(kid), 6),
            "images": len(generated), "reference_images": len(reference), "extractor": extractor.name,
            "comparable_to_inception": extractor.comparable_to_inception, "reliable": reliable}
