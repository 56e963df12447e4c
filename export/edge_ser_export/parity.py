"""Parity (torch vs ONNX, quantised vs fp32) and latency of exported graphs."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from edge_ser.errors import ExportError, ParityError
from edge_ser.metadata import PreprocessingConfig

__all__ = [
    "DEFAULT_TOLERANCE",
    "ParityResult",
    "check_parity",
    "compare",
    "full_window_latency",
    "measure_latency",
    "onnx_probabilities",
    "open_session",
    "torch_probabilities",
]

# Largest accepted |p_torch - p_onnx| of the fp32 graph. fp32 ONNX Runtime and PyTorch agree
# to about 1e-6 on these models; 1e-3 leaves room for fused kernels without hiding a wrong graph.
DEFAULT_TOLERANCE = 1e-3

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ParityResult:
    """How far two models' probabilities are apart over the same windows."""

    reference: str
    candidate: str
    windows: int
    max_abs_diff: float
    mean_abs_diff: float
    top1_agreement: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "candidate": self.candidate,
            "windows": self.windows,
            "max_abs_diff": self.max_abs_diff,
            "mean_abs_diff": self.mean_abs_diff,
            "top1_agreement": self.top1_agreement,
        }


def open_session(model: Path | bytes, threads: int = 2) -> ort.InferenceSession:
    """A CPU session with the runtime's default optimisation level and ``threads`` threads."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    path = str(model) if isinstance(model, Path) else model
    try:
        return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types
        raise ExportError(f"ONNX Runtime cannot load the exported model: {exc}") from exc


def torch_probabilities(model: Any, windows: Sequence[FloatArray]) -> np.ndarray:
    """Softmax probabilities of a ``*ForSequenceClassification`` model, one window at a time."""
    import torch

    rows = []
    with torch.inference_mode():
        for w in windows:
            logits = model(input_values=torch.from_numpy(np.ascontiguousarray(w))[None]).logits
            rows.append(torch.softmax(logits, dim=-1)[0].numpy().astype(np.float64))
    return np.stack(rows)


def onnx_probabilities(
    session: ort.InferenceSession, windows: Sequence[FloatArray], input_name: str
) -> np.ndarray:
    """The ``probabilities`` output for each window, run one window at a time."""
    rows = []
    for w in windows:
        (probs,) = session.run(["probabilities"], {input_name: np.ascontiguousarray(w)[None]})
        rows.append(np.asarray(probs, dtype=np.float64)[0])
    return np.stack(rows)


def compare(reference: np.ndarray, candidate: np.ndarray, names: tuple[str, str]) -> ParityResult:
    """Max/mean absolute probability difference and top-1 agreement of two ``[n, k]`` arrays."""
    if reference.shape != candidate.shape or reference.ndim != 2 or reference.shape[0] == 0:
        raise ExportError(
            f"cannot compare probabilities of shapes {reference.shape} and {candidate.shape}"
        )
    diff = np.abs(reference - candidate)
    agree = np.mean(np.argmax(reference, axis=1) == np.argmax(candidate, axis=1))
    return ParityResult(
        reference=names[0],
        candidate=names[1],
        windows=int(reference.shape[0]),
        max_abs_diff=float(diff.max()),
        mean_abs_diff=float(diff.mean()),
        top1_agreement=float(agree),
    )


def check_parity(result: ParityResult, tolerance: float) -> ParityResult:
    """Raise :class:`ParityError` when ``result.max_abs_diff`` exceeds ``tolerance``."""
    if not np.isfinite(result.max_abs_diff) or result.max_abs_diff > tolerance:
        raise ParityError(
            f"{result.candidate} differs from {result.reference} by up to "
            f"{result.max_abs_diff:.3g} in probability over {result.windows} windows "
            f"(tolerance {tolerance:.3g}, top-1 agreement {result.top1_agreement:.1%}); "
            "the exported graph is not faithful to the checkpoint"
        )
    return result


def measure_latency(
    session: ort.InferenceSession,
    inputs: Mapping[str, np.ndarray],
    *,
    runs: int = 5,
    warmup: int = 1,
) -> dict[str, float]:
    """Median and minimum seconds per ``session.run`` over ``runs`` timed runs."""
    feed = dict(inputs)
    for _ in range(warmup):
        session.run(None, feed)
    times = []
    for _ in range(max(1, runs)):
        t0 = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - t0)
    return {"median_s": float(np.median(times)), "min_s": float(np.min(times)), "runs": len(times)}


def full_window_latency(
    sessions: Mapping[str, ort.InferenceSession],
    windows: Sequence[FloatArray],
    config: PreprocessingConfig,
    *,
    min_samples: int,
    window_s: float,
    input_name: str,
    sample_rate: int = 16000,
    runs: int = 5,
) -> dict[str, dict[str, float]]:
    """Seconds per full ``window_s`` window for each session, on the same input.

    The input is the (speech) ``windows`` joined and tiled to ``window_s``, preprocessed
    without the trim so it keeps its full length.
    """
    from .speech import model_input

    n = round(window_s * sample_rate)
    audio = np.concatenate(list(windows))
    audio = np.tile(audio, -(-n // audio.shape[0]))[:n]
    x = model_input(audio, dataclasses.replace(config, trim_top_db=0.0), min_samples)
    feed = {input_name: x[None, :]}
    result = {name: measure_latency(s, feed, runs=runs) for name, s in sessions.items()}
    for v in result.values():
        v["window_s"] = window_s
    return result
