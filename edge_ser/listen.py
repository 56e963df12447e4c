"""Live microphone input: :class:`Microphone` and the ``edge-ser listen`` loop.

The microphone is read through sounddevice (a PortAudio binding), an optional dependency:
``pip install sounddevice``, or the ``mic`` extra (on Linux, PortAudio itself comes from the system, e.g.
``apt install libportaudio2``). Chunks go into an ordinary :class:`~edge_ser.stream.Stream`,
so on the same audio the windows and the final result equal those of file mode.

Any iterable of float32 chunks with a ``sample_rate`` works as a source (:class:`ChunkSource`);
that is how the tests drive :func:`listen` without a device.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from .audio import check_sample_rate
from .errors import AudioError
from .results import ClassificationResult, WindowResult

__all__ = [
    "MIC_INSTALL_HINT",
    "ChunkSource",
    "InputDevice",
    "ListenResult",
    "Microphone",
    "MicrophoneError",
    "list_input_devices",
    "listen",
]

logger = logging.getLogger("edge_ser.listen")

MIC_INSTALL_HINT = (
    'pip install sounddevice (in a clone of edge-ser: pip install -e ".[mic]"); on Linux '
    "also the PortAudio library, e.g. apt install libportaudio2"
)
CHUNK_SECONDS = 0.1


class MicrophoneError(AudioError):
    """No microphone can be opened: sounddevice or PortAudio missing, no or bad device."""


@runtime_checkable
class ChunkSource(Protocol):
    """What :func:`listen` reads: chunks of audio at ``sample_rate``."""

    sample_rate: int

    def __iter__(self) -> Iterator[npt.NDArray[Any]]: ...


@dataclass(frozen=True)
class InputDevice:
    """An audio input device as PortAudio lists it."""

    index: int
    name: str
    channels: int
    default_sample_rate: int
    is_default: bool

    def describe(self) -> str:
        mark = "*" if self.is_default else " "
        return (
            f"{mark} {self.index:3d}  {self.name}  ({self.channels} ch, "
            f"{self.default_sample_rate} Hz)"
        )


def _sounddevice() -> Any:
    try:
        import sounddevice
    except ImportError as exc:
        raise MicrophoneError(f"the microphone needs sounddevice: {MIC_INSTALL_HINT}") from exc
    except OSError as exc:  # sounddevice raises this when libportaudio is absent
        raise MicrophoneError(
            f"the PortAudio library is not available ({exc}): install it, e.g. "
            "apt install libportaudio2 (Linux); sounddevice's macOS and Windows wheels ship it"
        ) from exc
    return sounddevice


def list_input_devices() -> list[InputDevice]:
    """The input devices PortAudio sees (empty when there are none)."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default_in = sd.default.device[0] if sd.default.device is not None else -1
    except sd.PortAudioError as exc:
        raise MicrophoneError(f"PortAudio cannot list devices: {exc}") from exc
    return [
        InputDevice(
            index=i,
            name=str(d["name"]),
            channels=int(d["max_input_channels"]),
            default_sample_rate=round(float(d["default_samplerate"])),
            is_default=i == default_in,
        )
        for i, d in enumerate(devices)
        if int(d["max_input_channels"]) > 0
    ]


def _pick(devices: list[InputDevice], device: int | str | None) -> InputDevice:
    if not devices:
        raise MicrophoneError("no audio input device found (is a microphone connected?)")
    if device is None:
        return next((d for d in devices if d.is_default), devices[0])
    if isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        index = int(device)
        for d in devices:
            if d.index == index:
                return d
    else:
        matches = [d for d in devices if device.lower() in d.name.lower()]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = "; ".join(f"{d.index}: {d.name}" for d in matches)
            raise MicrophoneError(f"input device {device!r} is ambiguous: {names}; give its number")
    listed = "; ".join(f"{d.index}: {d.name}" for d in devices)
    raise MicrophoneError(f"no input device {device!r}; input devices: {listed}")


class Microphone:
    """The default (or a chosen) input device, read as mono float32 chunks.

    Args:
        device: a device number or a unique part of its name (see
            :func:`list_input_devices`); ``None`` for the system default.
        sample_rate: the rate to record at; ``None`` takes the device's default rate
            (the stream resamples to the model's rate).
        chunk_s: seconds per chunk.

    Use as a context manager, then iterate::

        with Microphone() as mic:
            stream = clf.stream(mic.sample_rate)
            for chunk in mic:
                for window in stream.accept_waveform(chunk):
                    print(window.start, window.label)
    """

    def __init__(
        self,
        device: int | str | None = None,
        sample_rate: int | None = None,
        chunk_s: float = CHUNK_SECONDS,
    ) -> None:
        self._sd = _sounddevice()
        self.device = _pick(list_input_devices(), device)
        rate = self.device.default_sample_rate if sample_rate is None else sample_rate
        self.sample_rate = check_sample_rate(rate)
        if not (0.01 <= chunk_s <= 10.0):
            raise MicrophoneError(f"chunk_s must be 0.01 to 10 seconds, got {chunk_s!r}")
        self._chunk = max(1, round(chunk_s * self.sample_rate))
        self._stream: Any = None

    def __enter__(self) -> Microphone:
        sd = self._sd
        try:
            self._stream = sd.InputStream(
                samplerate=self.sample_rate,
                channels=1,
                dtype="float32",
                device=self.device.index,
                blocksize=self._chunk,
            )
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            self._stream = None
            raise MicrophoneError(
                f"cannot record from {self.device.name} at {self.sample_rate} Hz: {exc}"
            ) from exc
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None

    def __iter__(self) -> Iterator[npt.NDArray[np.float32]]:
        if self._stream is None:
            raise MicrophoneError("open the microphone first: with Microphone() as mic: ...")
        while True:
            try:
                data, overflowed = self._stream.read(self._chunk)
            except self._sd.PortAudioError as exc:
                raise MicrophoneError(f"recording from {self.device.name} failed: {exc}") from exc
            if overflowed:
                logger.warning("input overflow: some microphone audio was lost")
            yield np.ascontiguousarray(data[:, 0], dtype=np.float32)


@dataclass(frozen=True)
class ListenResult:
    """What :func:`listen` returns: the final result and whether it was interrupted."""

    result: ClassificationResult
    interrupted: bool


def listen(
    stream_factory: Callable[[int], Any],
    source: ChunkSource | Iterable[npt.NDArray[Any]],
    on_window: Callable[[WindowResult], None],
    *,
    sample_rate: int | None = None,
    max_seconds: float | None = None,
) -> ListenResult:
    """Feed ``source`` to a new stream until it ends, ``max_seconds`` pass, or Ctrl-C.

    Args:
        stream_factory: ``Classifier.stream`` (called with the source's rate).
        source: a :class:`ChunkSource` (e.g. :class:`Microphone`) or chunks at ``sample_rate``.
        on_window: called with each window as it completes.
        max_seconds: stop after this many seconds of audio (``None``: no limit).

    Returns:
        the stream's final result (equal to file mode on the same audio) and whether a
        Ctrl-C ended it.
    """
    rate = getattr(source, "sample_rate", sample_rate)
    if rate is None:
        raise MicrophoneError("the audio source has no sample_rate; pass sample_rate=")
    stream = stream_factory(int(rate))
    limit = math.inf if max_seconds is None else max_seconds * stream.sample_rate
    interrupted = False
    fed = 0
    started = time.monotonic()
    try:
        for chunk in source:
            if fed >= limit:
                break
            if fed + len(chunk) > limit:
                chunk = chunk[: int(limit - fed)]
            fed += len(chunk)
            for window in stream.accept_waveform(chunk):
                on_window(window)
    except KeyboardInterrupt:
        interrupted = True
    before = len(stream.windows)
    result: ClassificationResult = stream.finish()
    for window in sorted(stream.windows[before:], key=lambda w: (w.start, w.end)):
        on_window(window)  # the windows only the end of the audio completed
    logger.info("listened %.1f s in %.1f s", result.duration, time.monotonic() - started)
    return ListenResult(result=result, interrupted=interrupted)
