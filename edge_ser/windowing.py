"""Speech regions to model windows, online: only past audio is ever needed.

The policy (also in :class:`edge_ser.options.WindowOptions`), in samples at the model rate:

* A region ``[S, E)`` is cut on a grid: window ``k`` is ``[S + k*hop, S + k*hop + window)``
  with ``hop = window - overlap``. Every grid window that fits inside the region is used.
* The remainder after the last full window becomes one more window ``[S + K*hop, E)`` if it
  is at least ``min_window`` long; otherwise the last window is slid back to ``[E - window, E)``
  (overlapping its neighbour), so a short tail is neither dropped nor sent alone.
* A region shorter than the window but at least ``min_window`` long is one window ``[S, E)``.
* A region shorter than ``min_window`` is extended backwards into the preceding audio:
  ``[max(0, E - min_window), E)``.

Windows are therefore never longer than ``window``, are ordered by start, and lie inside the
audio. Because grid windows only depend on ``S`` and the end of each window, a stream can
emit every full window as soon as the audio reaches its end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from .errors import OptionsError
from .options import WindowOptions

__all__ = [
    "RollingBuffer",
    "WindowPlan",
    "closing_windows",
    "full_windows",
    "speech_fraction",
]

Span = tuple[int, int]
D = TypeVar("D", bound=np.generic)


@dataclass(frozen=True)
class WindowPlan:
    """Window lengths in samples at the model rate."""

    window: int
    hop: int
    min_window: int

    @classmethod
    def from_options(
        cls, options: WindowOptions, max_window_s: float, sample_rate: int
    ) -> WindowPlan:
        """Resolve the options against the model's ``max_window_s``."""
        window_s = options.window_s if options.window_s is not None else max_window_s
        if window_s > max_window_s:
            raise OptionsError(
                f"WindowOptions.window_s must be at most the model's max_window_s "
                f"({max_window_s} s), got {window_s!r}"
            )
        if not options.overlap_s < window_s / 2:
            raise OptionsError(
                f"WindowOptions.overlap_s must be less than half the window ({window_s} s), "
                f"got {options.overlap_s!r}"
            )
        if options.min_window_s > window_s:
            raise OptionsError(
                f"WindowOptions.min_window_s must be at most the window ({window_s} s), "
                f"got {options.min_window_s!r}"
            )
        # Rounded down: a window is never longer than asked (nor than the model's maximum).
        window = math.floor(window_s * sample_rate + 1e-6)
        overlap = round(options.overlap_s * sample_rate)
        min_window = min(window, max(1, round(options.min_window_s * sample_rate)))
        return cls(window=window, hop=window - overlap, min_window=min_window)


def full_windows(start: int, known_end: int, plan: WindowPlan, done: int) -> list[Span]:
    """Grid windows ``done, done+1, ...`` of a region at ``start`` that end by ``known_end``."""
    out: list[Span] = []
    k = done
    while start + k * plan.hop + plan.window <= known_end:
        s = start + k * plan.hop
        out.append((s, s + plan.window))
        k += 1
    return out


def closing_windows(start: int, end: int, plan: WindowPlan, done: int) -> list[Span]:
    """The windows of the finished region ``[start, end)`` not yet emitted (``done`` were)."""
    if end - start < plan.min_window:
        return [(max(0, end - plan.min_window), end)] if done == 0 else []
    out = full_windows(start, end, plan, done)
    k = done + len(out)
    if k == 0:
        return [(start, end)]
    covered = start + (k - 1) * plan.hop + plan.window
    if covered >= end:
        return out
    tail_start = start + k * plan.hop
    if end - tail_start >= plan.min_window:
        out.append((tail_start, end))
    else:
        out.append((end - plan.window, end))
    return out


def speech_fraction(
    flags: npt.NDArray[np.bool_], first_frame: int, frame_length: int, span: Span
) -> float:
    """The share of ``span`` covered by speech frames.

    ``flags[j]`` is the flag of frame ``first_frame + j``; frames not in ``flags`` (not yet
    classified, or a partial last frame) count as non-speech.
    """
    s, e = span
    if e <= s:
        return 0.0
    lo = max(s // frame_length, first_frame)
    hi = min(-(-e // frame_length), first_frame + flags.shape[0])
    if hi <= lo:
        return 0.0
    frames = np.arange(lo, hi, dtype=np.int64)
    overlap = np.minimum((frames + 1) * frame_length, e) - np.maximum(frames * frame_length, s)
    speech = int(np.sum(overlap * flags[lo - first_frame : hi - first_frame]))
    return speech / (e - s)


class RollingBuffer(Generic[D]):
    """The tail of an unbounded 1-D signal, addressed by absolute index.

    Appending is amortised O(chunk); :meth:`discard_before` frees what is no longer needed,
    so memory stays bounded by what the caller keeps.
    """

    def __init__(self, dtype: type[D] | np.dtype[Any]) -> None:
        self._data: npt.NDArray[D] = np.zeros(1024, dtype=dtype)
        self._size = 0
        self.offset = 0  # absolute index of self._data[0]

    @property
    def end(self) -> int:
        """Absolute index one past the last sample."""
        return self.offset + self._size

    def append(self, x: npt.NDArray[D]) -> None:
        n = x.shape[0]
        if self._size + n > self._data.shape[0]:
            grown = np.zeros(max(2 * self._data.shape[0], self._size + n), dtype=self._data.dtype)
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : self._size + n] = x
        self._size += n

    def get(self, start: int, end: int) -> npt.NDArray[D]:
        """A copy of samples ``[start, end)`` (absolute)."""
        if start < self.offset or end > self.end or end < start:
            raise IndexError(
                f"samples [{start}, {end}) are not buffered "
                f"(buffer holds [{self.offset}, {self.end}))"
            )
        return self._data[start - self.offset : end - self.offset].copy()

    def view_from(self, start: int) -> tuple[int, npt.NDArray[D]]:
        """``(first_index, samples)`` from ``max(start, offset)`` to the end (no copy)."""
        start = max(start, self.offset)
        return start, self._data[start - self.offset : self._size]

    def discard_before(self, index: int) -> None:
        """Forget samples before absolute ``index`` (compacting when it frees enough)."""
        drop = min(index, self.end) - self.offset
        if drop <= 0:
            return
        keep = self._size - drop
        # Compact only when the dropped part is large enough to pay for the copy.
        if drop >= keep // 2:
            self._data[:keep] = self._data[drop : self._size]
            self._size = keep
            self.offset += drop
