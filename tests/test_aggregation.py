"""Temporal aggregation of window scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_ser.aggregation import aggregate, select_windows
from edge_ser.options import AGGREGATIONS, AggregationOptions
from edge_ser.results import WindowResult

LABELS = ("anger", "happiness", "neutral", "sadness")


def _w(start: float, end: float, probs: list[float], speech_ratio: float = 1.0) -> WindowResult:
    scores = dict(zip(LABELS, probs, strict=True))
    return WindowResult(start, end, max(scores, key=scores.__getitem__), scores, speech_ratio)


def _agg(
    windows: list[WindowResult], method: str, min_ratio: float = 0.0
) -> tuple[str | None, dict[str, float]]:
    return aggregate(windows, LABELS, AggregationOptions(method=method, min_speech_ratio=min_ratio))  # type: ignore[arg-type]


def test_duration_weights_by_speech_seconds() -> None:
    a = _w(0, 8, [0.7, 0.1, 0.1, 0.1], speech_ratio=1.0)  # 8 s of speech
    b = _w(8, 10, [0.1, 0.1, 0.7, 0.1], speech_ratio=0.5)  # 1 s of speech
    label, scores = _agg([a, b], "duration")
    assert label == "anger"
    assert scores["anger"] == pytest.approx((8 * 0.7 + 1 * 0.1) / 9)
    assert scores["neutral"] == pytest.approx((8 * 0.1 + 1 * 0.7) / 9)


def test_confidence_weights_by_top_probability() -> None:
    a = _w(0, 1, [0.9, 0.05, 0.03, 0.02])
    b = _w(1, 2, [0.3, 0.4, 0.2, 0.1])
    _, scores = _agg([a, b], "confidence")
    assert scores["anger"] == pytest.approx((0.9 * 0.9 + 0.4 * 0.3) / 1.3)


def test_mean_is_unweighted() -> None:
    a = _w(0, 8, [0.7, 0.1, 0.1, 0.1])
    b = _w(8, 9, [0.1, 0.7, 0.1, 0.1])
    _, scores = _agg([a, b], "mean")
    assert scores["anger"] == pytest.approx(0.4) and scores["happiness"] == pytest.approx(0.4)


def test_vote_scores_are_shares_and_ties_go_to_the_higher_mean() -> None:
    windows = [
        _w(0, 1, [0.4, 0.3, 0.2, 0.1]),
        _w(1, 2, [0.1, 0.8, 0.05, 0.05]),
        _w(2, 3, [0.6, 0.2, 0.1, 0.1]),
        _w(3, 4, [0.2, 0.5, 0.2, 0.1]),
    ]
    label, scores = _agg(windows, "vote")
    assert scores == {"anger": 0.5, "happiness": 0.5, "neutral": 0.0, "sadness": 0.0}
    assert label == "happiness"  # mean 0.45 beats anger's 0.325


def test_mostly_silent_windows_are_left_out_against_neutral_bias() -> None:
    # A long voice note: two angry speech windows, five mostly-silent windows read as neutral.
    speech = [_w(i * 8, i * 8 + 8, [0.6, 0.1, 0.2, 0.1], 0.9) for i in range(2)]
    silent = [_w(16 + i * 8, 24 + i * 8, [0.1, 0.1, 0.7, 0.1], 0.1) for i in range(5)]
    windows = speech + silent
    assert _agg(windows, "mean", min_ratio=0.0)[0] == "neutral"
    assert _agg(windows, "vote", min_ratio=0.0)[0] == "neutral"
    for method in AGGREGATIONS:
        assert _agg(windows, method, min_ratio=0.3)[0] == "anger"
    assert select_windows(windows, 0.3) == speech


def test_all_windows_below_the_ratio_fall_back_to_all() -> None:
    windows = [_w(0, 1, [0.1, 0.1, 0.7, 0.1], 0.05), _w(1, 2, [0.7, 0.1, 0.1, 0.1], 0.1)]
    assert select_windows(windows, 0.5) == windows
    _, scores = _agg(windows, "mean", min_ratio=0.5)
    assert scores["neutral"] == pytest.approx(0.4)


def test_duration_with_no_speech_falls_back_to_mean() -> None:
    windows = [_w(0, 1, [0.1, 0.1, 0.7, 0.1], 0.0), _w(1, 2, [0.7, 0.1, 0.1, 0.1], 0.0)]
    assert _agg(windows, "duration") == _agg(windows, "mean")


def test_no_windows_is_no_label() -> None:
    for method in AGGREGATIONS:
        assert _agg([], method) == (None, {})


_probs = st.lists(st.floats(0.001, 1.0), min_size=4, max_size=4).map(
    lambda p: [x / sum(p) for x in p]
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(_probs, st.floats(0.0, 1.0), st.floats(0.1, 8.0)), min_size=1, max_size=12),
    st.sampled_from(AGGREGATIONS),
    st.floats(0.0, 1.0),
)
def test_scores_sum_to_one_and_label_is_the_top_score(
    rows: list[tuple[list[float], float, float]], method: str, min_ratio: float
) -> None:
    windows, t = [], 0.0
    for probs, ratio, length in rows:
        windows.append(_w(t, t + length, probs, ratio))
        t += length
    label, scores = _agg(windows, method, min_ratio)
    assert set(scores) == set(LABELS)
    assert math.fsum(scores.values()) == pytest.approx(1.0, abs=1e-12)
    assert all(0.0 <= s <= 1.0 for s in scores.values())
    assert label is not None and scores[label] == max(scores.values())
    assert np.isfinite(list(scores.values())).all()
