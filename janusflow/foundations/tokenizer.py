"""Foundation 1: the tiny profile's tokenizer, a byte-level BPE trained on the shapes world's text."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerFast

from janusflow.tokenizer import SPECIAL_TOKENS, train_byte_level_bpe


def special_token_ids(tokenizer: PreTrainedTokenizerFast) -> dict[str, list[int]]:
    """How each JanusFlow special token encodes; every one must be a single id."""
    return {token: tokenizer.encode(token, add_special_tokens=False) for token in SPECIAL_TOKENS}


def tokenizer_metrics(tokenizer: PreTrainedTokenizerFast, heldout: Sequence[str]) -> dict[str, float]:
    """Vocabulary size, held-out compression (UTF-8 bytes per token) and whether special tokens are single ids."""
    tokens = sum(len(tokenizer.encode(text, add_special_tokens=False)) for text in heldout)
    nbytes = sum(len(text.encode()) for text in heldout)
    return {
        "vocab_size": len(tokenizer),
        "heldout_bytes_per_token": round(nbytes / tokens, 4),
        "special_tokens_single_id": float(all(len(ids) == 1 for ids in special_token_ids(tokenizer).values())),
    }


def build_tokenizer(texts: Sequence[str], heldout: Sequence[str], vocab_size: int, out: str | Path) -> dict:
    """Train, save as a transformers tokenizer directory, reload from it, and measure the reloaded one."""
    out = Path(out)
    train_byte_level_bpe(texts, vocab_size=vocab_size).save_pretrained(out)
    return tokenizer_metrics(AutoTokenizer.from_pretrained(out), heldout)
