"""``edge-ser`` command line: one dispatcher, one module per subcommand.

Each subcommand module provides ``add_arguments(parser)`` and ``run(args) -> int`` and must
be cheap to import (the toolchain modules import torch inside ``run``), so that
``edge-ser classify`` works where torch is not installed.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Protocol, cast

from . import __version__
from .errors import EdgeSerError

__all__ = ["main"]

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "classify": ("edge_ser.cli_classify", "classify the emotion in audio files"),
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
            p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
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
    except EdgeSerError as exc:
        print(f"edge-ser {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("edge-ser: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
