"""``edge-ser`` command line: one dispatcher, one module per subcommand.

Each subcommand module provides ``add_arguments(parser)`` and ``run(args) -> int`` and must
be cheap to import (the toolchain modules import torch inside ``run``), so that
``edge-ser classify`` works where torch is not installed.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Protocol, TextIO, cast

from . import __version__
from .cli_flags import flag_map, name_flags
from .errors import EdgeSerError
from .paths import display_name, os_reason

__all__ = ["main"]

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "classify": ("edge_ser.cli_classify", "classify the emotion in audio files"),
    "listen": ("edge_ser.cli_listen", "classify the microphone live, window by window"),
    "batch": ("edge_ser.cli_batch", "classify many files on Ray Data, with resume"),
    "benchmark": ("edge_ser.benchmark", "measure latency, real-time factor and memory"),
    "export": ("edge_ser_export.cli", "export a fine-tuned checkpoint to (int8) ONNX / ORT"),
    "train": ("edge_ser_train.cli", "fine-tune DistilHuBERT on emotion corpora"),
    "evaluate": ("edge_ser_train.evaluate_cli", "evaluate an exported model on a corpus"),
}

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_ERROR = 2


class _Command(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _load(name: str) -> _Command | None:
    module_name = COMMANDS[name][0]
    try:
        return cast(_Command, importlib.import_module(module_name))
    except ImportError as exc:
        logging.getLogger("edge_ser").debug("subcommand %s unavailable: %s", name, exc)
        return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-ser",
        description="On-device speech emotion recognition (anger, happiness, neutral, sadness).",
    )
    parser.add_argument("--version", action="version", version=f"edge-ser {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        module = _load(name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        if module is not None:
            module.add_arguments(p)
            p.set_defaults(_run=module.run, _flags=flag_map(p, getattr(module, "OPTION_FLAGS", {})))
    return parser


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Logs to whatever ``sys.stderr`` is now (the CLI may swap it while it runs)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``edge-ser``; returns the exit status.

    Exit statuses: 0 success; 1 some inputs failed (``classify``); 2 nothing could run (bad
    arguments, a missing model, standard output closed or full); 130 interrupted (SIGINT);
    141 standard output closed by its reader (``| head``), as a process killed by SIGPIPE.
    """
    if not _standard_streams_open():
        return EXIT_ERROR
    command = "edge-ser"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        command = f"edge-ser {args.command}" if args.command else command
        _configure_logging(args.verbose)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_ERROR
        run = getattr(args, "_run", None)
        if run is None:
            print(
                f"edge-ser: the '{args.command}' command is not available in this install",
                file=sys.stderr,
            )
            return EXIT_ERROR
        try:
            return int(run(args))
        finally:
            sys.stdout.flush()  # a full disk or a closed pipe shows here, not at exit
    except EdgeSerError as exc:
        message = name_flags(str(exc), getattr(args, "_flags", {}))  # --window, not window_s
        _error(f"{command}: error: {message}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _error("edge-ser: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as a unix tool killed by SIGPIPE.
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        if exc.errno not in _OUTPUT_ERRNOS:
            raise
        _discard_stdout()
        where = f" ({display_name(str(exc.filename))})" if exc.filename else ""
        _error(f"{command}: error: cannot write output{where}: {os_reason(exc)}")
        return EXIT_ERROR


EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 128 + 13  # 128 + SIGPIPE
# A write failed for lack of room or a broken device: report it in one line.
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EPIPE}


def _configure_logging(verbose: bool) -> None:
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _StderrHandler)]
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)


def _standard_streams_open() -> bool:
    """Give closed standard descriptors a /dev/null, so no file opened later takes their
    number (a model or audio file on descriptor 2 would receive native libraries' logs).

    With stderr closed (``2>&-``) messages are dropped, never sent to stdout. With stdout
    closed there is nowhere to put results: that is an error (exit 2), said on stderr.
    """
    closed = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.append(fd)
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if 2 in closed or sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False, errors="backslashreplace")  # noqa: SIM115
    if 0 in closed or sys.stdin is None:
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if callable(reconfigure):
            reconfigure(errors="backslashreplace")  # odd locales must not crash a report
    if 1 in closed or sys.stdout is None:
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        _error("edge-ser: error: standard output is closed; nowhere to write results")
        return False
    return True


def _error(line: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # stderr itself gone: nothing to say
        print(line, file=sys.stderr, flush=True)


def _discard_stdout() -> None:
    """Point descriptor 1 at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
