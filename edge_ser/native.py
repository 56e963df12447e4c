"""Keep native libraries' own stderr lines out of a command's output.

libmpg123 (inside libsndfile) prints ``Note: ...`` lines on stderr when it meets a damaged
MP3, and ONNX Runtime can print its own log lines; neither can be silenced through the
libraries' APIs. They write to file descriptor 2 directly, so
:func:`capture_native_stderr` points descriptor 2 at a temporary file for as long as it
is active, while Python's ``sys.stderr`` keeps writing to the real stderr (a duplicate of
the original descriptor). Around each decoding call, :func:`native_stderr_to_log` turns
whatever was captured into one log record (``INFO``, logger ``edge_ser.native``), naming
the input.

The redirection is process-wide, so it belongs to the program that owns the process: the
``edge-ser`` CLI turns it on; a library caller may too. Without it, both functions do
nothing.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator

__all__ = ["capture_native_stderr", "native_stderr_to_log"]

logger = logging.getLogger("edge_ser.native")

_lock = threading.Lock()
_capture: tempfile._TemporaryFileWrapper[bytes] | None = None
_MAX_KEPT = 2000  # characters of native output kept per log record


@contextlib.contextmanager
def capture_native_stderr() -> Iterator[None]:
    """Send what native code writes to descriptor 2 into a temporary file (see module)."""
    global _capture
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 at all: nothing to protect
        yield
        return
    capture = tempfile.NamedTemporaryFile(prefix="edge-ser-stderr-", delete=True)  # noqa: SIM115
    real_stderr = sys.stderr
    stream: io.TextIOWrapper | None = None
    if _writes_to_fd2(real_stderr):
        # Python's own stderr output must keep reaching the real stderr.
        stream = io.TextIOWrapper(
            os.fdopen(os.dup(saved), "wb", buffering=0),
            encoding=getattr(real_stderr, "encoding", None) or "utf-8",
            errors="backslashreplace",
            line_buffering=True,
        )
        sys.stderr = stream
    os.dup2(capture.fileno(), 2)
    with _lock:
        _capture = capture
    try:
        yield
    finally:
        with _lock:
            _capture = None
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.flush()
        os.dup2(saved, 2)
        os.close(saved)
        if stream is not None:
            sys.stderr = real_stderr
            stream.close()
        capture.close()


def _writes_to_fd2(stream: object) -> bool:
    try:
        return stream is not None and stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


def _drain() -> str:
    capture = _capture
    if capture is None:
        return ""
    fd = capture.fileno()
    size = os.fstat(fd).st_size
    if size == 0:
        return ""
    os.lseek(fd, 0, os.SEEK_SET)
    data = os.read(fd, min(size, 4 * _MAX_KEPT))
    # Descriptor 2 shares this file's offset: rewinding it makes the next write start at 0.
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    return data.decode("utf-8", "backslashreplace")


@contextlib.contextmanager
def native_stderr_to_log(name: str) -> Iterator[None]:
    """Log (as one line) what native code printed on stderr inside the block, if captured."""
    try:
        yield
    finally:
        if _capture is not None:
            with _lock:
                text = _drain()
            if text.strip():
                one_line = " ".join(text.split())
                if len(one_line) > _MAX_KEPT:
                    one_line = one_line[:_MAX_KEPT] + "..."
                logger.info("%s: the decoder printed: %s", name, one_line)
