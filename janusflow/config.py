"""JanusFlow configuration: a superset of the official ``config.json`` (model_type ``multi_modality``).

The official file has three vision sub-configs, each ``{"cls", "model_type", "params"}``, and a
``language_config`` for LLaMA. We keep that layout byte-for-byte so official directories load and what we
save loads in the official code, and add one optional block of our own (``repa_config``) for the REPA head.
Unknown fields are errors, not silently ignored: a typo in a size would otherwise build the wrong model.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import LlamaConfig

from settings.model import TinyModelSettings
from settings.training import UND_ENCODER_SOURCES

MODEL_TYPE = "multi_modality"

UND_ENC_CLS = "CLIPVisionTower"
GEN_ENC_CLS = "ShallowUViTEncoder"
GEN_DEC_CLS = "ShallowUViTDecoder"

# Official understanding-encoder names and the ViT sizes they stand for (SigLIP in timm's layout).
KNOWN_UND_ENCODERS: dict[str, dict[str, Any]] = {
    "siglip_large_patch16_384": {"width": 1024, "layers": 24, "heads": 16, "patch_size": 16, "mlp_ratio": 4.0},
}

UND_PARAMS = {"image_size", "model_name", "select_feature", "select_layer", "width", "layers", "heads",
              "patch_size", "mlp_ratio"}
GEN_ENC_PARAMS = {"block_out_channels", "elementwize_affine", "elementwise_affine", "hidden_size", "input_channels",
                  "kernel_size", "layers_in_middle", "norm_eps", "num_extra_tensors", "padding", "stride", "use_bias",
                  "use_mid_block"}
GEN_DEC_PARAMS = {"block_out_channels", "elementwise_affine", "hidden_size", "in_channels", "layers_in_middle",
                  "norm_eps", "out_channels", "upsamples", "use_bias", "use_mid_block"}
REPA_FIELDS = {"enabled", "layer", "hidden_size", "target_dim"}
# Where understanding images are encoded (ours; the ablations of the paper's Table 5). "siglip" is the released
# model; the others encode the image's VAE latents with a VAE+ConvNeXt encoder: the generation encoder itself
# ("shared_generation", variant B) or a copy of it with its own weights ("separate_generation", variant C);
# "none" builds a generation-only model (variant E).
TOP_LEVEL = {"model_type", "architectures", "torch_dtype", "dtype", "transformers_version", "language_config",
             "vision_und_enc_config", "vision_gen_enc_config", "vision_gen_dec_config", "repa_config",
             "und_encoder_source", "chat_system_prompt"}
LANGUAGE_FIELDS = set(LlamaConfig().to_dict()) | {"torch_dtype"}


class ConfigError(ValueError):
    """A config field is unknown, missing or inconsistent; the message names the field and the fix."""


def _check_fields(where: str, given: dict[str, Any], valid: set[str]) -> None:
    unknown = sorted(set(given) - valid)
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {unknown}. Valid fields are {sorted(valid)}. "
            "Fix the spelling or remove the field."
        )


def _optional_text(where: str, key: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}.{key} is {value!r}; give a string (\"\" for none) or leave it out for the default.")
    return value


@dataclass
class VisionModuleConfig:
    """One official vision sub-config: the class name the official code dispatches on and its kwargs."""

    cls: str
    model_type: str
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, where: str, raw: dict[str, Any], expected_cls: str, valid_params: set[str]) -> VisionModuleConfig:
        _check_fields(where, raw, {"cls", "model_type", "params"})
        name = raw.get("cls", "")
        if name != expected_cls:
            raise ConfigError(f"{where}.cls is {name!r}; JanusFlow expects {expected_cls!r} here.")
        params = dict(raw.get("params", {}))
        _check_fields(f"{where}.params", params, valid_params)
        return cls(cls=name, model_type=raw.get("model_type", ""), params=params)

    def to_dict(self) -> dict[str, Any]:
        return {"cls": self.cls, "model_type": self.model_type, "params": copy.deepcopy(self.params)}


@dataclass(frozen=True)
class UnderstandingEncoderSpec:
    """Resolved ViT sizes of the understanding encoder (from a known name or explicit params)."""

    image_size: int
    width: int
    layers: int
    heads: int
    patch_size: int
    mlp_ratio: float

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_tokens(self) -> int:
        return self.grid * self.grid


@dataclass
class RepaConfig:
    """Our REPA head: a 3-layer MLP from LLM width to understanding-encoder width, fed after block ``layer``."""

    enabled: bool = True
    layer: int = 6
    hidden_size: int = 2048
    target_dim: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "layer": self.layer, "hidden_size": self.hidden_size,
                "target_dim": self.target_dim}


@dataclass
class JanusFlowConfig:
    """The whole model's configuration, in the official layout plus ``repa_config``."""

    language_config: dict[str, Any]
    vision_und_enc_config: VisionModuleConfig
    vision_gen_enc_config: VisionModuleConfig
    vision_gen_dec_config: VisionModuleConfig
    repa_config: RepaConfig = field(default_factory=RepaConfig)
    torch_dtype: str = "float32"
    und_encoder_source: str = "siglip"
    chat_system_prompt: str | None = None  # ours: None is the official chat's system prompt (janusflow.processor)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> JanusFlowConfig:
        model_type = raw.get("model_type")
        if model_type != MODEL_TYPE:
            raise ConfigError(
                f"{source}: model_type is {model_type!r}, not {MODEL_TYPE!r}; this is not a JanusFlow checkpoint. "
                "Point to a directory whose config.json comes from JanusFlow (deepseek-ai/JanusFlow-1.3B layout)."
            )
        _check_fields(source, raw, TOP_LEVEL)
        for key in ("language_config", "vision_und_enc_config", "vision_gen_enc_config", "vision_gen_dec_config"):
            if key not in raw:
                raise ConfigError(f"{source}: missing required field {key!r}.")
        language = dict(raw["language_config"])
        _check_fields(f"{source}.language_config", language, LANGUAGE_FIELDS)
        # An official config.json has no repa_config: REPA is a training choice (params.yaml's variants), so a
        # foreign checkpoint loads without a REPA head instead of having one imposed and validated against it.
        repa_raw = dict(raw["repa_config"]) if raw.get("repa_config") is not None else {"enabled": False}
        _check_fields(f"{source}.repa_config", repa_raw, REPA_FIELDS)
        config = cls(
            language_config=language,
            vision_und_enc_config=VisionModuleConfig.parse(
                f"{source}.vision_und_enc_config", raw["vision_und_enc_config"], UND_ENC_CLS, UND_PARAMS),
            vision_gen_enc_config=VisionModuleConfig.parse(
                f"{source}.vision_gen_enc_config", raw["vision_gen_enc_config"], GEN_ENC_CLS, GEN_ENC_PARAMS),
            vision_gen_dec_config=VisionModuleConfig.parse(
                f"{source}.vision_gen_dec_config", raw["vision_gen_dec_config"], GEN_DEC_CLS, GEN_DEC_PARAMS),
            repa_config=RepaConfig(**repa_raw),
            torch_dtype=str(raw.get("torch_dtype", "float32")),
            und_encoder_source=str(raw.get("und_encoder_source", "siglip")),
            chat_system_prompt=_optional_text(source, "chat_system_prompt", raw.get("chat_system_prompt")),
        )
        config.validate(source)
        return config

    @classmethod
    def from_json_file(cls, path: str | Path) -> JanusFlowConfig:
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path} is not valid JSON ({err}); restore the file from its source.") from err
        return cls.from_dict(raw, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return {
            "architectures": ["MultiModalityCausalLM"],
            "model_type": MODEL_TYPE,
            "torch_dtype": self.torch_dtype,
            "language_config": {"model_type": "llama", **copy.deepcopy(self.language_config)},
            "vision_und_enc_config": self.vision_und_enc_config.to_dict(),
            "vision_gen_enc_config": self.vision_gen_enc_config.to_dict(),
            "vision_gen_dec_config": self.vision_gen_dec_config.to_dict(),
            "repa_config": self.repa_config.to_dict(),
            **({} if self.und_encoder_source == "siglip" else {"und_encoder_source": self.und_encoder_source}),
            **({} if self.chat_system_prompt is None else {"chat_system_prompt": self.chat_system_prompt}),
        }

    def to_json_file(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    # ----- resolved views -------------------------------------------------------------------------------

    def llama_config(self) -> LlamaConfig:
        kwargs = {k: v for k, v in self.language_config.items() if k not in {"model_type", "torch_dtype", "dtype"}}
        return LlamaConfig(**kwargs)

    @property
    def llm_hidden_size(self) -> int:
        return int(self.llama_config().hidden_size)

    def und_encoder_spec(self) -> UnderstandingEncoderSpec:
        params = self.vision_und_enc_config.params
        base = dict(KNOWN_UND_ENCODERS.get(params.get("model_name", ""), {}))
        base.update({k: params[k] for k in ("width", "layers", "heads", "patch_size", "mlp_ratio") if k in params})
        missing = [k for k in ("width", "layers", "heads", "patch_size", "mlp_ratio") if k not in base]
        if missing:
            raise ConfigError(
                f"vision_und_enc_config.params: model_name {params.get('model_name')!r} is not one of "
                f"{sorted(KNOWN_UND_ENCODERS)} and the explicit size field(s) {missing} are not given; "
                "set them (width, layers, heads, patch_size, mlp_ratio)."
            )
        layers = int(base["layers"])
        select_layer = int(params.get("select_layer", -1))
        if select_layer <= 0:
            layers = min(layers, layers + select_layer + 1)
        else:
            layers = min(layers, select_layer)
        return UnderstandingEncoderSpec(
            image_size=int(params.get("image_size", 384)), width=int(base["width"]), layers=layers,
            heads=int(base["heads"]), patch_size=int(base["patch_size"]), mlp_ratio=float(base["mlp_ratio"]),
        )

    @property
    def gen_enc_channels(self) -> int:
        return int(self.vision_gen_enc_config.params.get("block_out_channels", [768])[-1])

    @property
    def gen_dec_in_channels(self) -> int:
        return int(self.vision_gen_dec_config.params.get("in_channels", 768))

    @property
    def latent_channels(self) -> int:
        return int(self.vision_gen_enc_config.params.get("input_channels", 4))

    @property
    def gen_patch_size(self) -> int:
        return int(self.vision_gen_enc_config.params.get("stride", 2))

    def validate(self, source: str = "config") -> None:
        hidden = self.llm_hidden_size
        for key in ("vision_gen_enc_config", "vision_gen_dec_config"):
            sub = getattr(self, key).params
            if int(sub.get("hidden_size", hidden)) != hidden:
                raise ConfigError(
                    f"{source}.{key}.params.hidden_size is {sub['hidden_size']} but language_config.hidden_size is "
                    f"{hidden}; the time embedding is an LLM token, so they must be equal."
                )
        dec_out = int(self.vision_gen_dec_config.params.get("out_channels", 4))
        if dec_out != self.latent_channels:
            raise ConfigError(
                f"{source}: vision_gen_dec_config out_channels ({dec_out}) must equal vision_gen_enc_config "
                f"input_channels ({self.latent_channels}), the VAE latent channels."
            )
        if self.und_encoder_source not in UND_ENCODER_SOURCES:
            raise ConfigError(f"{source}.und_encoder_source is {self.und_encoder_source!r}; use one of "
                              f"{list(UND_ENCODER_SOURCES)}.")
        layers = int(self.llama_config().num_hidden_layers)
        if self.repa_config.enabled and not 1 <= self.repa_config.layer <= layers:
            raise ConfigError(
                f"{source}.repa_config.layer is {self.repa_config.layer}; it must be between 1 and the LLM's "
                f"{layers} layers."
            )
        self.und_encoder_spec()

    @property
    def repa_target_dim(self) -> int:
        return int(self.repa_config.target_dim or self.und_encoder_spec().width)


def official_janusflow_1_3b_config() -> JanusFlowConfig:
    """The released JanusFlow-1.3B config.json, verbatim in its fields (SigLIP-L/16-384, DeepSeek-LLM 1.3B)."""
    return JanusFlowConfig.from_dict({
        "model_type": MODEL_TYPE,
        "architectures": ["MultiModalityCausalLM"],
        "torch_dtype": "bfloat16",
        "language_config": {
            "hidden_size": 2048, "intermediate_size": 5632, "max_position_embeddings": 16384, "model_type": "llama",
            "num_attention_heads": 16, "num_hidden_layers": 24, "num_key_value_heads": 16,
            "torch_dtype": "bfloat16", "vocab_size": 102400,
        },
        "vision_und_enc_config": {
            "cls": UND_ENC_CLS, "model_type": "vision_und_enc",
            "params": {"image_size": 384, "model_name": "siglip_large_patch16_384", "select_feature": "same",
                       "select_layer": -1},
        },
        "vision_gen_enc_config": {
            "cls": GEN_ENC_CLS, "model_type": "vision_gen_enc",
            "params": {"block_out_channels": [768], "elementwize_affine": True, "hidden_size": 2048,
                       "input_channels": 4, "kernel_size": 2, "layers_in_middle": 2, "norm_eps": 1e-6,
                       "num_extra_tensors": 5, "padding": 0, "stride": 2, "use_bias": True, "use_mid_block": True},
        },
        "vision_gen_dec_config": {
            "cls": GEN_DEC_CLS, "model_type": "vision_gen_dec",
            "params": {"block_out_channels": [768], "elementwise_affine": True, "hidden_size": 2048,
                       "in_channels": 768, "layers_in_middle": 2, "norm_eps": 1e-6, "out_channels": 4,
                       "upsamples": 1, "use_bias": True, "use_mid_block": True},
        },
        "repa_config": {"enabled": True, "layer": 6, "hidden_size": 2048},
    }, source="official JanusFlow-1.3B config")


def tiny_janusflow_config(vocab_size: int, image_size: int = 64, und_patch_size: int = 8, hidden: int = 64,
                          layers: int = 4, heads: int = 4, gen_channels: int = 64, repa_layer: int = 2,
                          max_positions: int = 1024, chat_system_prompt: str | None = None) -> JanusFlowConfig:
    """A small model in the same format, for CPU runs: explicit sizes in the official fields."""
    return JanusFlowConfig.from_dict({
        **({} if chat_system_prompt is None else {"chat_system_prompt": chat_system_prompt}),
        "model_type": MODEL_TYPE,
        "language_config": {
            "hidden_size": hidden, "intermediate_size": hidden * 11 // 4, "max_position_embeddings": max_positions,
            "num_attention_heads": heads, "num_hidden_layers": layers, "num_key_value_heads": heads,
            "vocab_size": vocab_size,
        },
        "vision_und_enc_config": {
            "cls": UND_ENC_CLS, "model_type": "vision_und_enc",
            "params": {"image_size": image_size, "model_name": "tiny_siglip", "select_feature": "same",
                       "select_layer": -1, "width": hidden, "layers": 2, "heads": heads,
                       "patch_size": und_patch_size, "mlp_ratio": 4.0},
        },
        "vision_gen_enc_config": {
            "cls": GEN_ENC_CLS, "model_type": "vision_gen_enc",
            "params": {"block_out_channels": [gen_channels], "elementwize_affine": True, "hidden_size": hidden,
                       "input_channels": 4, "kernel_size": 2, "layers_in_middle": 2, "norm_eps": 1e-6,
                       "num_extra_tensors": 5, "padding": 0, "stride": 2, "use_bias": True, "use_mid_block": True},
        },
        "vision_gen_dec_config": {
            "cls": GEN_DEC_CLS, "model_type": "vision_gen_dec",
            "params": {"block_out_channels": [gen_channels], "elementwise_affine": True, "hidden_size": hidden,
                       "in_channels": gen_channels, "layers_in_middle": 2, "norm_eps": 1e-6, "out_channels": 4,
                       "upsamples": 1, "use_bias": True, "use_mid_block": True},
        },
        "repa_config": {"enabled": True, "layer": repa_layer, "hidden_size": hidden * 2},
    }, source="tiny config")


def tiny_config(model: TinyModelSettings, vocab_size: int) -> JanusFlowConfig:
    """``tiny_janusflow_config`` with a params.yaml ``model`` section's sizes."""
    return tiny_janusflow_config(vocab_size=vocab_size, **dataclasses.asdict(model))
