"""Turning free-form model answers into the discrete answers benchmarks score, the way their reference
evaluators do. An answer that cannot be parsed becomes None and is scored as wrong (and counted)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from data.shapes.conversations import LETTERS


def llava_yes_no(text: str) -> str:
    """LLaVA's POPE parsing: keep the first sentence, drop commas; "no" if it holds the word No, no or not,
    otherwise "yes"."""
    first = text.split(".")[0] if "." in text else text
    words = first.replace(",", "").split(" ")
    return "no" if {"No", "no", "not"} & set(words) else "yes"


def mme_yes_no(text: str) -> str | None:
    """MME's parsing: the whole answer if it is yes/no, else whichever of them its first four characters hold."""
    answer = text.strip().lower()
    if answer in ("yes", "no"):
        return answer
    prefix = answer[:4]
    if "yes" in prefix:
        return "yes"
    if "no" in prefix:
        return "no"
    return None


_LEADING_LETTER = re.compile(r"^\s*[\(\[]?([A-J])(?:[\)\].:,]|\s|$)")


def choice_letter(text: str, options: Sequence[str]) -> str | None:
    """The option an answer picks: a leading letter ("B", "(B)", "B. cat"), else the one option whose text it
    contains; None when neither (or several options) match."""
    letters = LETTERS[: len(options)]
    found = _LEADING_LETTER.match(text)
    if found and found.group(1) in letters:
        return found.group(1)
    lowered = text.lower()
    named = [letter for letter, option in zip(letters, options) if option and option.lower() in lowered]
    return named[0] if len(named) == 1 else None


def first_letter(text: str) -> str | None:
    """SEED-Bench: the first character of the answer, when it is an option letter."""
    stripped = text.strip()
    return stripped[0].upper() if stripped and stripped[0].upper() in LETTERS else None
