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
from collections.abc import Callable
from types import FrameType

__all__ = ["main"]

EXIT_INTERRUPTED = 130
EXIT_ERROR = 2


def main() -> int:
    """Import the CLI with SIGINT deferred, then run it."""
    received: list[int] = []

    def defer(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    try:
        previous = signal.signal(signal.SIGINT, defer)
    except ValueError:  # not the main thread: nothing to defer
        previous = None
    if not _standard_descriptors():
        return EXIT_ERROR
    try:
        cli_main, noise = _import_cli()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    if received:
        _say("edge-ser: interrupted\n")
        return EXIT_INTERRUPTED
    del noise  # native start-up notices are not the user's business
    return cli_main()


def _standard_descriptors() -> bool:
    """Give a closed stdin or stderr /dev/null before anything opens a file: the first file
    opened would otherwise take descriptor 2 and receive every native library's messages.
    A closed stdout leaves nowhere for results: that is an error."""
    for fd in (0, 2, 1):
        try:
            os.fstat(fd)
        except OSError:
            if fd == 1:
                _say("edge-ser: error: standard output is closed; nowhere to write results\n")
                return False
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    return True


def _import_cli() -> tuple[Callable[[], int], str]:
    """Import the CLI with descriptor 2 pointed at a temporary file: ONNX Runtime prints
    its own lines at import (a telemetry notice where $HOME is not writable). If the import
    fails, what was printed is passed on to stderr before the error propagates."""
    try:
        saved = os.dup(2)
    except OSError:  # stderr closed: nothing to protect
        from edge_ser.cli import main as cli_main

        return cli_main, ""
    import tempfile  # after SIGINT is deferred: each import before it is a window

    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            from edge_ser.cli import main as cli_main
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            _say(capture.read().decode("utf-8", "backslashreplace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        noise = capture.read(65536).decode("utf-8", "backslashreplace")
    return cli_main, noise


def _say(text: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, text.encode())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
