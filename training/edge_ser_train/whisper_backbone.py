"""Whisper encoders as a backbone: a pooled head trained on the frozen encoder's states.

The model is a standard ``WhisperForAudioClassification``: the encoder, an optional learned
weighted sum of its hidden states (``use_weighted_layer_sum``: softmax-normalised weights, one
per hidden state; the middle layers carry the most emotion), a linear projector, the mean over
time, and a linear classifier. Training adds dropout on the pooled vector (as the DistilHuBERT
path does) and uses the same Adaptive Focal Loss with class weights, the same balanced
(corpus, label) sampling, the same splits and the same metrics.

With the encoder frozen (the default), its hidden states never change, so they come from the
teacher cache (:class:`~edge_ser_train.teacher.TeacherCache`), shared with the distillation
step: every epoch then costs only the head. Inputs are the clip's own length (at most 8 s,
the runtime's window), preprocessed as the runtime will (20 dB trim, peak normalisation, no
pre-emphasis), with the positional embedding sliced rather than padded to 30 s.

:func:`save_whisper_classifier` writes the ``save_pretrained`` folder (encoder + head +
``preprocessor_config.json``) that ``edge-ser export`` takes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from .corpora import Record
from .data import balanced_weights
from .loss import AdaptiveFocalLoss, inverse_frequency_weights

__all__ = ["HeadOptions", "WhisperHead", "fit_head", "predict_head", "save_whisper_classifier"]

logger = logging.getLogger("edge_ser.train")

States = npt.NDArray[np.float16]  # [hidden states, frames, d_model]


@dataclass(frozen=True)
class HeadOptions:
    """The head and its training (defaults: the recipe measured in training/results)."""

    weighted_layer_sum: bool = True
    layer: int = -1  # without the weighted sum: which hidden state feeds the head
    proj_size: int = 256
    dropout: float = 0.2
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    crop_frames: int = 150  # 3 s training crops
    train_top_layers: int = 0  # fine-tune this many top encoder layers (from cached states)
    standardize: bool = True  # standardise the layer-summed states (folded into the projector)
    encoder_lr: float = 5e-5
    seed: int = 0


class WhisperHead(nn.Module):
    """``WhisperForAudioClassification``'s head, with training dropout on the pooled vector.

    Parameter names (``layer_weights``, ``projector``, ``classifier``) are transformers' own,
    so the trained weights load into that class unchanged.
    """

    in_mean: torch.Tensor
    in_scale: torch.Tensor

    def __init__(
        self,
        n_states: int,
        d_model: int,
        n_labels: int,
        options: HeadOptions,
        encoder: Any | None = None,
    ) -> None:
        super().__init__()
        self.top = options.train_top_layers
        if self.top:
            if encoder is None or not (1 <= self.top <= n_states - 1):
                raise ValueError(
                    f"train_top_layers={self.top} needs the encoder and 1..{n_states - 1} layers"
                )
            import copy

            # trainable copies of the top layers and the final norm; the lower states come
            # from the cache unchanged
            self.top_layers = nn.ModuleList(copy.deepcopy(encoder.layers[-self.top :]))
            self.layer_norm = copy.deepcopy(encoder.layer_norm)
            for p in [*self.top_layers.parameters(), *self.layer_norm.parameters()]:
                p.requires_grad_(True)  # the teacher's own weights stay frozen
        self.weighted = options.weighted_layer_sum
        self.layer = options.layer
        if self.weighted:
            self.layer_weights = nn.Parameter(torch.ones(n_states) / n_states)
        self.projector = nn.Linear(d_model, options.proj_size)
        self.classifier = nn.Linear(options.proj_size, n_labels)
        # input standardisation (one mean and scale per dimension, shared by all hidden
        # states): the weights of the sum add up to 1, so it folds exactly into the
        # projector (:meth:`folded_projector`) and the saved model is transformers' own
        self.register_buffer("in_mean", torch.zeros(d_model))
        self.register_buffer("in_scale", torch.ones(d_model))
        self.dropout = nn.Dropout(options.dropout)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """Logits from hidden states ``[batch, n_states, frames, d_model]``; with trainable
        top layers, the states they produce are recomputed from the one below them."""
        if self.top:
            h = states[:, -self.top - 1]
            recomputed = []
            for layer in self.top_layers:
                out = layer(h, None)
                h = out[0] if isinstance(out, tuple) else out
                recomputed.append(h)
            recomputed[-1] = self.layer_norm(h)
            states = torch.cat([states[:, : -self.top], torch.stack(recomputed, dim=1)], dim=1)
        if self.weighted:
            w = torch.softmax(self.layer_weights, dim=-1)
            hidden = (states * w[None, :, None, None]).sum(dim=1)
        else:
            hidden = states[:, self.layer]
        hidden = (hidden - self.in_mean) / self.in_scale
        pooled = self.projector(hidden).mean(dim=1)
        logits: torch.Tensor = self.classifier(self.dropout(pooled))
        return logits

    def folded_projector(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The projector's weight and bias with the input standardisation folded in:
        ``W ((h - m) / s) + b == (W / s) h + (b - W (m / s))``."""
        w = self.projector.weight / self.in_scale[None, :]
        b = self.projector.bias - self.projector.weight @ (self.in_mean / self.in_scale)
        return w.detach(), b.detach()


def _batches(
    states: Sequence[States],
    batch_size: int,
    crop: int,
    rng: np.random.Generator,
    pool: bool,
) -> Iterator[tuple[torch.Tensor, npt.NDArray[np.int64]]]:
    """Batches (made one at a time) of equal-length random crops of ``states``: the batch's
    shortest clip, at most ``crop`` frames; clips of similar length are batched together.

    With ``pool``, each crop is replaced by its mean over time ``[states, 1, d_model]``: the
    frozen head is linear up to the mean (layer sum, projector), so its output on the mean is
    the same as on the whole crop, at a fraction of the cost.
    """
    lengths = np.array([s.shape[1] for s in states], dtype=np.float64)
    by_length = np.argsort(lengths * rng.uniform(0.85, 1.15, size=len(states)), kind="stable")
    chunks = [by_length[j : j + batch_size] for j in range(0, len(by_length), batch_size)]
    for k in rng.permutation(len(chunks)):
        idx = chunks[int(k)]
        n = int(min(crop, min(states[int(i)].shape[1] for i in idx)))
        rows = []
        for i in idx:
            s = states[int(i)]
            start = int(rng.integers(0, s.shape[1] - n + 1))
            crop_states = s[:, start : start + n].astype(np.float32)
            rows.append(crop_states.mean(axis=1, keepdims=True) if pool else crop_states)
        yield torch.from_numpy(np.stack(rows)), idx


def fit_head(
    train: Sequence[Record],
    versions: Sequence[Sequence[States]],
    labels: tuple[str, ...],
    options: HeadOptions,
    encoder: Any | None = None,
) -> WhisperHead:
    """Train a head (and, with ``train_top_layers``, the top layers of ``encoder``) on ``versions[i]`` (the cached states of each version of ``train[i]``);
    each epoch draws ``len(train)`` records with balanced (corpus, label) weights and one
    version of each."""
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    n_states, _, d_model = versions[0][0].shape
    head = WhisperHead(n_states, d_model, len(labels), options, encoder)
    if options.standardize:
        # per-dimension statistics of the clips' time means, over every hidden state
        pooled = np.stack([v[0].astype(np.float32).mean(axis=1) for v in versions])
        head.in_mean.copy_(torch.from_numpy(pooled.mean(axis=(0, 1))))
        head.in_scale.copy_(torch.from_numpy(pooled.std(axis=(0, 1)) + 1e-3))
    label_ids = {label: i for i, label in enumerate(labels)}
    y = np.array([label_ids[r.label] for r in train], dtype=np.int64)
    counts = np.bincount(y, minlength=len(labels)).astype(float)
    loss_fn = AdaptiveFocalLoss(len(labels), inverse_frequency_weights(counts.tolist()).tolist())
    is_encoder = ("top_layers", "layer_norm")
    top = [p for name, p in head.named_parameters() if name.startswith(is_encoder)]
    rest = [p for name, p in head.named_parameters() if not name.startswith(is_encoder)]
    groups: list[dict[str, Any]] = [{"params": rest, "lr": options.lr}]
    if top:
        groups.append({"params": top, "lr": options.encoder_lr})
    optimizer = torch.optim.AdamW(groups, weight_decay=options.weight_decay)
    p = balanced_weights(train)
    steps = options.epochs * -(-len(train) // options.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[g["lr"] for g in groups], total_steps=max(1, steps), pct_start=0.1
    )
    head.train()
    loss_fn.train()
    done = 0
    for epoch in range(options.epochs):
        picks = rng.choice(len(train), size=len(train), replace=True, p=p)
        chosen = [versions[int(i)][int(rng.integers(0, len(versions[int(i)])))] for i in picks]
        total = 0.0
        batches = _batches(chosen, options.batch_size, options.crop_frames, rng, not head.top)
        for x, idx in batches:
            if done >= steps:
                break
            loss = loss_fn(head(x), torch.from_numpy(y[picks[idx]]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            done += 1
            total += float(loss.detach()) * len(idx)
        logger.info("head epoch %d/%d: loss %.4f", epoch + 1, options.epochs, total / len(picks))
    head.eval()
    return head


@torch.inference_mode()
def predict_head(head: WhisperHead, states: Sequence[States]) -> npt.NDArray[np.float32]:
    """Class probabilities ``[n, labels]`` of whole (uncropped) clips, in eval mode."""
    head.eval()
    out = []
    for s in states:
        x = s.astype(np.float32)
        if not head.top:  # see _batches: the same logits from the mean over time
            x = x.mean(axis=1, keepdims=True)
        out.append(torch.softmax(head(torch.from_numpy(x)[None]), dim=-1)[0].numpy())
    return np.stack(out).astype(np.float32)


def save_whisper_classifier(
    teacher: Any, head: WhisperHead, labels: tuple[str, ...], out: str | Path
) -> Path:
    """A ``WhisperForAudioClassification`` ``save_pretrained`` folder (teacher's encoder,
    ``head``'s weights, the feature extractor's config) for ``edge-ser export``."""
    from transformers import WhisperForAudioClassification

    config = teacher.encoder.config.__class__.from_dict(teacher.encoder.config.to_dict())
    config.use_weighted_layer_sum = head.weighted
    config.classifier_proj_size = int(head.projector.out_features)
    config.num_labels = len(labels)
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    config.architectures = ["WhisperForAudioClassification"]
    if not head.weighted and head.layer not in (-1, config.encoder_layers):
        raise ValueError(
            "WhisperForAudioClassification pools the last hidden state or a weighted sum; "
            f"a head on hidden state {head.layer} needs the weighted layer sum"
        )
    model = WhisperForAudioClassification(config)
    model.encoder.load_state_dict(teacher.encoder.state_dict())
    if head.top:  # the fine-tuned top layers replace the teacher's
        n = len(model.encoder.layers)
        for i, layer in enumerate(head.top_layers):
            model.encoder.layers[n - head.top + i].load_state_dict(layer.state_dict())
        model.encoder.layer_norm.load_state_dict(head.layer_norm.state_dict())
    state = {
        k: v
        for k, v in head.state_dict().items()
        if not k.startswith(("dropout", "top_layers", "layer_norm", "in_"))
    }
    state["projector.weight"], state["projector.bias"] = head.folded_projector()
    missing = model.load_state_dict(state, strict=False)
    if missing.unexpected_keys:
        raise ValueError(f"head weights that the model lacks: {missing.unexpected_keys}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    teacher.feature_extractor.save_pretrained(str(out))
    return out


def is_whisper(source: str) -> bool:
    """Whether ``source`` (hub id or folder) holds a Whisper checkpoint (config only)."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError):
        return False
    return getattr(config, "model_type", None) == "whisper"


def head_options(options: Any) -> HeadOptions:
    """The :class:`HeadOptions` of ``edge-ser train``'s :class:`TrainOptions` (Whisper
    backbones): ``model_config`` may set ``use_weighted_layer_sum`` and
    ``classifier_proj_size`` as in a ``WhisperConfig``."""
    extra = dict(options.model_config)
    crop_s = options.train_crop_seconds or 3.0
    return HeadOptions(
        weighted_layer_sum=bool(extra.get("use_weighted_layer_sum", True)),
        proj_size=int(extra.get("classifier_proj_size", 256)),
        dropout=options.head_dropout,
        epochs=options.epochs,
        batch_size=options.batch_size,
        lr=options.head_lr,
        weight_decay=options.weight_decay,
        crop_frames=max(1, round(crop_s * 50)),
        train_top_layers=options.train_top_layers,
        encoder_lr=options.lr,
        seed=options.seed,
    )


def train_whisper_fold(
    options: Any,
    split: Any,
    store: Any,
    out_dir: Path,
    command: Sequence[str],
    cache_dir: Path,
) -> Any:
    """One fold of ``edge-ser train`` on a Whisper backbone: the encoder's hidden states
    from the cache in ``cache_dir`` (shared with the distillation step), a head trained with
    the recipe's loss and sampling, metrics on the test and validation sides, and the
    ``save_pretrained`` classifier with its report in ``out_dir``."""
    import dataclasses
    import time

    from .data import DEFAULT_AUGMENT
    from .metrics import compute_metrics, write_json
    from .teacher import WHISPER_PREPROCESSING, TeacherCache, load_teacher, truncated_teacher
    from .train import (
        LICENSE_NOTE,
        REPORT_FILENAME,
        REPORT_FORMAT,
        FoldResult,
        _fingerprint,
        _now,
        _versions,
    )

    started, t0 = _now(), time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = tuple(options.labels)
    teacher = load_teacher(options.pretrained)
    if options.encoder_layers:
        teacher = truncated_teacher(teacher, options.encoder_layers)
    augment = options.augment if options.augment.enabled else DEFAULT_AUGMENT
    cache = TeacherCache(
        teacher,
        cache_dir,
        max_samples=round(options.max_seconds * 16000),
        preprocessing=WHISPER_PREPROCESSING,
        augment=augment,
        seed=options.seed,
    )
    train = list(split.train)
    versions = [[cache.get(store, r, k) for k in range(options.cache_copies)] for r in train]
    opts = head_options(options)
    head = fit_head(train, versions, labels, opts, teacher.encoder)

    def evaluate(records: Sequence[Record]) -> Any:
        if not records:
            return None
        probs = predict_head(head, [cache.get(store, r) for r in records])
        predicted = [labels[int(i)] for i in probs.argmax(axis=1)]
        return compute_metrics([r.label for r in records], predicted, labels)

    test, validation = evaluate(split.test), evaluate(split.validation)
    save_whisper_classifier(teacher, head, labels, out_dir)
    n_params = sum(p.numel() for p in teacher.encoder.parameters())
    report = {
        "format": REPORT_FORMAT,
        "status": "complete",
        "fingerprint": _fingerprint(options, split),
        "labels": list(labels),
        "options": options.to_dict(),
        "command": list(command),
        "seed": options.seed,
        "started": started,
        "finished": _now(),
        "seconds": round(time.monotonic() - t0, 2),
        "device": "cpu",
        "versions": _versions(),
        "model": {
            "backbone": "whisper",
            "source": options.pretrained,
            "pretrained_weights": True,
            "encoder_parameters": n_params,
            "encoder_layers": teacher.n_layers,
            "frozen_encoder_layers": teacher.n_layers - opts.train_top_layers,
            "head": dataclasses.asdict(opts),
        },
        "preprocessing": dataclasses.asdict(WHISPER_PREPROCESSING),
        "max_window_s": options.max_seconds,
        "sample_rate": 16000,
        "split": split.summary(),
        "loss": {"name": "adaptive_focal", "class_weights": "inverse frequency"},
        "metrics": {
            "test": test.to_dict() if test is not None else None,
            "validation": validation.to_dict() if validation is not None else None,
            "note": "torch model on the clip-length hidden states of the centre "
            "max_window_s; `edge-ser evaluate` measures the exported model through the runtime",
        },
        "corpora": sorted({r.corpus for r in (*split.train, *split.test)}),
        "license_note": LICENSE_NOTE,
    }
    write_json(out_dir / REPORT_FILENAME, report)
    if test is not None:
        logger.info("%s: test UA %.4f WA %.4f (n=%d)", split.name, test.ua, test.wa, test.n)
    return FoldResult(split.name, out_dir, test, ())
