"""A checkpoint as a hub model repository: loading by hub id from the local cache, the processor files, the model
card an export carries and the results the push adds to it."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from huggingface_hub import ModelCard, constants

from janusflow.hub import CARD_NAME, model_card, resolve_checkpoint, with_results
from janusflow.pipeline import JanusFlowPipeline
from janusflow.processor import PREPROCESSOR_CONFIG, PROCESSOR_CONFIG, TokenizerError
from reports import hub
from settings.typed import SettingsError

COMMIT = "0123456789abcdef0123456789abcdef01234567"
FACTS = {"profile": "tiny", "variant": {"name": "F", "description": "the final configuration"}, "seed": 0,
         "stages": [{"name": "stage1", "trainable": "adapters", "steps": 6, "batch_size": 4, "learning_rate": 1e-3,
                     "mixture": [{"ratio": {"und": 50.0, "gen": 50.0, "text": 0.0}, "steps": None}]},
                    {"name": "stage2", "trainable": "all_but_und_encoder", "steps": 6, "batch_size": 4,
                     "learning_rate": 1e-4, "mixture": [{"ratio": {"und": 30.0, "gen": 50.0, "text": 20.0}, "steps": 2},
                                                        {"ratio": {"und": 14.0, "gen": 80.0, "text": 6.0},
                                                         "steps": None}]}],
         "commit": "abc1234", "data": {"und": "00aa", "gen": "11bb", "text": "22cc"}}
SUMMARY = {"geneval_overall": 17.19, "dpg_score": None, "fid": 65.3832, "vqa": 58.75, "vqa_shuffled": 37.5,
           "pope": 84.37, "pope_shuffled": None, "seconds": 146.0}


@pytest.fixture()
def export(model, processor, tmp_path):
    """A checkpoint saved as the training stage exports it: weights, tokenizer, processor files and card."""
    directory = JanusFlowPipeline(model, processor, None).save_pretrained(tmp_path / "export")
    model_card("JanusFlow tiny F seed0 stage2", FACTS, {"ar": 1.5, "total": 2.25}).save(directory / CARD_NAME)
    return directory


def cached(directory, cache, repo_id: str) -> None:
    """``directory`` as the Hugging Face cache holds a downloaded snapshot of ``repo_id``'s main branch."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(directory, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)


def test_a_hub_id_loads_from_the_local_cache(model, export, tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    cached(export, tmp_path / "cache", "someone/janusflow-tiny")
    assert resolve_checkpoint("someone/janusflow-tiny") == tmp_path / "cache" / "models--someone--janusflow-tiny" / \
        "snapshots" / COMMIT
    loaded = JanusFlowPipeline.from_pretrained("someone/janusflow-tiny")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.model.state_dict().values()))
    assert resolve_checkpoint(export) == export   # a directory is taken as it is
    with pytest.raises(FileNotFoundError, match="'someone/absent': it is not a directory, and the local Hugging Face "
                                                "cache .* holds no snapshot .*\\(hf download someone/absent\\)"):
        JanusFlowPipeline.from_pretrained("someone/absent")
    missing = tmp_path / "no" / "such" / "folder"
    assert resolve_checkpoint(missing) == missing   # neither a directory nor a repository id
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*folder \\(no config.json\\); train it first"):
        JanusFlowPipeline.from_pretrained(missing)


def test_processor_files_carry_the_official_keys_and_must_agree_with_the_model(processor, export):
    saved = json.loads((export / PROCESSOR_CONFIG).read_text())
    assert saved["image_tag"] == "<image_placeholder>" and saved["num_image_tokens"] == processor.num_image_tokens
    assert saved["sft_format"] == "deepseek" and saved["ignore_id"] == -100
    image = json.loads((export / PREPROCESSOR_CONFIG).read_text())
    assert image["image_size"] == processor.image_size and image["image_mean"] == [0.5, 0.5, 0.5]
    assert image["background_color"] == [127, 127, 127]
    image["image_size"] = processor.image_size * 2
    (export / PREPROCESSOR_CONFIG).write_text(json.dumps(image))
    with pytest.raises(TokenizerError, match=f"preprocessor_config.json disagrees with the model's config.json: "
                                             f"image_size={processor.image_size * 2} \\(the model needs "
                                             f"{processor.image_size}\\)"):
        JanusFlowPipeline.from_pretrained(export)


def test_the_card_keeps_its_facts_and_takes_results_once(export):
    card = ModelCard.load(export / CARD_NAME)
    assert card.data.janusflow == FACTS and card.data.library_name == "janusflow-pipeline"
    assert "| stage2 | all_but_und_encoder | 6 | 4 | 0.0001 | 30:50:20 (2); 14:80:6 (rest) |" in card.text
    assert "| total | 2.2500 |" in card.text and "commit `abc1234`" in card.text
    once = with_results(card, hub.eval_results(SUMMARY, "shapes world"), hub.results_table(SUMMARY))
    twice = with_results(once, hub.eval_results(SUMMARY, "shapes world"), hub.results_table(SUMMARY))
    assert twice.text.count("## Evaluation") == 1 and twice.text.count("## Training") == 1
    assert [(r.metric_type, r.metric_value, r.task_type) for r in twice.data.eval_results] == [
        ("geneval_overall", 17.19, "text-to-image"), ("fid", 65.3832, "text-to-image"),
        ("vqa", 58.75, "visual-question-answering"), ("pope", 84.37, "visual-question-answering")]
    assert "| VQA accuracy (higher) | 58.75 | 37.5 |" in twice.text and "| POPE F1 (higher) | 84.37 |  |" in twice.text
    assert "DPG" not in hub.results_table(SUMMARY)   # no value, no row


def test_the_pushed_folder_is_a_copy_with_results_and_the_export_is_untouched(export, tmp_path):
    before = (export / CARD_NAME).read_text()
    out = hub.staged_repository(export, SUMMARY, "shapes world", tmp_path / "repository")
    assert (export / CARD_NAME).read_text() == before
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in export.iterdir())
    assert ModelCard.load(out / CARD_NAME).data.eval_results[0].dataset_name == "GenEval overall (shapes world)"
    with pytest.raises(SettingsError, match="keys the metrics catalog does not know: \\['geneval'\\]"):
        hub.staged_repository(export, {"geneval": 1.0}, "shapes world", tmp_path / "other")
    (export / CARD_NAME).unlink()
    with pytest.raises(FileNotFoundError, match="has no README.md; it was exported before exports carried a model"):
        hub.staged_repository(export, SUMMARY, "shapes world", tmp_path / "third")
