"""Every fold of a trained split, exported to int8 and scored through the runtime.

``edge-ser train --split speakers:5`` (or ``cross:CORPUS``) writes one checkpoint per fold.
This module makes the same folds again (:func:`~edge_ser_train.splits.make_splits`, same
seed) and, for each one:

1. checks that the fold's checkpoint was trained on that fold (its report's test speakers);
2. exports it (:func:`edge_ser_export.export_model`, static int8 by default), calibrated on
   up to ``calibration_files`` utterances drawn from the fold's own *training* side, so no
   test speaker reaches the quantiser either;
3. classifies every test utterance with the runtime (:class:`edge_ser.Classifier`: VAD,
   windows, aggregation, as ``edge-ser evaluate`` does; a "no speech" result counts as an
   error).

The report gives UA, WA, macro-F1, per-class F1 and recall and the confusion matrix per
fold, UA per corpus, and the mean and standard deviation over folds (the paper's cross-fold
variance).

Run: ``python -m edge_ser_train.runtime_folds --run speakers:5=DIR --run cross:savee=DIR2
--data DIR:CORPUS ... --work DIR --out report.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_ser.errors import EdgeSerError, TrainingError

from .corpora import CorpusOptions, Record
from .evaluation import evaluate_records
from .metrics import per_corpus_ua, summarize_folds
from .splits import Split, make_splits

__all__ = ["calibration_links", "fold_checkpoint", "score_folds"]

log = logging.getLogger("edge_ser.train.runtime_folds")
LABELS = ("anger", "happiness", "neutral", "sadness")
REPORT = "edge_ser_train.json"


def fold_checkpoint(run_dir: Path, split: Split, n_folds: int) -> Path:
    """The checkpoint folder of ``split`` in ``run_dir``, checked against its report."""
    folder = run_dir / split.name if n_folds > 1 else run_dir
    report = folder / REPORT
    if not report.is_file():
        raise TrainingError(f"{folder}: no {REPORT} (not an `edge-ser train` fold)")
    trained = json.loads(report.read_text())
    want = sorted({r.speaker_key for r in split.test})
    got = sorted(trained.get("split", {}).get("test", {}).get("speakers", []))
    if got != want:
        raise TrainingError(
            f"{folder}: trained with other test speakers than fold {split.name} "
            f"({len(got)} against {len(want)}): same --data and seed?"
        )
    return folder


def calibration_links(train: Sequence[Record], folder: Path, n: int, seed: int = 0) -> Path:
    """Symbolic links to ``n`` utterances drawn from ``train`` (seeded), in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    picks = sorted(rng.choice(len(train), size=min(n, len(train)), replace=False))
    for i in picks:
        src = Path(train[int(i)].path).resolve()
        link = folder / f"{i:05d}_{src.name}"
        if not link.exists():
            os.symlink(src, link)
    return folder


def score_folds(
    runs: Sequence[tuple[str, Path]],
    data: Sequence[str],
    work: Path,
    *,
    quantize: str = "static",
    calibration_files: int = 96,
    seed: int = 0,
    labels: Sequence[str] = LABELS,
) -> dict[str, Any]:
    """Export and score every fold of every ``(split spec, run folder)`` (module docstring)."""
    from edge_ser_export import export_model

    from edge_ser import Classifier

    from .train import load_sources

    labels = tuple(labels)
    records = load_sources(data, labels, CorpusOptions())
    report: dict[str, Any] = {"quantize": quantize, "splits": {}}
    for spec, run_dir in runs:
        folds = make_splits(records, spec, seed)
        rows, fold_metrics = [], []
        for split in folds:
            checkpoint = fold_checkpoint(Path(run_dir), split, len(folds))
            fold_work = work / spec.replace(":", "_") / split.name
            calibration = None
            if quantize == "static":
                calibration = calibration_links(
                    split.train, fold_work / "calibration", calibration_files, seed
                )
            export_model(
                checkpoint,
                fold_work / "model",
                quantize=quantize,
                calibration=calibration,
                raw_variant=False,
            )
            clf = Classifier(fold_work / "model")
            predicted: dict[str, str | None] = {}

            def predict(path: Path, clf: Any = clf, predicted: Any = predicted) -> str | None:
                label: str | None = clf.classify(path).label
                predicted[str(path)] = label
                return label

            result = evaluate_records(split.test, predict, labels, corpus=spec, model=split.name)
            m = result.metrics
            fold_metrics.append(m)
            log.info("%s %s: runtime UA %.3f (n=%d)", spec, split.name, m.ua, m.n)
            scored = [r for r in split.test if str(r.path) in predicted]
            rows.append(
                {
                    "name": split.name,
                    **m.to_dict(),
                    "per_corpus_ua": per_corpus_ua(
                        scored, [predicted[str(r.path)] for r in scored], labels
                    ),
                    "failed": [{"path": p, "error": e} for p, e in result.failed],
                }
            )
        names = [r["name"] for r in rows]
        report["splits"][spec] = {
            "folds": rows,
            "summary": summarize_folds(fold_metrics, names) if len(rows) > 1 else None,
            "ua_mean": round(float(np.mean([r["ua"] for r in rows])), 4),
            "ua_std": round(float(np.std([r["ua"] for r in rows], ddof=1)), 4)
            if len(rows) > 1
            else None,
        }
    return report


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m edge_ser_train.runtime_folds", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "--run",
        action="append",
        required=True,
        metavar="SPLIT=DIR",
        help="a split and the `edge-ser train --split SPLIT` output folder (repeatable)",
    )
    p.add_argument("--data", nargs="+", required=True, help="DIR:CORPUS sources, as in training")
    p.add_argument("--work", required=True, help="folder for the exported fold models")
    p.add_argument("--quantize", choices=("static", "dynamic", "none"), default="static")
    p.add_argument("--calibration-files", type=int, default=96)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--labels", default=",".join(LABELS), help="the classes, as in training")
    p.add_argument("--out", required=True, help="the report (JSON)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        runs = []
        for item in a.run:
            spec, sep, folder = item.partition("=")
            if not sep or not spec or not folder:
                raise TrainingError(f"--run {item!r}: expected SPLIT=DIR")
            runs.append((spec, Path(folder)))
        report = score_folds(
            runs,
            a.data,
            Path(a.work),
            quantize=a.quantize,
            calibration_files=a.calibration_files,
            seed=a.seed,
            labels=[x for x in a.labels.split(",") if x],
        )
    except EdgeSerError as exc:
        print(f"runtime_folds: error: {exc}", file=sys.stderr)
        return 2
    Path(a.out).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
