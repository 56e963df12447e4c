"""Evaluation metrics (numpy only): UA, WA, macro-F1, per-class F1, confusion matrix.

Definitions (``labels`` fixes the order; rows are true classes, columns predictions):

* a prediction of ``None`` (the runtime found no speech) is always an error; it is counted in
  ``no_prediction`` for its true class, outside the confusion matrix's columns;
* recall_c = TP_c / support_c, where support_c counts every item of true class c;
* **UA** (unweighted accuracy) = the mean of recall_c over the classes with support > 0;
* **WA** (weighted accuracy) = correct / n (plain accuracy);
* F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c) (``None`` when the class is neither present nor
  predicted); **macro-F1** = the mean of F1_c over the classes with support > 0, so a corpus
  without neutral (TurEV-DB) is not charged for a class it cannot contain, although wrong
  neutral predictions still cost recall in the other classes;
* across folds: the mean and the sample standard deviation (ddof = 1; 0 for one fold).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_ser.errors import TrainingError

__all__ = ["Metrics", "compute_metrics", "per_corpus_ua", "summarize_folds", "write_json"]


@dataclass(frozen=True)
class Metrics:
    """Classification metrics of one evaluation (see the module docstring)."""

    labels: tuple[str, ...]
    confusion_matrix: tuple[tuple[int, ...], ...]
    no_prediction: tuple[int, ...]
    n: int
    ua: float
    wa: float
    macro_f1: float
    per_class_f1: Mapping[str, float | None]
    per_class_recall: Mapping[str, float | None]

    @property
    def n_no_prediction(self) -> int:
        return int(sum(self.no_prediction))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ua": self.ua,
            "wa": self.wa,
            "macro_f1": self.macro_f1,
            "per_class_f1": dict(self.per_class_f1),
            "per_class_recall": dict(self.per_class_recall),
            "confusion_matrix": [list(row) for row in self.confusion_matrix],
            "labels": list(self.labels),
            "n": self.n,
            "no_prediction": self.n_no_prediction,
            "no_prediction_per_class": dict(zip(self.labels, self.no_prediction, strict=True)),
        }


def compute_metrics(
    y_true: Sequence[str],
    y_pred: Sequence[str | None],
    labels: Sequence[str] | None = None,
) -> Metrics:
    """Metrics for true labels ``y_true`` and predictions ``y_pred`` (``None``: no speech).

    ``labels`` gives the class order; labels seen in the data but not listed are appended.
    """
    if len(y_true) != len(y_pred):
        raise TrainingError(
            f"metrics need as many predictions as labels, got {len(y_pred)} and {len(y_true)}"
        )
    if not y_true:
        raise TrainingError("metrics need at least one item, got none")
    order = list(labels) if labels is not None else []
    for label in [*y_true, *(p for p in y_pred if p is not None)]:
        if label not in order:
            order.append(label)
    index = {label: i for i, label in enumerate(order)}
    k = len(order)
    cm = np.zeros((k, k), dtype=np.int64)
    missing = np.zeros(k, dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        if p is None:
            missing[index[t]] += 1
        else:
            cm[index[t], index[p]] += 1

    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1) + missing
    predicted = cm.sum(axis=0)
    present = support > 0
    recall = np.divide(tp, support, out=np.zeros(k), where=present)
    denom = 2 * tp + (predicted - tp) + (support - tp)
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    n = int(support.sum())
    return Metrics(
        labels=tuple(order),
        confusion_matrix=tuple(tuple(int(v) for v in row) for row in cm),
        no_prediction=tuple(int(v) for v in missing),
        n=n,
        ua=float(recall[present].mean()),
        wa=float(tp.sum() / n),
        macro_f1=float(f1[present].mean()),
        per_class_f1={
            label: (float(f1[i]) if denom[i] > 0 else None) for i, label in enumerate(order)
        },
        per_class_recall={
            label: (float(recall[i]) if present[i] else None) for i, label in enumerate(order)
        },
    )


def per_corpus_ua(
    records: Sequence[Any], predicted: Sequence[str | None], labels: Sequence[str]
) -> dict[str, float]:
    """UA per corpus of ``predicted`` (aligned with ``records``, which have ``corpus`` and
    ``label``), rounded to 4 places."""
    out = {}
    for corpus in sorted({r.corpus for r in records}):
        idx = [i for i, r in enumerate(records) if r.corpus == corpus]
        m = compute_metrics([records[i].label for i in idx], [predicted[i] for i in idx], labels)
        out[corpus] = round(m.ua, 4)
    return out


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), std


def summarize_folds(folds: Sequence[Metrics], names: Sequence[str] | None = None) -> dict[str, Any]:
    """Mean and sample standard deviation of the fold metrics, plus the summed confusion matrix.

    Folds must share their label order (they do when evaluated with the same ``labels``).
    """
    if not folds:
        raise TrainingError("no fold metrics to summarise")
    labels = folds[0].labels
    if any(m.labels != labels for m in folds):
        raise TrainingError("fold metrics have different label orders; use the same labels")
    summary: dict[str, Any] = {"n_folds": len(folds), "labels": list(labels)}
    mean: dict[str, Any] = {}
    std: dict[str, Any] = {}
    for key in ("ua", "wa", "macro_f1"):
        mean[key], std[key] = _mean_std([getattr(m, key) for m in folds])
    mean["per_class_f1"], std["per_class_f1"] = {}, {}
    for label in labels:
        vals = [v for m in folds if (v := m.per_class_f1[label]) is not None]
        mu, sd = _mean_std(vals) if vals else (None, None)
        mean["per_class_f1"][label], std["per_class_f1"][label] = mu, sd
    summary["mean"], summary["std"] = mean, std
    summary["confusion_matrix"] = np.sum(
        [np.asarray(m.confusion_matrix) for m in folds], axis=0
    ).tolist()
    summary["n"] = int(sum(m.n for m in folds))
    summary["no_prediction"] = int(sum(m.n_no_prediction for m in folds))
    fold_names = list(names) if names is not None else [f"fold{i + 1}" for i in range(len(folds))]
    summary["folds"] = [
        {"name": name, **m.to_dict()} for name, m in zip(fold_names, folds, strict=True)
    ]
    return summary


def write_json(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Write ``data`` as indented JSON (with a trailing newline)."""
    p = Path(path)
    p.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return p
