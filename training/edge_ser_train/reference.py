"""The teacher as the reference line: a frozen Whisper encoder with a probe or a head.

On the teacher cache (:mod:`edge_ser_train.teacher`), for every fold of every split given:

* **teacher probe**: L2 logistic regression (:func:`~edge_ser_train.baseline.fit_logistic`)
  on the time mean of one middle hidden state, standardised, with balanced (corpus, label)
  sample weights;
* **teacher + head**: the Whisper backbone's head (:mod:`edge_ser_train.whisper_backbone`:
  weighted layer sum, projector, mean, dropout, classifier; Adaptive Focal Loss), as
  ``edge-ser train`` trains it.

Both are scored on the clean centre 8 s of each test utterance (no runtime, no VAD): UA, WA,
macro-F1, per-class F1 and confusion matrices per fold, UA per corpus, and the mean and
standard deviation across folds. Splits are speaker-independent (``make_splits``).

Run: ``python -m edge_ser_train.reference --teacher openai/whisper-base --data DIR:CORPUS ...
--cache DIR --split speakers:5 --split cross:savee ... --out reference.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np

from edge_ser.errors import EdgeSerError

from .baseline import predict_standardised
from .corpora import CorpusOptions, Record
from .data import DEFAULT_AUGMENT, AudioStore, balanced_weights
from .metrics import Metrics, compute_metrics, per_corpus_ua, summarize_folds
from .splits import make_splits
from .teacher import WHISPER_PREPROCESSING, TeacherCache, load_teacher, truncated_teacher
from .whisper_backbone import HeadOptions, fit_head, predict_head

__all__ = ["run_reference"]

log = logging.getLogger("edge_ser.train.reference")
LABELS = ("anger", "happiness", "neutral", "sadness")


def _probe(
    train: Sequence[Record], test: Sequence[Record], pooled: dict[Any, np.ndarray], l2: float
) -> list[str]:
    predicted = predict_standardised(
        np.stack([pooled[r.path] for r in train]),
        np.array([LABELS.index(r.label) for r in train]),
        balanced_weights(train),
        np.stack([pooled[r.path] for r in test]),
        len(LABELS),
        l2=l2,
        max_iterations=500,
        eps=1e-6,
    )
    return [LABELS[int(i)] for i in predicted]


def run_reference(
    teacher_source: str,
    data: Sequence[str],
    cache: str | Path,
    splits: Sequence[str],
    head: HeadOptions,
    *,
    probe_layer: int = 3,
    probe_l2: float = 1.0,
    copies: int = 2,
    seed: int = 0,
    encoder_layers: int = 0,
) -> dict[str, Any]:
    """Probe and head metrics on every fold of every split (see the module docstring)."""
    from .train import load_sources

    t0 = time.monotonic()
    records = load_sources(data, LABELS, CorpusOptions())
    store = AudioStore(records, WHISPER_PREPROCESSING)
    teacher = load_teacher(teacher_source)
    if encoder_layers:
        teacher = truncated_teacher(teacher, encoder_layers)
    tcache = TeacherCache(teacher, cache, max_samples=8 * 16000, augment=DEFAULT_AUGMENT, seed=seed)
    states = {r.path: [tcache.get(store, r, k) for k in range(copies)] for r in store.records}
    pooled = {p: v[0][probe_layer].astype(np.float32).mean(axis=0) for p, v in states.items()}
    log.info("teacher states: %d computed, %d reused", tcache.computed, tcache.reused)
    report: dict[str, Any] = {
        "teacher": teacher_source,
        "encoder_layers": teacher.n_layers,
        "probe": {"layer": probe_layer, "l2": probe_l2},
        "head": asdict(head),
        "splits": {},
    }
    for spec in splits:
        rows: dict[str, list[tuple[str, Metrics, dict[str, float]]]] = {"probe": [], "head": []}
        for fold in make_splits(store.records, spec, seed):
            train, test = list(fold.train), list(fold.test)
            fitted = fit_head(train, [states[r.path] for r in train], LABELS, head, teacher.encoder)
            probs = predict_head(fitted, [states[r.path][0] for r in test])
            for name, predicted in (
                ("head", [LABELS[int(i)] for i in probs.argmax(axis=1)]),
                ("probe", _probe(train, test, pooled, probe_l2)),
            ):
                m = compute_metrics([r.label for r in test], predicted, LABELS)
                rows[name].append((fold.name, m, per_corpus_ua(test, predicted, LABELS)))
                log.info("%s %s: %s UA %.3f", spec, fold.name, name, m.ua)
        entry: dict[str, Any] = {}
        for name, folds in rows.items():
            per_corpus: dict[str, list[float]] = {}
            for _, _, pc in folds:
                for corpus, ua in pc.items():
                    per_corpus.setdefault(corpus, []).append(ua)
            entry[name] = {
                "folds": [{"name": n, **m.to_dict(), "per_corpus_ua": pc} for n, m, pc in folds],
                "summary": summarize_folds([m for _, m, _ in folds], [n for n, _, _ in folds])
                if len(folds) > 1
                else None,
                "per_corpus_ua_mean": {
                    c: round(float(np.mean(v)), 4) for c, v in per_corpus.items()
                },
                "ua_mean": round(float(np.mean([m.ua for _, m, _ in folds])), 4),
                "ua_std": round(float(np.std([m.ua for _, m, _ in folds], ddof=1)), 4)
                if len(folds) > 1
                else None,
            }
        report["splits"][spec] = entry
    report["minutes"] = round((time.monotonic() - t0) / 60, 2)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge_ser_train.reference", description=__doc__)
    p.add_argument("--teacher", required=True)
    p.add_argument("--data", nargs="+", required=True, help="DIR:CORPUS sources")
    p.add_argument("--cache", required=True, help="the teacher cache folder")
    p.add_argument("--split", action="append", required=True, help="a split (repeatable)")
    p.add_argument("--head", default="{}", help="HeadOptions fields as JSON")
    p.add_argument("--probe-layer", type=int, default=3)
    p.add_argument("--copies", type=int, default=2)
    p.add_argument(
        "--encoder-layers", type=int, default=0, help="keep only the first N layers (0: all)"
    )
    p.add_argument("--out", required=True, help="the report (JSON)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        given = json.loads(a.head)
        unknown = set(given) - {f.name for f in fields(HeadOptions)}
        if unknown:
            raise EdgeSerError(f"--head: unknown field(s) {', '.join(sorted(unknown))}")
        report = run_reference(
            a.teacher,
            a.data,
            a.cache,
            a.split,
            HeadOptions(**given),
            probe_layer=a.probe_layer,
            copies=a.copies,
            encoder_layers=a.encoder_layers,
        )
    except (EdgeSerError, json.JSONDecodeError, ValueError) as exc:  # ValueError: --head
        print(f"reference: error: {exc}", file=sys.stderr)
        return 2
    Path(a.out).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
