"""One record type for every understanding benchmark's questions, and the prompt each one is asked with."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from data.shapes.conversations import choice_prompt

IMAGE_PLACEHOLDER = "<image_placeholder>"


@dataclass(frozen=True)
class Question:
    id: str
    benchmark: str                   # vqa / pope / mmbench (shapes world) or vqav2 / gqa / pope / mmbench
    image: str                       # a file path, or base64 image bytes when ``image_is_base64`` (MMBench TSV)
    text: str
    answers: tuple[str, ...]         # reference answer(s); VQAv2 has ten, MMBench the answer's letter
    category: str = ""               # VQA category, POPE split, MMBench category
    options: tuple[str, ...] = ()    # multiple choice, in the order asked
    group: str = ""                  # MMBench: the question all rotations of the options share
    hint: str = ""
    image_is_base64: bool = False

    def load_image(self) -> Image.Image:
        """The question's image as RGB; a missing or unreadable file names the question and the path."""
        try:
            if self.image_is_base64:
                with Image.open(io.BytesIO(base64.b64decode(self.image))) as image:
                    return image.convert("RGB")
            with Image.open(self.image) as image:
                return image.convert("RGB")
        except (OSError, ValueError) as error:
            where = "its base64 image" if self.image_is_base64 else Path(self.image)
            raise FileNotFoundError(f"question {self.id} ({self.benchmark}): cannot read {where} ({error}); put the "
                                    "benchmark's images where docs/evaluation.md says.") from error


def prompt_text(question: Question, answer_suffix: str = "", choice_suffix: str = "") -> str:
    """What the user says: the image, then the question (with hint and lettered options for multiple choice)."""
    if question.options:  # the lettered layout the shapes world's training questions use too
        lines = ([question.hint] if question.hint else []) + [choice_prompt(question.text, list(question.options))]
        return f"{IMAGE_PLACEHOLDER}\n" + "\n".join(lines) + choice_suffix
    return f"{IMAGE_PLACEHOLDER}\n{question.text}{answer_suffix}"
