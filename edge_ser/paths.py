"""File names and file-system checks shared by audio, model and CLI code.

File names on POSIX are bytes: Python holds undecodable bytes as lone surrogates
(``'\\udcff'``), which native libraries cannot take as ``str`` and a UTF-8 stream cannot
print. Names can also hold newlines or terminal escapes. Messages therefore show a name
through :func:`display_name` (one line, printable), and native libraries get the raw bytes
(:func:`os.fsencode`).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["display_name", "file_kind", "os_reason", "read_small_text", "stat_path"]

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def display_name(name: str | os.PathLike[str]) -> str:
    """``name`` as one printable line: undecodable bytes as ``\\xff``, controls escaped.

    Ordinary names (printable, valid UTF-8) come back unchanged; in a name that needs
    escaping, a backslash is doubled so the escapes stay unambiguous.
    """
    text = os.fspath(name)
    if text.isprintable() and not any(0xDC80 <= ord(c) <= 0xDCFF for c in text):
        return text
    out = []
    for c in text:
        code = ord(c)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as os.fsdecode holds it
            out.append(f"\\x{code - 0xDC00:02x}")
        elif c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif not c.isprintable() and c != " ":
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(c)
    return "".join(out)


def os_reason(exc: OSError) -> str:
    """The operating system's words for ``exc`` (``Permission denied``), without the path."""
    if exc.strerror:
        return exc.strerror
    if exc.errno is not None:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


def stat_path(path: Path) -> os.stat_result | None:
    """``os.stat`` of ``path``; ``None`` when it does not exist. Other failures raise OSError
    (permission denied, name too long, ...)."""
    try:
        return path.stat()
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise
    except ValueError as exc:  # an embedded NUL byte
        raise OSError(errno.EINVAL, "the name contains a NUL byte") from exc


def file_kind(mode: int) -> str:
    """A name for what a non-regular file is (for messages)."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_small_text(path: Path, limit: int) -> str:
    """The UTF-8 text of a regular file of at most ``limit`` bytes.

    Raises:
        OSError: the file cannot be read.
        ValueError: it is not a regular file (a FIFO would block forever, a device never
            end), it is larger than ``limit``, or it is not UTF-8.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{display_name(path)} is {file_kind(info.st_mode)}, not a file")
        if info.st_size > limit:
            raise ValueError(
                f"{display_name(path)} is {info.st_size} bytes; accepted: at most {limit}"
            )
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ValueError(f"{display_name(path)} is larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{display_name(path)} is not UTF-8 text: {exc}") from exc
