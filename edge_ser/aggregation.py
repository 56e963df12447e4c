"""Temporal aggregation: per-window probabilities to one label and score set per input.

Methods (:class:`edge_ser.options.AggregationOptions`):

* ``duration``: mean weighted by each window's speech seconds (``speech_ratio * duration``);
  falls back to the plain mean when no window holds speech.
* ``confidence``: mean weighted by each window's top probability.
* ``vote``: each window votes for its top class; the scores are the vote shares and a tie
  goes to the tied class with the highest mean probability.
* ``mean``: the unweighted mean.

Windows whose ``speech_ratio`` is below ``min_speech_ratio`` are left out (the paper's
neutral-class bias on long recordings comes from mostly-silent windows); if that would
leave nothing, every window is used. Scores are computed in float64 and sum to 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .options import AggregationOptions
from .results import WindowResult

__all__ = ["aggregate", "select_windows"]


def select_windows(windows: Sequence[WindowResult], min_speech_ratio: float) -> list[WindowResult]:
    """The windows that take part in the aggregate."""
    kept = [w for w in windows if w.speech_ratio >= min_speech_ratio]
    return kept or list(windows)


def aggregate(
    windows: Sequence[WindowResult], labels: Sequence[str], options: AggregationOptions
) -> tuple[str | None, dict[str, float]]:
    """Return ``(label, scores)``; ``(None, {})`` when there are no windows."""
    used = select_windows(windows, options.min_speech_ratio)
    if not used:
        return None, {}
    probs = np.array([[float(w.scores[name]) for name in labels] for w in used], dtype=np.float64)
    if options.method == "vote":
        scores, best = _vote(probs)
    else:
        weights = _weights(options.method, used, probs)
        scores = weights @ probs / weights.sum()
        scores = scores / scores.sum()
        best = int(np.argmax(scores))
    return labels[best], {name: float(s) for name, s in zip(labels, scores, strict=True)}


def _weights(method: str, used: Sequence[WindowResult], probs: np.ndarray) -> np.ndarray:
    if method == "confidence":
        return np.asarray(probs.max(axis=1), dtype=np.float64)
    if method == "duration":
        w = np.array([x.speech_ratio * x.duration for x in used], dtype=np.float64)
        if w.sum() > 0:
            return w
    return np.ones(len(used), dtype=np.float64)


def _vote(probs: np.ndarray) -> tuple[np.ndarray, int]:
    votes = np.bincount(np.argmax(probs, axis=1), minlength=probs.shape[1]).astype(np.float64)
    shares = votes / votes.sum()
    tied = np.flatnonzero(votes == votes.max())
    mean = probs.mean(axis=0)
    best = int(tied[np.argmax(mean[tied])])
    return shares, best
