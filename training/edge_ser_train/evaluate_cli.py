"""``edge-ser evaluate``: score an exported model on a corpus through the runtime.

Example::

    edge-ser evaluate --model models/edge-ser --corpus ravdess --data DATASETS/ravdess
    edge-ser evaluate --model out/model --corpus savee --data savee --speakers DC JE --json

Prints UA, WA, macro-F1, per-class F1 and the confusion matrix (``--json``: one object with
keys ``ua``, ``wa``, ``macro_f1``, ``per_class_f1``, ``confusion_matrix``, ``labels``, ``n``,
``corpus``, ``model`` and more). "No speech" results count as errors and are reported.
Needs no torch: the corpus loaders and metrics are numpy/stdlib, the model runs on
ONNX Runtime. Exit 0 when every file was scored, 1 when some could not be decoded.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from .corpora import CORPORA, CorpusOptions, filter_speakers, load_corpus
from .evaluation import EvaluationReport, evaluate_records

__all__ = ["add_arguments", "print_report", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=None,
        metavar="PATH",
        help="exported model folder or .onnx/.ort file (default: bundled model)",
    )
    parser.add_argument(
        "--corpus",
        default=None,
        metavar="NAME",
        help=f"{', '.join(CORPORA)} or manifest (default: detect from --data)",
    )
    parser.add_argument(
        "--data", required=True, metavar="DIR", help="the corpus folder (or a .csv manifest)"
    )
    parser.add_argument(
        "--speakers",
        nargs="+",
        default=None,
        metavar="ID",
        help="evaluate only these speakers (e.g. held-out test speakers)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--out", default=None, metavar="FILE.json", help="also write the JSON report to this file"
    )
    parser.add_argument(
        "--plot",
        default=None,
        metavar="FILE.png",
        help="write the confusion matrix as a PNG (needs matplotlib)",
    )
    parser.add_argument(
        "--iemocap-subset", choices=("all", "improvised", "scripted"), default="all"
    )
    parser.add_argument(
        "--calm-as-neutral",
        action="store_true",
        help="count RAVDESS/TurEV-DB calm as neutral (not the 4-class convention; "
        "recorded in the report)",
    )
    parser.add_argument(
        "--max-files",
        type=int,
        default=None,
        metavar="N",
        help="evaluate only the first N files (smoke runs)",
    )
    parser.add_argument(
        "--no-vad",
        action="store_true",
        help="classify whole files without voice activity detection",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        metavar="N",
        help="ONNX Runtime intra-op threads (0: automatic)",
    )
    parser.add_argument("--progress", action="store_true", help="progress bar on stderr")


def _format_table(report: EvaluationReport) -> list[str]:
    m = report.metrics
    width = max(10, *(len(label) for label in m.labels)) + 1
    header = "true \\ pred".ljust(width) + "".join(label.rjust(width) for label in m.labels)
    lines = [header + "no speech".rjust(width)]
    for label, row, missing in zip(m.labels, m.confusion_matrix, m.no_prediction, strict=True):
        lines.append(
            label.ljust(width)
            + "".join(str(v).rjust(width) for v in row)
            + str(missing).rjust(width)
        )
    return lines


def print_report(report: EvaluationReport, out: TextIO) -> None:
    m = report.metrics
    print(f"corpus {report.corpus}: {m.n} files, model {report.model}", file=out)
    print(f"ua        {m.ua:.4f}", file=out)
    print(f"wa        {m.wa:.4f}", file=out)
    print(f"macro_f1  {m.macro_f1:.4f}", file=out)
    print("per-class F1:", file=out)
    for label, f1 in m.per_class_f1.items():
        print(f"  {label:<12}{'-' if f1 is None else f'{f1:.4f}'}", file=out)
    print("confusion matrix (rows: true, columns: predicted):", file=out)
    for line in _format_table(report):
        print("  " + line, file=out)
    print(f"no speech: {report.no_speech} file(s), counted as errors", file=out)
    if report.failed:
        print(f"failed to decode: {len(report.failed)} file(s), left out:", file=out)
        for path, error in report.failed[:10]:
            print(f"  {path}: {error}", file=out)


def run(args: argparse.Namespace) -> int:
    from edge_ser import Classifier

    corpus_options = CorpusOptions(
        iemocap_subset=args.iemocap_subset, calm_as_neutral=args.calm_as_neutral
    )
    records = load_corpus(args.corpus, args.data, corpus_options)
    if args.speakers:
        records = filter_speakers(records, [s for x in args.speakers for s in x.split(",")])
    if args.max_files is not None:
        records = records[: max(0, args.max_files)]
    options: dict[str, Any] = {"session": {"intra_op_threads": args.threads}}
    if args.no_vad:
        options["vad"] = {"enabled": False}
    clf = Classifier(args.model, options)

    def predict(path: Path) -> str | None:
        return clf.classify(path).label

    corpus = records[0].corpus if records else str(args.corpus)
    report = evaluate_records(
        records,
        predict,
        clf.labels,
        corpus=corpus,
        model=clf.model_source,
        settings={
            "data": str(args.data),
            "speakers": sorted({r.speaker for r in records}),
            "calm_as_neutral": args.calm_as_neutral,
            "iemocap_subset": args.iemocap_subset,
            "vad": not args.no_vad,
        },
        progress=args.progress,
    )
    data = report.to_dict()
    if args.out is not None:
        Path(args.out).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if args.plot is not None:
        from .plots import plot_metrics_confusion

        m = report.metrics
        plot_metrics_confusion(m, args.plot, f"{corpus}: UA {m.ua:.3f}, WA {m.wa:.3f}")
    if args.json:
        print(json.dumps(data))
    else:
        print_report(report, sys.stdout)
    return 1 if report.failed else 0
