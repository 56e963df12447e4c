"""``edge-ser batch INPUTS... --out DIR``: classify many files on Ray Data.

Writes Parquet (and JSONL with ``--jsonl``) rows to DIR, one per file, with the fields of
``classify --json`` plus ``status`` and ``error``; a rerun with the same DIR skips the files
already done. A progress line (files, audio hours, throughput, failures) goes to stderr on a
terminal, and one summary line at the end. The exit status is 0 when every input has an
``ok`` row, 1 when some have ``error`` rows, 2 when the batch could not run (e.g. no Ray).

This module is cheap to import: Ray and pyarrow are imported only when a batch runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from .batch import BatchOptions, BatchProgress, classify_batch
from .cli_classify import add_arguments as add_classify_arguments
from .cli_classify import options_from_args
from .cli_flags import add_model_argument
from .options import AGGREGATIONS, ClassifierOptions

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="audio files, folders, globs, or manifests (.csv, .parquet, .jsonl with a "
        "'path' column); local paths or URIs (s3://, gs://, hdfs://, file://, fsspec)",
    )
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="output folder (local or a URI); reruns resume"
    )
    add_model_argument(
        parser,
        help="model folder or .onnx/.ort file, at this path on every Ray node "
        "(default: the bundled model)",
    )
    parser.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help="Ray cluster to join ('auto', 'ray://head:10001'); default: a local Ray runtime "
        "sized to this machine",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="actors, one model each (default: the cluster's CPUs / threads per worker)",
    )
    parser.add_argument(
        "--threads-per-worker",
        type=int,
        default=1,
        metavar="T",
        help="ONNX Runtime threads (and CPUs reserved) per actor (default 1)",
    )
    parser.add_argument("--jsonl", action="store_true", help="also write the rows as JSON lines")
    # The classify options, with the same names and defaults (--threads is per worker here).
    win = parser.add_argument_group("windowing, VAD and aggregation (as for classify)")
    win.add_argument("--window", type=float, default=None, metavar="S")
    win.add_argument("--overlap", type=float, default=None, metavar="S")
    win.add_argument("--min-window", type=float, default=None, metavar="S")
    win.add_argument("--vad-aggressiveness", type=int, choices=(0, 1, 2, 3), default=None)
    win.add_argument("--no-vad", action="store_true")
    win.add_argument("--aggregation", choices=AGGREGATIONS, default=None)
    win.add_argument("--min-speech-ratio", type=float, default=None, metavar="R")


def _options(args: argparse.Namespace) -> ClassifierOptions:
    """The classifier options, read by classify's own code from classify's arguments.

    Starts from every classify default, so an option classify gains later keeps its default
    here; ``--threads`` stays unset (threads come from ``--threads-per-worker``).
    """
    classify = argparse.ArgumentParser(add_help=False)
    add_classify_arguments(classify)
    merged = classify.parse_args(["-"])
    for name, value in vars(args).items():
        if hasattr(merged, name) and name != "threads":
            setattr(merged, name, value)
    return options_from_args(merged)


def run(args: argparse.Namespace) -> int:
    options = _options(args)
    batch = BatchOptions(
        ray_address=args.ray,
        workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        jsonl=args.jsonl,
    )
    bar = _Progress(sys.stderr)
    try:
        summary = classify_batch(
            list(args.inputs),
            args.out,
            model=args.model,
            options=options,
            batch=batch,
            progress=bar.update,
        )
    finally:
        bar.clear()
    print(f"edge-ser batch: {summary.line()}", file=sys.stderr, flush=True)
    return 0 if summary.ok else 1


class _Progress:
    """A one-line progress display on a terminal; silent when stderr is not a TTY."""

    def __init__(self, out: TextIO, width: int = 24) -> None:
        self.out = out
        self.width = width
        self.enabled = bool(getattr(out, "isatty", lambda: False)())
        self._shown = False
        self._last = 0.0

    def update(self, p: BatchProgress) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.2 and p.done < p.files):
            return
        self._last = now
        fraction = p.done / p.files if p.files else 1.0
        filled = round(fraction * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        self.out.write(
            f"\r[{bar}] {p.done}/{p.files} files  {p.audio_seconds / 3600:.2f} audio h  "
            f"{p.audio_hours_per_hour:.1f} h/h  {p.files_per_second:.2f} files/s  "
            f"{p.failed} failed\x1b[K"
        )
        self.out.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._shown = False
