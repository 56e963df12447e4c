"""``edge-ser classify PATH...``: classify audio files, folders and globs.

Prints a table (or one JSON object per file with ``--json``) on stdout. A file that fails
is reported as ``path: error: message`` on stderr and the others are still processed; the
exit status is 0 when all succeeded and 1 otherwise (2 when nothing could run at all, e.g.
no model).
"""

from __future__ import annotations

import argparse
import csv
import functools
import glob
import json
import logging
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from .audio import AUDIO_EXTENSIONS, open_audio
from .classifier import Classifier
from .cli_flags import add_model_argument
from .errors import EdgeSerError, OptionsError
from .native import capture_native_stderr
from .options import AGGREGATIONS, ClassifierOptions
from .paths import display_name, os_reason, stat_path
from .results import ClassificationResult
from .stdin import STDIN_NAME, classify_stdin
from .walk import walk_files

__all__ = ["OPTION_FLAGS", "add_arguments", "expand_inputs", "run"]

logger = logging.getLogger("edge_ser.cli")

LONG_FILE_S = 60.0  # a single file this long gets a progress bar
FORMATS = ("table", "json", "csv")
# Option fields whose flag is not their name (errors name the flag: see cli_flags).
OPTION_FLAGS = {
    "WindowOptions.window_s": "--window",
    "WindowOptions.overlap_s": "--overlap",
    "WindowOptions.min_window_s": "--min-window",
    "VadOptions.aggressiveness": "--vad-aggressiveness",
    "VadOptions.enabled": "--no-vad",
    "AggregationOptions.method": "--aggregation",
    "AggregationOptions.min_speech_ratio": "--min-speech-ratio",
    "SessionOptions.intra_op_threads": "--threads",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="audio files, folders (searched recursively) or glob patterns; - reads one "
        "recording from standard input",
    )
    add_model_argument(parser)
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="table (default), json (one object per file per line) or csv (a header, then "
        "one row per file)",
    )
    parser.add_argument("--json", action="store_true", help="the same as --format json")
    parser.add_argument(
        "--basename",
        action="store_true",
        help="table: show file names only (default: paths relative to the working folder)",
    )
    parser.add_argument(
        "--timeline", action="store_true", help="table mode: also print one row per window"
    )
    win = parser.add_argument_group("windowing")
    win.add_argument(
        "--window",
        type=float,
        default=None,
        metavar="S",
        help="window length in seconds (default: the model's maximum, e.g. 8)",
    )
    win.add_argument(
        "--overlap",
        type=float,
        default=None,
        metavar="S",
        help="overlap between consecutive windows in seconds (default 0)",
    )
    win.add_argument(
        "--min-window",
        type=float,
        default=None,
        metavar="S",
        help="shortest window; shorter speech is extended backwards (default 1)",
    )
    vad = parser.add_argument_group("voice activity detection")
    vad.add_argument(
        "--vad-aggressiveness",
        type=int,
        choices=(0, 1, 2, 3),
        default=None,
        help="webrtcvad mode, 0 (keeps most) to 3 (strictest) (default 2)",
    )
    vad.add_argument(
        "--no-vad", action="store_true", help="no VAD: the whole file is one speech region"
    )
    vad.add_argument(
        "--energy-floor",
        type=_energy_floor,
        default=None,
        metavar="DBFS|off",
        help="frames quieter than this (dB of full scale, DC removed) are silence, whatever "
        "webrtcvad says; 'off' turns the gate off (default -70)",
    )
    agg = parser.add_argument_group("aggregation")
    agg.add_argument(
        "--aggregation",
        choices=AGGREGATIONS,
        default=None,
        help="how window scores combine (default: duration)",
    )
    agg.add_argument(
        "--min-speech-ratio",
        type=float,
        default=None,
        metavar="R",
        help="leave out windows with less speech than this share (default 0.3)",
    )
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="ONNX Runtime intra-op threads (default: 0 = automatic)")  # fmt: skip
    parser.add_argument("--parallel-windows", type=int, default=None, metavar="N",
                        help="windows of a recording scored at once, one thread each "
                        "(default 1; try 2 with --threads 1 on long recordings)")  # fmt: skip


_OFF = "off"


def _energy_floor(text: str) -> float | str:
    if text.strip().lower() == _OFF:
        return _OFF
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a level in dBFS (e.g. -70) or 'off', got {text!r}"
        ) from None


def options_from_args(args: argparse.Namespace) -> ClassifierOptions:
    """Only the options given on the command line; the rest keep their defaults."""

    def given(**values: Any) -> dict[str, Any]:
        return {k: v for k, v in values.items() if v is not None}

    no_vad = False if args.no_vad else None
    vad = given(aggressiveness=args.vad_aggressiveness, enabled=no_vad)
    floor = getattr(args, "energy_floor", None)
    if floor is not None:
        vad["energy_floor_dbfs"] = None if floor == _OFF else floor
    return ClassifierOptions.from_dict({
        "vad": vad,
        "window": given(window_s=args.window, overlap_s=args.overlap, min_window_s=args.min_window),
        "aggregation": given(method=args.aggregation, min_speech_ratio=args.min_speech_ratio),
        "session": given(intra_op_threads=args.threads, parallel_windows=args.parallel_windows),
    })  # fmt: skip


def expand_inputs(patterns: list[str]) -> list[tuple[str, Path | None]]:
    """Resolve PATH arguments to ``(name, path)`` pairs; ``path`` is None for a bad argument.

    A name the file system refuses (too long, in a folder without search permission) and a
    subfolder that cannot be read are bad arguments too: they are reported one per line
    while the rest of the batch runs. Inside folders only regular files are taken (a FIFO
    named ``x.wav`` would block); a path named on the command line may be a pipe.
    """
    found: list[tuple[str, Path | None]] = []
    for pattern in patterns:
        if pattern == STDIN_NAME:  # standard input, as unix tools read it ('./-' is a file)
            found.append((pattern, Path(pattern)))
            continue
        path = Path(pattern)
        try:
            info = stat_path(path)
        except OSError:
            found.append((pattern, None))
            continue
        if info is not None:
            matches = [path]
        elif glob.has_magic(pattern):
            matches = [Path(p) for p in sorted(glob.glob(pattern, recursive=True))]
        else:
            matches = []
        if not matches:
            found.append((pattern, None))
        for match in matches:
            if _is_dir(match):
                files, unreadable = _audio_files_in(match)
                found.extend((str(f), f) for f in files)
                found.extend((str(d), None) for d in unreadable)
                if not files and not unreadable:
                    found.append((str(match), None))
            else:
                found.append((str(match), match))
    unique: dict[str, Path | None] = {}
    for name, resolved in found:
        unique.setdefault(name, resolved)
    return list(unique.items())


def _is_dir(path: Path) -> bool:
    try:
        info = stat_path(path)
    except OSError:
        return False
    return info is not None and stat.S_ISDIR(info.st_mode)


def _audio_files_in(folder: Path) -> tuple[list[Path], list[Path]]:
    """Audio files under ``folder`` (recursively, following links once; entries that cannot
    be examined are kept so classify reports them), and the folders that could not be read."""
    unreadable: list[Path] = []

    def failed(exc: OSError) -> None:
        unreadable.append(Path(exc.filename) if exc.filename else folder)

    files = walk_files(folder, AUDIO_EXTENSIONS, on_error=failed, broken=True)
    return files, sorted(unreadable)


def run(args: argparse.Namespace) -> int:
    with capture_native_stderr():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    fmt = "json" if args.json else (args.format or "table")
    if args.json and args.format not in (None, "json"):
        raise OptionsError(f"--json and --format {args.format} disagree; give one of them")
    clf = Classifier(args.model, options_from_args(args))
    inputs = expand_inputs(list(args.paths))
    shown = [display_name(_display_name(name, args.basename)) for name, _ in inputs]
    table = _Table(sys.stdout, shown, args.timeline) if fmt == "table" else None
    rows = CsvRows(sys.stdout, clf.labels) if fmt == "csv" else None
    bar = _ProgressBar(sys.stderr, len(inputs), paths=[p for _, p in inputs])
    failed = 0
    for index, ((name, path), display) in enumerate(zip(inputs, shown, strict=True)):
        if path is None:
            failed += _report(bar, display, _why_nothing(name))
            continue
        try:
            progress = functools.partial(bar.update, index, display)
            if name == STDIN_NAME:
                result = classify_stdin(clf, getattr(sys.stdin, "buffer", None), progress)
            else:
                result = clf.classify(path, progress=progress)
        except EdgeSerError as exc:
            failed += _report(bar, display, str(exc))
            continue
        except Exception as exc:  # a bug must not lose the other files' results
            logger.info("unexpected error on %s", display, exc_info=True)
            failed += _report(
                bar, display, f"unexpected {type(exc).__name__}: {exc} (a bug: please report it)"
            )
            continue
        bar.clear()
        if table is not None:
            table.row(display, result)
        elif rows is not None:
            rows.row(display, result)
        else:
            _write_json_line(result.to_dict())
        for warning in result.warnings:
            logger.debug("%s", warning)  # already logged as a warning where it happened
    bar.clear()
    return 1 if failed else 0


def _display_name(name: str, basename: bool) -> str:
    """The table's name for an input: relative to the working folder when inside it."""
    if name == STDIN_NAME:
        return name
    if basename:
        return os.path.basename(name.rstrip(os.sep)) or name
    try:
        relative = os.path.relpath(os.path.abspath(name))
    except ValueError:  # another drive (Windows)
        return name
    return name if relative.startswith(os.pardir) else relative


def _write_json_line(obj: dict[str, Any]) -> None:
    """One JSON object per line, always UTF-8. A file name's undecodable bytes (held as lone
    surrogates) become ``\\udcXX`` escapes: valid JSON that decodes back to the same name."""
    line = json.dumps(obj, ensure_ascii=False) + "\n"
    data = line.encode("utf-8", "backslashreplace")
    out = sys.stdout
    buffer = getattr(out, "buffer", None)
    if buffer is None:  # a text-only stream (a test's StringIO)
        out.write(data.decode("utf-8"))
    else:
        out.flush()
        buffer.write(data)
        buffer.flush()
    out.flush()


def _why_nothing(name: str) -> str:
    path = Path(name)
    try:
        info = stat_path(path)
    except OSError as exc:
        return f"cannot access: {os_reason(exc)}"
    if info is not None and stat.S_ISDIR(info.st_mode):
        try:
            os.scandir(path).close()
        except OSError as exc:
            return f"cannot read this folder: {os_reason(exc)}"
        exts = ", ".join(sorted(AUDIO_EXTENSIONS))
        return f"no audio files in this folder (looked for {exts})"
    if glob.has_magic(name):
        return "no files match this pattern"
    return "no such file or folder"


def _report(bar: _ProgressBar, name: str, message: str) -> int:
    bar.clear()
    # One failure, one line, even if a library's message has more; names shown escaped.
    one_line = display_name(" ".join(message.split()))
    print(f"{name}: error: {one_line}", file=sys.stderr, flush=True)
    return 1


class _Table:
    def __init__(self, out: TextIO, names: list[str], timeline: bool) -> None:
        self.out = out
        self.timeline = timeline
        self.width = max([4, *(len(n) for n in names)])
        self._header = False

    def row(self, name: str, result: ClassificationResult) -> None:
        if not self._header:
            self._print(
                f"{'FILE':<{self.width}}  {'LABEL':<11}  {'SCORE':>5}  {'DURATION':>8}  WINDOWS"
                "  NOTE"
            )
            self._header = True
        label = result.label or "(no speech)"
        score = f"{result.scores[result.label]:.3f}" if result.label else "-"
        duration, count = f"{result.duration:.1f}s", len(result.windows)
        note = "  low confidence" if result.low_confidence else ""
        self._print(
            f"{name:<{self.width}}  {label:<11}  {score:>5}  {duration:>8}  {count:>7}{note}"
        )
        if self.timeline:
            for w in result.windows:
                self._print(
                    f"  {w.start:8.2f} - {w.end:8.2f} s  {w.label:<11}  {w.confidence:.3f}  "
                    f"speech {w.speech_ratio:4.0%}"
                    + ("  low confidence" if w.low_confidence else "")
                )

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)


class _ProgressBar:
    """A one-line progress bar on a terminal; silent when the stream is not a TTY.

    Progress is measured in seconds of audio, not in files, so one long recording among
    short ones moves the bar as it is decoded; the ETA extrapolates the time so far. The
    durations come from the files' headers, read only when the bar is shown.
    """

    def __init__(
        self, out: TextIO, files: int, width: int = 30, paths: list[Path | None] | None = None
    ) -> None:
        self.out = out
        self.files = files
        self.width = width
        self.enabled = bool(getattr(out, "isatty", lambda: False)())
        self._shown = False
        self._last = 0.0
        self._started: float | None = None
        self._seconds: list[float | None] | None = None
        if self.enabled and paths is not None and files > 1:
            self._seconds = [_probe_seconds(p) for p in paths]

    def update(self, index: int, name: str, done: float, total: float) -> None:
        if not self.enabled or (self.files < 2 and total < LONG_FILE_S):
            return
        now = time.monotonic()
        if self._started is None:
            self._started = now
        if now - self._last < 0.1:
            return
        self._last = now
        fraction = min(1.0, self._fraction(index, done, total))
        filled = round(fraction * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = now - self._started
        eta = ""
        if fraction > 0.01 and elapsed > 1.0:
            eta = f" ETA {_clock(elapsed / fraction * (1.0 - fraction))}"
        self.out.write(
            f"\r[{bar}] {index + 1}/{self.files} {fraction:4.0%}{eta} {name[-40:]}\x1b[K"
        )
        self.out.flush()
        self._shown = True

    def _fraction(self, index: int, done: float, total: float) -> float:
        seconds = self._seconds
        if seconds is None:
            return (index + (done / total if total > 0 else 1.0)) / self.files
        if total > 0:
            seconds[index] = total  # the decoder's figure, for a file the probe missed
        known = [s for s in seconds if s]
        guess = sum(known) / len(known) if known else 1.0  # unreadable, stdin: an average
        sizes = [s or guess for s in seconds]
        return (sum(sizes[:index]) + min(done, sizes[index])) / sum(sizes)

    def clear(self) -> None:
        if self._shown:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._shown = False


def _probe_seconds(path: Path | None) -> float | None:
    if path is None or str(path) == STDIN_NAME:
        return None
    try:
        with open_audio(path) as f:
            return f.duration or None
    except (EdgeSerError, OSError):
        return None


def _clock(seconds: float) -> str:
    s = round(seconds)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


class CsvRows:
    """``--format csv``: a header, then one row per file (scores one column per label)."""

    def __init__(self, out: TextIO, labels: tuple[str, ...]) -> None:
        self.out = out
        self.labels = labels
        self._writer = csv.writer(out, lineterminator="\n")
        self._header = False

    def row(self, name: str, result: ClassificationResult) -> None:
        if not self._header:
            self._writer.writerow(
                ["path", "label", "score", "low_confidence", "duration", "speech_duration",
                 "windows", *(f"score_{label}" for label in self.labels)]
            )  # fmt: skip
            self._header = True
        top = f"{result.scores[result.label]:.6f}" if result.label else ""
        self._writer.writerow(
            [name, result.label or "", top, int(result.low_confidence), f"{result.duration:.3f}",
             f"{result.speech_duration:.3f}", len(result.windows),
             *(f"{result.scores[k]:.6f}" if k in result.scores else "" for k in self.labels)]
        )  # fmt: skip
        self.out.flush()
