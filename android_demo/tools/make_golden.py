"""Write the golden vectors that pin the Android core module to the Python runtime.

The Kotlin module in ``android_demo/core`` re-implements the runtime's signal path (VAD
regions, windowing, preprocessing, aggregation, the streaming pipeline and a WAV reader).
This script runs the *real* Python runtime (``edge_ser``) over deterministic synthetic
inputs and records what it does, so the JVM unit tests can check that Kotlin does the same:

* ``stream_<case>.json``: the 16 kHz input (int16, zlib + base64), every webrtcvad call
  (its decision and the CRC-32 of the PCM16 frame it saw, priming calls included), the
  detector's per-frame flags and speech regions, the windows a :class:`edge_ser.stream.Stream`
  emits (sample indices, seconds, speech ratio, probabilities from a fake classifier), a
  summary of each window after :func:`edge_ser.preprocess.preprocess`, and the aggregate
  for every aggregation method.
* ``preprocess.json``: preprocessing of small edge-case inputs under several configs
  (full float32 outputs).
* ``wav.json`` + ``wav/*.wav``: hand-built WAV files and what ``edge_ser.audio`` decodes.
* ``metadata_raw.json``: a :class:`edge_ser.metadata.ModelMetadata` as the exporter writes it.

The fake classifier (:func:`fake_probabilities`) is a fixed function of window statistics
that ``FakeClassifier.kt`` computes identically, so the pipeline and the aggregation are
checked without ONNX Runtime on the JVM. It runs behind the runtime's own ``Model`` class
(through a stand-in session), so clipping, renormalisation and, for ``input_kind =
"preprocessed"``, the preprocessing step are the runtime's.

Usage::

    python android_demo/tools/make_golden.py            # rewrite the committed files
    python android_demo/tools/make_golden.py --out DIR --inputs-from GOLDEN_DIR

``--inputs-from`` reuses the audio and WAV files of an existing golden folder instead of
synthesising them, so a check compares only what the runtime computes (``np.sin`` may
differ by an ulp across platforms; the runtime's behaviour must not).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import math
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import numpy.typing as npt
import webrtcvad

from edge_ser.aggregation import aggregate
from edge_ser.audio import load_audio
from edge_ser.metadata import ModelMetadata, PreprocessingConfig
from edge_ser.model import Model
from edge_ser.options import AGGREGATIONS, AggregationOptions, ClassifierOptions
from edge_ser.preprocess import preprocess, trim_bounds
from edge_ser.stream import Stream
from edge_ser.vad import PRIME_MS, SpeechDetector
from edge_ser.windowing import WindowPlan

FORMAT_VERSION = 1
SAMPLE_RATE = 16_000
LABELS = ("anger", "happiness", "neutral", "sadness")
GOLDEN_DIR = Path(__file__).resolve().parents[1] / "core" / "src" / "test" / "resources" / "golden"
# Samples kept per preprocessed window (evenly strided), besides its CRC and sums.
PREPROCESS_SAMPLES = 48
# Python feeds files to a Stream in blocks of this many samples (edge_ser.audio.BLOCK_SECONDS).
BLOCK = 5 * SAMPLE_RATE

F32 = npt.NDArray[np.float32]

# -- the fake classifier (mirrored by FakeClassifier.kt) ------------------------------------

# logits = W @ [rms, zero-crossing rate, seconds, peak, 1]
FAKE_WEIGHTS = (
    (20.0, 0.0, 0.0, 0.0, -4.0),
    (0.0, 25.0, 0.0, 0.0, -3.0),
    (0.0, 0.0, 0.8, 0.0, -0.8),
    (0.0, 0.0, 0.0, 8.0, -4.0),
)


def fake_probabilities(x: F32, sample_rate: int = SAMPLE_RATE) -> F32:
    """Softmax of fixed linear functions of the window's statistics, in float64."""
    v = x.astype(np.float64)
    n = v.shape[0]
    rms = float(np.sqrt(np.sum(v * v) / n)) if n else 0.0
    zcr = float(np.count_nonzero((x[1:] < 0) != (x[:-1] < 0)) / (n - 1)) if n > 1 else 0.0
    peak = float(np.max(np.abs(v))) if n else 0.0
    features = np.array([rms, zcr, n / sample_rate, peak, 1.0])
    logits = np.array(FAKE_WEIGHTS) @ features
    e = np.exp(logits - logits.max())
    return np.asarray(e / e.sum(), dtype=np.float32)


class FakeSession:
    """Stands in for ``onnxruntime.InferenceSession`` behind the runtime's ``Model``."""

    def run(self, output_names: Sequence[str], feeds: dict[str, F32], *_: Any) -> list[F32]:
        (batch,) = feeds.values()
        return [np.stack([fake_probabilities(row) for row in batch])]


# -- synthetic audio ------------------------------------------------------------------------

Burst = tuple[float, float, int, float]  # start s, end s, pitch period in samples, gain


def synth(
    bursts: Sequence[Burst], seconds: float, noise_lsb: int = 2, seed: int = 0
) -> npt.NDArray[np.int16]:
    """Voiced bursts in faint noise, as int16.

    Each burst repeats one harmonic period exactly (so the stored audio compresses well)
    and replaces the noise; webrtcvad marks these bursts as speech.
    """
    n = round(seconds * SAMPLE_RATE)
    rng = np.random.default_rng(seed)
    y = rng.integers(-noise_lsb, noise_lsb + 1, n).astype(np.float64)
    for start, end, period, gain in bursts:
        a, b = round(start * SAMPLE_RATE), min(n, round(end * SAMPLE_RATE))
        phase = 2 * np.pi * np.arange(period) / period
        cycle = sum(np.sin(k * phase) / k for k in range(1, 12)) * gain * 32767
        y[a:b] = np.tile(cycle, (b - a) // period + 1)[: b - a]
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def noisy(x: npt.NDArray[np.int16], lsb: int, seed: int) -> npt.NDArray[np.int16]:
    rng = np.random.default_rng(seed)
    y = x.astype(np.int32) + rng.integers(-lsb, lsb + 1, x.shape[0])
    return np.asarray(np.clip(y, -32768, 32767), dtype=np.int16)


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    description: str
    make_audio: Callable[[], npt.NDArray[np.int16]]
    options: dict[str, Any]
    input_kind: str = "raw_pcm"
    max_window_s: float = 8.0
    min_input_samples: int = 400


def _speech_long() -> npt.NDArray[np.int16]:
    # One long region (gaps shorter than min_silence) longer than an 8 s window.
    bursts = [
        (0.30, 1.60, 100, 0.30),
        (1.75, 3.10, 125, 0.25),
        (3.25, 4.90, 80, 0.35),
        (5.00, 6.40, 110, 0.20),
        (6.55, 8.20, 90, 0.30),
        (8.35, 9.40, 140, 0.25),
    ]
    return synth(bursts, 9.8, seed=1)


CASES = (
    Case(
        "default_long",
        "default options (8 s windows): one long region, a full window and its tail",
        _speech_long,
        {},
    ),
    Case(
        "short_windows_tail",
        "1.5 s windows with 0.25 s overlap: grid windows, a slid-back tail, a short region "
        "extended backwards",
        lambda: synth(
            [(0.5, 2.3, 100, 0.3), (2.45, 4.0, 80, 0.2), (5.0, 5.25, 125, 0.3)], 5.6, seed=2
        ),
        {"window": {"window_s": 1.5, "overlap_s": 0.25, "min_window_s": 0.8}},
    ),
    Case(
        "frame10_aggressive",
        "10 ms frames, aggressiveness 3, short silences split regions, a blip below "
        "min_speech_ms is dropped",
        lambda: synth(
            [
                (0.3, 1.1, 90, 0.3),
                (1.3, 1.9, 120, 0.15),
                (2.3, 2.33, 100, 0.3),
                (2.7, 3.3, 70, 0.35),
            ],
            3.6,
            seed=3,
        ),
        {
            "vad": {
                "frame_ms": 10,
                "aggressiveness": 3,
                "min_speech_ms": 120,
                "min_silence_ms": 100,
                "speech_pad_ms": 50,
            },
            "window": {"window_s": 1.0, "min_window_s": 0.5},
            "aggregation": {"method": "confidence", "min_speech_ratio": 0.5},
        },
    ),
    Case(
        "frame20_noisy",
        "20 ms frames in background noise (exercises the webrtcvad warm-up)",
        lambda: noisy(synth([(0.5, 1.3, 100, 0.3), (1.8, 2.4, 150, 0.3)], 2.6, seed=4), 150, 5),
        {
            "vad": {"frame_ms": 20, "aggressiveness": 1},
            "window": {"window_s": 0.8, "overlap_s": 0.2, "min_window_s": 0.4},
            "aggregation": {"method": "vote"},
        },
    ),
    Case(
        "vad_disabled",
        "VAD off: the whole input is one region",
        lambda: synth([(0.2, 1.0, 100, 0.3), (1.6, 2.4, 80, 0.3)], 2.7, seed=6),
        {
            "vad": {"enabled": False},
            "window": {"window_s": 1.0, "overlap_s": 0.2, "min_window_s": 0.5},
            "aggregation": {"method": "mean"},
        },
    ),
    Case(
        "preprocessed_model",
        "a model without in-graph preprocessing: the pipeline preprocesses each window",
        lambda: synth([(0.3, 1.9, 100, 0.15), (2.1, 3.3, 125, 0.4)], 3.6, seed=7),
        {"window": {"window_s": 2.0, "min_window_s": 0.5}},
        input_kind="preprocessed",
    ),
    Case(
        "shorter_than_warmup",
        "0.15 s of speech: shorter than the VAD warm-up, classified at finish",
        lambda: synth([(0.0, 0.15, 100, 0.3)], 0.15, seed=8),
        {"window": {"min_window_s": 0.5}},
    ),
    Case(
        "too_short_for_model",
        "a 20 ms input: one window, shorter than the model's input, is skipped",
        lambda: synth([(0.0, 0.02, 100, 0.3)], 0.02, seed=9),
        {"vad": {"enabled": False}, "window": {"min_window_s": 0.01}},
        min_input_samples=400,
    ),
    Case(
        "energy_gate_off",
        "the energy floor turned off: webrtcvad alone judges the faint noise between bursts",
        lambda: synth([(0.3, 1.2, 100, 0.3), (2.0, 2.8, 125, 0.25)], 3.2, seed=11),
        {"vad": {"energy_floor_dbfs": None}},
    ),
    Case(
        "digital_silence_dc",
        "bursts in exact digital silence with a DC offset: the energy floor (mean removed) "
        "gates the gaps",
        lambda: np.asarray(
            np.clip(
                synth([(0.3, 1.2, 100, 0.3), (2.0, 2.8, 125, 0.25)], 3.2, noise_lsb=0).astype(
                    np.int32
                )
                + 3000,
                -32768,
                32767,
            ),
            dtype=np.int16,
        ),
        {"vad": {"energy_floor_dbfs": -60.0}},
    ),
    Case("silence", "faint noise only: no speech, no windows", lambda: synth([], 1.0, seed=10), {}),
    Case("empty", "no samples at all", lambda: np.zeros(0, dtype=np.int16), {}),
)


# -- encoding helpers -------------------------------------------------------------------------


def encode_int16(x: npt.NDArray[np.int16]) -> dict[str, Any]:
    raw = x.astype("<i2").tobytes()
    return {
        "encoding": "zlib+base64 int16le",
        "samples": int(x.shape[0]),
        "data": base64.b64encode(zlib.compress(raw, 9)).decode("ascii"),
    }


def decode_int16(obj: dict[str, Any]) -> npt.NDArray[np.int16]:
    raw = zlib.decompress(base64.b64decode(obj["data"]))
    x = np.frombuffer(raw, dtype="<i2").astype(np.int16)
    if x.shape[0] != obj["samples"]:
        raise ValueError(f"audio holds {x.shape[0]} samples, header says {obj['samples']}")
    return x


def encode_f32(x: F32) -> str:
    return base64.b64encode(np.ascontiguousarray(x, dtype="<f4").tobytes()).decode("ascii")


def decode_f32(text: str) -> F32:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float32)


def crc_f32(x: F32) -> int:
    return zlib.crc32(np.ascontiguousarray(x, dtype="<f4").tobytes())


def to_float(pcm: npt.NDArray[np.int16]) -> F32:
    """int16 -> float32 exactly as ``CoreAudio.pcm16ToFloat`` does (x / 32768)."""
    return pcm.astype(np.float32) / np.float32(32768.0)


# -- recording webrtcvad ----------------------------------------------------------------------


class RecordingVad:
    """Wraps ``webrtcvad.Vad`` and records each call's frame CRC and decision."""

    def __init__(self, real: Any, log: list[tuple[int, bool]]) -> None:
        self._real = real
        self._log = log

    def is_speech(self, frame: bytes, sample_rate: int) -> bool:
        decision = bool(self._real.is_speech(frame, sample_rate))
        self._log.append((zlib.crc32(frame), decision))
        return decision


@contextmanager
def recording_vad() -> Iterator[list[list[tuple[int, bool]]]]:
    """While active, every ``webrtcvad.Vad`` the runtime creates records its calls."""
    logs: list[list[tuple[int, bool]]] = []
    real_cls = webrtcvad.Vad

    def factory(*args: Any) -> RecordingVad:
        log: list[tuple[int, bool]] = []
        logs.append(log)
        return RecordingVad(real_cls(*args), log)

    with mock.patch.object(webrtcvad, "Vad", factory):
        yield logs


# -- one stream case ---------------------------------------------------------------------------


def metadata_for(case: Case) -> ModelMetadata:
    return ModelMetadata(
        labels=LABELS,
        sample_rate=SAMPLE_RATE,
        max_window_s=case.max_window_s,
        min_input_samples=case.min_input_samples,
        input_name="waveform" if case.input_kind == "raw_pcm" else "input_values",
        input_kind=case.input_kind,  # type: ignore[arg-type]
        preprocessing=PreprocessingConfig(),
    )


def run_stream(
    model: Model, options: ClassifierOptions, plan: WindowPlan, x: F32, chunk: int
) -> tuple[Any, list[list[tuple[int, bool]]]]:
    with recording_vad() as logs:
        stream = Stream(model, options, plan, SAMPLE_RATE)
        for i in range(0, x.shape[0], chunk):
            stream.accept_waveform(x[i : i + chunk])
        return stream.finish(), logs


def run_detector(options: ClassifierOptions, x: F32) -> dict[str, Any]:
    with recording_vad() as logs:
        det = SpeechDetector(options.vad, SAMPLE_RATE)
        flags: list[bool] = []
        regions: list[list[int]] = []
        for i in range(0, x.shape[0], BLOCK):
            f, done = det.push(x[i : i + BLOCK])
            flags += [bool(v) for v in f]
            regions += [[r.start, r.end] for r in done]
        f, done = det.finish(int(x.shape[0]))
        flags += [bool(v) for v in f]
        regions += [[r.start, r.end] for r in done]
    calls = logs[0] if logs else []
    n = det.frame_length
    prime = min(math.ceil(PRIME_MS / options.vad.frame_ms), x.shape[0] // n) if calls else 0
    # Frames under the energy floor are not shown to webrtcvad.
    gated = len(flags) - (len(calls) - prime) if options.vad.enabled else 0
    return {
        "frame_length": det.frame_length,
        "flags": "".join("1" if v else "0" for v in flags),
        "regions": regions,
        "vad_calls": {
            "count": len(calls),
            "prime_calls": prime,
            "gated_frames": gated,
            "decisions": "".join("1" if d else "0" for _, d in calls),
            "crc32": [c for c, _ in calls],
        },
    }


def summarize_preprocessed(window: F32, config: PreprocessingConfig) -> dict[str, Any]:
    y = preprocess(window, config)
    start, end = trim_bounds(window, config.trim_top_db, config.trim_frame_length)
    stride = max(1, y.shape[0] // PREPROCESS_SAMPLES)
    y64 = y.astype(np.float64)
    return {
        "length": int(y.shape[0]),
        "trim": [start, end],
        "crc32": crc_f32(y),
        "sum": float(np.sum(y64)),
        "sum_sq": float(np.sum(y64 * y64)),
        "stride": stride,
        "samples": [float(v) for v in y[::stride]],
    }


def _seconds_to_sample(t: float) -> int:
    return round(t * SAMPLE_RATE)


def stream_case(case: Case, pcm: npt.NDArray[np.int16]) -> dict[str, Any]:
    options = ClassifierOptions.from_dict(case.options)
    md = metadata_for(case)
    plan = WindowPlan.from_options(options.window, md.max_window_s, md.sample_rate)
    model = Model(session=FakeSession(), metadata=md, source="fake")
    x = to_float(pcm)

    result, logs = run_stream(model, options, plan, x, BLOCK)
    # The runtime promises chunk-size independence; the Kotlin tests rely on it.
    for chunk in (333, 4096):
        other, _ = run_stream(model, options, plan, x, chunk)
        if other.to_dict() != result.to_dict():
            raise AssertionError(f"{case.name}: Python stream result depends on chunk size")
    detector = run_detector(options, x)
    stream_calls = logs[0] if logs else []
    if [c for c, _ in stream_calls] != detector["vad_calls"]["crc32"]:
        raise AssertionError(f"{case.name}: stream and detector fed webrtcvad differently")

    windows = []
    preprocessed = []
    for w in result.windows:
        s, e = _seconds_to_sample(w.start), _seconds_to_sample(w.end)
        probs = [float(w.scores[k]) for k in LABELS]
        top = sorted(probs, reverse=True)
        if top[0] - top[1] < 1e-4:  # keep labels robust to float differences
            raise AssertionError(f"{case.name}: window {s}-{e} has a near-tie {top[:2]}")
        windows.append(
            {
                "start_sample": s,
                "end_sample": e,
                "start": w.start,
                "end": w.end,
                "speech_ratio": w.speech_ratio,
                "label": w.label,
                "probabilities": probs,
            }
        )
        preprocessed.append(summarize_preprocessed(x[s:e], md.preprocessing))

    aggregates = []
    for method in AGGREGATIONS:
        for ratio in (0.0, options.aggregation.min_speech_ratio, 0.9):
            agg = AggregationOptions(method=method, min_speech_ratio=ratio)  # type: ignore[arg-type]
            label, scores = aggregate(result.windows, LABELS, agg)
            aggregates.append(
                {
                    "method": method,
                    "min_speech_ratio": ratio,
                    "label": label,
                    "scores": [scores[k] for k in LABELS] if scores else [],
                }
            )

    return {
        "format_version": FORMAT_VERSION,
        "name": case.name,
        "description": case.description,
        "sample_rate": SAMPLE_RATE,
        "metadata": md.to_dict(),
        "options": {
            "vad": dataclasses.asdict(options.vad),
            "window": dataclasses.asdict(options.window),
            "aggregation": dataclasses.asdict(options.aggregation),
        },
        "plan": {"window": plan.window, "hop": plan.hop, "min_window": plan.min_window},
        "audio": encode_int16(pcm),
        **detector,
        "windows": windows,
        "preprocessed": preprocessed,
        "speech_regions": [[r.start, r.end] for r in result.speech_regions],
        "result": {
            "label": result.label,
            "scores": [result.scores[k] for k in LABELS] if result.scores else [],
            "duration": result.duration,
            "speech_duration": result.speech_duration,
            "aggregation": result.aggregation,
        },
        "aggregates": aggregates,
    }


# -- scripted VAD decisions: the region logic at its boundaries ------------------------------


class ScriptedVad:
    """A stand-in ``webrtcvad.Vad`` that answers from a fixed script (then "no speech")."""

    def __init__(self, script: str) -> None:
        self._script = script
        self.calls = 0

    def is_speech(self, frame: bytes, sample_rate: int) -> bool:
        decision = self.calls < len(self._script) and self._script[self.calls] == "1"
        self.calls += 1
        return decision


@contextmanager
def scripted_vad(script: str) -> Iterator[list[ScriptedVad]]:
    made: list[ScriptedVad] = []

    def factory(*args: Any) -> ScriptedVad:
        made.append(ScriptedVad(script))
        return made[-1]

    with mock.patch.object(webrtcvad, "Vad", factory):
        yield made


def _pattern(*parts: tuple[str, int]) -> str:
    return "".join(bit * count for bit, count in parts)


# (name, options, decisions for the priming calls and then every frame, extra samples)
# With 30 ms frames: min_speech 90 ms = 3 frames, min_silence 300 ms = 10 frames.
SCRIPT_CASES: tuple[tuple[str, dict[str, Any], str, int], ...] = (
    (
        "gaps_at_min_silence",
        # pad 60 ms: regions 10 frames apart do not merge through their padding
        {
            "vad": {"speech_pad_ms": 60},
            "window": {"window_s": 1.0, "overlap_s": 0.25, "min_window_s": 0.5},
        },
        _pattern(
            ("1", 7),
            ("1", 20),
            ("0", 10),
            ("1", 20),
            ("0", 9),
            ("1", 20),
            ("0", 12),
            ("1", 2),
            ("0", 11),
            ("1", 3),
            ("0", 30),
            ("1", 5),
        ),
        100,
    ),
    (
        "blips_default_options",
        {"window": {"window_s": 0.9, "min_window_s": 0.6}},
        _pattern(
            ("0", 7),
            ("1", 10),
            ("0", 5),
            ("1", 2),
            ("0", 20),
            ("1", 2),
            ("0", 10),
            ("1", 1),
            ("0", 1),
            ("1", 1),
            ("0", 1),
            ("1", 1),
            ("0", 40),
            ("1", 60),
            # gaps of 10 and 11 frames: padded regions touch (merge), then do not
            ("0", 10),
            ("1", 5),
            ("0", 11),
            ("1", 4),
            ("0", 3),
        ),
        479,
    ),
    (
        "frame10_long_region",
        {
            "vad": {"frame_ms": 10, "min_speech_ms": 30, "min_silence_ms": 50, "speech_pad_ms": 0},
            "window": {"window_s": 0.5, "overlap_s": 0.1, "min_window_s": 0.2},
            "aggregation": {"min_speech_ratio": 0.8},
        },
        _pattern(
            ("1", 20),
            ("0", 3),
            ("1", 150),
            ("0", 4),
            ("1", 37),
            ("0", 5),
            ("1", 2),
            ("0", 5),
            ("1", 3),
            ("0", 60),
        ),
        0,
    ),
)


def vad_script_case(
    name: str, raw_options: dict[str, Any], script: str, extra: int
) -> dict[str, Any]:
    # The audio is digital silence and the decisions are scripted: the energy floor is off.
    vad = {"energy_floor_dbfs": None, **raw_options.get("vad", {})}
    options = ClassifierOptions.from_dict({**raw_options, "vad": vad})
    md = metadata_for(CASES[0])
    plan = WindowPlan.from_options(options.window, md.max_window_s, md.sample_rate)
    n = SAMPLE_RATE * options.vad.frame_ms // 1000
    prime = math.ceil(PRIME_MS / options.vad.frame_ms)  # calls before frame 0
    frames = len(script) - prime
    x = np.zeros(frames * n + extra, dtype=np.float32)
    with scripted_vad(script):
        det = SpeechDetector(options.vad, SAMPLE_RATE)
        flags, regions = det.push(x)
        f2, r2 = det.finish(int(x.shape[0]))
    model = Model(session=FakeSession(), metadata=md, source="fake")
    with scripted_vad(script):
        stream = Stream(model, options, plan, SAMPLE_RATE)
        for i in range(0, x.shape[0], 1000):
            stream.accept_waveform(x[i : i + 1000])
        result = stream.finish()
    return {
        "name": name,
        "options": {
            "vad": dataclasses.asdict(options.vad),
            "window": dataclasses.asdict(options.window),
            "aggregation": dataclasses.asdict(options.aggregation),
        },
        "samples": int(x.shape[0]),
        "decisions": script,
        "prime_calls": prime,
        "flags": "".join("1" if v else "0" for v in np.concatenate([flags, f2])),
        "regions": [[r.start, r.end] for r in regions + r2],
        "windows": [
            {
                "start_sample": _seconds_to_sample(w.start),
                "end_sample": _seconds_to_sample(w.end),
                "speech_ratio": w.speech_ratio,
            }
            for w in result.windows
        ],
    }


# -- preprocessing edge cases ------------------------------------------------------------------


def _preprocess_inputs() -> list[tuple[str, F32, PreprocessingConfig]]:
    rng = np.random.default_rng(42)
    n = 1800  # three 512-sample frames and a partial one
    t = np.arange(n) / SAMPLE_RATE
    tone = (0.4 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    quiet = (0.001 * rng.standard_normal(n)).astype(np.float32)
    loud_middle = quiet.copy()
    loud_middle[600:1200] = tone[600:1200]
    loud_tail = quiet.copy()
    loud_tail[1600:] = tone[1600:]  # loud only in the partial last frame
    default = PreprocessingConfig()
    return [
        ("loud_middle", loud_middle, default),
        ("loud_in_partial_last_frame", loud_tail, default),
        ("all_zero", np.zeros(1000, dtype=np.float32), default),
        ("empty", np.zeros(0, dtype=np.float32), default),
        ("below_normalise_floor", (1e-9 * tone[:700]).astype(np.float32), default),
        ("shorter_than_frame", tone[:100].copy(), default),
        ("single_sample", np.array([0.25], dtype=np.float32), default),
        ("no_trim", loud_middle, dataclasses.replace(default, trim_top_db=0.0)),
        ("no_pre_emphasis", loud_middle, dataclasses.replace(default, pre_emphasis=0.0)),
        ("no_normalise", loud_middle, dataclasses.replace(default, peak_normalize=False)),
        (
            "peak_half_frame256_30db",
            loud_middle,
            PreprocessingConfig(trim_top_db=30.0, trim_frame_length=256, peak=0.5),
        ),
        ("noise_only", quiet, default),
    ]


def preprocess_cases(inputs: dict[str, str] | None) -> dict[str, Any]:
    cases = []
    for name, x, config in _preprocess_inputs():
        if inputs is not None:
            x = decode_f32(inputs[name])
        y = preprocess(x, config)
        cases.append(
            {
                "name": name,
                "config": dataclasses.asdict(config),
                "input": encode_f32(x),
                "trim": list(trim_bounds(x, config.trim_top_db, config.trim_frame_length)),
                "output": encode_f32(y),
            }
        )
    return {"format_version": FORMAT_VERSION, "cases": cases}


# -- WAV files -------------------------------------------------------------------------------


def _chunk(tag: bytes, body: bytes) -> bytes:
    pad = b"\x00" if len(body) % 2 else b""
    return tag + struct.pack("<I", len(body)) + body + pad


def wav_bytes(
    frames: npt.NDArray[Any],
    rate: int,
    fmt_tag: int,
    bits: int,
    extensible: bool = False,
    extra_chunk: bool = False,
) -> bytes:
    """A RIFF/WAVE file for ``frames`` ((n, channels), already in the stored sample type)."""
    channels = frames.shape[1]
    block = channels * bits // 8
    if extensible:
        sub = struct.pack("<I", fmt_tag) + b"\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = struct.pack("<HHIIHH", 0xFFFE, channels, rate, rate * block, block, bits)
        fmt += struct.pack("<HHI", 22, bits, (1 << channels) - 1) + sub
    else:
        fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    if bits == 24:
        ints = frames.astype(np.int32).reshape(-1)
        data = b"".join(struct.pack("<i", int(v))[:3] for v in ints)
    else:
        data = np.ascontiguousarray(frames).tobytes()
    body = b"WAVE" + _chunk(b"fmt ", fmt)
    if extra_chunk:
        body += _chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00edge\x00\x00")  # odd size: padded
    body += _chunk(b"data", data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _wav_specs() -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(7)
    n = 300
    t = np.arange(n) / 16000
    a = 0.6 * np.sin(2 * np.pi * 440 * t)
    b = 0.3 * np.sin(2 * np.pi * 97 * t + 1.0)
    stereo = np.stack([a, b], axis=1)
    i16 = np.round(stereo * 32767).astype("<i2")
    i16[0] = (-32768, 32767)
    i24 = np.round(stereo * 8388607).astype(np.int32)
    i32 = (np.round(stereo * 2147483000) + rng.integers(-100, 100, stereo.shape)).astype("<i4")
    u8 = (np.round(stereo * 127) + 128).astype(np.uint8)
    f32 = (stereo * 1.1).astype("<f4")
    f64 = stereo.astype("<f8")
    quad = np.round(np.concatenate([stereo, stereo[:, ::-1] * 0.5], axis=1) * 32767).astype("<i2")
    return [
        ("pcm16_mono_16k.wav", wav_bytes(i16[:, :1], 16000, 1, 16)),
        ("pcm16_stereo_44k1_list.wav", wav_bytes(i16, 44100, 1, 16, extra_chunk=True)),
        ("pcm24_stereo_16k.wav", wav_bytes(i24, 16000, 1, 24)),
        ("pcm32_mono_48k.wav", wav_bytes(i32[:, :1], 48000, 1, 32)),
        ("pcm8_stereo_8k.wav", wav_bytes(u8, 8000, 1, 8)),
        ("float32_stereo_16k.wav", wav_bytes(f32, 16000, 3, 32)),
        ("float64_mono_22k05.wav", wav_bytes(f64[:, :1], 22050, 3, 64)),
        ("pcm16_quad_extensible_16k.wav", wav_bytes(quad, 16000, 1, 16, extensible=True)),
    ]


def wav_cases(out_dir: Path, inputs_dir: Path | None) -> dict[str, Any]:
    import soundfile as sf

    wav_dir = out_dir / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    cases = []
    for name, data in _wav_specs():
        path = wav_dir / name
        if inputs_dir is not None:
            data = (inputs_dir / "wav" / name).read_bytes()
        path.write_bytes(data)
        info = sf.info(str(path))
        rate = int(info.samplerate)
        decoded = load_audio(path, target_rate=rate)  # the runtime's decode path, no resampling
        cases.append(
            {
                "file": f"wav/{name}",
                "sample_rate": rate,
                "channels": int(info.channels),
                "frames": int(info.frames),
                "mono": encode_f32(decoded),
            }
        )
    return {"format_version": FORMAT_VERSION, "cases": cases}


# -- driver -------------------------------------------------------------------------------------


def build(out_dir: Path, inputs_dir: Path | None = None) -> list[Path]:
    """Write every golden file into ``out_dir``; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def dump(name: str, obj: Any) -> None:
        path = out_dir / name
        path.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)

    names = []
    for case in CASES:
        file = f"stream_{case.name}.json"
        if inputs_dir is not None and (inputs_dir / file).is_file():
            old = json.loads((inputs_dir / file).read_text(encoding="utf-8"))
            pcm = decode_int16(old["audio"])
        else:
            pcm = case.make_audio()
        dump(file, stream_case(case, pcm))
        names.append(case.name)

    pre_inputs = None
    if inputs_dir is not None:
        old = json.loads((inputs_dir / "preprocess.json").read_text(encoding="utf-8"))
        pre_inputs = {c["name"]: c["input"] for c in old["cases"]}
    dump("preprocess.json", preprocess_cases(pre_inputs))
    dump(
        "vad_script.json",
        {
            "format_version": FORMAT_VERSION,
            "cases": [vad_script_case(*c) for c in SCRIPT_CASES],
        },
    )
    dump("wav.json", wav_cases(out_dir, inputs_dir))
    written += sorted((out_dir / "wav").glob("*.wav"))

    md = dataclasses.replace(
        metadata_for(CASES[0]), quantization="static", extra={"source": "make_golden.py"}
    )
    dump("metadata_raw.json", md.to_dict())
    dump(
        "index.json",
        {
            "format_version": FORMAT_VERSION,
            "generator": "android_demo/tools/make_golden.py",
            "labels": list(LABELS),
            "fake_weights": [list(r) for r in FAKE_WEIGHTS],
            "stream_cases": names,
        },
    )
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=GOLDEN_DIR, help="folder to write")
    parser.add_argument(
        "--inputs-from",
        type=Path,
        default=None,
        help="reuse the audio and WAV inputs of this golden folder instead of synthesising them",
    )
    args = parser.parse_args(argv)
    written = build(args.out, args.inputs_from)
    total = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} files, {total / 1024:.0f} KiB, to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
