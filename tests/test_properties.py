"""Property tests (hypothesis): whatever array comes in, the runtime answers sensibly.

For arrays of any dtype, shape and content, from empty to minutes long, at any supported
rate, fed whole or in random chunks, with random options:

* nothing but an :class:`edge_ser.errors.EdgeSerError` ever escapes;
* a result's scores sum to 1 and its label is their argmax ("no speech": no label, no scores);
* windows lie inside the audio, are ordered, and are never longer than the window length;
* speech regions are ordered, disjoint and inside the audio;
* a stream fed in any chunking gives exactly the file-mode result.

Long signals are synthesised from drawn parameters (kind, length, level, seed) rather than
drawn sample by sample, which keeps minutes of audio cheap; short arrays are drawn in full,
so every special value (NaN, inf, huge, subnormal, integer extremes) turns up. The example
counts keep this file to about 20 s.
"""

from __future__ import annotations

import math
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from conftest import speech_bursts, synth_speechlike
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_ser import ClassificationResult, Classifier
from edge_ser.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from edge_ser.errors import InvalidAudioError
from edge_ser.options import AGGREGATIONS

COMMON_RATES = (4000, 8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000, 192000, 384000)
rates = st.one_of(st.sampled_from(COMMON_RATES), st.integers(MIN_SAMPLE_RATE, MAX_SAMPLE_RATE))

SETTINGS = {
    "deadline": None,
    "derandomize": True,  # the same examples on every run: CI stays reproducible
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir: Path) -> Path:
    return tiny_model_dir


@pytest.fixture(scope="module")
def with_vad(tiny_model_dir: Path) -> Classifier:
    return Classifier(tiny_model_dir, {"session": {"batch_size": 1}})


@pytest.fixture(scope="module")
def without_vad(tiny_model_dir: Path) -> Classifier:
    # Short windows and overlap: every bit of audio reaches the model, tails included.
    return Classifier(
        tiny_model_dir,
        {
            "vad": {"enabled": False},
            "window": {"window_s": 1.0, "overlap_s": 0.25, "min_window_s": 0.05},
            "session": {"batch_size": 1},
        },
    )


def check_invariants(
    result: ClassificationResult, clf: Classifier, n_samples: int, rate: int
) -> None:
    labels = clf.labels
    assert result.duration == pytest.approx(n_samples / rate, abs=1e-12)
    if result.label is None:
        assert result.scores == {} and result.windows == ()
    else:
        assert tuple(result.scores) == labels
        assert math.fsum(result.scores.values()) == pytest.approx(1.0, abs=1e-9)
        assert all(0.0 <= v <= 1.0 for v in result.scores.values())
        assert result.scores[result.label] == max(result.scores.values())
        assert result.windows
    window_s = clf.options.window.window_s or clf.metadata.max_window_s
    spans = [(w.start, w.end) for w in result.windows]
    assert spans == sorted(spans)
    for w in result.windows:
        assert 0.0 <= w.start < w.end <= result.duration
        assert w.end - w.start <= window_s + 1e-9
        assert tuple(w.scores) == labels
        assert math.fsum(w.scores.values()) == pytest.approx(1.0, abs=1e-9)
        assert w.label == max(w.scores, key=w.scores.__getitem__)
        assert 0.0 <= w.speech_ratio <= 1.0
    previous_end = 0.0
    for r in result.speech_regions:
        assert previous_end <= r.start < r.end <= result.duration
        previous_end = r.end
    assert result.speech_duration <= result.duration + 1e-9


def stream_result(
    clf: Classifier, x: np.ndarray, rate: int, chunks: list[int]
) -> ClassificationResult:
    """Feed ``x`` in chunks of the given sizes, cycling through them (0 is an empty chunk)."""
    stream = clf.stream(rate)
    i, k = 0, 0
    while i < x.shape[0]:
        size = chunks[k % len(chunks)]
        stream.accept_waveform(x[i : i + size])
        i += size
        k += 1
    return stream.finish()


# -- short arrays, drawn sample by sample ----------------------------------------------------

DTYPES = st.sampled_from(
    ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16"]
)


@st.composite
def raw_arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = np.dtype(draw(DTYPES))
    frames = draw(st.integers(0, 3000))
    shape: tuple[int, ...] = (frames,)
    if draw(st.booleans()):
        shape = (frames, draw(st.integers(0, 3)))
    if dtype.kind == "f" and draw(st.booleans()):
        # Any float, NaN, inf and huge values included.
        return draw(hnp.arrays(dtype, shape))
    # A signal with drawn structure: a drawn sample pattern repeated (keeps drawing cheap).
    pattern = draw(
        hnp.arrays(
            dtype,
            st.integers(1, 64),
            elements=hnp.from_dtype(dtype, allow_nan=False, allow_infinity=False),
        )
    )
    size = int(np.prod(shape))
    return np.resize(pattern, size).reshape(shape)


@settings(max_examples=60, **SETTINGS)  # type: ignore[arg-type]
@given(x=raw_arrays(), rate=rates)
def test_any_short_array(
    with_vad: Classifier, without_vad: Classifier, x: np.ndarray, rate: int
) -> None:
    for clf in (with_vad, without_vad):
        try:
            result = clf.classify(x, rate)
        except InvalidAudioError:
            # Only for what the docs refuse: bad shape, NaN/inf, magnitude above 1e6.
            with np.errstate(over="ignore"):
                as_float32 = x.astype(np.float32)
            assert (
                (x.ndim == 2 and x.shape[1] == 0)
                or not np.all(np.isfinite(as_float32))
                or np.any(np.abs(as_float32) > 1e6)
            )
            continue
        check_invariants(result, clf, x.shape[0], rate)


# -- long signals, synthesised from drawn parameters ----------------------------------------

KINDS = ("silence", "noise", "speech", "tone", "clipped", "dc", "clicks", "speech+dc")
MAX_SAMPLES = 3_000_000  # bounds the cost of one example (e.g. 3 min at 16 kHz)


def synthesize(kind: str, seconds: float, rate: int, level: float, seed: int) -> np.ndarray:
    n = round(seconds * rate)
    rng = np.random.default_rng(seed)
    if kind == "silence":
        return np.zeros(n, np.float32)
    if kind == "noise":
        return (level * rng.standard_normal(n)).astype(np.float32)
    if kind == "tone":
        return (level * np.sin(2 * np.pi * 220.0 * np.arange(n) / rate)).astype(np.float32)
    if kind == "dc":
        return np.full(n, min(level, 1.0), np.float32)
    if kind == "clicks":
        x = np.zeros(n, np.float32)
        x[:: max(1, rate // 3)] = level
        return x
    speech = synth_speechlike(seconds, rate, seed=seed)[:n] * np.float32(level / 0.3)
    if kind == "clipped":
        return np.clip(speech * 50, -1, 1).astype(np.float32)
    if kind == "speech+dc":
        return (speech + 0.3).astype(np.float32)
    return speech.astype(np.float32)


@st.composite
def signals(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    rate = draw(rates)
    longest = min(180.0, MAX_SAMPLES / rate)
    seconds = draw(st.one_of(st.floats(0.0, 2.0), st.floats(0.0, longest)))
    kind = draw(st.sampled_from(KINDS))
    level = draw(st.floats(1e-4, 100.0))
    seed = draw(st.integers(0, 2**16))
    return synthesize(kind, seconds, rate, level, seed), rate


chunk_lists = st.lists(st.integers(0, 50_000), min_size=1, max_size=8).filter(any)


@settings(max_examples=14, **SETTINGS)  # type: ignore[arg-type]
@given(signal=signals(), chunks=chunk_lists)
def test_long_signals_and_stream_equals_file(
    with_vad: Classifier, without_vad: Classifier, signal: tuple[np.ndarray, int], chunks: list[int]
) -> None:
    x, rate = signal
    # At most ~400 chunks per stream, whatever the length.
    chunks = [c if c == 0 else max(c, x.shape[0] // 400) for c in chunks]
    for clf in (with_vad, without_vad):
        file_mode = clf.classify(x, rate)
        check_invariants(file_mode, clf, x.shape[0], rate)
        assert stream_result(clf, x, rate, chunks).to_dict() == file_mode.to_dict()


# -- random options --------------------------------------------------------------------------


@st.composite
def options(draw: st.DrawFn) -> dict[str, dict[str, object]]:
    window_s = draw(st.floats(0.5, 8.0))
    return {
        "vad": {
            "enabled": draw(st.booleans()),
            "aggressiveness": draw(st.integers(0, 3)),
            "frame_ms": draw(st.sampled_from([10, 20, 30])),
            "min_speech_ms": draw(st.integers(0, 500)),
            "min_silence_ms": draw(st.integers(0, 1000)),
            "speech_pad_ms": draw(st.integers(0, 500)),
        },
        "window": {
            "window_s": window_s,
            "overlap_s": draw(st.floats(0.0, window_s / 2, exclude_max=True)),
            "min_window_s": draw(st.floats(0.01, window_s)),
        },
        "aggregation": {
            "method": draw(st.sampled_from(AGGREGATIONS)),
            "min_speech_ratio": draw(st.floats(0.0, 1.0)),
        },
        "session": {"batch_size": 1},
    }


@settings(max_examples=20, **SETTINGS)  # type: ignore[arg-type]
@given(
    opts=options(),
    kind=st.sampled_from(("speech", "noise", "clicks", "speech+dc")),
    seconds=st.floats(0.0, 25.0),
    rate=rates.filter(lambda r: r <= 96000),
    chunks=chunk_lists,
    seed=st.integers(0, 2**16),
)
def test_random_options(
    model_dir: Path,
    opts: dict[str, dict[str, object]],
    kind: str,
    seconds: float,
    rate: int,
    chunks: list[int],
    seed: int,
) -> None:
    clf = Classifier(model_dir, opts)
    x = synthesize(kind, seconds, rate, 0.3, seed)
    file_mode = clf.classify(x, rate)
    check_invariants(file_mode, clf, x.shape[0], rate)
    chunks = [c if c == 0 else max(c, x.shape[0] // 300) for c in chunks]
    assert stream_result(clf, x, rate, chunks).to_dict() == file_mode.to_dict()


def test_a_fractional_window_length_is_never_exceeded(model_dir: Path) -> None:
    # 0.740234375 s is 11843.75 samples: rounding the window up, or the minimum window
    # independently of it, would let a short region's backward extension run past it.
    length = 0.740234375
    clf = Classifier(model_dir, {"window": {"window_s": length, "min_window_s": length}})
    x = speech_bursts([(1.5, 1.8), (2.5, 4.0)], 5.0)
    result = clf.classify(x, 16000)
    check_invariants(result, clf, x.shape[0], 16000)
    assert len(result.windows) >= 3
    assert max(w.end - w.start for w in result.windows) == pytest.approx(11843 / 16000)
