"""Chat format, image expansion, labels, image preprocessing and generation prefixes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from janusflow.processor import (
    DEFAULT_SYSTEM_PROMPT,
    IGNORE_INDEX,
    JanusFlowProcessor,
    TokenizerError,
    conversation_segments,
    preprocess_image,
)

MEAN_PIXEL = (127 / 255 - 0.5) / 0.5


def test_chat_text_follows_the_official_template():
    messages = [
        {"role": "User", "content": "<image_placeholder>\nWhat colour?"},
        {"role": "Assistant", "content": "Red."},
        {"role": "User", "content": "How many?"},
        {"role": "Assistant", "content": ""},
    ]
    text = "".join(s for s, _ in conversation_segments(messages, "SYS"))
    assert text == "SYS\n\nUser: <image_placeholder>\nWhat colour?\n\nAssistant: Red.User: How many?\n\nAssistant:"
    assert [r for _, r in conversation_segments(messages, "")] == [False, False, True, False, False]


def test_unknown_role_is_rejected():
    with pytest.raises(ValueError, match="message 0 has role 'system'; use one of"):
        conversation_segments([{"role": "system", "content": "x"}], "")


def test_encoded_conversation_expands_images_and_masks_everything_but_answers(processor):
    messages = [{"role": "User", "content": "<image_placeholder>\nWhat colour is the circle?"},
                {"role": "Assistant", "content": "The circle is red."}]
    enc = processor.encode_conversation(messages, system_prompt="")
    ids = enc.input_ids
    assert ids[0] == processor.bos_id
    n = processor.num_image_tokens
    start = ids.index(processor.image_start_id)
    assert ids[start + 1:start + 1 + n] == [processor.image_id] * n
    assert ids[start + 1 + n] == processor.image_end_id
    assert ids.count(processor.image_id) == n == 64
    answer = [t for t, lab in zip(ids, enc.labels) if lab != IGNORE_INDEX]
    assert answer[-1] == processor.eos_id
    assert processor.tokenizer.decode(answer[:-1]) == " The circle is red."
    assert enc.labels[: start + n + 2] == [IGNORE_INDEX] * (start + n + 2)


def test_chat_prompt_ends_with_open_assistant_turn(processor):
    enc = processor.encode_chat_prompt([{"role": "User", "content": "hi"}], system_prompt="")
    assert processor.tokenizer.decode(enc.input_ids[1:]) == "User: hi\n\nAssistant:"
    with pytest.raises(ValueError, match="must end with a User message"):
        processor.encode_chat_prompt([{"role": "Assistant", "content": "x"}])


def test_batch_left_pads_and_marks_image_slots(processor, red_image):
    batch = processor.chat_batch(
        [[{"role": "User", "content": "<image_placeholder>\nWhat colour?"}], [{"role": "User", "content": "hi"}]],
        [[red_image], []],
    )
    assert batch.attention_mask[1, 0] == 0 and batch.attention_mask[:, -1].tolist() == [1, 1]
    assert batch.input_ids[1, 0] == processor.pad_id
    assert batch.image_token_mask.sum() == 64 and batch.image_begin_mask.sum() == 1
    assert batch.pixel_values.shape == (1, 3, 64, 64)


def test_image_count_must_match_tags(processor, red_image):
    with pytest.raises(ValueError, match=r"hold 1 <image_placeholder> tag\(s\) but 2 image\(s\) were given"):
        processor.chat_batch([[{"role": "User", "content": "<image_placeholder> x"}]], [[red_image, red_image]])


def test_preprocess_pads_to_square_with_mean_colour():
    pixels = preprocess_image(Image.new("RGB", (40, 20), (255, 0, 0)), 64)
    assert pixels.shape == (3, 64, 64)
    assert torch.allclose(pixels[:, 0, 0], torch.full((3,), MEAN_PIXEL))
    assert torch.allclose(pixels[:, 32, 32], torch.tensor([1.0, -1.0, -1.0]))
    assert pixels.min() >= -1 and pixels.max() <= 1


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P", "I;16", "F"])
def test_preprocess_accepts_any_pil_mode(mode):
    image = Image.new("RGB", (30, 30), (200, 100, 50)).convert(mode) if mode != "I;16" else Image.fromarray(
        np.full((30, 30), 60000, dtype=np.uint16))
    pixels = preprocess_image(image, 32)
    assert pixels.shape == (3, 32, 32) and torch.isfinite(pixels).all()


def test_transparent_pixels_become_the_mean_colour():
    image = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert torch.allclose(preprocess_image(image, 8), torch.full((3, 8, 8), MEAN_PIXEL))


def test_non_image_input_is_rejected():
    with pytest.raises(TypeError, match="expected a PIL.Image, got ndarray; open files with PIL.Image.open"):
        preprocess_image(np.zeros((4, 4, 3)), 8)


def test_generation_prefix_and_unconditional_form(processor):
    prefix = processor.encode_generation_prompts(["a red circle", "two blue squares left of a green triangle"])
    short = prefix.input_ids[0][prefix.attention_mask[0].bool()].tolist()
    assert short[0] == processor.bos_id
    assert processor.tokenizer.decode(short[1:]) == "User: a red circle\n\nAssistant:"
    assert prefix.attention_mask[0, 0] == 0 and prefix.attention_mask[1].all()
    uncond = prefix.unconditional(processor.pad_id)
    for row in range(2):
        first = int(prefix.attention_mask[row].argmax())
        assert uncond.input_ids[row, first] == processor.bos_id
        assert uncond.attention_mask[row].tolist() == [int(i == first) for i in range(prefix.input_ids.shape[1])]
        assert (uncond.input_ids[row, first + 1:] == processor.pad_id).all()
    pre = processor.encode_generation_prompts(["a red circle"], template="pretrain")
    assert processor.tokenizer.decode(pre.input_ids[0, 1:]) == "a red circle"


def test_overlong_prompt_names_the_context(processor):
    with pytest.raises(ValueError, match="exceeds the LLM context of 1024. Shorten the prompt"):
        processor.encode_generation_prompts(["red " * 1200], reserved=65)
    with pytest.raises(ValueError, match="the conversation is .* tokens long but the LLM context is 1024"):
        processor.encode_chat_prompt([{"role": "User", "content": "<image_placeholder>" * 16}])


def test_training_truncates_overlong_text_but_never_an_image(processor):
    long_answer = [{"role": "User", "content": "<image_placeholder>\nDescribe it."},
                   {"role": "Assistant", "content": "red " * 1500}]
    unlimited = copy.copy(processor)
    unlimited.context_length = None
    full = unlimited.encode_conversation(long_answer)
    assert len(full.input_ids) > 1024
    cut = processor.encode_conversation(long_answer, truncate=True)
    assert len(cut.input_ids) == len(cut.labels) == 1024 and cut.num_images == 1
    assert cut.input_ids == full.input_ids[:1024] and cut.labels == full.labels[:1024]
    images_past_context = [{"role": "User", "content": "red " * 1500 + "<image_placeholder>"},
                           {"role": "Assistant", "content": "yes"}]
    with pytest.raises(ValueError, match="the conversation is .* tokens long but the LLM context is 1024"):
        processor.encode_conversation(images_past_context, truncate=True)
    prompt = processor.generation_prompt_ids("red " * 1200, reserved=65, truncate=True)
    assert len(prompt) == 1024 - 65 and prompt[0] == processor.bos_id


def _word_level_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {"<s>": 0, "</s>": 1, "[UNK]": 2, "User": 3, ":": 4}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="[UNK]")


def test_tokenizer_without_special_tokens_gets_them_as_single_ids():
    processor = JanusFlowProcessor(_word_level_tokenizer(), image_size=32, num_image_tokens=4)
    assert len({processor.image_id, processor.image_start_id, processor.image_end_id, processor.generation_id,
                processor.pad_id}) == 5


def test_special_token_that_splits_is_an_error():
    with pytest.raises(TokenizerError, match=r"special token '<image_placeholder>' encodes to .* it must be exactly one id"):
        JanusFlowProcessor(_word_level_tokenizer(), image_size=32, num_image_tokens=4,
                           add_missing_special_tokens=False)


def test_tokenizer_larger_than_model_vocab_is_an_error(tokenizer, tiny_config):
    from janusflow.config import tiny_janusflow_config

    small = tiny_janusflow_config(vocab_size=len(tokenizer) - 1)
    with pytest.raises(TokenizerError, match="the model's vocabulary is"):
        JanusFlowProcessor.for_model(tokenizer, small)


def test_processor_takes_the_configs_chat_system_prompt(tokenizer, tiny_config):
    import dataclasses

    messages = [{"role": "User", "content": "Hi"}, {"role": "Assistant", "content": "Hello"}]
    official = JanusFlowProcessor.for_model(tokenizer, tiny_config)
    silent = JanusFlowProcessor.for_model(tokenizer, dataclasses.replace(tiny_config, chat_system_prompt=""))
    assert official.system_prompt == DEFAULT_SYSTEM_PROMPT
    text = tokenizer.decode(silent.encode_conversation(messages).input_ids[1:])
    assert text == "User: Hi\n\nAssistant: Hello" + tokenizer.eos_token
    assert JanusFlowProcessor.for_model(tokenizer, tiny_config, system_prompt="Be brief.").system_prompt == "Be brief."
