"""Training options: one frozen dataclass, validated on construction, loadable from JSON.

Standard library only (the ``edge-ser train`` CLI imports it without torch).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_ser.errors import TrainingError

from .corpora import IEMOCAP_SUBSETS, LABELS, canonical_corpus_name
from .data import AugmentOptions
from .splits import parse_split_spec

__all__ = ["DataSource", "TrainOptions", "parse_data_spec"]

DEFAULT_PRETRAINED = "ntu-spml/distilhubert"


@dataclass(frozen=True)
class DataSource:
    """A corpus folder (or CSV manifest) and its corpus name (``None``: detect it)."""

    path: str
    corpus: str | None = None


def parse_data_spec(spec: str) -> DataSource:
    """``DIR`` or ``DIR:CORPUS`` (also ``CORPUS:DIR``) -> :class:`DataSource`.

    The part after (or before) the last colon counts as a corpus name only if it is one, so
    paths containing colons still work.
    """
    text = spec.strip()
    if not text:
        raise TrainingError("empty data source; expected DIR or DIR:CORPUS")
    head, sep, tail = text.rpartition(":")
    if sep and head and canonical_corpus_name(tail) is not None:
        return DataSource(head, canonical_corpus_name(tail))
    head, sep, tail = text.partition(":")
    if sep and tail and canonical_corpus_name(head) is not None:
        return DataSource(tail, canonical_corpus_name(head))
    return DataSource(text, None)


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise TrainingError(message)


@dataclass(frozen=True)
class TrainOptions:
    """Everything ``edge-ser train`` does, as data.

    Attributes:
        data: corpus sources, each ``DIR`` or ``DIR:CORPUS`` (or a ``.csv`` manifest).
        out: the output folder (a ``save_pretrained`` model that ``edge-ser export`` takes; with
            several folds, one such folder per fold under it).
        split: ``none`` (train on everything), ``loso``, ``speakers:K`` or ``cross:CORPUS``.
        fold: run only this fold (1-based); ``None`` runs every fold of the split.
        epochs, batch_size: the schedule.
        lr: AdamW learning rate of the transformer encoder.
        head_lr: AdamW learning rate of the projector and classifier.
        weight_decay, warmup_ratio: AdamW weight decay; linear warm-up share of all steps
            (then linear decay to 0).
        grad_clip: gradient norm clip (0 disables).
        max_seconds: the longest training/evaluation crop (the paper's 8 s).
        labels: the classes, in output order; records with other labels are dropped.
        pretrained: ``ntu-spml/distilhubert``, a local folder, or ``none`` (random weights).
        tiny: a tiny model of the same architecture (smoke tests).
        model_config: extra ``HubertConfig`` fields (e.g. ``{"hidden_dropout": 0.2}``).
        head_dropout: dropout on the pooled vector.
        freeze_feature_encoder: keep the conv feature encoder fixed (the paper's recipe).
        class_weights: weight the loss by inverse class frequency.
        gamma_min, gamma_max, focal_momentum: Adaptive Focal Loss settings (see ``loss``).
        cross_corpus: an extra training corpus ``CORPUS:DIR`` (the paper's CREMA-D
            regularisation), sampled anew each epoch.
        mix_ratio: extra-corpus utterances per epoch, as a share of the training set size.
        augment: training augmentation (see ``data.AugmentOptions``).
        cache_features: compute the frozen feature encoder's output once per utterance and
            train on it (see ``cached``); needs ``freeze_feature_encoder``. Waveform
            augmentation then applies only through ``cache_copies``.
        cache_copies: with ``cache_features``, encode each training utterance this many
            times: as it is, plus ``cache_copies - 1`` versions drawn with ``augment``; each
            epoch draws one version per utterance. Needs an enabled ``augment`` above 1.
        frame_cache: a folder of frozen-encoder outputs shared across runs and with
            ``python -m edge_ser_train.distill`` (one file per utterance version, keyed by the
            file's content, the encoder's weights and the recipe): DistilHuBERT's conv frames
            with ``cache_features``, a Whisper backbone's hidden states (always cached;
            default ``out/teacher_cache``).
        encoder_layers: Whisper backbones: keep only the first N encoder layers (0: all).
            Emotion lives in Whisper's middle layers, so a cut encoder loses little and
            the saved, exported model is that much smaller and faster.
        train_top_layers: Whisper backbones: fine-tune this many top encoder layers (from
            the cached states below them) with learning rate ``lr``; 0 keeps the encoder
            frozen.
        train_crop_seconds: the longest random training crop in cached mode (``None``: the
            full ``max_seconds``); shorter crops make epochs cheaper.
        balance_corpora: draw each epoch's utterances so that every (corpus, label) cell
            weighs the same, instead of one pass over the training set.
        validation_speakers: hold out this many training speakers to pick the best epoch
            (by validation UA); 0 keeps the last epoch.
        average_from_epoch: keep a running average of the weights at the end of every epoch
            from this one (1-based) on (stochastic weight averaging; 0: off). The average
            becomes the model unless the best single epoch scores a higher validation UA.
        validation_holdout: hold out these training speakers (``corpus/speaker`` keys)
            for validation instead of a random draw.
        iemocap_subset: ``all``, ``improvised`` or ``scripted``.
        calm_as_neutral: count RAVDESS/TurEV-DB calm as neutral (off: calm is not neutral).
        max_files: use at most this many files per data source (a seeded sample; smoke runs).
        seed: seeds every random choice (splits, sampling, crops, initialisation).
        resume: continue from ``out/checkpoint.pt`` (per fold) if present.
        device: ``auto`` (CUDA when available, else CPU), ``cpu`` or ``cuda[:N]``.
        threads: torch CPU threads during the run (0: torch's default); restored afterwards.
        amp: bfloat16 autocast on CUDA.
        progress: progress bars on stderr (only drawn on a terminal).
        keep_checkpoint: keep ``checkpoint.pt`` after a fold completes.
        plots: write PNG plots.
    """

    data: tuple[str, ...]
    out: str
    split: str = "none"
    fold: int | None = None
    epochs: int = 20
    batch_size: int = 16
    lr: float = 5e-5
    head_lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    grad_clip: float = 1.0
    max_seconds: float = 8.0
    labels: tuple[str, ...] = LABELS
    pretrained: str = DEFAULT_PRETRAINED
    tiny: bool = False
    model_config: Mapping[str, Any] = field(default_factory=dict)
    head_dropout: float = 0.1
    freeze_feature_encoder: bool = True
    class_weights: bool = True
    gamma_min: float = 1.0
    gamma_max: float = 3.0
    focal_momentum: float = 0.9
    cross_corpus: str | None = None
    mix_ratio: float = 0.5
    augment: AugmentOptions = field(default_factory=AugmentOptions)
    cache_features: bool = False
    cache_copies: int = 1
    frame_cache: str | None = None
    encoder_layers: int = 0
    train_top_layers: int = 0
    train_crop_seconds: float | None = None
    balance_corpora: bool = False
    validation_speakers: int = 0
    validation_holdout: tuple[str, ...] = ()
    average_from_epoch: int = 0
    iemocap_subset: str = "all"
    calm_as_neutral: bool = False
    max_files: int | None = None
    seed: int = 0
    resume: bool = False
    device: str = "auto"
    threads: int = 0
    amp: bool = True
    progress: bool = True
    keep_checkpoint: bool = False
    plots: bool = True

    def __post_init__(self) -> None:
        data = (self.data,) if isinstance(self.data, str) else tuple(self.data)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "validation_holdout", tuple(self.validation_holdout))
        object.__setattr__(self, "model_config", dict(self.model_config))
        if isinstance(self.augment, Mapping):
            object.__setattr__(self, "augment", _coerce_augment(self.augment))
        _check(len(data) > 0, "TrainOptions.data needs at least one corpus (DIR or DIR:CORPUS)")
        for spec in data:
            parse_data_spec(spec)
        _check(bool(str(self.out).strip()), "TrainOptions.out must be a folder path")
        parse_split_spec(self.split)
        _check(
            not self.cache_features or self.freeze_feature_encoder,
            "TrainOptions.cache_features needs freeze_feature_encoder (a trained encoder "
            "changes its output every step)",
        )
        _check(
            1 <= self.cache_copies <= 32,
            f"TrainOptions.cache_copies must be 1 to 32, got {self.cache_copies!r}",
        )
        _check(
            isinstance(self.encoder_layers, int) and 0 <= self.encoder_layers <= 64,
            f"TrainOptions.encoder_layers must be 0 to 64, got {self.encoder_layers!r}",
        )
        _check(
            isinstance(self.train_top_layers, int) and 0 <= self.train_top_layers <= 32,
            f"TrainOptions.train_top_layers must be 0 to 32, got {self.train_top_layers!r}",
        )
        _check(
            self.cache_copies == 1 or (self.cache_features and self.augment.enabled),
            "TrainOptions.cache_copies above 1 needs cache_features and an enabled augment",
        )
        _check(
            0 <= self.average_from_epoch <= self.epochs,
            f"TrainOptions.average_from_epoch must be 0 (off) to epochs, got "
            f"{self.average_from_epoch!r}",
        )
        _check(
            not (self.validation_holdout and self.validation_speakers),
            "give validation_speakers (a random draw) or validation_holdout (named), not both",
        )
        _check(
            self.train_crop_seconds is None or 0.1 <= self.train_crop_seconds <= self.max_seconds,
            f"TrainOptions.train_crop_seconds must be 0.1 to max_seconds, got {self.train_crop_seconds!r}",
        )
        _check(
            self.fold is None or (isinstance(self.fold, int) and self.fold >= 1),
            f"TrainOptions.fold must be a fold number >= 1, got {self.fold!r}",
        )
        _check(
            isinstance(self.epochs, int) and 1 <= self.epochs <= 10_000,
            f"TrainOptions.epochs must be 1 to 10000, got {self.epochs!r}",
        )
        _check(
            isinstance(self.batch_size, int) and 1 <= self.batch_size <= 4096,
            f"TrainOptions.batch_size must be 1 to 4096, got {self.batch_size!r}",
        )
        for name in ("lr", "head_lr"):
            value = getattr(self, name)
            _check(0.0 < value <= 1.0, f"TrainOptions.{name} must be in (0, 1], got {value!r}")
        _check(
            0.0 <= self.weight_decay <= 1.0,
            f"TrainOptions.weight_decay must be in [0, 1], got {self.weight_decay!r}",
        )
        _check(
            0.0 <= self.warmup_ratio < 1.0,
            f"TrainOptions.warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}",
        )
        _check(
            self.grad_clip >= 0.0, f"TrainOptions.grad_clip must be >= 0, not {self.grad_clip!r}"
        )
        _check(
            0.5 <= self.max_seconds <= 60.0,
            f"TrainOptions.max_seconds must be 0.5 to 60, got {self.max_seconds!r}",
        )
        _check(
            len(self.labels) >= 2 and len(set(self.labels)) == len(self.labels),
            f"TrainOptions.labels must be at least 2 distinct names, got {list(self.labels)!r}",
        )
        _check(
            0.0 <= self.head_dropout < 1.0,
            f"TrainOptions.head_dropout must be in [0, 1), got {self.head_dropout!r}",
        )
        _check(
            0.0 <= self.gamma_min <= self.gamma_max <= 10.0,
            "TrainOptions needs 0 <= gamma_min <= gamma_max <= 10, got "
            f"{self.gamma_min!r}, {self.gamma_max!r}",
        )
        _check(
            0.0 <= self.focal_momentum < 1.0,
            f"TrainOptions.focal_momentum must be in [0, 1), got {self.focal_momentum!r}",
        )
        if self.cross_corpus is not None:
            src = parse_data_spec(self.cross_corpus)
            _check(
                bool(src.path),
                f"TrainOptions.cross_corpus must be CORPUS:DIR, got {self.cross_corpus!r}",
            )
        _check(
            0.0 < self.mix_ratio <= 10.0,
            f"TrainOptions.mix_ratio must be in (0, 10], got {self.mix_ratio!r}",
        )
        _check(
            isinstance(self.validation_speakers, int) and self.validation_speakers >= 0,
            f"TrainOptions.validation_speakers must be >= 0, got {self.validation_speakers!r}",
        )
        _check(
            self.iemocap_subset in IEMOCAP_SUBSETS,
            f"TrainOptions.iemocap_subset must be one of {', '.join(IEMOCAP_SUBSETS)}, "
            f"got {self.iemocap_subset!r}",
        )
        _check(
            self.max_files is None or (isinstance(self.max_files, int) and self.max_files >= 1),
            f"TrainOptions.max_files must be >= 1, got {self.max_files!r}",
        )
        _check(
            isinstance(self.seed, int) and self.seed >= 0,
            f"TrainOptions.seed must be a non-negative integer, got {self.seed!r}",
        )
        _check(
            isinstance(self.threads, int) and 0 <= self.threads <= 1024,
            f"TrainOptions.threads must be 0 (default) to 1024, got {self.threads!r}",
        )
        device = self.device.strip().lower()
        _check(
            device in ("auto", "cpu", "cuda") or device.startswith("cuda:"),
            f"TrainOptions.device must be auto, cpu, cuda or cuda:N, got {self.device!r}",
        )

    # -- (de)serialisation --------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["data"] = list(self.data)
        data["labels"] = list(self.labels)
        data["model_config"] = dict(self.model_config)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainOptions:
        if not isinstance(data, Mapping):
            raise TrainingError(f"training options must be an object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise TrainingError(
                f"unknown training option(s) {', '.join(unknown)}; accepted: "
                f"{', '.join(sorted(names))}"
            )
        missing = sorted(n for n in ("data", "out") if n not in data)
        if missing:
            raise TrainingError(f"training options need {' and '.join(missing)}")
        kwargs = dict(data)
        if isinstance(kwargs.get("data"), str):
            kwargs["data"] = (kwargs["data"],)
        try:
            return cls(**kwargs)
        except TypeError as exc:  # pragma: no cover - guarded by the unknown-key check
            raise TrainingError(f"invalid training options: {exc}") from exc

    @classmethod
    def from_json(cls, path: str | Path, **overrides: Any) -> TrainOptions:
        """Options from a JSON file, with ``overrides`` applied on top."""
        p = Path(path)
        try:
            loaded = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise TrainingError(f"cannot read training config {p}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise TrainingError(f"training config {p} must hold a JSON object")
        return cls.from_dict({**loaded, **overrides})


def _coerce_augment(value: Mapping[str, Any]) -> AugmentOptions:
    names = {f.name for f in dataclasses.fields(AugmentOptions)}
    unknown = sorted(set(value) - names)
    if unknown:
        raise TrainingError(
            f"unknown augment option(s) {', '.join(unknown)}; accepted: {', '.join(sorted(names))}"
        )
    return AugmentOptions(**value)
