"""Audio from standard input: ``edge-ser classify -``, pipes included.

A pipe cannot seek, and both decoders need to (libsndfile reads a WAV's header, MP4 keeps
its index at the end), so the input is first copied to a spooled temporary file: in memory
up to :data:`SPOOL_MEMORY_BYTES`, then on disk, so a long recording does not grow the
process. The recording is classified once standard input reaches its end.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, BinaryIO, cast

from .errors import AudioDecodeError

if TYPE_CHECKING:
    from .classifier import Classifier
    from .results import ClassificationResult

__all__ = ["SPOOL_MEMORY_BYTES", "STDIN_NAME", "classify_stdin", "spool_stdin"]

STDIN_NAME = "-"
SPOOL_MEMORY_BYTES = 16 * 1024 * 1024
_COPY_BYTES = 1024 * 1024


class _Spooled:
    """A seekable copy of a stream that names itself ``<stdin>`` in messages."""

    name = "<stdin>"

    def __init__(self, spool: IO[bytes]) -> None:
        self._spool = spool

    def __repr__(self) -> str:
        return self.name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._spool, attr)

    def __enter__(self) -> BinaryIO:
        return cast(BinaryIO, self)

    def __exit__(self, *exc: object) -> None:
        self._spool.close()


def classify_stdin(
    clf: Classifier,
    source: BinaryIO | None,
    progress: Callable[[float, float], None] | None = None,
) -> ClassificationResult:
    """Classify the one recording on ``source`` (``sys.stdin.buffer``); its path is ``-``."""
    if source is None:
        raise AudioDecodeError("standard input is closed; pipe a recording in")
    with spool_stdin(source) as f:
        result = clf.classify(f, progress=progress)
    return dataclasses.replace(result, source=STDIN_NAME)


def spool_stdin(source: BinaryIO) -> _Spooled:
    """Copy ``source`` (standard input's binary buffer) to a seekable, closeable file.

    Raises:
        AudioDecodeError: standard input is a terminal (nothing was piped in), cannot be
            read, or is empty.
    """
    if _isatty(source):
        raise AudioDecodeError(
            "standard input is a terminal; pipe a recording in, e.g. "
            "'cat note.m4a | edge-ser classify -' or 'ffmpeg -i IN -f wav - | edge-ser classify -'"
        )
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115
    try:
        shutil.copyfileobj(source, spool, _COPY_BYTES)
        size = spool.tell()
        spool.seek(0)
    except (OSError, ValueError) as exc:
        spool.close()
        raise AudioDecodeError(f"cannot buffer standard input: {exc}") from exc
    if size == 0:
        spool.close()
        raise AudioDecodeError("cannot decode <stdin> as audio (standard input was empty)")
    return _Spooled(cast(IO[bytes], spool))


def _isatty(source: object) -> bool:
    try:
        return bool(getattr(source, "isatty", lambda: False)())
    except (OSError, ValueError):
        return False
