"""Voice activity detection with webrtcvad, run incrementally, frame by frame.

webrtcvad classifies 16-bit mono PCM frames of 10, 20 or 30 ms at 8, 16, 32 or 48 kHz. The
:class:`SpeechDetector` keeps all its state between calls, so feeding the same samples in
any chunking gives the same frames, flags and regions: this is what makes streaming equal
file mode.

Regions (all positions in samples at the detector's rate):

1. A *raw* region opens at a speech frame and closes once ``min_silence_ms`` of non-speech
   frames follow its last speech frame; it spans its first to its last speech frame.
2. A raw region with fewer than ``min_speech_ms`` of speech frames is noise and is dropped.
3. Each kept region is padded by ``speech_pad_ms`` on both sides (clipped to the audio);
   padded regions that touch or overlap are merged.

The region being built is :attr:`SpeechDetector.active`; its start is final as soon as it
exists and its end only grows, which lets the stream cut full windows before the region
ends. A region is *finalised* once no later speech can merge into it.

Frames whose energy (RMS with the frame's mean removed) is below
``VadOptions.energy_floor_dbfs`` are silence whatever webrtcvad would say: once adapted to a
recording, webrtcvad flags runs of digital silence as speech.

webrtcvad needs a moment to learn the background noise and flags the first ~100 ms of any
noise as speech; the detector therefore first runs it over the opening ``PRIME_MS`` of the
audio, discarding the decisions, and then classifies from the start (the first decisions
come ``PRIME_MS`` late; nothing else changes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import webrtcvad

from .errors import UnsupportedAudioError
from .options import VadOptions

__all__ = ["VAD_SAMPLE_RATES", "Region", "SpeechDetector"]

VAD_SAMPLE_RATES = (8000, 16000, 32000, 48000)
PRIME_MS = 200  # webrtcvad warm-up on the audio's opening (see SpeechDetector._prime)


@dataclass
class Region:
    """A padded speech region being built, in samples: ``[start, end)``."""

    start: int
    end: int


@dataclass
class _Raw:
    first: int  # first speech frame
    last: int  # last speech frame so far
    voiced: int = 0  # speech frames so far
    attached: bool = False  # merged into the active region (it passed min_speech_ms)


class SpeechDetector:
    """Incremental webrtcvad segmentation.

    Args:
        options: the VAD options; with ``enabled=False`` every frame is speech and the
            whole audio becomes one region.
        sample_rate: the rate of the samples pushed (8, 16, 32 or 48 kHz).
    """

    def __init__(self, options: VadOptions, sample_rate: int) -> None:
        if sample_rate not in VAD_SAMPLE_RATES:
            raise UnsupportedAudioError(
                f"webrtcvad needs 8000, 16000, 32000 or 48000 Hz audio, got {sample_rate!r} Hz"
            )
        self.options = options
        self.sample_rate = sample_rate
        self.frame_length = sample_rate * options.frame_ms // 1000
        self.pad = sample_rate * options.speech_pad_ms // 1000
        self._min_silence_frames = max(1, math.ceil(options.min_silence_ms / options.frame_ms))
        self._min_voiced_frames = math.ceil(options.min_speech_ms / options.frame_ms)
        self._vad = webrtcvad.Vad(options.aggressiveness) if options.enabled else None
        self._prime_frames = math.ceil(PRIME_MS / options.frame_ms)
        floor = options.energy_floor_dbfs
        # The floor as a variance of int16 samples (full scale = 32768).
        self._floor_var = None if floor is None else (32768.0 * 10 ** (floor / 20)) ** 2
        self._primed = self._vad is None
        self._rest = np.zeros(0, dtype=np.int16)
        self._raw: _Raw | None = None
        self.frames_done = 0
        # Without VAD the whole audio is one region whose end is only known at finish().
        self.active: Region | None = None if options.enabled else Region(0, _UNBOUNDED)

    @property
    def position(self) -> int:
        """Samples classified so far (whole frames)."""
        return self.frames_done * self.frame_length

    def earliest_new_start(self) -> int:
        """The earliest sample a region other than :attr:`active` can still start at."""
        candidates = [self.position - self.pad]
        if self._raw is not None and not self._raw.attached:
            candidates.append(self._padded_start(self._raw))
        return max(0, min(candidates))

    def push(self, x: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.bool_], list[Region]]:
        """Classify the whole frames now available.

        Returns:
            the speech flag of each new frame, and the regions finalised by them.
        """
        pcm = np.concatenate([self._rest, _to_pcm16(x)])
        n = self.frame_length
        if not self._primed:
            if pcm.shape[0] < self._prime_frames * n:
                self._rest = pcm
                return np.zeros(0, dtype=np.bool_), []
            self._prime(pcm)
        count = pcm.shape[0] // n
        flags = np.ones(count, dtype=np.bool_)
        done: list[Region] = []
        loud = self._above_floor(pcm[: count * n].reshape(count, n))
        for i in range(count):
            if self._vad is not None:
                # Frames under the energy floor are silence and are not shown to webrtcvad,
                # whose noise estimate would otherwise adapt to them.
                flags[i] = loud[i] and self._vad.is_speech(
                    pcm[i * n : (i + 1) * n].tobytes(), self.sample_rate
                )
                self._step(bool(flags[i]), done)
            else:
                self.frames_done += 1
        self._rest = pcm[count * n :].copy()
        return flags, done

    def finish(self, total: int) -> tuple[npt.NDArray[np.bool_], list[Region]]:
        """End of audio after ``total`` samples: classify what is held, finalise, clip.

        Returns:
            like :meth:`push`: flags of frames classified now, and the regions finalised.
        """
        flags: npt.NDArray[np.bool_] = np.zeros(0, dtype=np.bool_)
        done: list[Region] = []
        if not self._primed:  # audio shorter than the priming span
            self._prime(self._rest)
            flags, done = self.push(np.zeros(0, dtype=np.float32))
        self._raw = None  # an open raw region that never reached min_speech_ms is noise
        if self.active is not None:
            self.active.end = min(self.active.end, total)
            self._finalize(done)
        return flags, done

    def _above_floor(self, frames: npt.NDArray[np.int16]) -> npt.NDArray[np.bool_]:
        """Per frame: is its AC energy (the mean removed) at or above the energy floor?"""
        if self._floor_var is None or frames.shape[0] == 0:
            return np.ones(frames.shape[0], dtype=np.bool_)
        x = frames.astype(np.float64)
        var = np.mean(np.square(x - x.mean(axis=1, keepdims=True)), axis=1)
        return np.asarray(var >= self._floor_var, dtype=np.bool_)

    def _prime(self, pcm: npt.NDArray[np.int16]) -> None:
        # webrtcvad adapts its noise estimate over its first frames and meanwhile flags any
        # background noise as speech (about 100 ms of it), which would open a phantom region
        # at the start of every noisy recording. So it first hears the audio's own opening
        # (results discarded), then classifies from the start.
        n = self.frame_length
        if self._vad is not None:
            for i in range(min(self._prime_frames, pcm.shape[0] // n)):
                self._vad.is_speech(pcm[i * n : (i + 1) * n].tobytes(), self.sample_rate)
        self._primed = True

    # -- state machine ---------------------------------------------------------------------

    def _step(self, speech: bool, done: list[Region]) -> None:
        i = self.frames_done
        self.frames_done += 1
        raw = self._raw
        if speech:
            if raw is None:
                raw = self._raw = _Raw(first=i, last=i)
            raw.last = i
            raw.voiced += 1
        elif raw is not None and i - raw.last >= self._min_silence_frames:
            raw = self._raw = None  # closed; if it was kept it already lives in self.active
        if raw is not None and raw.voiced >= self._min_voiced_frames:
            self._attach(raw, done)
        self._maybe_finalize(done)

    def _padded_start(self, raw: _Raw) -> int:
        return max(0, raw.first * self.frame_length - self.pad)

    def _attach(self, raw: _Raw, done: list[Region]) -> None:
        end = (raw.last + 1) * self.frame_length + self.pad
        active = self.active
        if raw.attached or (active is not None and self._padded_start(raw) <= active.end):
            assert active is not None  # attached implies an active region
            active.end = max(active.end, end)
        else:
            self._finalize(done)
            self.active = Region(self._padded_start(raw), end)
        raw.attached = True

    def _maybe_finalize(self, done: list[Region]) -> None:
        active, raw = self.active, self._raw
        if active is None:
            return
        if raw is not None and (raw.attached or self._padded_start(raw) <= active.end):
            return  # the open raw region may still extend the active one
        # Any later region starts at or after position - pad: merging is impossible.
        if self.position - self.pad > active.end:
            self._finalize(done)

    def _finalize(self, done: list[Region]) -> None:
        if self.active is not None and self.active.end > self.active.start:
            done.append(self.active)
        self.active = None


_UNBOUNDED = 2**62


def _to_pcm16(x: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)
