"""The classifier: DistilHuBERT with a mean-pooled head, as a standard transformers model.

The model *is* a ``HubertForSequenceClassification`` (encoder -> linear projector -> mean
over time -> linear classifier), so ``save_pretrained`` writes a folder that
``AutoModelForAudioClassification`` (and so ``edge-ser export``) loads directly, with
``id2label``/``label2id`` in its config. Training wraps it in :class:`PooledClassifier`, which
adds dropout on the pooled vector (rate ``config.final_dropout``); in eval mode its output is
identical to the transformers model's.

Sources of weights (``pretrained``):

* ``ntu-spml/distilhubert`` (a hub id; needs the hub or its local cache) or a local folder
  holding a HuBERT ``save_pretrained`` checkpoint (``HubertModel`` or a classifier);
* ``none``: the DistilHuBERT architecture from its config (2 transformer layers, 768 wide,
  12 heads, 3072 feed-forward, 7 conv layers of 512 channels, group-norm feature encoder)
  with random weights. Accuracy is then far lower: a warning says so.
* ``tiny=True``: a very small model of the same architecture, for smoke tests.

The convolutional feature encoder is frozen (the paper's recipe); LayerDrop is disabled
(with two layers it would drop half the network).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edge_ser.errors import TrainingError

__all__ = [
    "DISTILHUBERT",
    "DISTILHUBERT_CONFIG",
    "TINY_CONFIG",
    "ModelInfo",
    "PooledClassifier",
    "build_model",
    "check_pretrained",
    "distilhubert_config",
]

logger = logging.getLogger("edge_ser.train")

DISTILHUBERT = "ntu-spml/distilhubert"

# DistilHuBERT's shape (Chang et al. 2022): HuBERT-base's encoder settings, 2 layers.
DISTILHUBERT_CONFIG: dict[str, Any] = {
    "hidden_size": 768,
    "num_hidden_layers": 2,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "conv_dim": (512,) * 7,
    "conv_kernel": (10, 3, 3, 3, 3, 2, 2),
    "conv_stride": (5, 2, 2, 2, 2, 2, 2),
    "conv_bias": False,
    "feat_extract_norm": "group",
    "do_stable_layer_norm": False,
    "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16,
    "classifier_proj_size": 256,
}

# The same architecture, tiny: trains in seconds on a CPU (for tests and smoke runs).
# No SpecAugment: on the short clips of smoke runs its two obligatory 10-frame masks would
# hide about 40% of each input, so train and eval mode would see very different inputs.
TINY_CONFIG: dict[str, Any] = {
    **DISTILHUBERT_CONFIG,
    "apply_spec_augment": False,
    "hidden_size": 32,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": (16,) * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 4,
    "classifier_proj_size": 16,
}


def distilhubert_config(*, tiny: bool = False, **overrides: Any) -> Any:
    """A ``transformers.HubertConfig`` shaped like DistilHuBERT (or :data:`TINY_CONFIG`)."""
    from transformers import HubertConfig

    base = TINY_CONFIG if tiny else DISTILHUBERT_CONFIG
    return HubertConfig(**{"layerdrop": 0.0, **base, **overrides})


NO_WEIGHTS_WARNING = (
    "DistilHuBERT is built from its config with RANDOM weights (no pretrained checkpoint): "
    "accuracy will be far lower than with pretrained weights; pass --pretrained "
    f"{DISTILHUBERT} (hub or cache) or a local folder with its weights"
)


@dataclass(frozen=True)
class ModelInfo:
    """Where the weights came from, for the training report."""

    source: str
    pretrained_weights: bool
    parameters: int
    trainable_parameters: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "pretrained_weights": self.pretrained_weights,
            "parameters": self.parameters,
            "trainable_parameters": self.trainable_parameters,
        }


def _label_kwargs(labels: tuple[str, ...]) -> dict[str, Any]:
    return {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {label: i for i, label in enumerate(labels)},
    }


def _from_config(settings: Mapping[str, Any]) -> nn.Module:
    from transformers import HubertConfig, HubertForSequenceClassification

    try:
        config = HubertConfig(**settings)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"invalid model config: {exc}") from exc
    model: nn.Module = HubertForSequenceClassification(config)
    return model


def _load_error(source: str, exc: Exception) -> TrainingError:
    return TrainingError(
        f"cannot load pretrained weights from {source!r} ({exc}). Offline, pass a local "
        "folder holding a DistilHuBERT save_pretrained checkpoint, or --pretrained none to "
        "train the same architecture from random weights (far lower accuracy)"
    )


def _from_pretrained(source: str, settings: Mapping[str, Any]) -> nn.Module:
    from transformers import HubertForSequenceClassification

    try:
        loaded: Any = HubertForSequenceClassification.from_pretrained(
            source, ignore_mismatched_sizes=True, output_loading_info=True, **settings
        )
    except (OSError, ValueError) as exc:
        raise _load_error(source, exc) from exc
    model, info = loaded
    missing = sorted(
        k
        for k in info.get("missing_keys", ())
        if k.startswith("hubert.") and not k.endswith("masked_spec_embed")
    )
    if missing:
        raise TrainingError(
            f"{source} is not a HuBERT checkpoint: {len(missing)} encoder weights are missing "
            f"(e.g. {missing[0]})"
        )
    if info.get("mismatched_keys"):
        logger.info("re-initialised the classification head (label count differs from %s)", source)
    result: nn.Module = model
    return result


def _resolve(pretrained: str) -> str:
    path = Path(pretrained).expanduser()
    return str(path) if path.exists() else pretrained


def check_pretrained(pretrained: str, tiny: bool = False) -> None:
    """Fail early (before audio is loaded) if the weights' config cannot be read."""
    if tiny or pretrained.strip().lower() == "none":
        return
    from transformers import AutoConfig

    source = _resolve(pretrained)
    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise _load_error(source, exc) from exc
    if getattr(config, "model_type", None) != "hubert":
        raise TrainingError(
            f"{source} is a {getattr(config, 'model_type', 'unknown')!r} model; the recipe "
            "fine-tunes a HuBERT/DistilHuBERT checkpoint"
        )


def build_model(
    labels: tuple[str, ...],
    pretrained: str = DISTILHUBERT,
    *,
    tiny: bool = False,
    overrides: Mapping[str, Any] | None = None,
    head_dropout: float = 0.1,
    freeze_feature_encoder: bool = True,
) -> tuple[nn.Module, ModelInfo]:
    """Build the ``HubertForSequenceClassification`` to fine-tune, and say where it came from.

    Args:
        labels: class names in output order.
        pretrained: a hub id, a local folder, or ``none`` (random weights; warned).
        tiny: use :data:`TINY_CONFIG` with random weights (``pretrained`` is ignored).
        overrides: ``HubertConfig`` fields to set (e.g. ``{"hidden_dropout": 0.2}``).
        head_dropout: dropout on the pooled vector (stored as ``config.final_dropout``).
        freeze_feature_encoder: keep the convolutional feature encoder fixed.
    """
    settings: dict[str, Any] = {
        "layerdrop": 0.0,
        "final_dropout": head_dropout,
        "use_weighted_layer_sum": False,
        **_label_kwargs(labels),
    }
    extra = dict(overrides or {})
    if tiny:
        model = _from_config({**TINY_CONFIG, **settings, **extra})
        source, has_weights = "tiny (random weights)", False
    elif pretrained.strip().lower() == "none":
        logger.warning(NO_WEIGHTS_WARNING)
        model = _from_config({**DISTILHUBERT_CONFIG, **settings, **extra})
        source, has_weights = "distilhubert architecture (random weights)", False
    else:
        src = _resolve(pretrained)
        model = _from_pretrained(src, {**settings, **extra})
        source, has_weights = src, True
    if freeze_feature_encoder:
        model.freeze_feature_encoder()  # type: ignore[operator]
    n_all = sum(p.numel() for p in model.parameters())
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.info("model: %s, %s parameters (%s trainable)", source, _count(n_all), _count(n_train))
    return model, ModelInfo(source, has_weights, n_all, n_train)


def _count(n: int) -> str:
    return f"{n / 1e6:.1f} M" if n >= 100_000 else f"{n:,}"


class PooledClassifier(nn.Module):
    """``HubertForSequenceClassification`` with dropout on the pooled vector in training.

    ``forward`` computes encoder -> projector -> mean over time -> dropout -> classifier;
    in eval mode (dropout off) it equals the wrapped model's own logits.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.dropout = nn.Dropout(float(getattr(model.config, "final_dropout", 0.0) or 0.0))

    def head_parameters(self) -> list[nn.Parameter]:
        return [*self.model.projector.parameters(), *self.model.classifier.parameters()]  # type: ignore[union-attr]

    def encoder_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.model.hubert.parameters() if p.requires_grad]  # type: ignore[union-attr]

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        frames = self.model.hubert.feature_extractor(input_values)  # type: ignore[union-attr,operator]
        return self.forward_features(frames.transpose(1, 2))

    def forward_features(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from feature-encoder frames ``[batch, frames, channels]``.

        The same computation as :meth:`forward` after the conv feature encoder (projection,
        SpecAugment in training, transformer, head): used with cached encoder outputs.
        """
        hubert = self.model.hubert
        hidden = hubert.feature_projection(features)  # type: ignore[union-attr,operator]
        # SpecAugment needs more frames than one mask spans; very short crops go unmasked.
        if hidden.shape[1] > 2 * int(self.model.config.mask_time_length):  # type: ignore[union-attr,arg-type]
            hidden = hubert._mask_hidden_states(hidden)  # type: ignore[union-attr,operator]
        hidden = hubert.encoder(hidden).last_hidden_state  # type: ignore[union-attr,operator]
        return self._head(hidden)

    def _head(self, hidden: torch.Tensor) -> torch.Tensor:
        pooled = self.model.projector(hidden).mean(dim=1)  # type: ignore[operator]
        logits: torch.Tensor = self.model.classifier(self.dropout(pooled))  # type: ignore[operator]
        return logits
