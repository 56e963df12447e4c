"""The ``edge-ser`` console script: Ctrl-C-safe start-up.

Importing the runtime (numpy, ONNX Runtime, soundfile) takes a few tenths of a second. A
SIGINT in that time would raise ``KeyboardInterrupt`` inside whichever import was running,
leaving half-initialised modules behind (later seen as ``ImportError`` or ``NameError``)
and a traceback on the terminal. So this module, which imports only the standard library,
defers SIGINT while ``edge_ser.cli`` is imported, then exits quietly with status 130 if one
arrived; after that, the CLI's own handling applies.

It lives outside the ``edge_ser`` package because importing any ``edge_ser`` module first
runs the package's ``__init__`` and its heavy imports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType

__all__ = ["main"]

EXIT_INTERRUPTED = 130


def main() -> int:
    """Import the CLI with SIGINT deferred, then run it."""
    received: list[int] = []

    def defer(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    try:
        previous = signal.signal(signal.SIGINT, defer)
    except ValueError:  # not the main thread: nothing to defer
        previous = None
    try:
        from edge_ser.cli import main as cli_main
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    if received:
        _say("edge-ser: interrupted\n")
        return EXIT_INTERRUPTED
    return cli_main()


def _say(text: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, text.encode())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
