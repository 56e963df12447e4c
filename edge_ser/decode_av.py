"""Decoding through FFmpeg (PyAV) for what libsndfile cannot read: phone and browser formats.

Voice notes mostly come as ``.m4a``/``.mp4`` (AAC) from phone recorders, ``.webm``/``.opus``
from browsers and messengers, and ``.3gp``/``.amr`` from older phones. libsndfile reads none
of the container formats, so :func:`edge_ser.audio.open_audio` falls back to this module
when libsndfile refuses a file. PyAV ships its own FFmpeg inside the wheel and is imported
only here, on the first file that needs it.

The policy is the one of :class:`~edge_ser.audio.AudioFile`:

* blocks of about :data:`~edge_ser.audio.BLOCK_SECONDS` of mono float32 at the file's own
  rate (the resampling to the model's rate happens downstream, with soxr, as for any file);
  packets are demuxed and decoded lazily, so memory does not grow with the file's length;
* NaN, infinite or huge samples are replaced or clipped with a logged warning;
* a file FFmpeg cannot open, or one without an audio stream, is an
  :class:`~edge_ser.errors.AudioDecodeError` in one line;
* damage after some audio has been decoded ends the file there: the audio decoded so far is
  kept, and a warning names the file and the second at which decoding stopped
  (:attr:`FfmpegAudioFile.stopped_at`). Damage before any audio is an error.

FFmpeg only ever sees a Python file object opened here, never a path or URL, and demuxers
that would open further files or URLs (playlists, concat lists, image sequences) are
refused, so a crafted file cannot make the decoder read other files or open a socket.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np

from .audio import BLOCK_SECONDS, MAX_CHANNELS, AudioFile, check_sample_rate, to_mono_float32
from .errors import AudioDecodeError, UnsupportedAudioError

__all__ = [
    "PYAV_INSTALL_HINT",
    "FfmpegAudioFile",
    "ffmpeg_available",
    "open_with_ffmpeg",
]

logger = logging.getLogger("edge_ser.audio")

PYAV_INSTALL_HINT = "PyAV is not installed: pip install av"
# Demuxers that read other files or URLs named inside the input.
_REFUSED_FORMATS = frozenset(
    {"hls", "applehttp", "concat", "dash", "image2", "image2pipe", "tee", "ffmetadata",
     "sdp", "rtsp", "rtp", "mpegts_url", "data", "lavfi", "imf", "mpd"}
)  # fmt: skip
# Nested opens of the demuxer (e.g. a playlist entry) may use no protocol at all.
_CONTAINER_OPTIONS = {"protocol_whitelist": "none"}


def ffmpeg_available() -> bool:
    """Whether PyAV (and so FFmpeg decoding) can be imported."""
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def open_with_ffmpeg(
    source: str | os.PathLike[str] | BinaryIO, libsndfile_error: AudioDecodeError
) -> FfmpegAudioFile:
    """Open ``source`` with FFmpeg after libsndfile refused it with ``libsndfile_error``.

    Raises:
        AudioDecodeError: FFmpeg cannot read it either; the message gives both decoders'
            reasons, or names PyAV when it is not installed.
    """
    try:
        import av  # noqa: F401
    except ImportError:
        raise AudioDecodeError(
            f"{libsndfile_error}; formats such as m4a, mp4, webm, 3gp and amr need FFmpeg: "
            f"{PYAV_INSTALL_HINT}"
        ) from libsndfile_error
    return FfmpegAudioFile(source, libsndfile_error)


class FfmpegAudioFile(AudioFile):
    """An audio file decoded by FFmpeg, read in mono float32 blocks.

    Has the interface of :class:`~edge_ser.audio.AudioFile` (``name``, ``sample_rate``,
    ``frames``, ``channels``, ``duration``, :meth:`blocks`, :meth:`close`, a context
    manager). ``frames`` is what the container declares (0 when it declares nothing, as a
    stream from a pipe may not).
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | BinaryIO,
        libsndfile_error: AudioDecodeError | None = None,
    ) -> None:
        import av

        self._av: Any = av
        self.name = _describe(source)
        self.stopped_at: float | None = None
        self.warnings: list[str] = []  # copied into the result, as for libsndfile's files
        self._repairs: dict[str, int] = {}
        self._why_not_sndfile = libsndfile_error
        self._owned: BinaryIO | None = None
        self._container: Any = None
        self._exhausted = False
        if isinstance(source, (str, os.PathLike)):
            try:
                self._owned = open(source, "rb")  # noqa: SIM115 - closed in close()
            except OSError as exc:
                raise self._error(f"cannot open it: {exc.strerror or exc}") from exc
            fileobj: BinaryIO = self._owned
        else:
            fileobj = source
            try:
                seekable = getattr(fileobj, "seekable", None)
                if not (callable(seekable) and seekable()):
                    # libsndfile's attempt consumed what a pipe had: nothing is left to decode
                    raise libsndfile_error or self._error("the stream cannot be read again")
                fileobj.seek(0)  # libsndfile's probe moved it
            except (OSError, ValueError) as exc:
                raise self._error(f"the file object cannot be read: {exc}") from exc
        try:
            self._open_container(fileobj)
        except BaseException:
            self.close()
            raise

    def _open_container(self, fileobj: BinaryIO) -> None:
        av = self._av
        try:
            self._container = av.open(
                fileobj, mode="r", metadata_errors="replace", container_options=_CONTAINER_OPTIONS
            )
        except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
            raise self._error(_reason(exc)) from exc
        container = self._container
        names = set(str(container.format.name).split(","))
        if names & _REFUSED_FORMATS:
            raise self._error(
                f"it is a {container.format.name} file, which names other files or URLs; "
                "only self-contained audio is read"
            )
        if not container.streams.audio:
            raise self._error("it has no audio stream")
        self._stream = container.streams.audio[0]
        self._frames_iter = self._decode_frames()
        try:
            first = next(self._frames_iter, None)
        except _Stop as stop:
            raise self._error(stop.reason) from None
        if first is None:
            raise self._error("no audio could be decoded from it")
        self._first: Any = first
        self.sample_rate = int(first.sample_rate)
        self.channels = len(first.layout.channels)
        check_sample_rate(self.sample_rate, f"the sample rate of {self.name}")
        if not 1 <= self.channels <= MAX_CHANNELS:
            raise UnsupportedAudioError(
                f"{self.name} has {self.channels} channels; accepted: 1 to {MAX_CHANNELS}"
            )
        self.frames = self._declared_frames()
        # Later frames are converted to the first one's rate, layout and float format.
        self._converter = av.AudioResampler(
            format="fltp", layout=first.layout.name, rate=self.sample_rate
        )

    def _declared_frames(self) -> int:
        stream, container = self._stream, self._container
        seconds = 0.0
        if container.duration is not None:  # webm's stream durations are often missing
            seconds = container.duration / 1_000_000  # AV_TIME_BASE
        elif stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        return max(0, round(seconds * self.sample_rate))

    def _decode_frames(self) -> Iterator[Any]:
        """Decoded frames; damage raises :class:`_Stop` with FFmpeg's reason."""
        av = self._av
        demuxer = self._container.demux(self._stream)
        while True:
            try:
                packet = next(demuxer)
                frames = packet.decode()
            except StopIteration:
                return
            except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
                raise _Stop(_reason(exc)) from None
            yield from frames

    def blocks(self, seconds: float = BLOCK_SECONDS) -> Iterator[Any]:
        """Yield the file as mono float32 blocks of about ``seconds`` each."""
        if self._exhausted:  # a file is read once, as libsndfile's end of file
            return
        self._exhausted = True
        size = max(1, int(seconds * self.sample_rate))
        parts: list[np.ndarray[Any, Any]] = []
        held = decoded = 0
        pending = [self._first] if self._first is not None else []
        self._first = None
        while True:
            try:
                frame = pending.pop() if pending else next(self._frames_iter, None)
            except _Stop as stop:
                self.stopped_at = decoded / self.sample_rate
                message = (
                    f"{self.name}: decoding stopped at {self.stopped_at:.2f} s ({stop.reason}); "
                    "the result covers the audio before it"
                )
                logger.warning("%s", message)
                self.warnings.append(message)
                frame = None
            converted = self._converter.resample(frame)  # None flushes the converter
            for out in converted:
                x = out.to_ndarray()  # (channels, samples) for a planar format
                parts.append(np.ascontiguousarray(x.T))
                held += x.shape[1]
                decoded += x.shape[1]
            while held >= size or (frame is None and held > 0):
                block = np.concatenate(parts) if len(parts) > 1 else parts[0]
                head, tail = block[:size], block[size:]
                parts = [tail] if tail.shape[0] else []
                held = tail.shape[0]
                yield to_mono_float32(head, finite="zero", what=self.name, repairs=self._repairs)
            if frame is None:
                self._check_length(decoded)
                return

    def _check_length(self, decoded: int) -> None:
        # A demuxer can end quietly at damage (webm does): compare with the declared length.
        missing = self.frames - decoded
        if self.stopped_at is None and missing > max(0.1 * self.frames, 0.5 * self.sample_rate):
            self.stopped_at = decoded / self.sample_rate
            message = (
                f"{self.name}: decoding stopped at {self.stopped_at:.2f} s of the "
                f"{self.duration:.2f} s the file declares (damaged or cut short); the result "
                "covers the audio before it"
            )
            logger.warning("%s", message)
            self.warnings.append(message)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def __enter__(self) -> FfmpegAudioFile:
        return self

    def _error(self, why: str) -> AudioDecodeError:
        first = f"{self._why_not_sndfile}; " if self._why_not_sndfile is not None else ""
        return AudioDecodeError(
            f"{first}FFmpeg (m4a, mp4, aac, webm, 3gp, amr and more) cannot decode it either ({why})"
        )


class _Stop(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


def _describe(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return str(getattr(source, "name", None) or f"<{type(source).__name__}>")
