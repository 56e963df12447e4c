"""The paper's preprocessing (trim 20 dB, pre-emphasis, peak normalisation) and model input."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edge_ser.metadata import PreprocessingConfig
from edge_ser.model import load_model
from edge_ser.preprocess import peak_normalize, pre_emphasis, preprocess, trim_bounds


def _loud(n: int, seed: int = 0) -> np.ndarray:
    return (0.5 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def test_trim_cuts_leading_and_trailing_quiet_frames() -> None:
    frame = 512
    x = np.concatenate([
        np.full(3 * frame, 1e-3, np.float32),  # 50 dB below the loud part: trimmed
        _loud(4 * frame),
        np.full(2 * frame, 1e-3, np.float32),
    ])  # fmt: skip
    assert trim_bounds(x, 20.0, frame) == (3 * frame, 7 * frame)


def test_trim_keeps_frames_within_top_db() -> None:
    frame = 512
    quiet = (0.5 * 10 ** (-15 / 20)) * np.ones(frame, np.float32)  # 15 dB down: kept
    x = np.concatenate([quiet, np.full(frame, 0.5, np.float32)])
    assert trim_bounds(x, 20.0, frame) == (0, 2 * frame)


def test_trim_keeps_silence_and_empty_input_whole() -> None:
    assert trim_bounds(np.zeros(1000, np.float32), 20.0, 512) == (0, 1000)
    assert trim_bounds(np.zeros(0, np.float32), 20.0, 512) == (0, 0)


def test_pre_emphasis_formula() -> None:
    x = np.array([1.0, 2.0, 4.0], np.float32)
    np.testing.assert_allclose(pre_emphasis(x, 0.97), [1.0, 2.0 - 0.97, 4.0 - 1.94], rtol=1e-6)


def test_peak_normalisation_and_silence() -> None:
    y = peak_normalize(np.array([0.1, -0.25], np.float32), 1.0)
    assert float(np.max(np.abs(y))) == pytest.approx(1.0)
    z = np.zeros(10, np.float32)
    np.testing.assert_array_equal(peak_normalize(z), z)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float32, st.integers(1, 4000), elements=st.floats(-1, 1, width=32)))
def test_preprocess_output_is_finite_float32_with_unit_peak(x: np.ndarray) -> None:
    y = preprocess(x, PreprocessingConfig())
    assert y.dtype == np.float32 and y.ndim == 1 and 0 < y.shape[0] <= x.shape[0]
    assert np.all(np.isfinite(y))
    peak = float(np.max(np.abs(y)))
    assert peak == pytest.approx(1.0, abs=1e-5) or peak <= 1e-8


def test_disabled_steps_leave_audio_unchanged() -> None:
    x = _loud(2048)
    cfg = PreprocessingConfig(trim_top_db=0.0, pre_emphasis=0.0, peak_normalize=False)
    np.testing.assert_array_equal(preprocess(x, cfg), x)


# -- model input ---------------------------------------------------------------------------


def test_short_window_is_zero_padded_to_min_input_samples(tiny_model_dir: Path) -> None:
    model = load_model(tiny_model_dir)
    n = model.metadata.min_input_samples
    x = model.prepare_input(_loud(n // 4))
    assert x.shape == (n,)
    assert np.all(x[n // 4 :] == 0)
    expected = preprocess(_loud(n // 4), model.metadata.preprocessing)
    np.testing.assert_array_equal(x[: n // 4], expected)


def test_raw_pcm_models_get_the_window_unprocessed(tiny_model_dir: Path) -> None:
    model = load_model(tiny_model_dir)
    raw = dataclasses.replace(
        model, metadata=dataclasses.replace(model.metadata, input_kind="raw_pcm")
    )
    x = np.concatenate([np.zeros(4000, np.float32), _loud(4000)])
    np.testing.assert_array_equal(raw.prepare_input(x), x)
    assert model.prepare_input(x).shape[0] < x.shape[0]  # trimmed by preprocessing
