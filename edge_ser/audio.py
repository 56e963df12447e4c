"""Audio in: decode, downmix, convert to float32, resample (numpy, soundfile, soxr).

Files are read in blocks and resampled with a streaming resampler, so memory does not grow
with the file's length. The same conversions apply to arrays, to file blocks and to the
chunks a :class:`~edge_ser.stream.Stream` receives.

Conventions:

* 2-D arrays are ``(frames, channels)``, as soundfile returns them; they are downmixed by
  taking the mean over channels. A ``(channels, frames)`` array is refused (pass ``audio.T``).
* Integer PCM is scaled to ``[-1, 1)``: signed by ``2**(bits-1)``, unsigned around its
  midpoint. Float audio is taken as is (values outside ``[-1, 1]`` are not clipped).
* NaN or infinite samples in an array are an error (:class:`InvalidAudioError`), and so are
  magnitudes above ``MAX_ABS_SAMPLE`` (far beyond any real audio, and close enough to the
  float32 limit that resampling or pre-emphasis could overflow). In a decoded *file* such
  samples are replaced by 0 or clipped to ``MAX_ABS_SAMPLE`` with a logged warning, so one
  damaged stretch does not lose a long recording.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr

from .errors import (
    AudioDecodeError,
    AudioNotFoundError,
    InvalidAudioError,
    UnsupportedAudioError,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "BLOCK_SECONDS",
    "MAX_ABS_SAMPLE",
    "MAX_CHANNELS",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "AudioFile",
    "AudioSource",
    "Resampler",
    "check_sample_rate",
    "load_audio",
    "open_audio",
    "to_mono_float32",
]

logger = logging.getLogger("edge_ser.audio")

FloatArray = npt.NDArray[np.float32]
AudioSource = str | os.PathLike[str] | BinaryIO | npt.NDArray[Any]

MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 64
# Float audio is normally within [-1, 1]; 1e6 leaves room for any "hot" recording and keeps
# every later step (soxr, pre-emphasis, float32 sums) a factor 1e32 away from overflow.
MAX_ABS_SAMPLE = 1e6
BLOCK_SECONDS = 5.0
# File name endings the CLI treats as audio when it walks a folder: formats libsndfile reads,
# then those FFmpeg reads for it (edge_ser.decode_av: phone and browser recordings).
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc",
     ".au", ".snd", ".caf", ".w64", ".rf64", ".wv",
     ".m4a", ".mp4", ".m4b", ".aac", ".3gp", ".3g2", ".amr", ".awb", ".webm", ".mka", ".mkv",
     ".mov", ".wma", ".spx"}
)  # fmt: skip


def check_sample_rate(sample_rate: object, what: str = "sample_rate") -> int:
    """Return ``sample_rate`` as an int, or raise :class:`UnsupportedAudioError`."""
    value = sample_rate
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if (
        not isinstance(value, (int, np.integer))
        or isinstance(value, bool)
        or not (MIN_SAMPLE_RATE <= value <= MAX_SAMPLE_RATE)
    ):
        raise UnsupportedAudioError(
            f"{what} must be an integer from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz, "
            f"got {sample_rate!r}"
        )
    return int(value)


def to_mono_float32(
    samples: npt.NDArray[Any], *, finite: str = "raise", what: str = "audio"
) -> FloatArray:
    """Convert PCM of any supported dtype and channel count to mono float32.

    Args:
        samples: 1-D ``(frames,)`` or 2-D ``(frames, channels)`` array.
        finite: ``"raise"`` (arrays) or ``"zero"`` (decoded files: replace and warn).
        what: names the input in messages (a file's path).
    """
    if not isinstance(samples, np.ndarray):
        raise InvalidAudioError(
            f"audio samples must be a numpy array, got {type(samples).__name__}"
        )
    if samples.ndim == 2:
        if not 1 <= samples.shape[1] <= MAX_CHANNELS:
            raise InvalidAudioError(
                f"2-D audio must be (frames, channels) with 1 to {MAX_CHANNELS} channels, "
                f"got shape {samples.shape}; for a (channels, frames) array pass audio.T"
            )
    elif samples.ndim != 1:
        raise InvalidAudioError(
            f"audio must be 1-D (frames,) or 2-D (frames, channels), got shape {samples.shape}"
        )
    with np.errstate(over="ignore", invalid="ignore"):  # what overflows is refused below
        x = _to_float(samples)
        if x.ndim == 2:
            x = x.mean(axis=1, dtype=np.float64).astype(np.float32) if x.shape[1] > 1 else x[:, 0]
    bad = ~np.isfinite(x)
    if bad.any():
        if finite == "raise":
            raise InvalidAudioError(
                f"{what} contains {int(bad.sum())} NaN or infinite sample(s) (as float32); "
                "only finite values are accepted"
            )
        logger.warning("%s: replaced %d NaN or infinite sample(s) with 0", what, int(bad.sum()))
        x = np.where(bad, np.float32(0.0), x)
    peak = float(np.max(np.abs(x))) if x.shape[0] else 0.0
    if peak > MAX_ABS_SAMPLE:
        if finite == "raise":
            raise InvalidAudioError(
                f"{what} has samples of magnitude up to {peak:.3g}; accepted: at most "
                f"{MAX_ABS_SAMPLE:g} (float audio is normally within [-1, 1])"
            )
        huge = int(np.count_nonzero(np.abs(x) > MAX_ABS_SAMPLE))
        logger.warning("%s: clipped %d sample(s) beyond +-%g", what, huge, MAX_ABS_SAMPLE)
        x = np.clip(x, -MAX_ABS_SAMPLE, MAX_ABS_SAMPLE)
    return np.ascontiguousarray(x, dtype=np.float32)


def _to_float(samples: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    kind = samples.dtype.kind
    if kind == "f":
        return samples.astype(np.float32, copy=False)
    if kind in "iu":
        bits = samples.dtype.itemsize * 8
        scale = float(2 ** (bits - 1))
        x = samples.astype(np.float64)
        if kind == "u":
            x -= scale
        return (x / scale).astype(np.float32)
    raise InvalidAudioError(
        f"audio dtype must be integer PCM or floating point, got {samples.dtype}"
    )


class Resampler:
    """Streaming high-quality resampling to a fixed rate (soxr); identity when rates match.

    soxr's stream output does not depend on how the input is chunked (checked by the tests),
    which is what lets file mode and stream mode agree exactly.
    """

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = (
            None
            if in_rate == out_rate
            else soxr.ResampleStream(in_rate, out_rate, 1, "float32", "HQ")
        )

    def process(self, x: FloatArray, last: bool = False) -> FloatArray:
        if self._stream is None:
            return x
        y = self._stream.resample_chunk(x, last=last)
        return np.ascontiguousarray(y, dtype=np.float32)

    def flush(self) -> FloatArray:
        return self.process(np.zeros(0, dtype=np.float32), last=True)


class AudioFile:
    """An open audio file (path or binary file object) read in mono float32 blocks.

    Use as a context manager. Decoding errors raise :class:`AudioDecodeError` naming the
    input and the accepted formats.
    """

    def __init__(self, source: str | os.PathLike[str] | BinaryIO) -> None:
        self.name = _describe(source)
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if not path.exists():
                raise AudioNotFoundError(f"audio file not found: {path}")
            if path.is_dir():
                raise AudioNotFoundError(f"{path} is a folder, not an audio file")
            if path.stat().st_size == 0:
                raise _decode_error(self.name, "the file is empty: 0 bytes")
        try:
            self._file = sf.SoundFile(source)
        except (sf.SoundFileError, RuntimeError, TypeError) as exc:
            raise _decode_error(self.name, exc) from exc
        self.sample_rate = int(self._file.samplerate)
        self.frames = int(self._file.frames)
        self.channels = int(self._file.channels)
        try:
            # A damaged header can claim any rate or channel count: refuse it before reading.
            check_sample_rate(self.sample_rate, f"the sample rate of {self.name}")
            if not 1 <= self.channels <= MAX_CHANNELS:
                raise UnsupportedAudioError(
                    f"{self.name} has {self.channels} channels; accepted: 1 to {MAX_CHANNELS}"
                )
        except UnsupportedAudioError:
            self._file.close()
            raise

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate > 0 else 0.0

    def blocks(self, seconds: float = BLOCK_SECONDS) -> Iterator[FloatArray]:
        """Yield the file as mono float32 blocks of about ``seconds`` each."""
        size = max(1, int(seconds * self.sample_rate))
        while True:
            try:
                block = self._file.read(size, dtype="float32", always_2d=True)
            except (sf.SoundFileError, RuntimeError) as exc:
                raise _decode_error(self.name, exc) from exc
            if block.shape[0] == 0:
                return
            yield to_mono_float32(block, finite="zero", what=self.name)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> AudioFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _describe(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return str(getattr(source, "name", None) or f"<{type(source).__name__}>")


def _decode_error(name: str, why: BaseException | str) -> AudioDecodeError:
    if "does not exist" in str(why):
        # libsndfile's words after a failed MP3 probe; the file is there (checked before).
        why = "not a recognised audio format, or a damaged file"
    formats = ", ".join(sorted(sf.available_formats()))
    return AudioDecodeError(f"cannot decode {name} as audio ({why}); accepted formats: {formats}")


def load_audio(
    audio: AudioSource, sample_rate: int | None = None, target_rate: int = 16_000
) -> FloatArray:
    """Load audio as a float32 mono array at ``target_rate``.

    Args:
        audio: a path, a binary file object, or a numpy array.
        sample_rate: the array's rate (required for arrays; for files it must be ``None``
            or equal to the file's own rate).
        target_rate: the rate to resample to.
    """
    target_rate = check_sample_rate(target_rate, "target_rate")
    if isinstance(audio, np.ndarray):
        if sample_rate is None:
            raise UnsupportedAudioError("sample_rate is required when audio is an array")
        rate = check_sample_rate(sample_rate)
        x = to_mono_float32(audio)
        resampler = Resampler(rate, target_rate)
        return np.concatenate([resampler.process(x), resampler.flush()]).astype(np.float32)
    with open_audio(audio, sample_rate) as f:
        resampler = Resampler(f.sample_rate, target_rate)
        parts = [resampler.process(block) for block in f.blocks()]
        parts.append(resampler.flush())
    return np.concatenate(parts).astype(np.float32, copy=False)


def open_audio(audio: object, sample_rate: int | None = None) -> AudioFile:
    """Open a path or binary file object; check an explicit ``sample_rate`` against it."""
    if not isinstance(audio, (str, os.PathLike)) and not hasattr(audio, "read"):
        raise InvalidAudioError(
            "audio must be a path, a binary file object or a numpy array, "
            f"got {type(audio).__name__}"
        )
    try:
        f = AudioFile(audio)  # type: ignore[arg-type]
    except AudioDecodeError as exc:
        from .decode_av import open_with_ffmpeg  # m4a, webm, 3gp, amr: what libsndfile refuses

        f = open_with_ffmpeg(audio, exc)  # type: ignore[arg-type]
    if sample_rate is not None and sample_rate != f.sample_rate:
        f.close()
        raise UnsupportedAudioError(
            f"sample_rate={sample_rate!r} was given but {f.name} is {f.sample_rate} Hz; "
            "files carry their own rate: pass sample_rate only with arrays"
        )
    return f
