"""What ``edge-ser benchmark`` is doing and how long it will take, on stderr.

A benchmark runs for tens of seconds with nothing to show, so each stage is announced with
an estimate, whether or not stderr is a terminal (a CI log wants it too); ``--quiet`` turns
it off. Estimates start from typical figures for the bundled model on a laptop CPU and are
corrected with what this run has measured: the latency stage gives the seconds per window,
from which the real-time-factor stage (one window per ``max_window_s`` of the note) follows.
"""

from __future__ import annotations

import time
from typing import TextIO

__all__ = ["BenchmarkNarrator"]

# Typical figures for the bundled int8 model (2 vCPU, see the README), used before this
# run has measured its own.
_COLD_START_S = 1.5  # one fresh process: import, session, first window
_WINDOW_S = 0.2  # one 8-second window
_WINDOW_AUDIO_S = 8.0
_OVERHEAD = 1.2  # decoding, VAD and resampling on top of the model, in the long-audio run


class BenchmarkNarrator:
    """The ``progress`` callback of :func:`edge_ser.benchmark.run_benchmark`, narrated."""

    def __init__(
        self, out: TextIO, *, cold_runs: int, windows: int, warmup: int, minutes: float
    ) -> None:
        self.out = out
        self.cold_runs = cold_runs
        self.windows = windows + warmup
        self.minutes = minutes
        self._stage: str | None = None
        self._started = time.monotonic()
        self._stage_started = self._started
        self._window_s = _WINDOW_S

    def _note_windows(self) -> float:
        return self.minutes * 60.0 / _WINDOW_AUDIO_S

    def estimate(self, stage: str) -> float:
        """Seconds the stage ``stage`` should take, from what has been measured so far."""
        if stage == "cold start":
            return self.cold_runs * _COLD_START_S
        if stage == "latency":
            return self.windows * self._window_s
        if stage == "real-time factor":
            return _COLD_START_S + self._note_windows() * self._window_s * _OVERHEAD
        return 0.0

    def start(self) -> None:
        total = sum(self.estimate(s) for s in ("cold start", "latency", "real-time factor"))
        self._say(
            f"benchmark: {self.cold_runs} cold starts, {self.windows} timed windows and a "
            f"{self.minutes:g}-minute synthetic note; about {_duration(total)} in all "
            "(--quiet hides this)"
        )

    def __call__(self, stage: str) -> None:
        now = time.monotonic()
        if self._stage == "latency" and self.windows > 0:
            self._window_s = max(1e-3, (now - self._stage_started) / self.windows)
        self._stage, self._stage_started = stage, now
        detail = {
            "cold start": f"{self.cold_runs} fresh processes",
            "latency": f"{self.windows} windows",
            "real-time factor": f"a {self.minutes:g}-minute note",
        }.get(stage, "")
        self._say(f"measuring {stage} ({detail}): about {_duration(self.estimate(stage))}")

    def done(self) -> None:
        self._say(f"benchmark done in {_duration(time.monotonic() - self._started)}")

    def _say(self, line: str) -> None:
        print(line, file=self.out, flush=True)


def _duration(seconds: float) -> str:
    s = max(1, round(seconds))
    return f"{s} s" if s < 120 else f"{s // 60} min {s % 60:02d} s"
