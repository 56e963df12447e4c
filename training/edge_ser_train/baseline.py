"""A classical baseline on the same corpora, splits and metrics as ``edge-ser train``.

A fine-tuned network is worth its cost only if it beats something simple, and on a small or
shifted test set it often does not. This module scores that simple thing, with no network:
the features and the fit are plain numpy.

1. **Input.** Each utterance is loaded, trimmed and cut to its centre 8 s, then preprocessed
   exactly as for the model (:func:`~edge_ser_train.data.eval_input`).
2. **Features.** Each utterance becomes 88 numbers: the mean and standard deviation, over its
   20 ms frames, of the encoder-distillation teacher's features
   (:func:`~edge_ser_train.pretrain.teacher_features`: 40 log-mel energies, log energy,
   zero-crossing rate, log-f0 and voicing strength).
3. **Classifier.** Multinomial logistic regression with an L2 penalty, on features
   standardised with the training side's mean and deviation. It is fitted by gradient
   descent, with a step that guarantees the loss falls. Training utterances are weighted so
   that every (corpus, label) cell counts the same, as ``balance_corpora`` does for the
   network.
4. **Evaluation.** Each fold's test side gets UA, WA, per-class F1 and a confusion matrix.
   With several folds, a summary gives the mean and the cross-fold deviation.

Run it with::

    python -m edge_ser_train.baseline --data DIR[:CORPUS] ... --split loso [--out report.json]

Measured on one core: about 40 s for 3,900 utterances and one fold, mostly feature
extraction; each further fold adds its fit, about 8 s at that size. Every split of
``edge-ser train`` except ``none`` works, since a baseline needs a test side.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_ser.errors import EdgeSerError, TrainingError
from edge_ser.metadata import PreprocessingConfig

from .corpora import LABELS, CorpusOptions, Record
from .data import SAMPLE_RATE, AudioStore, balanced_weights, eval_input
from .metrics import Metrics, compute_metrics, summarize_folds, write_json
from .pretrain import TEACHER_DIM, teacher_features
from .splits import make_splits, parse_split_spec

__all__ = [
    "BaselineOptions",
    "BaselineReport",
    "fit_logistic",
    "run_baseline",
    "utterance_features",
]

logger = logging.getLogger("edge_ser.train.baseline")

REPORT_FORMAT = "edge_ser_baseline/1"
FEATURES = (
    f"mean and std over 20 ms frames of the {TEACHER_DIM} teacher features "
    "(40 log-mel, log energy, zero-crossing rate, log-f0, voicing)"
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BaselineOptions:
    """Options of the baseline (validated on construction).

    Attributes:
        data: corpus sources, each ``DIR`` or ``DIR:CORPUS`` (as for ``edge-ser train``).
        split: ``loso``, ``speakers:K``, ``cross:CORPUS`` or ``holdout:CORPUS/SPEAKER,...``.
        labels: the classes; records with other labels are dropped.
        l2: the L2 penalty on the weights (features are standardised, sample weights sum to 1).
        max_iterations: the most gradient steps per fold.
        balance_corpora: weight training utterances so every (corpus, label) cell counts the
            same (otherwise every utterance counts the same).
        calm_as_neutral: count RAVDESS and TurEV-DB calm as neutral.
        max_seconds: the centre crop of each utterance.
        max_files: at most this many files per source (a seeded sample).
        seed: seeds the speaker folds (``speakers:K``) and the file sample.
        workers: threads for decoding and features (0: up to 8, one per core).
    """

    data: tuple[str, ...]
    split: str
    labels: tuple[str, ...] = LABELS
    l2: float = 0.01
    max_iterations: int = 2000
    balance_corpora: bool = True
    calm_as_neutral: bool = False
    max_seconds: float = 8.0
    max_files: int | None = None
    seed: int = 0
    workers: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", tuple(self.data))
        object.__setattr__(self, "labels", tuple(self.labels))
        if not self.data:
            raise TrainingError("baseline: give at least one --data source")
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            raise TrainingError(
                f"baseline: labels must be 2 or more distinct names, got {self.labels}"
            )
        kind, _ = parse_split_spec(self.split)
        if kind == "none":
            raise TrainingError(
                "baseline: split 'none' has no test side; use loso, speakers:K, cross:CORPUS "
                "or holdout:CORPUS/SPEAKER,..."
            )
        if not (np.isfinite(self.l2) and self.l2 >= 0):
            raise TrainingError(f"baseline: l2 must be a number >= 0, got {self.l2}")
        if self.max_iterations < 1:
            raise TrainingError(f"baseline: max_iterations must be >= 1, got {self.max_iterations}")
        if not (np.isfinite(self.max_seconds) and self.max_seconds > 0):
            raise TrainingError(f"baseline: max_seconds must be > 0, got {self.max_seconds}")
        if self.max_files is not None and self.max_files < 1:
            raise TrainingError(f"baseline: max_files must be >= 1, got {self.max_files}")
        if self.workers < 0:
            raise TrainingError(f"baseline: workers must be >= 0, got {self.workers}")


@dataclass(frozen=True)
class BaselineReport:
    """Per-fold test metrics (and, with several folds, their summary); ``failed`` names the
    files that could not be decoded or were too short after trimming (left out, with a
    warning)."""

    options: BaselineOptions
    folds: tuple[tuple[str, Metrics], ...]
    splits: tuple[dict[str, Any], ...]
    summary: dict[str, Any] | None
    seconds: float
    failed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "model": "logistic regression on utterance statistics (no network)",
            "features": FEATURES,
            "options": dataclasses.asdict(self.options),
            "folds": [
                {"name": name, "split": split, "test": m.to_dict()}
                for (name, m), split in zip(self.folds, self.splits, strict=True)
            ],
            "summary": self.summary,
            "failed": list(self.failed),
            "seconds": round(self.seconds, 2),
        }


def utterance_features(x: npt.NDArray[np.floating]) -> FloatArray:
    """The 88 statistics of one preprocessed utterance (see the module docstring)."""
    frames = teacher_features(x).astype(np.float64)
    if frames.shape[0] == 0:
        raise TrainingError(f"utterance too short for one 25 ms frame ({x.shape[0]} samples)")
    return np.concatenate([frames.mean(axis=0), frames.std(axis=0)])


def _softmax(z: FloatArray) -> FloatArray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    out: FloatArray = e / e.sum(axis=1, keepdims=True)
    return out


def fit_logistic(
    x: FloatArray,
    y: npt.NDArray[np.integer],
    weights: FloatArray,
    n_classes: int,
    *,
    l2: float = 0.01,
    max_iterations: int = 2000,
    tolerance: float = 1e-7,
) -> tuple[FloatArray, FloatArray]:
    """Weights ``[features, classes]`` and bias ``[classes]`` of an L2-penalised multinomial
    logistic regression, minimising ``sum_i w_i * CE_i + l2 * |W|^2`` by gradient descent.

    The step is ``1 / L`` with ``L`` an upper bound of the gradient's Lipschitz constant
    (``|X~' diag(w) X~| / 2 + 2 * l2``, with ``X~`` the features plus a bias column), so every
    step lowers the loss.
    """
    n, d = x.shape
    if y.shape != (n,) or weights.shape != (n,):
        raise TrainingError("fit_logistic: x, y and weights disagree in length")
    onehot = np.zeros((n, n_classes))
    onehot[np.arange(n), y] = 1.0
    xb = np.hstack([x, np.ones((n, 1))])
    lipschitz = 0.5 * float(np.linalg.norm(xb * np.sqrt(weights)[:, None], 2) ** 2) + 2.0 * l2
    step = 1.0 / max(lipschitz, 1e-12)
    theta = np.zeros((d + 1, n_classes))
    for _ in range(max_iterations):
        p = _softmax(xb @ theta)
        grad = xb.T @ ((p - onehot) * weights[:, None])
        grad[:d] += 2.0 * l2 * theta[:d]
        theta -= step * grad
        if float(np.abs(grad).max()) < tolerance:
            break
    return theta[:d], theta[d]


def predict_standardised(
    x_train: FloatArray,
    y_train: npt.NDArray[np.integer],
    weights: FloatArray,
    x_test: FloatArray,
    n_classes: int,
    *,
    l2: float,
    max_iterations: int,
    eps: float = 1e-8,
) -> npt.NDArray[np.intp]:
    """Class indices for ``x_test`` from :func:`fit_logistic` on ``x_train``, both
    standardised with the training side's mean and standard deviation (plus ``eps``)."""
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + eps
    w, b = fit_logistic(
        (x_train - mean) / std, y_train, weights, n_classes, l2=l2, max_iterations=max_iterations
    )
    predicted: npt.NDArray[np.intp] = (((x_test - mean) / std) @ w + b).argmax(axis=1)
    return predicted


def _features(
    store: AudioStore, records: Sequence[Record], max_samples: int, workers: int
) -> dict[Path, FloatArray]:
    def one(r: Record) -> tuple[Path, FloatArray]:
        x = eval_input(store.audio(r), max_samples, store.preprocessing)
        return r.path, utterance_features(x)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(one, records))


def run_baseline(options: BaselineOptions) -> BaselineReport:
    """Fit and score the baseline on every fold of ``options.split``."""
    from .train import load_sources  # imports torch: only when a run starts

    t0 = time.monotonic()
    corpus_options = CorpusOptions(calm_as_neutral=options.calm_as_neutral)
    records = load_sources(
        options.data, options.labels, corpus_options, max_files=options.max_files, seed=options.seed
    )
    splits = make_splits(records, options.split, options.seed)
    workers = options.workers or min(8, os.cpu_count() or 1)
    store = AudioStore(records, PreprocessingConfig(), workers=workers)
    feats = _features(store, store.records, round(options.max_seconds * SAMPLE_RATE), workers)
    index = {label: i for i, label in enumerate(options.labels)}

    folds: list[tuple[str, Metrics]] = []
    summaries: list[dict[str, Any]] = []
    for split in splits:
        train = [r for r in split.train if r.path in feats]
        test = [r for r in split.test if r.path in feats]
        if not train or not test:
            raise TrainingError(f"{split.name}: no usable audio on the training or test side")
        predicted = predict_standardised(
            np.stack([feats[r.path] for r in train]),
            np.array([index[r.label] for r in train]),
            balanced_weights(train, options.balance_corpora),
            np.stack([feats[r.path] for r in test]),
            len(options.labels),
            l2=options.l2,
            max_iterations=options.max_iterations,
        )
        metrics = compute_metrics(
            [r.label for r in test], [options.labels[int(k)] for k in predicted], options.labels
        )
        folds.append((split.name, metrics))
        summaries.append(split.summary())
        logger.info(
            "%s: UA %.3f, WA %.3f (%d test utterances)",
            split.name,
            metrics.ua,
            metrics.wa,
            metrics.n,
        )
    summary = (
        summarize_folds([m for _, m in folds], [name for name, _ in folds])
        if len(folds) > 1
        else None
    )
    return BaselineReport(
        options, tuple(folds), tuple(summaries), summary, time.monotonic() - t0, store.failed
    )


def _print(report: BaselineReport) -> None:
    for name, m in report.folds:
        f1 = ", ".join(
            f"{k} {v:.2f}" if v is not None else f"{k} -" for k, v in m.per_class_f1.items()
        )
        print(f"{name}: UA {m.ua:.3f}  WA {m.wa:.3f}  n {m.n}  F1: {f1}")
    if report.summary is not None:
        mean, std = report.summary["mean"], report.summary["std"]
        print(
            f"mean over {report.summary['n_folds']} folds: UA {mean['ua']:.3f} ± {std['ua']:.3f}, "
            f"WA {mean['wa']:.3f} ± {std['wa']:.3f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m edge_ser_train.baseline", description=__doc__.split("\n")[0]
    )
    p.add_argument("--data", action="append", required=True, metavar="DIR[:CORPUS]")
    p.add_argument("--split", required=True, help="loso, speakers:K, cross:CORPUS, holdout:...")
    p.add_argument("--l2", type=float, default=0.01)
    p.add_argument("--max-iterations", type=int, default=2000)
    p.add_argument("--no-balance-corpora", action="store_true")
    p.add_argument("--calm-as-neutral", action="store_true")
    p.add_argument("--max-files", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--out", metavar="JSON", help="write the full report here")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        report = run_baseline(
            BaselineOptions(
                data=tuple(a.data),
                split=a.split,
                l2=a.l2,
                max_iterations=a.max_iterations,
                balance_corpora=not a.no_balance_corpora,
                calm_as_neutral=a.calm_as_neutral,
                max_files=a.max_files,
                seed=a.seed,
                workers=a.workers,
            )
        )
    except EdgeSerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print(report)
    if a.out:
        try:
            write_json(a.out, report.to_dict())
        except OSError as exc:
            print(f"error: cannot write {a.out}: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
