"""Foundation 3: the tiny profile's understanding encoder, trained SigLIP-style.

The image tower is the model's own ``UnderstandingEncoder`` (timm ViT, SigLIP layout: no class token, MAP head),
so its weights drop into ``vision_und_enc_model``; its patch grid equals the generation token grid. A small text
tower (token + position embeddings, pre-norm Transformer, last-token pooling, linear projection) learns with it
under the sigmoid loss of SigLIP (Zhai et al., 2023): every image-text pair in a batch is an independent binary
classification, ``-mean_i sum_j log sigmoid(z_ij (t x_i . y_j + b))`` with ``z_ij = 1`` on the diagonal and -1
elsewhere (and wherever two captions in the batch are the same text), learnable temperature t (init 10) and
bias b (init -10). Each image also gets one hard negative, its own caption with the shape words swapped
(NegCLIP-style; see ``swap_shapes``). Like SigLIP on WebLI, it pretrains on its own corpus: the shapes world's
alt-text stream (``data.shapes.alt_text``).

Beside the sigmoid loss, a dense objective: a linear head on every patch feature names the patch's words
(``data.shapes.patch_words``: the colour and shape of the object whose centre it holds, or the background), by
cross-entropy averaged separately over object and background patches (``patch_loss``). The contrastive loss
alone leaves shape weakly in the patch features (a linear probe read it at 56%); the dense objective puts "what
is here" into each patch, which is what the LLM has to find when it answers a question. The head is the
objective's, not the model's: only the image tower goes into JanusFlow.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import PreTrainedTokenizerBase

from data.shapes.patch_words import PATCH_WORDS, patch_labels
from data.shapes.scene import COLORS, SHAPES, Scene
from janusflow.config import UnderstandingEncoderSpec
from janusflow.foundations.metrics import accuracy
from janusflow.foundations.training import train
from janusflow.modeling.understanding_encoder import UnderstandingEncoder
from settings.foundations import TrainingSettings

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


@dataclass(frozen=True)
class TextTowerSpec:
    vocab_size: int
    width: int = 64
    layers: int = 2
    heads: int = 4
    context_length: int = 64
    embed_dim: int = 64


class TextTower(nn.Module):
    def __init__(self, spec: TextTowerSpec) -> None:
        super().__init__()
        self.spec = spec
        self.token_embedding = nn.Embedding(spec.vocab_size, spec.width)
        self.position_embedding = nn.Parameter(torch.randn(spec.context_length, spec.width) * 0.02)
        layer = nn.TransformerEncoderLayer(spec.width, spec.heads, 4 * spec.width, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, spec.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(spec.width)
        self.projection = nn.Linear(spec.width, spec.embed_dim)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.token_embedding(ids) + self.position_embedding[: ids.shape[1]]
        x = self.norm(self.encoder(x, src_key_padding_mask=~mask.bool()))
        last = mask.long().sum(1) - 1
        return self.projection(x[torch.arange(len(ids)), last])


class SiglipDualEncoder(nn.Module):
    """Image tower (pooled by the MAP head) and text tower with SigLIP's learnable temperature and bias."""

    def __init__(self, image: UnderstandingEncoderSpec, text: TextTowerSpec) -> None:
        super().__init__()
        self.image_spec, self.text_spec = image, text
        self.image_tower = UnderstandingEncoder(image)
        self.patch_head = nn.Linear(image.width, len(PATCH_WORDS))
        self.image_projection = nn.Linear(image.width, text.embed_dim)
        self.text_tower = TextTower(text)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0)))
        self.logit_bias = nn.Parameter(torch.tensor(-10.0))

    def embed_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.embed_patches(self.image_tower(pixels))

    def embed_patches(self, patches: torch.Tensor) -> torch.Tensor:
        """The normalised image embedding of the tower's patch features (MAP-head pooling, projection)."""
        pooled = self.image_tower.vision_tower.forward_head(patches, pre_logits=True)
        return F.normalize(self.image_projection(pooled), dim=-1)

    def embed_texts(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_tower(ids, mask), dim=-1)

    def logits(self, images: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
        return images @ texts.T * self.logit_scale.exp() + self.logit_bias

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = {"image_tower": asdict(self.image_spec), "text_tower": asdict(self.text_spec)}
        (directory / CONFIG_NAME).write_text(json.dumps(config, indent=1))
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, directory / WEIGHTS_NAME)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> SiglipDualEncoder:
        directory = Path(directory)
        if not (directory / CONFIG_NAME).is_file():
            raise FileNotFoundError(f"{directory} has no {CONFIG_NAME}; build the encoder foundation first "
                                    "(python -m janusflow.foundations.cli encoder).")
        config = json.loads((directory / CONFIG_NAME).read_text())
        model = cls(UnderstandingEncoderSpec(**config["image_tower"]), TextTowerSpec(**config["text_tower"]))
        model.load_state_dict(load_file(directory / WEIGHTS_NAME), strict=True)
        return model.eval()


def sigmoid_loss(logits: torch.Tensor, hard_negative_logits: torch.Tensor | None = None,
                 positives: torch.Tensor | None = None) -> torch.Tensor:
    """SigLIP's loss for a square logit matrix whose diagonal holds the matching pairs (``positives``: a boolean
    matrix of all matching pairs, when captions repeat), plus (optionally) one more negative pair per image: its
    caption with the shape words swapped."""
    if positives is None:
        positives = torch.eye(len(logits), dtype=torch.bool, device=logits.device)
    labels = 2 * positives.float() - 1
    total = -F.logsigmoid(labels * logits).sum()
    if hard_negative_logits is not None:
        total = total - F.logsigmoid(-hard_negative_logits).sum()
    return total / len(logits)


def patch_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of patch-word logits [B, N, C] against labels [B, N] (0 = background): the mean over object
    patches plus the mean over background patches, so that 1-4 objects among 64 patches weigh as much as the
    background; a batch without objects (or without background) counts only the part it has."""
    losses = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")
    objects = labels.flatten() > 0
    parts = [losses[mask].mean() for mask in (objects, ~objects) if mask.any()]
    return torch.stack(parts).sum()


def patch_scores(predicted: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Accuracy of predicted patch words against labels (both indices into ``PATCH_WORDS``, any shape): at object
    patches, both words right and each alone; at background patches, the background named."""
    objects = labels > 0
    said, truth = predicted[objects], labels[objects]
    colour_of = torch.tensor([-1, *(list(COLORS).index(words[0]) for words in PATCH_WORDS[1:])])
    shape_of = torch.tensor([-1, *(SHAPES.index(words[1]) for words in PATCH_WORDS[1:])])
    return {
        "patch_word_accuracy": round(float((said == truth).float().mean()), 4),
        "patch_color_accuracy": round(float((colour_of[said] == colour_of[truth]).float().mean()), 4),
        "patch_shape_accuracy": round(float((shape_of[said] == shape_of[truth]).float().mean()), 4),
        "patch_background_accuracy": round(float((predicted[~objects] == 0).float().mean()), 4),
        "patch_objects": int(objects.sum()),
    }


@torch.no_grad()
def patch_accuracy(model: SiglipDualEncoder, images: torch.Tensor, scenes: Sequence[dict]) -> dict[str, float]:
    """Held-out ``patch_scores`` of the patch-word head on ``images`` against their scene graphs."""
    grid = model.image_spec.image_size // model.image_spec.patch_size
    labels = torch.tensor([patch_labels(Scene.from_dict(scene), grid) for scene in scenes])
    return patch_scores(model.patch_head(model.image_tower(images)).argmax(-1), labels)


SHAPE_WORD = re.compile(r"\b(" + "|".join(SHAPES) + r")(s?)\b")


def swap_shapes(caption: str, rng: random.Random) -> str | None:
    """The caption with every shape word replaced by another shape (the same one for each occurrence, plural
    kept); None when the caption names no shape. Scenes rarely share colours within a batch, so without these
    negatives the contrastive task is solved by colour alone and the image tower never learns shape."""
    found = sorted({m.group(1) for m in SHAPE_WORD.finditer(caption)})
    if not found:
        return None
    mapping = {shape: rng.choice([other for other in SHAPES if other != shape]) for shape in found}
    return SHAPE_WORD.sub(lambda m: mapping[m.group(1)] + m.group(2), caption)


def same_text(captions: Sequence[str]) -> torch.Tensor:
    """[B, B] boolean: caption i and caption j are the same text (so neither is the other's negative)."""
    ids = {caption: i for i, caption in enumerate(captions)}
    keys = torch.tensor([ids[caption] for caption in captions])
    return keys[:, None] == keys[None, :]


def tokenize(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (each cut to ``length``, EOS last) and their mask, as wide as the longest text: alt-text
    is about 14 tokens against a context of 64, and padding to the context made the text tower 2-3x slower
    (benchmarks/encoder_text_padding.py). The mask keeps each text's embedding independent of its batch."""
    encoded = [tokenizer.encode(text, add_special_tokens=False)[: length - 1] + [tokenizer.eos_token_id]
               for text in texts]
    width = max((len(tokens) for tokens in encoded), default=1)
    ids = torch.full((len(texts), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(texts), width), dtype=torch.long)
    for row, tokens in enumerate(encoded):
        ids[row, : len(tokens)] = torch.tensor(tokens)
        mask[row, : len(tokens)] = 1
    return ids, mask


@torch.no_grad()
def zero_shot(model: SiglipDualEncoder, tokenizer: PreTrainedTokenizerBase, images: torch.Tensor,
              scenes: Sequence[dict]) -> dict[str, float]:
    """Colour and shape accuracy on single-object scenes: each image picks the best of the 40 prompts
    "a photo of a {colour} {shape}" (chance: 10% for colour, 25% for shape)."""
    single = [i for i, scene in enumerate(scenes) if len(scene["objects"]) == 1]
    if not single:
        raise ValueError("no single-object scene in the held-out set; raise shapes_world.eval_scenes.")
    prompts = [(c, s) for c in COLORS for s in SHAPES]
    article = {c: "an" if c[0] in "aeiou" else "a" for c in COLORS}
    ids, mask = tokenize(tokenizer, [f"a photo of {article[c]} {c} {s}" for c, s in prompts],
                         model.text_spec.context_length)
    best = model.logits(model.embed_images(images[single]), model.embed_texts(ids, mask)).argmax(1).tolist()
    truth = [scenes[i]["objects"][0] for i in single]
    return {
        "zero_shot_color_accuracy": round(accuracy([prompts[b][0] for b in best], [o["color"] for o in truth]), 4),
        "zero_shot_shape_accuracy": round(accuracy([prompts[b][1] for b in best], [o["shape"] for o in truth]), 4),
        "zero_shot_scenes": len(single),
    }


def train_siglip(image_spec: UnderstandingEncoderSpec, text_spec: TextTowerSpec, tokenizer: PreTrainedTokenizerBase,
                 pairs: Iterator[tuple[torch.Tensor, list[str], torch.Tensor]], heldout_images: torch.Tensor,
                 heldout_scenes: Sequence[dict], settings: TrainingSettings, out: str | Path,
                 progress: bool = True) -> dict:
    """Train both towers and the patch-word head (seeded) on ``settings.steps`` batches of (images, captions,
    patch labels) drawn from ``pairs``, each caption with its shape-swapped hard negative; save them; report the
    loss, held-out zero-shot accuracy and held-out patch-word accuracy."""
    started = time.perf_counter()
    torch.manual_seed(settings.seed)
    model = SiglipDualEncoder(image_spec, text_spec)
    rng = random.Random(settings.seed)

    def loss_on(batch: tuple[torch.Tensor, list[str], torch.Tensor], _: torch.Generator) -> torch.Tensor:
        images, captions, labels = batch
        swapped = [swap_shapes(caption, rng) for caption in captions]
        has_negative = torch.tensor([n is not None for n in swapped])
        patches = model.image_tower(images)
        image = model.embed_patches(patches)
        texts = model.embed_texts(*tokenize(tokenizer, captions, text_spec.context_length))
        negatives = model.embed_texts(*tokenize(tokenizer, [n or c for n, c in zip(swapped, captions)],
                                                text_spec.context_length))
        hard = ((image * negatives).sum(-1) * model.logit_scale.exp() + model.logit_bias)[has_negative]
        dense = patch_loss(model.patch_head(patches), labels)
        return sigmoid_loss(model.logits(image, texts), hard, same_text(captions)) + dense

    curve = train(model, loss_on, lambda _: next(pairs), settings, "foundation: understanding encoder", progress)
    model.save_pretrained(out)
    grid = image_spec.image_size // image_spec.patch_size
    return {
        "parameters_image_tower": sum(p.numel() for p in model.image_tower.parameters()),
        "patch_grid": grid, "pairs_seen": settings.steps * settings.batch_size, "first_loss": round(curve[0], 4),
        "final_loss": round(sum(curve[-20:]) / len(curve[-20:]), 4),
        **zero_shot(model, tokenizer, heldout_images, heldout_scenes),
        **patch_accuracy(model, heldout_images, heldout_scenes),
        "seconds": round(time.perf_counter() - started, 1),
    }
