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
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr

from .errors import AudioDecodeError, InvalidAudioError, UnsupportedAudioError
from .native import native_stderr_to_log
from .sources import decode_error as _decode_error
from .sources import one_line as _one_line
from .sources import open_source

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
    samples: npt.NDArray[Any],
    *,
    finite: str = "raise",
    what: str = "audio",
    repairs: dict[str, int] | None = None,
) -> FloatArray:
    """Convert PCM of any supported dtype and channel count to mono float32.

    Args:
        samples: 1-D ``(frames,)`` or 2-D ``(frames, channels)`` array.
        finite: ``"raise"`` (arrays) or ``"zero"`` (decoded files: replace and warn).
        what: names the input in messages (a file's path).
        repairs: with ``finite="zero"``, counts of replaced and clipped samples are added here.
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
        if repairs is not None:
            key = "replaced NaN or infinite samples with 0:"
            repairs[key] = repairs.get(key, 0) + int(bad.sum())
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
        if repairs is not None:
            key = f"clipped samples beyond +-{MAX_ABS_SAMPLE:g}:"
            repairs[key] = repairs.get(key, 0) + huge
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
    input and the accepted formats. Damage part-way through a file does not lose what was
    decoded before it: :meth:`blocks` ends there, a warning is logged, and
    :attr:`warnings` says where decoding stopped (the classifier copies it into the result).
    """

    def __init__(self, source: str | os.PathLike[str] | BinaryIO) -> None:
        self._source = open_source(source)
        self.name = self._source.name
        self.warnings: list[str] = list(self._source.warnings)
        self._repairs: dict[str, int] = {}
        try:
            self._file = self._open()
        except BaseException:
            self._source.close()
            raise
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
            self.close()
            raise

    def _open(self) -> sf.SoundFile:
        with native_stderr_to_log(self.name):
            try:
                f = sf.SoundFile(self._source.decoder_input())
            except (sf.SoundFileError, RuntimeError, TypeError) as exc:
                self._source.raise_if_failed()
                refused = _decode_error(self.name, exc)
                refused.libsndfile_refused = True  # type: ignore[attr-defined]  # see open_audio
                raise refused from exc
        self._source.raise_if_failed()
        return f

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate > 0 else 0.0

    def blocks(self, seconds: float = BLOCK_SECONDS) -> Iterator[FloatArray]:
        """Yield the file as mono float32 blocks of about ``seconds`` each."""
        size = max(1, int(seconds * self.sample_rate))
        done = 0
        while True:
            try:
                with native_stderr_to_log(self.name):
                    block = self._file.read(size, dtype="float32", always_2d=True)
            except (sf.SoundFileError, RuntimeError) as exc:
                self._source.raise_if_failed()
                yield from self._salvage(done, exc)
                return
            failed = self._source.failure()
            if failed is not None and not isinstance(failed, Exception):
                raise failed  # a KeyboardInterrupt inside the caller's read()
            if block.shape[0] == 0:
                self._note_end(done, failed)
                return
            done += block.shape[0]
            yield self._mono(block)

    def _mono(self, block: npt.NDArray[Any]) -> FloatArray:
        return to_mono_float32(block, finite="zero", what=self.name, repairs=self._repairs)

    def _salvage(self, done: int, exc: BaseException) -> Iterator[FloatArray]:
        """After a decoding error at frame ``done`` or later: reopen, seek back, and read
        small pieces up to the damage, so at most one small piece is lost."""
        piece = max(1, self.sample_rate // 20)
        got = 0
        try:
            with native_stderr_to_log(self.name):
                again = sf.SoundFile(self._source.decoder_input())
                again.seek(done)
        except (sf.SoundFileError, RuntimeError, TypeError, OSError):
            again = None
        if again is not None:
            with again:
                while True:
                    try:
                        with native_stderr_to_log(self.name):
                            block = again.read(piece, dtype="float32", always_2d=True)
                    except (sf.SoundFileError, RuntimeError):
                        break
                    if block.shape[0] == 0:
                        break
                    got += block.shape[0]
                    yield self._mono(block)
        stop = done + got
        if stop == 0:
            raise _decode_error(self.name, exc) from exc
        self._stopped(stop, _one_line(exc))

    def _note_end(self, done: int, failed: BaseException | None) -> None:
        if failed is not None:
            self._stopped(done, f"{type(failed).__name__}: {failed}")
            return
        short = self.frames - done
        if self._file.format in _EXACT_LENGTH_FORMATS:
            cut = short > max(1, self.sample_rate // 100)
        else:  # MP3 and Ogg headers give an estimate: only a clear shortfall counts
            cut = short > max(self.sample_rate, self.frames // 20)
        if cut:
            # The header promised more (a download cut short): say so, keep what is there.
            self._stopped(done, "the file ends before the length its header gives")

    def _stopped(self, at: int, why: str) -> None:
        total = f" of {self.duration:.2f} s" if self.frames > at else ""
        message = (
            f"{self.name}: decoding stopped at {at / self.sample_rate:.2f} s{total} ({why}); "
            "the result covers the audio decoded before it"
        )
        logger.warning("%s", message)
        self.warnings.append(message)

    def repair_warnings(self) -> list[str]:
        """One line per kind of damaged sample replaced or clipped while decoding."""
        return [f"{self.name}: {what} {count} sample(s)" for what, count in self._repairs.items()]

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            self._source.close()

    def __enter__(self) -> AudioFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Formats whose header gives the exact length (for MP3 and Ogg it is an estimate).
_EXACT_LENGTH_FORMATS = frozenset({"WAV", "WAVEX", "AIFF", "FLAC", "CAF", "W64", "RF64", "AU"})


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
        if not getattr(exc, "libsndfile_refused", False):
            raise  # empty, unreadable or a failed read: no other decoder would do better
        from .decode_av import open_with_ffmpeg  # m4a, webm, 3gp, amr: what libsndfile refuses

        f = open_with_ffmpeg(audio, exc)  # type: ignore[arg-type]
    if sample_rate is not None and sample_rate != f.sample_rate:
        f.close()
        raise UnsupportedAudioError(
            f"sample_rate={sample_rate!r} was given but {f.name} is {f.sample_rate} Hz; "
            "files carry their own rate: pass sample_rate only with arrays"
        )
    return f
