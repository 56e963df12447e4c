"""What the decoder reads from: paths, file objects and pipes, checked before decoding.

libsndfile reads a path through a file descriptor, and a Python file object through
callbacks. This module stands between the two and whatever the caller handed over:

* a path is opened here (``os.open``), so a missing file, a folder, a permission problem or
  a name too long is reported for what it is, and a name that is not UTF-8 works (the
  descriptor, not the name, goes to libsndfile);
* a path that is not a regular file (a FIFO, ``/dev/stdin``, a process substitution such as
  ``<(curl ...)``) and a file object that cannot seek (a pipe, a socket, a stream) are
  *spooled*: copied into a temporary file (in memory up to :data:`SPOOL_MEMORY_BYTES`, then
  on disk, at most :data:`MAX_STREAM_BYTES`), because libsndfile must seek to parse headers;
* a file object is checked first (closed, text mode, not readable), and wrapped so that an
  exception in its ``read``/``seek``/``tell`` is recorded instead of escaping through
  libsndfile's C callbacks (which would print a traceback on stderr and report the wrong
  cause); :meth:`Source.raise_if_failed` raises it afterwards as an :class:`AudioError`.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

import soundfile as sf

from .errors import AudioDecodeError, AudioNotFoundError, AudioReadError, InvalidAudioError
from .paths import display_name, file_kind, os_reason

__all__ = [
    "MAX_STREAM_BYTES",
    "SPOOL_MEMORY_BYTES",
    "Source",
    "decode_error",
    "one_line",
    "open_source",
]

SPOOL_MEMORY_BYTES = 32 * 1024 * 1024
# A stream longer than this is refused (an endless device such as /dev/zero must end).
# 4 GiB holds more than 3 hours of 48 kHz stereo 24-bit WAV.
MAX_STREAM_BYTES = 4 * 1024**3
_COPY_CHUNK = 1024 * 1024


class _Guarded:
    """A file object as libsndfile's callbacks see it: never raises, records the first error.

    ``read`` returns at most the bytes asked for (more would overrun libsndfile's buffer)
    and ``b""`` after an error, which libsndfile takes as the end of the file.
    """

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.error: BaseException | None = None
        self._pos = 0

    def __repr__(self) -> str:  # soundfile names its input in messages
        return "<input>"

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc

    def raise_first(self) -> None:
        """Before decoding: a file object that fails to seek or tell is an error now."""
        if self.error is not None:
            raise AudioReadError(
                f"cannot read from the file object: {type(self.error).__name__}: {self.error}"
            ) from self.error

    def tell(self) -> int:
        if self.error is None:
            try:
                self._pos = int(self._raw.tell())
            except BaseException as exc:
                self._fail(exc)
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self.error is None:
            try:
                self._raw.seek(offset, whence)
                self._pos = int(self._raw.tell())
            except BaseException as exc:
                self._fail(exc)
        return self._pos

    def read(self, size: int = -1) -> bytes:
        if self.error is not None:
            return b""
        try:
            data = self._raw.read(size)
        except BaseException as exc:
            self._fail(exc)
            return b""
        if data is None:  # a non-blocking stream with nothing ready
            data = b""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            self._fail(TypeError(f"read() returned {type(data).__name__}, not bytes"))
            return b""
        data = bytes(data)
        if size >= 0:
            data = data[:size]
        self._pos += len(data)
        return data


class Source:
    """An opened input: what to hand to ``soundfile.SoundFile``, and how to reopen it."""

    def __init__(self, name: str, *, fd: int | None = None, guarded: _Guarded | None = None,
                 path: Path | None = None, spool: Any = None, start: int = 0) -> None:  # fmt: skip
        self.name = name
        self._start = start
        self._fd = fd
        self._guarded = guarded
        self._path = path
        self._spool = spool
        self.warnings: list[str] = []

    def decoder_input(self) -> Any:
        """A fresh descriptor or file object at the start of the input (for SoundFile)."""
        if self._fd is not None:
            os.lseek(self._fd, 0, os.SEEK_SET)
            return os.dup(self._fd)  # SoundFile closes what it is given
        assert self._guarded is not None
        self._guarded.seek(self._start)  # where the caller's file object stood
        return self._guarded

    def failure(self) -> BaseException | None:
        return self._guarded.error if self._guarded is not None else None

    def raise_if_failed(self) -> None:
        """Raise what the caller's file object raised inside a decoder callback, if anything."""
        exc = self.failure()
        if exc is None:
            return
        if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: as they were
            raise exc
        raise AudioReadError(f"reading {self.name} failed: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._spool is not None:
            self._spool.close()
            self._spool = None


def _describe(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return display_name(source)
    name = getattr(source, "name", None)
    if isinstance(name, (str, bytes)) and name:
        return display_name(os.fsdecode(name))
    return f"<{type(source).__name__}>"


def open_source(source: object) -> Source:
    """Open a path or a binary file object for decoding (see the module docstring)."""
    name = _describe(source)
    if isinstance(source, (str, os.PathLike)):
        return _open_path(Path(source), name)
    return _open_file_object(source, name)


def _open_path(path: Path, name: str) -> Source:
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as exc:
        raise AudioNotFoundError(f"audio file not found: {name}") from exc
    except IsADirectoryError as exc:
        raise AudioNotFoundError(f"{name} is a folder, not an audio file") from exc
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise AudioNotFoundError(f"audio file not found: {name}") from exc
        raise AudioReadError(f"cannot open {name}: {os_reason(exc)}") from exc
    except ValueError as exc:  # an embedded NUL byte
        raise AudioNotFoundError(f"audio file not found: {name} ({exc})") from exc
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode):
        os.close(fd)
        raise AudioNotFoundError(f"{name} is a folder, not an audio file")
    if stat.S_ISREG(mode):
        if os.fstat(fd).st_size == 0:
            os.close(fd)
            raise _empty(name)
        return Source(name, fd=fd, path=path)
    # A FIFO, a character device, a socket: read it as a stream (a FIFO opened without
    # O_NONBLOCK waits for its writer, as `cat` does).
    os.close(fd)
    try:
        stream = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below
    except OSError as exc:
        raise AudioReadError(f"cannot open {name} ({file_kind(mode)}): {os_reason(exc)}") from exc
    try:
        return _spooled(stream, name)
    finally:
        stream.close()


def _empty(name: str, what: str = "file") -> AudioDecodeError:
    return decode_error(name, f"the {what} is empty: 0 bytes")


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def decode_error(name: str, why: BaseException | str) -> AudioDecodeError:
    """The error for an input that is not decodable audio, naming the accepted formats."""
    why = one_line(why) if isinstance(why, BaseException) else why
    # soundfile names what it was handed (a descriptor number): the caller names the input.
    why = re.sub(r"^Error opening (?:'[^']*'|\S+): ", "", why)
    if "does not exist" in why or "System error" in why:
        # libsndfile's words after a failed MP3 probe; the file is there (checked before).
        why = "not a recognised audio format, or a damaged file"
    formats = ", ".join(sorted(sf.available_formats()))
    return AudioDecodeError(f"cannot decode {name} as audio ({why}); accepted formats: {formats}")


def _open_file_object(obj: object, name: str) -> Source:
    if not hasattr(obj, "read"):
        raise InvalidAudioError(
            f"audio must be a path, a binary file object or a numpy array, got {type(obj).__name__}"
        )
    if getattr(obj, "closed", False) is True:
        raise InvalidAudioError(f"the file object {name} is closed")
    if isinstance(obj, io.TextIOBase) or "b" not in str(getattr(obj, "mode", "b")):
        raise InvalidAudioError(
            f"the file object {name} is open in text mode; open audio in binary mode ('rb')"
        )
    readable = getattr(obj, "readable", None)
    if callable(readable):
        try:
            ok = readable()
        except Exception as exc:
            raise AudioReadError(f"cannot read from {name}: {type(exc).__name__}: {exc}") from exc
        if not ok:
            raise InvalidAudioError(f"the file object {name} is not open for reading")
    if _seekable(obj):
        guarded = _Guarded(obj)
        try:
            probe = obj.read(0)  # type: ignore[attr-defined]
        except Exception as exc:
            raise AudioReadError(f"cannot read from {name}: {type(exc).__name__}: {exc}") from exc
        if isinstance(probe, str):
            raise InvalidAudioError(
                f"the file object {name} is open in text mode; open audio in binary mode ('rb')"
            )
        start = guarded.tell()
        end = guarded.seek(0, io.SEEK_END)
        guarded.seek(start)
        guarded.raise_first()
        if end <= start:
            raise _empty(name)
        return Source(name, guarded=guarded, start=start)
    return _spooled(obj, name)


def _seekable(obj: object) -> bool:
    seekable = getattr(obj, "seekable", None)
    try:
        if callable(seekable) and not seekable():
            return False
        if not (hasattr(obj, "seek") and hasattr(obj, "tell")):
            return False
        pos = obj.tell()  # type: ignore[attr-defined]
        obj.seek(pos)  # type: ignore[attr-defined]
    except Exception:
        return False
    return True


def _spooled(stream: Any, name: str) -> Source:
    """Copy a stream into a temporary file, which libsndfile can seek in."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115
    total = 0
    warnings = []
    try:
        while True:
            try:
                data = stream.read(_COPY_CHUNK)
            except Exception as exc:
                if total == 0:
                    raise AudioReadError(
                        f"cannot read from {name}: {type(exc).__name__}: {exc}"
                    ) from exc
                warnings.append(
                    f"reading {name} stopped after {total} bytes "
                    f"({type(exc).__name__}: {exc}); the result covers the audio before it"
                )
                break
            if data is None:
                continue  # a non-blocking stream with nothing ready yet
            if isinstance(data, str):
                raise InvalidAudioError(
                    f"{name} gives text, not bytes; open audio in binary mode ('rb')"
                )
            if not data:
                break
            total += len(data)
            if total > MAX_STREAM_BYTES:
                raise AudioDecodeError(
                    f"{name} is a stream longer than {MAX_STREAM_BYTES} bytes without ending; "
                    "accepted: streams up to that size (pass long recordings as files)"
                )
            spool.write(data)
    except BaseException:
        spool.close()
        raise
    if total == 0:
        spool.close()
        raise _empty(name, "stream")
    spool.seek(0)
    source = Source(name, guarded=_Guarded(spool), spool=spool)
    source.warnings.extend(warnings)
    return source
