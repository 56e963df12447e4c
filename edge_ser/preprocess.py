"""The paper's preprocessing, in numpy: silence trim, pre-emphasis, peak normalisation.

This one implementation is shared by the runtime and the training toolchain, so a model
sees at inference exactly what it saw in training. The exact definition is in
:class:`edge_ser.metadata.PreprocessingConfig`; the in-graph variant of the exporter and the
Android module are tested against this function.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .metadata import PreprocessingConfig

__all__ = ["peak_normalize", "pre_emphasis", "preprocess", "trim_bounds", "trim_silence"]

FloatArray = npt.NDArray[np.float32]


def trim_bounds(x: npt.NDArray[np.floating], top_db: float, frame_length: int) -> tuple[int, int]:
    """Return ``(start, end)`` sample bounds of ``x`` with leading/trailing silence cut.

    Frames are non-overlapping blocks of ``frame_length`` samples (the last may be partial).
    A frame is silent when its RMS is more than ``top_db`` dB below the loudest frame's.
    All-zero (or empty) input keeps its full extent.
    """
    n = int(x.shape[0])
    if n == 0 or top_db <= 0:
        return 0, n
    n_frames = -(-n // frame_length)
    padded = np.zeros(n_frames * frame_length, dtype=np.float64)
    padded[:n] = x
    frames = padded.reshape(n_frames, frame_length)
    # Mean over the real samples only, so a short last frame is not diluted by padding.
    counts = np.full(n_frames, frame_length, dtype=np.float64)
    counts[-1] = n - (n_frames - 1) * frame_length
    power = (frames * frames).sum(axis=1) / counts
    peak = float(power.max())
    if peak <= 0.0:
        return 0, n
    # power ratio in dB: 10*log10(p/peak) > -top_db  <=>  p > peak * 10^(-top_db/10)
    loud = np.flatnonzero(power > peak * 10.0 ** (-top_db / 10.0))
    start = int(loud[0]) * frame_length
    end = min(n, (int(loud[-1]) + 1) * frame_length)
    return start, end


def trim_silence(x: FloatArray, top_db: float = 20.0, frame_length: int = 512) -> FloatArray:
    start, end = trim_bounds(x, top_db, frame_length)
    return x[start:end]


def pre_emphasis(x: FloatArray, coef: float = 0.97) -> FloatArray:
    if coef == 0.0 or x.shape[0] == 0:
        return x
    y = np.empty_like(x)
    y[0] = x[0]
    y[1:] = x[1:] - np.float32(coef) * x[:-1]
    return y


def peak_normalize(x: FloatArray, peak: float = 1.0) -> FloatArray:
    if x.shape[0] == 0:
        return x
    m = float(np.max(np.abs(x)))
    if m <= 1e-8:
        return x
    return (x * np.float32(peak / m)).astype(np.float32, copy=False)


def preprocess(x: npt.NDArray[np.floating], config: PreprocessingConfig) -> FloatArray:
    """Apply trim, pre-emphasis and peak normalisation to one mono window."""
    y = np.ascontiguousarray(x, dtype=np.float32)
    if config.trim_top_db > 0:
        y = trim_silence(y, config.trim_top_db, config.trim_frame_length)
    y = pre_emphasis(y, config.pre_emphasis)
    if config.peak_normalize:
        y = peak_normalize(y, config.peak)
    return np.ascontiguousarray(y, dtype=np.float32)
