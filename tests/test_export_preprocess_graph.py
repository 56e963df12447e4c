"""The in-graph preprocessing of the raw-PCM variant equals ``edge_ser.preprocess`` exactly."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_ser.metadata import PreprocessingConfig
from edge_ser.preprocess import preprocess

pytest.importorskip("onnx", reason="the export toolchain (edge-ser[export]) is not installed")

from edge_ser_export.preprocess_graph import build_preprocess_model

MIN_SAMPLES = 400
CONFIGS = [
    PreprocessingConfig(),
    PreprocessingConfig(trim_top_db=0.0),
    PreprocessingConfig(pre_emphasis=0.0, peak_normalize=False),
    PreprocessingConfig(trim_top_db=35.0, trim_frame_length=300, pre_emphasis=0.5, peak=0.5),
]
_SESSIONS: dict[int, Any] = {}


def _run(config_index: int, x: np.ndarray) -> np.ndarray:
    if config_index not in _SESSIONS:
        model = build_preprocess_model(CONFIGS[config_index], min_samples=MIN_SAMPLES)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        _SESSIONS[config_index] = ort.InferenceSession(
            model.SerializeToString(), so, providers=["CPUExecutionProvider"]
        )
    (y,) = _SESSIONS[config_index].run(None, {"waveform": x[None].astype(np.float32)})
    assert y.shape[0] == 1
    return np.asarray(y[0])


def _expected(config_index: int, x: np.ndarray) -> np.ndarray:
    y = preprocess(x, CONFIGS[config_index])
    return np.pad(y, (0, max(0, MIN_SAMPLES - y.shape[0])))


@st.composite
def signals(draw: st.DrawFn) -> np.ndarray:
    """Speech-ish bursts between silences and quiet noise, of awkward lengths."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        n = draw(st.integers(1, 3000))
        kind = draw(st.sampled_from(["silence", "noise", "tone", "click"]))
        if kind == "silence":
            parts.append(np.zeros(n))
        elif kind == "noise":
            parts.append(draw(st.sampled_from([1e-6, 1e-3, 0.3])) * rng.standard_normal(n))
        elif kind == "tone":
            parts.append(0.5 * np.sin(np.arange(n) * rng.uniform(0.01, 1.0)))
        else:
            click = np.zeros(n)
            click[n // 2] = rng.uniform(-1, 1)
            parts.append(click)
    return np.concatenate(parts).astype(np.float32)


@settings(max_examples=60, deadline=None)
@given(x=signals(), config_index=st.integers(0, len(CONFIGS) - 1))
def test_graph_equals_numpy_preprocess(x: np.ndarray, config_index: int) -> None:
    np.testing.assert_array_equal(_run(config_index, x), _expected(config_index, x))


@pytest.mark.parametrize("config_index", range(len(CONFIGS)))
def test_edge_cases(config_index: int) -> None:
    cases = [
        np.zeros(1, np.float32),
        np.full(1, 0.25, np.float32),
        np.zeros(5000, np.float32),  # silence: kept whole
        np.r_[np.zeros(1024), [0.9]].astype(np.float32),  # loudest frame is a 1-sample tail
        np.r_[np.zeros(7000), 0.4 * np.ones(50), np.zeros(7000)].astype(np.float32),
    ]
    for x in cases:
        np.testing.assert_array_equal(_run(config_index, x), _expected(config_index, x))
