"""Metrics against hand-computed values; fold summaries; plots; the evaluation loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edge_ser_train.corpora import LABELS, Record
from edge_ser_train.evaluation import evaluate_records
from edge_ser_train.metrics import compute_metrics, summarize_folds, write_json

from edge_ser.errors import AudioDecodeError, TrainingError

A, H, N, S = LABELS


def test_metrics_match_hand_computed_values() -> None:
    y_true = [A, A, A, H, H, N, S, S]
    y_pred = [A, A, H, A, None, N, S, N]  # None: the runtime found no speech
    m = compute_metrics(y_true, y_pred, LABELS)
    assert m.confusion_matrix == ((2, 1, 0, 0), (1, 0, 0, 0), (0, 0, 1, 0), (0, 0, 1, 1))
    assert m.no_prediction == (0, 1, 0, 0)
    assert m.n == 8
    # recalls 2/3, 0/2 (the no-speech file counts against happiness), 1/1, 1/2
    assert m.ua == pytest.approx((2 / 3 + 0 + 1 + 1 / 2) / 4)
    assert m.wa == pytest.approx(4 / 8)
    # F1 = 2TP / (2TP + FP + FN): anger 4/6, happiness 0/3, neutral 2/3, sadness 2/3
    assert m.per_class_f1 == pytest.approx({A: 2 / 3, H: 0.0, N: 2 / 3, S: 2 / 3})
    assert m.macro_f1 == pytest.approx(0.5)
    d = m.to_dict()
    assert d["no_prediction"] == 1
    assert d["confusion_matrix"][0] == [2, 1, 0, 0]
    json.dumps(d)  # JSON-ready


def test_absent_classes_are_not_charged() -> None:
    # TurEV-DB has no neutral: wrong "neutral" predictions still cost recall elsewhere
    y_true = [A, A, H, H, S, S]
    y_pred = [A, N, H, H, S, S]
    m = compute_metrics(y_true, y_pred, LABELS)
    assert m.per_class_recall[N] is None
    assert m.per_class_f1[N] == 0.0  # predicted but never true: defined, and 0
    assert m.ua == pytest.approx((1 / 2 + 1 + 1) / 3)
    assert m.macro_f1 == pytest.approx((2 / 3 + 1 + 1) / 3)  # over classes with support
    m2 = compute_metrics([A, H], [A, H], LABELS)
    assert m2.per_class_f1[S] is None  # neither true nor predicted
    assert m2.ua == m2.wa == m2.macro_f1 == 1.0


def test_unknown_labels_are_appended() -> None:
    m = compute_metrics([A, "calm"], ["calm", "calm"], [A, H])
    assert m.labels == (A, H, "calm")
    assert m.confusion_matrix == ((0, 0, 1), (0, 0, 0), (0, 0, 1))


def test_bad_inputs() -> None:
    with pytest.raises(TrainingError, match="as many predictions"):
        compute_metrics([A, H], [A])
    with pytest.raises(TrainingError, match="at least one"):
        compute_metrics([], [])


def test_fold_summary_mean_and_sample_std(tmp_path: Path) -> None:
    folds = [
        compute_metrics([A, A, H, H], [A, H, A, H], LABELS),  # UA 0.5
        compute_metrics([A, A, H, H], [A, A, H, A], LABELS),  # UA 0.75
        compute_metrics([A, A, H, H], [A, A, H, H], LABELS),  # UA 1.0
    ]
    s = summarize_folds(folds, ["f1", "f2", "f3"])
    assert s["n_folds"] == 3
    assert s["mean"]["ua"] == pytest.approx(0.75)
    assert s["std"]["ua"] == pytest.approx(0.25)  # sample std (ddof=1) of .5, .75, 1
    assert s["mean"]["per_class_f1"][N] is None
    assert s["confusion_matrix"][0] == [5, 1, 0, 0]
    assert s["n"] == 12
    assert [f["name"] for f in s["folds"]] == ["f1", "f2", "f3"]
    single = summarize_folds(folds[:1])
    assert single["std"]["ua"] == 0.0
    path = write_json(tmp_path / "summary.json", s)
    assert json.loads(path.read_text())["mean"]["ua"] == pytest.approx(0.75)


def test_plots_are_pngs(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="plots need matplotlib (the train extra)")
    from edge_ser_train.plots import plot_folds, plot_metrics_confusion

    folds = [compute_metrics([A, H, N, S], p, LABELS) for p in ([A, H, N, S], [A, A, N, N])]
    cm = plot_metrics_confusion(folds[1], tmp_path / "cm.png", "test")
    bars = plot_folds(folds, ["fold 1", "fold 2"], tmp_path / "folds.png")
    for p in (cm, bars):
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000


def test_evaluate_records_counts_no_speech_and_failures() -> None:
    records = [
        Record(Path(f"/c/{i}.wav"), label, f"s{i % 2}", f"s{i % 2}", "mine")
        for i, label in enumerate([A, A, H, S, S])
    ]

    def predict(path: Path) -> str | None:
        if path.name == "3.wav":
            raise AudioDecodeError(f"cannot decode {path}")
        return {"0.wav": A, "1.wav": H, "2.wav": H, "4.wav": None}[path.name]

    report = evaluate_records(records, predict, LABELS, corpus="mine", model="stub")
    assert report.metrics.n == 4  # the undecodable file is left out ...
    assert report.failed == (("/c/3.wav", "cannot decode /c/3.wav"),)  # ... and listed
    assert report.no_speech == 1
    assert report.metrics.wa == pytest.approx(2 / 4)
    d = report.to_dict()
    for key in (
        "ua",
        "wa",
        "macro_f1",
        "per_class_f1",
        "confusion_matrix",
        "labels",
        "n",
        "corpus",
        "model",
        "no_speech",
    ):
        assert key in d
    assert d["corpus"] == "mine" and d["model"] == "stub"
    with pytest.raises(TrainingError, match="failed to load"):
        evaluate_records(records[3:4], predict, LABELS, corpus="mine", model="stub")
