"""Training data: decoded audio in memory, batches of equal-length crops (numpy only).

The model input is made exactly as the runtime makes it: audio at 16 kHz through
:func:`edge_ser.audio.load_audio`, a window of at most ``max_seconds`` (8 s, the paper's
maximum), then :func:`edge_ser.preprocess.preprocess` (20 dB trim, pre-emphasis, peak
normalisation) on that window.

* Audio is decoded once and kept trimmed in memory (:class:`AudioStore`); the trim of a whole
  utterance equals the trim of a window holding all of it.
* Training takes a random crop of at most ``max_seconds`` per utterance and epoch.
* Evaluation takes the centre ``max_seconds``.
* Batches hold crops of *equal length* (no zero padding): DistilHuBERT's first conv layer
  group-normalises over the whole input, so padding would change what the model sees
  (and the runtime never pads). Utterances are grouped by length (with per-epoch jitter,
  so batches vary) and each batch is cut to its shortest member.
* Optional augmentation (:class:`AugmentOptions`), each applied with probability
  ``probability``: speed (resampling by linear interpolation: tempo and pitch change
  together), a random equaliser curve and band limit (another microphone or channel), a
  synthetic room's reverberation, gain, additive white or coloured noise at a random SNR.
  With peak normalisation on (the default recipe) gain alone is undone; it matters
  relative to the noise and for recipes without peak normalisation.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge_ser.errors import EdgeSerError, TrainingError
from edge_ser.metadata import PreprocessingConfig
from edge_ser.preprocess import peak_normalize, preprocess, trim_silence

from .corpora import Record
from .progress import Progress

__all__ = [
    "DEFAULT_AUGMENT",
    "AudioStore",
    "AugmentOptions",
    "Batch",
    "augment_waveform",
    "balanced_weights",
    "eval_input",
    "make_batch",
    "n_batches",
    "train_batches",
]

logger = logging.getLogger("edge_ser.train")

FloatArray = npt.NDArray[np.float32]
SAMPLE_RATE = 16_000
MIN_SAMPLES = 400  # DistilHuBERT's conv receptive field


def _check_range(name: str, value: tuple[float, float] | None, lo: float, hi: float) -> None:
    if value is None:
        return
    if len(value) != 2 or not (lo <= value[0] <= value[1] <= hi):
        raise TrainingError(
            f"AugmentOptions.{name} must be a (low, high) pair within [{lo}, {hi}], got {value!r}"
        )


@dataclass(frozen=True)
class AugmentOptions:
    """Training-time augmentation; every transform is off unless its range is given.

    Attributes:
        probability: the chance that each enabled transform is applied to an utterance.
        speed: (low, high) speed factor, e.g. (0.9, 1.1).
        gain_db: (low, high) gain in dB.
        noise_snr_db: (low, high) signal-to-noise ratio of added noise, in dB.
        noise_colors: spectral slopes of that noise to draw from: 0 white, 1 pink, 2 brown.
        eq_db: largest gain, in dB either way, of a random smooth equaliser curve (a
            different microphone or channel), or ``None`` for none.
        band_limit: also draw a random telephone-like band limit (high-pass 50-300 Hz,
            low-pass 3.4-8 kHz) with the EQ.
        reverb_rt60: (low, high) reverberation time in seconds of a synthetic room
            (exponentially decaying noise), or ``None`` for none.
    """

    probability: float = 0.5
    speed: tuple[float, float] | None = None
    gain_db: tuple[float, float] | None = None
    noise_snr_db: tuple[float, float] | None = None
    noise_colors: tuple[float, ...] = (0.0,)
    eq_db: float | None = None
    band_limit: bool = False
    reverb_rt60: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "noise_colors", tuple(float(c) for c in self.noise_colors))
        if not self.noise_colors or not all(0.0 <= c <= 2.0 for c in self.noise_colors):
            raise TrainingError(
                f"AugmentOptions.noise_colors must be slopes in [0, 2], got {self.noise_colors!r}"
            )
        if self.eq_db is not None and not (0.0 < float(self.eq_db) <= 24.0):
            raise TrainingError(f"AugmentOptions.eq_db must be in (0, 24], got {self.eq_db!r}")
        for name in ("speed", "gain_db", "noise_snr_db", "reverb_rt60"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(float(v) for v in value))
        if not (0.0 <= self.probability <= 1.0):
            raise TrainingError(
                f"AugmentOptions.probability must be in [0, 1], got {self.probability!r}"
            )
        _check_range("speed", self.speed, 0.5, 2.0)
        _check_range("gain_db", self.gain_db, -40.0, 40.0)
        _check_range("noise_snr_db", self.noise_snr_db, -10.0, 100.0)
        _check_range("reverb_rt60", self.reverb_rt60, 0.05, 3.0)

    @property
    def enabled(self) -> bool:
        return self.probability > 0 and any(
            v is not None
            for v in (self.speed, self.gain_db, self.noise_snr_db, self.eq_db, self.reverb_rt60)
        )


# ``--augment``: another voice (speed), microphone or channel (EQ, band limit), room and noise.
DEFAULT_AUGMENT = AugmentOptions(
    probability=0.5,
    speed=(0.9, 1.1),
    noise_snr_db=(10.0, 40.0),
    noise_colors=(0.0, 1.0, 2.0),
    eq_db=6.0,
    band_limit=True,
    reverb_rt60=(0.15, 0.6),
)


class AudioStore:
    """Decoded, silence-trimmed audio of a list of records, kept in memory.

    Files that cannot be decoded, or that hold less than ``MIN_SAMPLES`` after trimming, are
    left out with a warning; :attr:`records` lists those kept.
    """

    def __init__(
        self,
        records: Sequence[Record],
        preprocessing: PreprocessingConfig,
        *,
        workers: int | None = None,
        progress: bool = False,
    ) -> None:
        self.preprocessing = preprocessing
        unique = list(dict.fromkeys(r.path for r in records))
        n_workers = workers or min(8, os.cpu_count() or 1)
        bar = Progress(len(unique), "loading audio", enabled=progress)
        audio: dict[Path, FloatArray] = {}
        failed: list[str] = []

        def load(path: Path) -> tuple[Path, FloatArray | None, str | None]:
            from edge_ser.audio import load_audio

            try:
                x = load_audio(path, target_rate=SAMPLE_RATE)
            except EdgeSerError as exc:
                return path, None, str(exc)
            x = trim_silence(x, preprocessing.trim_top_db, preprocessing.trim_frame_length)
            if x.shape[0] < MIN_SAMPLES:
                return path, None, f"{path}: shorter than {MIN_SAMPLES} samples after trimming"
            return path, np.ascontiguousarray(x, dtype=np.float32), None

        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            for path, x, error in pool.map(load, unique):
                bar.update(1)
                if x is None:
                    failed.append(error or str(path))
                else:
                    audio[path] = x
        bar.close()
        for message in failed[:5]:
            logger.warning("skipped: %s", message)
        if len(failed) > 5:
            logger.warning("skipped %d more files", len(failed) - 5)
        self.records: tuple[Record, ...] = tuple(r for r in records if r.path in audio)
        self.failed: tuple[str, ...] = tuple(failed)
        self._audio = audio
        if not self.records:
            raise TrainingError("no usable audio: every file failed to load")

    def __len__(self) -> int:
        return len(self.records)

    def audio(self, record: Record) -> FloatArray:
        return self._audio[record.path]

    def seconds(self) -> float:
        return float(sum(x.shape[0] for x in self._audio.values()) / SAMPLE_RATE)


@dataclass(frozen=True)
class Batch:
    """Model inputs ``[batch, samples]`` (preprocessed) and label ids ``[batch]``."""

    inputs: FloatArray
    labels: npt.NDArray[np.int64]


def _crop(x: FloatArray, length: int, rng: np.random.Generator | None) -> FloatArray:
    """A ``length`` crop: random with ``rng``, else centred. Shorter input is returned whole."""
    if x.shape[0] <= length:
        return x
    extra = x.shape[0] - length
    start = int(rng.integers(0, extra + 1)) if rng is not None else extra // 2
    return x[start : start + length]


def _change_speed(x: FloatArray, factor: float) -> FloatArray:
    n = max(MIN_SAMPLES, round(x.shape[0] / factor))
    positions = np.linspace(0.0, x.shape[0] - 1, n)
    return np.interp(positions, np.arange(x.shape[0]), x).astype(np.float32)


def _random_eq(
    x: FloatArray, max_db: float, band_limit: bool, rng: np.random.Generator
) -> FloatArray:
    """A random smooth zero-phase EQ curve (gains at 8 log-spaced frequencies, interpolated
    over log frequency), optionally with a random band limit, applied in the FFT domain."""
    n = x.shape[0]
    spectrum = np.fft.rfft(x.astype(np.float64), 2 * n)
    freqs = np.fft.rfftfreq(2 * n, 1.0 / SAMPLE_RATE)
    log_f = np.log(np.maximum(freqs, 20.0))
    anchors = np.log(np.geomspace(60.0, 7600.0, 8))
    gain_db = np.interp(log_f, anchors, rng.uniform(-max_db, max_db, anchors.size))
    gain = 10.0 ** (gain_db / 20.0)
    if band_limit and rng.random() < 0.5:
        high_pass = rng.uniform(50.0, 300.0)
        low_pass = rng.uniform(3400.0, 8000.0)
        gain = gain / np.sqrt(1.0 + (high_pass / np.maximum(freqs, 1.0)) ** 4)
        gain = gain / np.sqrt(1.0 + (freqs / low_pass) ** 8)
    return np.fft.irfft(spectrum * gain, 2 * n)[:n].astype(np.float32)


def _reverb(x: FloatArray, rt60: float, rng: np.random.Generator) -> FloatArray:
    """Convolve with a synthetic room: a direct path plus exponentially decaying noise."""
    length = max(2, int(rt60 * SAMPLE_RATE))
    t = np.arange(length) / SAMPLE_RATE
    tail = rng.standard_normal(length) * np.exp(-6.9 * t / rt60)
    tail[0] = 0.0
    ir = tail * (rng.uniform(0.1, 0.6) / (np.sqrt(np.sum(tail**2)) + 1e-12))
    ir[0] = 1.0
    size = x.shape[0] + length
    wet = np.fft.irfft(np.fft.rfft(x.astype(np.float64), size) * np.fft.rfft(ir, size), size)
    return wet[: x.shape[0]].astype(np.float32)


def _colored_noise(n: int, slope: float, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Unit-RMS noise whose power falls as ``1 / f**slope`` (0 white, 1 pink, 2 brown)."""
    noise = rng.standard_normal(n)
    if slope != 0.0:
        freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
        noise = np.fft.irfft(np.fft.rfft(noise) / np.maximum(freqs, 20.0) ** (slope / 2.0), n)
    rms = float(np.sqrt(np.mean(noise**2)))
    return noise / rms if rms > 0 else noise


def _augment_crop(x: FloatArray, augment: AugmentOptions, rng: np.random.Generator) -> FloatArray:
    """Channel and room transforms of one crop: EQ, reverberation, gain, then noise."""
    y = x
    if augment.eq_db is not None and rng.random() < augment.probability:
        y = _random_eq(y, float(augment.eq_db), augment.band_limit, rng)
    if augment.reverb_rt60 is not None and rng.random() < augment.probability:
        y = _reverb(y, float(rng.uniform(*augment.reverb_rt60)), rng)
    if augment.gain_db is not None and rng.random() < augment.probability:
        y = y * np.float32(10.0 ** (rng.uniform(*augment.gain_db) / 20.0))
    if augment.noise_snr_db is not None and rng.random() < augment.probability:
        rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
        noise_rms = rms / 10.0 ** (rng.uniform(*augment.noise_snr_db) / 20.0)
        slope = augment.noise_colors[int(rng.integers(0, len(augment.noise_colors)))]
        y = y + (noise_rms * _colored_noise(y.shape[0], slope, rng)).astype(np.float32)
    return y.astype(np.float32, copy=False)


def augment_waveform(
    x: FloatArray, augment: AugmentOptions, rng: np.random.Generator
) -> FloatArray:
    """Every enabled transform of ``augment`` on a whole (raw, 16 kHz) utterance: speed,
    then the channel and room transforms. Not preprocessed."""
    if augment.speed is not None and rng.random() < augment.probability:
        x = _change_speed(x, float(rng.uniform(*augment.speed)))
    return _augment_crop(x, augment, rng) if augment.enabled else x


def _fit_length(x: FloatArray, length: int, rng: np.random.Generator | None) -> FloatArray:
    if x.shape[0] >= length:
        return _crop(x, length, rng)
    return np.pad(x, (0, length - x.shape[0]))


def make_batch(
    store: AudioStore,
    records: Sequence[Record],
    label_ids: dict[str, int],
    max_samples: int,
    rng: np.random.Generator,
    augment: AugmentOptions | None = None,
) -> Batch:
    """One training batch: random crops, augmentation, preprocessing, equal length."""
    config = store.preprocessing
    waves: list[FloatArray] = []
    for r in records:
        x = store.audio(r)
        if augment is not None and augment.speed is not None and rng.random() < augment.probability:
            x = _change_speed(x, float(rng.uniform(*augment.speed)))
        x = _crop(x, max_samples, rng)
        if augment is not None and augment.enabled:
            x = _augment_crop(x, augment, rng)
        waves.append(preprocess(x, config))
    length = max(MIN_SAMPLES, min(w.shape[0] for w in waves))
    rows = []
    for w in waves:
        y = _fit_length(w, length, rng)
        if y.shape[0] < w.shape[0] and config.peak_normalize:
            y = peak_normalize(y, config.peak)
        rows.append(y)
    return Batch(
        inputs=np.stack(rows).astype(np.float32, copy=False),
        labels=np.array([label_ids[r.label] for r in records], dtype=np.int64),
    )


def train_batches(
    store: AudioStore,
    records: Sequence[Record],
    label_ids: dict[str, int],
    batch_size: int,
    max_samples: int,
    rng: np.random.Generator,
    augment: AugmentOptions | None = None,
) -> Iterator[Batch]:
    """One epoch of batches of similar-length utterances, in random batch order."""
    lengths = np.array([min(store.audio(r).shape[0], max_samples) for r in records], dtype=float)
    # Jitter the lengths so batch membership changes between epochs.
    order = np.argsort(lengths * rng.uniform(0.85, 1.15, size=len(records)), kind="stable")
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    for j in rng.permutation(len(chunks)):
        yield make_batch(
            store, [records[int(i)] for i in chunks[j]], label_ids, max_samples, rng, augment
        )


def balanced_weights(records: Sequence[Record], by_corpus: bool = True) -> npt.NDArray[np.float64]:
    """Sample weights summing to 1, equal for every (corpus, label) cell (or every record).

    Without them a corpus with many utterances from few speakers (TESS: 1,600 from 2 women)
    would dominate training, and a model would learn its speakers instead of emotion.
    """
    if not records:
        raise TrainingError("no training records to weight")
    if not by_corpus:
        return np.full(len(records), 1.0 / len(records))
    keys = [(r.corpus, r.label) for r in records]
    counts = Counter(keys)
    w: npt.NDArray[np.float64] = np.array([1.0 / counts[key] for key in keys], dtype=np.float64)
    w /= w.sum()
    return w


def n_batches(n_records: int, batch_size: int) -> int:
    return -(-n_records // batch_size)


def eval_input(x: FloatArray, max_samples: int, config: PreprocessingConfig) -> FloatArray:
    """The evaluation input of one utterance: its centre ``max_samples``, preprocessed."""
    y = preprocess(_crop(x, max_samples, None), config)
    return _fit_length(y, MIN_SAMPLES, None) if y.shape[0] < MIN_SAMPLES else y
