"""Streaming classification: the one pipeline behind both live audio and files.

Each chunk goes resample -> VAD -> windows -> model, and only the audio that a future
window may still need is kept (the open speech region plus ``min_window_s`` of context, or
from the last emitted window of a long region), so memory does not grow with the stream.
:meth:`Classifier.classify` feeds files and arrays through a :class:`Stream` in blocks,
which is why file and stream results agree, whatever the chunk size.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from .aggregation import aggregate
from .audio import Resampler, check_sample_rate, to_mono_float32
from .errors import EdgeSerError, InvalidAudioError
from .model import Model
from .options import ClassifierOptions
from .results import ClassificationResult, SpeechRegion, WindowResult
from .vad import Region, SpeechDetector
from .windowing import RollingBuffer, WindowPlan, closing_windows, full_windows, speech_fraction

__all__ = ["Stream"]

logger = logging.getLogger("edge_ser.stream")

Span = tuple[int, int]
# Windows queued per worker when a recording's windows run in parallel (measured in
# benchmarks/parallel_windows.py: 1 per worker lost to one window on 2 threads, 4 won).
QUEUE_PER_WORKER = 4


class Stream:
    """Classify audio fed in chunks of any size, e.g. from a live microphone.

    Create one with :meth:`edge_ser.Classifier.stream`. Feed samples with
    :meth:`accept_waveform` (any dtype and channel layout that
    :func:`edge_ser.audio.to_mono_float32` accepts); it returns the windows completed by
    that chunk. :meth:`finish` ends the stream and returns the result for all of it, equal
    to classifying the same audio as a file.

    A stream is not thread-safe: use one per source. This is enforced: a call made while
    another thread is inside :meth:`accept_waveform` or :meth:`finish` of the same stream
    raises :class:`EdgeSerError` instead of corrupting its state.
    """

    def __init__(
        self,
        model: Model,
        options: ClassifierOptions,
        plan: WindowPlan,
        sample_rate: int,
        source: str | None = None,
        *,
        parallel_windows: int = 1,
    ) -> None:
        self.sample_rate = check_sample_rate(sample_rate)
        self.source = source
        self._model = model
        self._options = options
        self._plan = plan
        self._rate = model.metadata.sample_rate
        self._resampler = Resampler(self.sample_rate, self._rate)
        self._vad = SpeechDetector(options.vad, self._rate)
        self._audio: RollingBuffer[np.float32] = RollingBuffer(np.float32)
        self._flags: RollingBuffer[np.bool_] = RollingBuffer(np.bool_)
        self._region_start: int | None = None  # the active region whose windows we emit
        self._region_done = 0  # its windows emitted so far
        self._input_samples = 0
        self._windows: list[WindowResult] = []
        # Windows cut but not yet scored: (start, end, samples, speech ratio). With
        # parallel_windows > 1 (files and arrays, never live audio) they wait until
        # QUEUE_PER_WORKER per worker are ready, then run on that many threads, each taking
        # the next window as it finishes one (windows differ in length: pairs would idle).
        self._parallel = max(1, parallel_windows)
        self._queue = 1 if self._parallel == 1 else QUEUE_PER_WORKER * self._parallel
        self._pending: list[tuple[int, int, npt.NDArray[np.float32], float]] = []
        self._regions: list[SpeechRegion] = []
        self._finished = False
        self._busy = threading.Lock()

    @property
    def duration(self) -> float:
        """Seconds of audio received so far."""
        return self._input_samples / self.sample_rate

    @property
    def buffered_seconds(self) -> float:
        """Seconds of (resampled) audio held for windows still to come: bounded, not growing."""
        return (self._audio.end - self._audio.offset) / self._rate

    @property
    def windows(self) -> tuple[WindowResult, ...]:
        """All window results so far, in order."""
        return tuple(self._windows)

    def accept_waveform(self, samples: npt.NDArray[Any]) -> list[WindowResult]:
        """Add a chunk of audio at the stream's rate; return the windows it completed (for a
        stream made with ``parallel_windows`` > 1: the windows it scored)."""
        with self._exclusive():
            x = to_mono_float32(_as_array(samples))
            self._input_samples += x.shape[0]
            return self._advance(self._resampler.process(x), final=False)

    def finish(self) -> ClassificationResult:
        """End the stream: flush, close the last region, and aggregate all windows."""
        with self._exclusive():
            self._advance(self._resampler.flush(), final=True)
            self._finished = True
        windows = tuple(sorted(self._windows, key=lambda w: (w.start, w.end)))
        labels = self._model.metadata.labels
        label, scores = aggregate(windows, labels, self._options.aggregation)
        return ClassificationResult(
            label=label,
            scores=scores,
            duration=self.duration,
            windows=windows,
            speech_regions=tuple(self._regions),
            speech_duration=sum(r.duration for r in self._regions),
            aggregation=self._options.aggregation.method,
            options=self._options,
            source=self.source,
            model=self._model.source,
        )

    # -- pipeline --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        if not self._busy.acquire(blocking=False):
            raise EdgeSerError(
                "this stream is in use by another thread; a stream is not thread-safe: "
                "use one stream per thread (Classifier.stream())"
            )
        try:
            if self._finished:
                raise EdgeSerError(
                    "this stream is finished; start a new one with Classifier.stream()"
                )
            yield
        finally:
            self._busy.release()

    def _advance(self, y: npt.NDArray[np.float32], final: bool) -> list[WindowResult]:
        self._audio.append(y)
        flags, regions = self._vad.push(y)
        self._flags.append(flags)
        if final:
            flags, closed = self._vad.finish(self._audio.end)
            self._flags.append(flags)
            regions += closed
        spans = [span for region in regions for span in self._close(region)]
        if not final:
            spans += self._emit_full_windows()
        self._cut(spans)
        results = self._score() if final or len(self._pending) >= self._queue else []
        self._discard_old_audio()
        return results

    def _close(self, region: Region) -> list[Span]:
        ours = region.start == self._region_start
        spans = closing_windows(
            region.start, region.end, self._plan, self._region_done if ours else 0
        )
        if ours:
            self._region_start, self._region_done = None, 0
        self._regions.append(SpeechRegion(self._seconds(region.start), self._seconds(region.end)))
        return spans

    def _emit_full_windows(self) -> list[Span]:
        active = self._vad.active
        if active is None:
            return []
        if active.start != self._region_start:
            self._region_start, self._region_done = active.start, 0
        # Only frames already classified: a window's speech ratio must not depend on chunking.
        known_end = min(active.end, self._vad.position)
        spans = full_windows(active.start, known_end, self._plan, self._region_done)
        self._region_done += len(spans)
        return spans

    def _cut(self, spans: list[Span]) -> None:
        """Copy out the windows the model can take, with their speech ratios, to score."""
        min_samples = self._model.metadata.min_input_samples
        skipped = 0
        for s, e in spans:
            x = self._audio.get(s, e) if e - s >= min_samples else None
            if x is None or not self._model.accepts(x):
                skipped += 1
                continue
            self._pending.append((s, e, x, self._speech_ratio(s, e)))
        if skipped:
            logger.info(
                "skipped %d window(s) shorter than the model's input (after its silence trim, "
                "for a raw-PCM graph that does not pad)",
                skipped,
            )

    def _score(self) -> list[WindowResult]:
        pending, self._pending = self._pending, []
        if not pending:
            return []
        probs = self._model.score(
            [x for _, _, x, _ in pending], self._options.session.batch_size, self._parallel
        )
        labels = self._model.metadata.labels
        results = [
            WindowResult(
                start=self._seconds(s),
                end=self._seconds(e),
                label=labels[int(np.argmax(p))],
                scores={name: float(v) for name, v in zip(labels, p, strict=True)},
                speech_ratio=ratio,
            )
            for (s, e, _, ratio), p in zip(pending, probs, strict=True)
        ]
        self._windows.extend(results)
        return results

    def _speech_ratio(self, start: int, end: int) -> float:
        if not self._options.vad.enabled:
            return 1.0
        n = self._vad.frame_length
        first, flags = self._flags.view_from(start // n)
        return speech_fraction(flags, first, n, (start, end))

    def _seconds(self, samples: int) -> float:
        # Resampled audio can run a fraction of a sample past the input: clip to it.
        return min(samples / self._rate, self.duration)

    def _discard_old_audio(self) -> None:
        plan, vad = self._plan, self._vad
        keep = vad.earliest_new_start() - plan.min_window
        if vad.active is not None:
            if vad.active.start == self._region_start and self._region_done > 0:
                # Later windows of this region start at or after the last emitted one.
                keep = min(keep, vad.active.start + (self._region_done - 1) * plan.hop)
            else:
                keep = min(keep, vad.active.start - plan.min_window)
        keep = max(0, keep)
        self._audio.discard_before(keep)
        self._flags.discard_before(keep // vad.frame_length)


def _as_array(samples: object) -> npt.NDArray[Any]:
    if isinstance(samples, np.ndarray):
        return samples
    try:
        return np.asarray(samples)
    except (TypeError, ValueError) as exc:  # e.g. a ragged list
        raise InvalidAudioError(
            f"audio samples must be a numpy array or a regular sequence of numbers: {exc}"
        ) from exc
