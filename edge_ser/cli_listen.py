"""``edge-ser listen``: classify the microphone live, window by window.

Prints each window as it completes (time, label, scores) and, on Ctrl-C (or after
``--seconds``), the aggregate over everything heard; ``--json`` prints one JSON object per
line instead (``"event": "window"`` per window, then ``"event": "result"``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .classifier import Classifier
from .cli_flags import add_model_argument
from .listen import ChunkSource, Microphone, list_input_devices, listen
from .results import ClassificationResult, WindowResult

__all__ = ["add_arguments", "open_source", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)
    parser.add_argument(
        "--device",
        default=None,
        metavar="N|NAME",
        help="input device: its number or part of its name (default: the system default)",
    )
    parser.add_argument(
        "--list-devices", action="store_true", help="list the input devices and exit"
    )
    parser.add_argument(
        "--sample-rate",
        type=int,
        default=None,
        metavar="HZ",
        help="record at this rate (default: the device's own; resampled to the model's)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds of audio (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per window, then the result"
    )
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="ONNX Runtime intra-op threads (default: 0 = automatic)")  # fmt: skip


def open_source(args: argparse.Namespace) -> ChunkSource:
    """The audio source for ``run`` (the tests replace this with an injected source)."""
    return Microphone(device=args.device, sample_rate=args.sample_rate)


def run(args: argparse.Namespace) -> int:
    if args.list_devices:
        devices = list_input_devices()
        if not devices:
            print("no audio input devices found", file=sys.stderr)
            return 1
        for d in devices:
            print(d.describe(), flush=True)
        return 0
    options: dict[str, Any] = {}
    if args.threads is not None:
        options["session"] = {"intra_op_threads": args.threads}
    clf = Classifier(args.model, options)
    source = open_source(args)
    enter = getattr(source, "__enter__", None)
    opened = enter() if enter is not None else source
    try:
        if not args.json:
            print(f"listening at {opened.sample_rate} Hz; Ctrl-C for the result", file=sys.stderr)
        outcome = listen(
            clf.stream,
            opened,
            (lambda w: _json_line({"event": "window", **w.to_dict()}))
            if args.json
            else _print_window,
            max_seconds=args.seconds,
        )
    finally:
        exit_ = getattr(source, "__exit__", None)
        if exit_ is not None:
            exit_(None, None, None)
    if args.json:
        _json_line({"event": "result", **outcome.result.to_dict()})
    else:
        _print_result(outcome.result)
    return 0


def _scores(scores: Any) -> str:
    return "  ".join(f"{k} {float(v):.2f}" for k, v in scores.items())


def _print_window(w: WindowResult) -> None:
    print(
        f"{w.start:8.2f} - {w.end:8.2f} s  {w.label:<10} {w.confidence:.3f}  "
        f"speech {w.speech_ratio:4.0%}  {_scores(w.scores)}",
        flush=True,
    )


def _print_result(result: ClassificationResult) -> None:
    if result.label is None:
        print(f"result: no speech in {result.duration:.1f} s", flush=True)
        return
    print(
        f"result: {result.label} {result.scores[result.label]:.3f} over {result.duration:.1f} s "
        f"({len(result.windows)} windows)  {_scores(result.scores)}",
        flush=True,
    )


def _json_line(data: dict[str, Any]) -> None:
    print(json.dumps(data, ensure_ascii=False), flush=True)
