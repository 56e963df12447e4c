"""Load and validate an audio-classification checkpoint for export.

Accepted: a local ``save_pretrained`` folder or a hub id of a HuBERT (DistilHuBERT), wav2vec2
or WavLM ``*ForSequenceClassification`` model or of a Whisper ``WhisperForAudioClassification``
(with its ``preprocessor_config.json``), including the output folder of ``edge-ser train``
(the same kind of folder plus ``edge_ser_train.json``).

Validation happens on the config, before any weights load, so a wrong checkpoint fails fast
with a message that says what was found and what is accepted.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_ser.errors import ExportError
from edge_ser.metadata import PreprocessingConfig

__all__ = [
    "CANONICAL_LABELS",
    "FRONT_ENDS",
    "SUPPORTED_ARCHITECTURES",
    "TRAINING_INFO_FILENAME",
    "WHISPER_PREPROCESSING",
    "LoadedCheckpoint",
    "canonical_label",
    "load_checkpoint",
    "map_labels",
    "receptive_field",
]

logger = logging.getLogger("edge_ser.export")

CANONICAL_LABELS = ("anger", "happiness", "neutral", "sadness")

# model_type in config.json -> the classification class that transformers loads it with.
SUPPORTED_ARCHITECTURES: dict[str, str] = {
    "hubert": "HubertForSequenceClassification",
    "wav2vec2": "Wav2Vec2ForSequenceClassification",
    "wavlm": "WavLMForSequenceClassification",
    "whisper": "WhisperForAudioClassification",
}
# Which front end each family's exported graph starts with (ModelMetadata.front_end).
FRONT_ENDS: dict[str, str] = {"whisper": "log_mel"}
# Whisper checkpoints that hold no encoder to export.
_WHISPER_DECODER_ONLY = ("WhisperForCausalLM",)

TRAINING_INFO_FILENAME = "edge_ser_train.json"

# Lower-cased aliases used by the common emotion corpora and hub checkpoints. IEMOCAP's
# "excited" is merged into happiness (the 4-class convention the product follows).
_ALIASES: dict[str, str] = {
    "anger": "anger",
    "angry": "anger",
    "ang": "anger",
    "happiness": "happiness",
    "happy": "happiness",
    "hap": "happiness",
    "joy": "happiness",
    "excited": "happiness",
    "exc": "happiness",
    "happy/excited": "happiness",
    "neutral": "neutral",
    "neu": "neutral",
    "sadness": "sadness",
    "sad": "sadness",
}

_DEFAULT_LABEL = re.compile(r"^LABEL_\d+$")


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A validated checkpoint, ready to export.

    Attributes:
        model: the torch model in eval mode.
        model_type: ``hubert``, ``wav2vec2``, ``wavlm`` or ``whisper``.
        labels: canonical label names in output order.
        source_labels: the checkpoint's own ``id2label`` names in output order.
        source: the checkpoint path or hub id as given.
        min_input_samples: the shortest input the graph takes: the conv feature encoder's
            receptive field, or one STFT frame (``n_fft``) for Whisper.
        preprocessing: the preprocessing the model expects.
        max_window_s: the longest window the model was trained on.
        training_info: the contents of ``edge_ser_train.json`` when present.
        front_end: ``waveform`` (a conv stack on the samples) or ``log_mel`` (Whisper).
        feature_extractor: Whisper's ``WhisperFeatureExtractor`` (the parity reference).
        log_mel: Whisper's front-end parameters (:class:`~.whisper.LogMelConfig`).
    """

    model: Any
    model_type: str
    labels: tuple[str, ...]
    source_labels: tuple[str, ...]
    source: str
    min_input_samples: int
    preprocessing: PreprocessingConfig = field(default_factory=PreprocessingConfig)
    max_window_s: float = 8.0
    training_info: Mapping[str, Any] | None = None
    front_end: str = "waveform"
    feature_extractor: Any = None
    log_mel: Any = None


def canonical_label(name: str) -> str | None:
    """Map a label name (``ang``, ``Happy``, ``excited``...) to its canonical name, or None."""
    key = re.sub(r"[\s_-]+", "", str(name).strip().lower())
    return _ALIASES.get(key) or _ALIASES.get(str(name).strip().lower())


def map_labels(names: Sequence[str]) -> tuple[str, ...]:
    """Canonical names for a checkpoint's labels, in the same order.

    Raises:
        ExportError: a label has no canonical name, or two labels map to the same class.
    """
    mapped = [canonical_label(n) for n in names]
    bad = [n for n, m in zip(names, mapped, strict=True) if m is None]
    if bad:
        aliases = sorted(k for k in _ALIASES if k not in CANONICAL_LABELS)
        raise ExportError(
            f"checkpoint labels {bad!r} cannot be mapped to the classes edge-ser predicts "
            f"{list(CANONICAL_LABELS)!r} (accepted aliases: {aliases!r}); "
            f"got labels {list(names)!r}"
        )
    canonical = [m for m in mapped if m is not None]
    dupes = sorted({c for c in canonical if canonical.count(c) > 1})
    if dupes:
        raise ExportError(
            f"checkpoint labels {list(names)!r} map more than one output to {dupes!r}; "
            "each class must be one output"
        )
    if len(canonical) < 2:
        raise ExportError(f"a classifier needs at least 2 labels, got {list(names)!r}")
    missing = [c for c in CANONICAL_LABELS if c not in canonical]
    if missing:
        logger.warning(
            "checkpoint predicts no %s; exporting its %d classes", missing, len(canonical)
        )
    return tuple(canonical)


def receptive_field(kernels: Sequence[int], strides: Sequence[int]) -> int:
    """Samples one output frame of a stack of 1-D convolutions sees (the shortest input)."""
    if len(kernels) != len(strides) or not kernels:
        raise ExportError(
            f"conv_kernel and conv_stride must be non-empty and of equal length, "
            f"got {list(kernels)!r} and {list(strides)!r}"
        )
    field_size, jump = 1, 1
    for k, s in zip(kernels, strides, strict=True):
        field_size += (int(k) - 1) * jump
        jump *= int(s)
    return field_size


def _read_training_info(folder: Path | None) -> Mapping[str, Any] | None:
    if folder is None or not (folder / TRAINING_INFO_FILENAME).is_file():
        return None
    path = folder / TRAINING_INFO_FILENAME
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ExportError(f"cannot read {path}: {exc}") from exc
    if not isinstance(info, dict):
        raise ExportError(f"{path} must hold a JSON object, got {type(info).__name__}")
    return info


# Whisper's log-mel takes the samples as they are: no pre-emphasis (trim and peak
# normalisation as for DistilHuBERT, which is what `edge-ser train` applies).
WHISPER_PREPROCESSING = PreprocessingConfig(pre_emphasis=0.0)


def _preprocessing_from(
    info: Mapping[str, Any] | None, default: PreprocessingConfig | None = None
) -> PreprocessingConfig:
    raw = (info or {}).get("preprocessing")
    if raw is None:
        return default or PreprocessingConfig()
    if not isinstance(raw, Mapping):
        raise ExportError(f"{TRAINING_INFO_FILENAME}: 'preprocessing' must be an object")
    known = set(PreprocessingConfig.__dataclass_fields__)
    try:
        return PreprocessingConfig(**{k: v for k, v in raw.items() if k in known})
    except (TypeError, ValueError) as exc:
        raise ExportError(f"{TRAINING_INFO_FILENAME}: invalid 'preprocessing': {exc}") from exc


def _max_window_from(info: Mapping[str, Any] | None) -> float:
    raw = (info or {}).get("max_window_s", 8.0)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.5 <= value <= 60.0:
        raise ExportError(
            f"{TRAINING_INFO_FILENAME}: max_window_s must be 0.5 to 60 s, got {raw!r}"
        )
    status = (info or {}).get("status")
    if status not in (None, "complete"):
        logger.warning("%s says training status is %r", TRAINING_INFO_FILENAME, status)
    return value


def _check_config(
    config: Any, raw_config: Mapping[str, Any] | None, source: str
) -> tuple[str, ...]:
    """Validate architecture and labels; return the source label names in output order."""
    model_type = getattr(config, "model_type", None)
    if model_type not in SUPPORTED_ARCHITECTURES:
        raise ExportError(
            f"{source}: unsupported architecture {model_type!r}; supported are "
            f"{', '.join(SUPPORTED_ARCHITECTURES.values())} (model_type "
            f"{', '.join(repr(t) for t in SUPPORTED_ARCHITECTURES)})"
        )
    expected = SUPPORTED_ARCHITECTURES[model_type]
    architectures = list(getattr(config, "architectures", None) or [])
    decoder_only = [a for a in architectures if a in _WHISPER_DECODER_ONLY]
    if model_type == "whisper" and decoder_only:
        raise ExportError(
            f"{source}: the checkpoint is a {decoder_only[0]} (a Whisper decoder only, no "
            f"encoder); edge-ser exports Whisper encoders with a classification head "
            f"({expected})"
        )
    if architectures and expected not in architectures:
        raise ExportError(
            f"{source}: the checkpoint is a {', '.join(architectures)}, not an audio classifier; "
            f"supported are {', '.join(SUPPORTED_ARCHITECTURES.values())} "
            "(fine-tune a base model first, e.g. with `edge-ser train`)"
        )
    id2label = getattr(config, "id2label", None) or {}
    declared = raw_config is None or "id2label" in raw_config
    names = [str(id2label[i]) for i in sorted(id2label, key=int)] if id2label else []
    if not declared or not names or all(_DEFAULT_LABEL.match(n) for n in names):
        raise ExportError(
            f"{source}: the checkpoint config has no id2label (label names); edge-ser needs one "
            f"naming each output as one of {list(CANONICAL_LABELS)!r}"
        )
    num_labels = int(getattr(config, "num_labels", len(names)))
    if len(names) != num_labels:
        raise ExportError(
            f"{source}: id2label names {len(names)} labels but num_labels is {num_labels}"
        )
    return tuple(names)


def _warn_random_weights(source: str, loading: Mapping[str, Any]) -> None:
    """Say in plain words what weights missing from the checkpoint mean for the export."""
    missing = sorted(str(k) for k in loading.get("missing_keys") or ())
    if not missing:
        return
    head = [k for k in missing if k.split(".")[0] in ("classifier", "projector")]
    shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
    if len(head) == len(missing):
        what = (
            "the classification head is random, so the exported model's labels are chance; "
            "this is a base model, not a fine-tuned classifier: fine-tune it first "
            "(edge-ser train --pretrained ...)"
        )
    else:
        what = (
            "the exported model computes with random values there, so its labels are not "
            "meaningful: check that this is the fine-tuned checkpoint you meant"
        )
    logger.warning(
        "%s: %d weight(s) are not in the checkpoint and were randomly initialised (%s); %s",
        source,
        len(missing),
        shown,
        what,
    )


def load_checkpoint(checkpoint: str | Path) -> LoadedCheckpoint:
    """Load a checkpoint folder or hub id, validate it and return the model in eval mode.

    Raises:
        ExportError: the checkpoint cannot be found or loaded, is not a supported audio
            classifier, has no ``id2label``, or has labels edge-ser cannot map.
    """
    import transformers

    source = str(checkpoint)
    path = Path(checkpoint)
    folder: Path | None = None
    raw_config: Mapping[str, Any] | None = None
    if path.exists():
        folder = path
        if not folder.is_dir():
            raise ExportError(f"checkpoint {source} must be a save_pretrained folder, not a file")
        config_path = folder / "config.json"
        folds = sorted(p.parent.name for p in folder.glob("*/config.json"))
        if not config_path.is_file() and folds:
            raise ExportError(
                f"{source} holds several models (a multi-fold training output?): pass one of "
                f"its sub-folders, e.g. {folder / folds[0]} (found: {', '.join(folds)})"
            )
        if not config_path.is_file():
            raise ExportError(
                f"checkpoint folder {source} has no config.json; pass a save_pretrained folder "
                "of an audio-classification model (or the output folder of `edge-ser train`)"
            )
        try:
            raw_config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ExportError(f"cannot read {config_path}: {exc}") from exc
    elif "/" not in source or source.startswith((".", "/", "~")) or source.count("/") > 1:
        raise ExportError(f"checkpoint {source} does not exist (pass a folder or a hub id)")

    try:
        config = transformers.AutoConfig.from_pretrained(source)
    except (OSError, ValueError, KeyError) as exc:
        raise ExportError(f"cannot load the config of checkpoint {source}: {exc}") from exc
    source_labels = _check_config(config, raw_config, source)
    labels = map_labels(source_labels)

    if config.model_type == "whisper":
        return _load_whisper(source, config, labels, source_labels, _read_training_info(folder))
    model_cls = getattr(transformers, SUPPORTED_ARCHITECTURES[config.model_type])
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # its load report: replaced by ours below
    try:
        model, loading = model_cls.from_pretrained(source, output_loading_info=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ExportError(f"cannot load the weights of checkpoint {source}: {exc}") from exc
    finally:
        transformers.logging.set_verbosity(verbosity)
    model.eval()
    _warn_random_weights(source, loading)

    info = _read_training_info(folder)
    max_window_s = _max_window_from(info)
    field_size = receptive_field(config.conv_kernel, config.conv_stride)
    logger.info(
        "loaded %s (%s, labels %s, receptive field %d samples)",
        source,
        type(model).__name__,
        labels,
        field_size,
    )
    return LoadedCheckpoint(
        model=model,
        model_type=str(config.model_type),
        labels=labels,
        source_labels=source_labels,
        source=source,
        min_input_samples=field_size,
        preprocessing=_preprocessing_from(info),
        max_window_s=max_window_s,
        training_info=info,
    )


def _whisper_feature_extractor(source: str, config: Any) -> Any:
    """The checkpoint's ``WhisperFeatureExtractor``, or Whisper's default for its mel count
    when it has no ``preprocessor_config.json``."""
    import transformers

    folder = Path(source)
    has_local = folder.is_dir() and (folder / "preprocessor_config.json").is_file()
    if has_local or not folder.exists():
        try:
            return transformers.WhisperFeatureExtractor.from_pretrained(source)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if has_local:
                raise ExportError(
                    f"cannot read the feature extractor (preprocessor_config.json) of "
                    f"{source}: {exc}"
                ) from exc
    logger.warning(
        "%s has no preprocessor_config.json; using Whisper's default log-mel front end "
        "with %d mel bins",
        source,
        config.num_mel_bins,
    )
    return transformers.WhisperFeatureExtractor(feature_size=int(config.num_mel_bins))


def _load_whisper(
    source: str,
    config: Any,
    labels: tuple[str, ...],
    source_labels: tuple[str, ...],
    info: Mapping[str, Any] | None,
) -> LoadedCheckpoint:
    import torch
    import transformers

    from .whisper import check_whisper_checkpoint, log_mel_config

    max_window_s = _max_window_from(info)
    feature_extractor = _whisper_feature_extractor(source, config)
    mel = log_mel_config(config, feature_extractor, source)  # before the weights load
    check_whisper_checkpoint(config, None, source, max_window_s)
    try:
        # fp32 whatever the stored dtype (the shared Whisper encoder is fp16); eager
        # attention exports as plain MatMul/Softmax, which ORT fuses and quantises.
        loaded: Any = transformers.WhisperForAudioClassification.from_pretrained(
            source, dtype=torch.float32, attn_implementation="eager", output_loading_info=True
        )
        model, loading_info = loaded
    except (OSError, ValueError, RuntimeError) as exc:
        raise ExportError(
            f"cannot load the weights of checkpoint {source}: {' '.join(str(exc).split())}"
        ) from exc
    check_whisper_checkpoint(config, loading_info, source, max_window_s)
    model.eval()
    logger.info(
        "loaded %s (%s, labels %s, %d mel bins, %d encoder layers%s)",
        source,
        type(model).__name__,
        labels,
        mel.n_mels,
        config.encoder_layers,
        ", weighted layer sum" if config.use_weighted_layer_sum else "",
    )
    return LoadedCheckpoint(
        model=model,
        model_type="whisper",
        labels=labels,
        source_labels=source_labels,
        source=source,
        min_input_samples=mel.n_fft,
        preprocessing=_preprocessing_from(info, WHISPER_PREPROCESSING),
        max_window_s=max_window_s,
        training_info=info,
        front_end=FRONT_ENDS["whisper"],
        feature_extractor=feature_extractor,
        log_mel=mel,
    )
