"""Speech windows for calibration and parity checks.

Windows are cut the way the runtime cuts them: consecutive crops of at most
``max_window_s`` from each file (a short file is one window). They are returned raw; the
caller preprocesses them (the classifier graph) or not (the raw-PCM graph).
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge_ser.errors import AudioError, ExportError
from edge_ser.metadata import PreprocessingConfig
from edge_ser.preprocess import preprocess

__all__ = [
    "SpeechWindows",
    "cut_windows",
    "find_audio_files",
    "fixed_length_windows",
    "load_windows",
    "model_input",
    "select_windows",
    "split_files",
    "synthetic_speech",
]

logger = logging.getLogger("edge_ser.export")

FloatArray = npt.NDArray[np.float32]

# Synthetic parity windows when no speech is given: short, medium and a full 8 s window.
SYNTHETIC_SECONDS = (3.0, 8.0, 1.5, 5.0, 2.0, 6.5)


@dataclass(frozen=True)
class SpeechWindows:
    """Raw mono windows at the model rate, and where they came from."""

    windows: tuple[FloatArray, ...]
    source: str  # "real" (files) or "synthetic"
    files: tuple[str, ...] = ()

    def describe(self) -> dict[str, object]:
        return {
            "source": self.source,
            "windows": len(self.windows),
            "files": len(self.files),
            "seconds": round(sum(w.shape[0] for w in self.windows) / 16000.0, 2),
        }


def _audio_extensions() -> frozenset[str]:
    from edge_ser.audio import AUDIO_EXTENSIONS

    return frozenset(AUDIO_EXTENSIONS)


def find_audio_files(path: str | Path) -> list[Path]:
    """Audio files under ``path`` (a folder, searched recursively, or one file), sorted."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise ExportError(f"audio path {p} does not exist (pass a folder of speech recordings)")
    extensions = _audio_extensions()
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in extensions)
    if not files:
        raise ExportError(f"{p} holds no audio files (looked for {', '.join(sorted(extensions))})")
    return files


def split_files(
    files: Sequence[Path], n_first: int, seed: int = 0
) -> tuple[list[Path], list[Path]]:
    """Shuffle deterministically, then split into ``n_first`` files and the rest.

    Corpora are laid out by speaker or class, so a shuffled split spreads both sides over
    the whole folder; the second side is held out from the first.
    """
    order = list(files)
    random.Random(seed).shuffle(order)
    return order[:n_first], order[n_first:]


def cut_windows(x: FloatArray, window_samples: int, min_samples: int) -> list[FloatArray]:
    """Consecutive crops of at most ``window_samples``; crops under ``min_samples`` dropped."""
    out = [x[i : i + window_samples] for i in range(0, x.shape[0], window_samples)]
    return [np.ascontiguousarray(w, dtype=np.float32) for w in out if w.shape[0] >= min_samples]


def load_windows(
    files: Sequence[Path],
    *,
    max_windows: int,
    sample_rate: int = 16000,
    max_window_s: float = 8.0,
    min_samples: int = 400,
    max_seconds: float | None = None,
) -> SpeechWindows:
    """Load files with :func:`edge_ser.audio.load_audio` and cut windows.

    Stops at ``max_windows`` windows or, if given, ``max_seconds`` of audio.

    Files that cannot be decoded are skipped with a warning; if none yields a window the
    result is empty (the caller decides whether that is an error).
    """
    from edge_ser.audio import load_audio

    window_samples = round(max_window_s * sample_rate)
    windows: list[FloatArray] = []
    used: list[str] = []
    total = 0
    budget = None if max_seconds is None else max_seconds * sample_rate
    for f in files:
        if len(windows) >= max_windows or (budget is not None and total >= budget):
            break
        try:
            x = load_audio(f, target_rate=sample_rate)
        except AudioError as exc:
            logger.warning("skipping %s: %s", f, exc)
            continue
        cut = cut_windows(x, window_samples, min_samples)
        # Skip digital silence: it calibrates nothing and trims to nothing.
        cut = [w for w in cut if float(np.max(np.abs(w))) > 1e-4]
        if cut:
            used.append(str(f))
            cut = cut[: max_windows - len(windows)]
            windows.extend(cut)
            total += sum(w.shape[0] for w in cut)
    return SpeechWindows(windows=tuple(windows), source="real", files=tuple(used))


def fixed_length_windows(
    windows: Sequence[FloatArray], length: int, max_windows: int
) -> list[FloatArray]:
    """Join (already preprocessed) windows end to end and cut equal windows of ``length``.

    Histogram calibrators need every calibration input to have the same shape. When all
    the audio is shorter than ``length``, it makes one shorter window.
    """
    if not windows:
        return []
    stream = np.concatenate(list(windows)).astype(np.float32, copy=False)
    if stream.shape[0] < length:
        return [np.ascontiguousarray(stream)]
    count = min(max_windows, stream.shape[0] // length)
    return [np.ascontiguousarray(stream[i * length : (i + 1) * length]) for i in range(count)]


def synthetic_speech(seconds: float, sample_rate: int = 16000, seed: int = 0) -> FloatArray:
    """Speech-like audio (used only when no real speech is given).

    Voiced syllables: a harmonic series with a gliding pitch and formant-like spectral
    tilt under a syllabic envelope, with breath noise and short pauses.
    """
    rng = np.random.default_rng(seed)
    n = round(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    f0 = rng.uniform(100, 220) * (1.0 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.3, 1.2) * t))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    tilt = rng.uniform(0.8, 1.4)
    voiced = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k**tilt for k in range(1, 20))
    syllable_rate = rng.uniform(3.0, 5.0)
    envelope = np.clip(np.sin(2 * np.pi * syllable_rate / 2 * t) * 1.5, 0.0, 1.0) ** 2
    envelope *= (np.sin(2 * np.pi * 0.4 * t + rng.uniform(0, 2 * np.pi)) > -0.6).astype(float)
    x = rng.uniform(0.2, 0.5) * voiced * envelope + 0.003 * rng.standard_normal(n)
    return np.asarray(x, dtype=np.float32)


def model_input(window: FloatArray, config: PreprocessingConfig, min_samples: int) -> FloatArray:
    """What the runtime feeds a ``preprocessed`` model: preprocess, then zero-pad to
    ``min_samples`` (the conv receptive field) if shorter."""
    x = preprocess(window, config)
    if x.shape[0] < min_samples:
        x = np.pad(x, (0, min_samples - x.shape[0]))
    return np.ascontiguousarray(x, dtype=np.float32)


def select_windows(
    calibration: str | Path | None,
    parity_audio: str | Path | None,
    *,
    calibrate: bool,
    max_calibration_windows: int,
    max_parity_windows: int,
    max_window_s: float,
    min_samples: int,
    sample_rate: int = 16000,
) -> tuple[SpeechWindows | None, SpeechWindows]:
    """Raw calibration windows (when ``calibrate``) and parity windows, with provenance.

    Parity runs on calibration files held out from calibration (a third of them, at most
    ``max_parity_windows``), or on ``parity_audio`` when given, else on synthetic
    speech-like audio. Calibration loads enough speech for ``max_calibration_windows``
    full windows once silence is trimmed.
    """

    def load(files: Sequence[Path], limit: int, max_seconds: float | None = None) -> SpeechWindows:
        return load_windows(
            files,
            max_windows=limit,
            sample_rate=sample_rate,
            max_window_s=max_window_s,
            min_samples=min_samples,
            max_seconds=max_seconds,
        )

    cal = None
    parity_files: list[Path] = []
    held_out = True
    if calibration is not None:
        files = find_audio_files(calibration)
        if parity_audio is None and len(files) >= 2:
            n_parity = min(max_parity_windows, max(1, round(len(files) / 3)))
            cal_files, parity_files = split_files(files, len(files) - n_parity)
        else:
            cal_files = split_files(files, len(files))[0]
            if parity_audio is None:
                parity_files, held_out = cal_files, False
        if calibrate:
            budget_s = 3.0 * max_calibration_windows * max_window_s
            cal = load(cal_files, 64 * max_calibration_windows, budget_s)
            if not cal.windows:
                raise ExportError(
                    f"no usable calibration audio in {calibration} (all files failed to "
                    f"decode, were silent or were shorter than {min_samples} samples)"
                )
    if parity_audio is not None:
        parity_files = split_files(find_audio_files(parity_audio), 0)[1]
    par = load(parity_files, max_parity_windows) if parity_files else None
    if par is None or not par.windows:
        if parity_files:
            logger.warning("no usable parity audio; using synthetic speech-like audio")
        seconds = [s for s in SYNTHETIC_SECONDS if s <= max_window_s] or [max_window_s]
        count = min(max_parity_windows, len(seconds))
        par = SpeechWindows(
            windows=tuple(
                synthetic_speech(seconds[i % len(seconds)], sample_rate, seed=i)
                for i in range(count)
            ),
            source="synthetic",
        )
    elif not held_out:
        logger.warning("only one calibration file: parity is measured on calibration audio")
        par = dataclasses.replace(par, source="real (calibration audio, not held out)")
    return cal, par
