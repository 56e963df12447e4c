"""Walking folders for audio: symlinked folders are followed, each real folder once.

``Path.rglob`` (before Python 3.13) does not descend into symlinked folders, so a corpus or
a folder of voice notes assembled from links looked empty. :func:`walk_files` follows them
and remembers every folder it entered by device and inode, so a link that points back up the
tree (a loop) or to a folder already walked is skipped instead of recursing forever or
listing files twice. Unreadable folders are logged and skipped.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Collection
from pathlib import Path

__all__ = ["walk_files"]

logger = logging.getLogger("edge_ser.walk")


def walk_files(
    root: str | os.PathLike[str],
    suffixes: Collection[str],
    *,
    hidden: bool = True,
    on_error: Callable[[OSError], None] | None = None,
    broken: bool = False,
) -> list[Path]:
    """Files under ``root`` whose lower-cased suffix is in ``suffixes``, sorted.

    Args:
        root: the folder to walk (a symlink to a folder is followed too).
        suffixes: lower-case endings with the dot, e.g. ``{".wav", ".m4a"}``.
        hidden: include names starting with ``.``.
        on_error: called with the error of a folder that cannot be listed (default: log it).
        broken: also list entries that cannot be examined (a dangling link, no permission),
            so that the caller reports each on its own line; FIFOs and devices stay out.
    """
    seen: set[tuple[int, int]] = set()
    found: list[Path] = []

    def report(exc: OSError) -> None:
        if on_error is not None:
            on_error(exc)
        else:
            logger.warning("skipped %s: %s", exc.filename, exc.strerror or exc)

    for folder, dirs, files in os.walk(root, followlinks=True, onerror=report):
        try:
            st = os.stat(folder)
        except OSError as exc:
            report(exc)
            dirs[:] = []
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            logger.info("not walking %s again (a symlink loop or a second link)", folder)
            dirs[:] = []
            continue
        seen.add(key)
        dirs.sort()
        if not hidden:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not hidden and name.startswith("."):
                continue
            if os.path.splitext(name)[1].lower() in suffixes:
                path = Path(folder, name)
                try:
                    regular = stat.S_ISREG(os.stat(path).st_mode)  # not a FIFO or a device
                except OSError:
                    regular = broken  # a dangling link, or no permission to look
                if regular:
                    found.append(path)
    return sorted(found)
