"""Evaluate an exported model through the runtime on a corpus manifest (no torch).

Every file goes through :meth:`edge_ser.Classifier.classify`: the same VAD, windowing,
preprocessing and aggregation an application gets. A "no speech" result (label ``None``)
counts as an error for its true class. Files that cannot be decoded are left out of the
metrics and listed in ``failed``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_ser.errors import AudioError, TrainingError

from .corpora import Record
from .metrics import Metrics, compute_metrics
from .progress import Progress

__all__ = ["EvaluationReport", "Predictor", "evaluate_records"]

# path -> predicted label, or None for "no speech"
Predictor = Callable[[Path], str | None]


@dataclass(frozen=True)
class EvaluationReport:
    """Metrics of one model on one corpus, with the files that could not be read."""

    corpus: str
    model: str
    metrics: Metrics
    failed: tuple[tuple[str, str], ...]
    seconds: float
    settings: dict[str, Any]

    @property
    def no_speech(self) -> int:
        return self.metrics.n_no_prediction

    def to_dict(self) -> dict[str, Any]:
        m = self.metrics.to_dict()
        return {
            "ua": m["ua"],
            "wa": m["wa"],
            "macro_f1": m["macro_f1"],
            "per_class_f1": m["per_class_f1"],
            "per_class_recall": m["per_class_recall"],
            "confusion_matrix": m["confusion_matrix"],
            "labels": m["labels"],
            "n": m["n"],
            "no_speech": m["no_prediction"],
            "no_speech_per_class": m["no_prediction_per_class"],
            "failed": [{"path": p, "error": e} for p, e in self.failed],
            "corpus": self.corpus,
            "model": self.model,
            "seconds": round(self.seconds, 3),
            "settings": self.settings,
        }


def evaluate_records(
    records: Sequence[Record],
    predict: Predictor,
    labels: Sequence[str],
    *,
    corpus: str,
    model: str,
    settings: dict[str, Any] | None = None,
    progress: bool = False,
) -> EvaluationReport:
    """Run ``predict`` on every record and score it (see the module docstring)."""
    if not records:
        raise TrainingError("nothing to evaluate: the corpus selection is empty")
    t0 = time.monotonic()
    y_true: list[str] = []
    y_pred: list[str | None] = []
    failed: list[tuple[str, str]] = []
    bar = Progress(len(records), f"evaluating {corpus}", enabled=progress)
    for r in records:
        try:
            predicted = predict(r.path)
        except AudioError as exc:
            failed.append((str(r.path), str(exc)))
        else:
            y_true.append(r.label)
            y_pred.append(predicted)
        bar.update(1)
    bar.close()
    if not y_true:
        raise TrainingError(
            f"every one of the {len(records)} files failed to load (first: {failed[0][1]})"
        )
    return EvaluationReport(
        corpus=corpus,
        model=model,
        metrics=compute_metrics(y_true, y_pred, labels),
        failed=tuple(failed),
        seconds=time.monotonic() - t0,
        settings=dict(settings or {}),
    )
