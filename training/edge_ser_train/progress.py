"""A minimal progress bar on stderr (no dependency).

It draws only when enabled and stderr is a terminal; otherwise it is silent, so logs and
captured test output stay clean.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """``Progress(total, "epoch 1/10").update(1, loss=0.5) ... .close()``."""

    def __init__(
        self, total: int, description: str, *, enabled: bool = True, stream: TextIO | None = None
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and (stream is not None or self.stream.isatty())
        self.total = max(0, total)
        self.description = description
        self.count = 0
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._postfix = ""

    def update(self, n: int = 1, **postfix: float) -> None:
        self.count += n
        if postfix:
            self._postfix = " ".join(f"{k}={v:.4g}" for k, v in postfix.items())
        now = time.monotonic()
        if self.enabled and (now - self._last_draw >= 0.2 or self.count >= self.total):
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        width = 24
        done = min(1.0, self.count / self.total) if self.total else 1.0
        bar = "#" * int(done * width) + "-" * (width - int(done * width))
        elapsed = now - self.started
        eta = elapsed / done - elapsed if done > 0 else 0.0
        self.stream.write(
            f"\r{self.description} [{bar}] {self.count}/{self.total} "
            f"{elapsed:.0f}s<{eta:.0f}s {self._postfix}\x1b[K"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()
