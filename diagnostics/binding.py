"""Can an LLM learn to answer a question that needs the question and the image together? A synthetic check behind
docs/understanding.md's diagnosis of the tiny profile, free of the understanding encoder and the shapes world's data.

The "image" is an 8x8 grid of slots. Each slot's feature is a fixed random vector for its colour (gray background,
one to four 2x2 objects of the shapes world's ten colours) plus a fixed random vector for the slot; a trainable
linear aligner maps it into the LLM. The text is "Is there a <colour> shape in the image? Answer:" and the target
the next token of " yes" or " no", half each. The asked colour alone and the image alone each say nothing about
the answer: only the two together do. The control (``--control``) always asks about red, so the image alone
answers it. Both train the whole LLM and the aligner with AdamW on the answer token, and report the accuracy on
256 fixed held-out examples as training goes.

    python -m diagnostics.binding --foundations artifacts/tiny/foundations [--control] [--random-init]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaForCausalLM, PreTrainedTokenizerBase

from data.shapes.scene import COLORS

GRID, OBJECT, MAX_OBJECTS = 8, 2, 4
COLOR_NAMES = tuple(COLORS)
BACKGROUND = len(COLOR_NAMES)


@dataclass(frozen=True)
class Example:
    slots: torch.Tensor  # [GRID * GRID] colour index per slot (BACKGROUND where empty)
    asked: int           # colour index named in the question
    present: bool        # the answer


@dataclass(frozen=True)
class Vocabulary:
    questions: tuple[tuple[int, ...], ...]  # token ids of the question about each colour
    yes: int                                # the first token where " yes" and " no" differ: what the model predicts
    no: int

    @classmethod
    def of(cls, tokenizer: PreTrainedTokenizerBase) -> Vocabulary:
        """Questions end with the tokens " yes" and " no" share (a small BPE may start both with a space)."""
        yes, no = (tokenizer.encode(word, add_special_tokens=False) for word in (" yes", " no"))
        shared = next(i for i, (a, b) in enumerate(zip([*yes, None], [*no, None])) if a != b)
        if shared == min(len(yes), len(no)):
            raise ValueError("the tokenizer encodes ' yes' or ' no' as the start of the other; the check needs "
                             "a token where they differ.")
        ids = [tuple(tokenizer.encode(f" Is there a {name} shape in the image? Answer:", add_special_tokens=False))
               + tuple(yes[:shared]) for name in COLOR_NAMES]
        return cls(tuple(ids), yes[shared], no[shared])


def example(generator: torch.Generator, control: bool) -> Example:
    """A scene and a question about it: half ask a colour that is in the scene, half one that is not (the
    control always asks red, present or not)."""
    grid = torch.full((GRID, GRID), BACKGROUND)
    for _ in range(int(torch.randint(1, MAX_OBJECTS + 1, (1,), generator=generator))):
        colour = int(torch.randint(len(COLOR_NAMES), (1,), generator=generator))
        row, col = torch.randint(GRID - OBJECT + 1, (2,), generator=generator).tolist()
        grid[row:row + OBJECT, col:col + OBJECT] = colour
    present = sorted(set(grid.flatten().tolist()) - {BACKGROUND})
    if control:
        return Example(grid.flatten(), 0, 0 in present)
    ask_present = bool(torch.rand(1, generator=generator) < 0.5)
    pool = present if ask_present else [c for c in range(len(COLOR_NAMES)) if c not in present]
    return Example(grid.flatten(), pool[int(torch.randint(len(pool), (1,), generator=generator))], ask_present)


class BindingTask(torch.nn.Module):
    """The LLM, the slot features and the aligner; ``forward`` gives the logits of the answer position."""

    def __init__(self, llm: LlamaForCausalLM, vocabulary: Vocabulary, seed: int = 0) -> None:
        super().__init__()
        width = llm.config.hidden_size
        features = torch.Generator().manual_seed(seed)
        self.llm, self.vocabulary = llm, vocabulary
        self.register_buffer("colour_features", torch.randn(BACKGROUND + 1, width, generator=features))
        self.register_buffer("slot_features", 0.5 * torch.randn(GRID * GRID, width, generator=features))
        self.aligner = torch.nn.Linear(width, width)

    def forward(self, examples: list[Example]) -> torch.Tensor:
        slots = torch.stack([e.slots for e in examples])
        images = self.aligner(self.colour_features[slots] + self.slot_features)
        length = max(len(self.vocabulary.questions[e.asked]) for e in examples)
        embed = self.llm.get_input_embeddings()
        rows = []
        for image, e in zip(images, examples):
            question = self.vocabulary.questions[e.asked]
            pad = image.new_zeros(length - len(question), image.shape[-1])  # between image and question
            rows.append(torch.cat([image, pad, embed(torch.tensor(question))]))
        return self.llm(inputs_embeds=torch.stack(rows), use_cache=False).logits[:, -1]

    def targets(self, examples: list[Example]) -> torch.Tensor:
        return torch.tensor([self.vocabulary.yes if e.present else self.vocabulary.no for e in examples])

    @torch.no_grad()
    def accuracy(self, examples: list[Example]) -> float:
        """Share of examples whose " yes" / " no" logits rank the right answer first."""
        logits = self(examples)
        said_yes = logits[:, self.vocabulary.yes] > logits[:, self.vocabulary.no]
        return float((said_yes == torch.tensor([e.present for e in examples])).float().mean())


def train(task: BindingTask, steps: int, batch_size: int = 16, learning_rate: float = 1e-3, control: bool = False,
          every: int = 250, seed: int = 1) -> list[dict[str, float]]:
    """Accuracy on 256 held-out examples at step 0 and every ``every`` steps."""
    held_out = [example(torch.Generator().manual_seed(10_000 + i), control) for i in range(256)]
    generator = torch.Generator().manual_seed(seed)
    params = [p for p in task.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, betas=(0.9, 0.95), weight_decay=0.0)
    curve = []

    def measure(step: int) -> None:
        task.eval()
        curve.append({"step": step, "accuracy": round(task.accuracy(held_out), 4)})
        task.train()
        print(json.dumps(curve[-1]), flush=True)

    for step in range(steps):
        if step % every == 0:
            measure(step)
        batch = [example(generator, control) for _ in range(batch_size)]
        loss = torch.nn.functional.cross_entropy(task(batch), task.targets(batch))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    measure(steps)
    return curve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--foundations", default="artifacts/tiny/foundations", help="folder with tokenizer/ and llm/")
    parser.add_argument("--steps", type=int, default=1500, help="training steps")
    parser.add_argument("--batch-size", type=int, default=16, help="examples per step")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="AdamW's learning rate")
    parser.add_argument("--control", action="store_true", help="always ask about red: the image alone answers")
    parser.add_argument("--random-init", action="store_true", help="the LLM's architecture, freshly initialised")
    parser.add_argument("--out", default=None, help="a JSON file for the settings and the accuracy curve")
    args = parser.parse_args(argv)
    folder = Path(args.foundations)
    tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer")
    torch.manual_seed(0)
    llm = LlamaForCausalLM.from_pretrained(folder / "llm")
    if args.random_init:
        llm = LlamaForCausalLM(llm.config)
    curve = train(BindingTask(llm, Vocabulary.of(tokenizer)), args.steps, args.batch_size, args.learning_rate,
                  args.control)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({**vars(args), "curve": curve}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
