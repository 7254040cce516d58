"""Special tokens of the JanusFlow chat format, and a byte-level BPE tokenizer builder for small models.

The official tokenizer (DeepSeek-LLM) already holds these tokens; a tokenizer trained here gets them at
training time so that each one is a single id, which the processor checks for any tokenizer it is given.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

BOS_TOKEN = "<｜begin▁of▁sentence｜>"
EOS_TOKEN = "<｜end▁of▁sentence｜>"
PAD_TOKEN = "<｜▁pad▁｜>"
IMAGE_TOKEN = "<image_placeholder>"
IMAGE_START_TOKEN = "<begin_of_image>"
IMAGE_END_TOKEN = "<end_of_image>"
GENERATION_TOKEN = "<｜begin▁of▁generation｜>"

IMAGE_AND_GENERATION_TOKENS = (IMAGE_TOKEN, IMAGE_START_TOKEN, IMAGE_END_TOKEN, GENERATION_TOKEN)
SPECIAL_TOKENS = (BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, *IMAGE_AND_GENERATION_TOKENS)


def train_byte_level_bpe(texts: Iterable[str], vocab_size: int = 1024, min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer (every byte is representable, so no text is out of vocabulary) with the
    JanusFlow special tokens at ids 0..6."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=BOS_TOKEN, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN,
        additional_special_tokens=list(IMAGE_AND_GENERATION_TOKENS), clean_up_tokenization_spaces=False,
    )
