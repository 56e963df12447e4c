"""The classical baseline: features, balanced weights, the logistic fit, folds and CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the baseline loads corpora through the train extra")

from conftest import make_voice_corpus, voice
from edge_ser_train.baseline import (
    BaselineOptions,
    fit_logistic,
    main,
    run_baseline,
    utterance_features,
)
from edge_ser_train.corpora import Record
from edge_ser_train.data import balanced_weights
from edge_ser_train.pretrain import N_MELS

from edge_ser.errors import TrainingError

LOG_F0 = N_MELS + 2  # index of the mean log-f0 among the 88 statistics


def _record(i: int, corpus: str, label: str) -> Record:
    return Record(Path(f"/x/{corpus}/{i}.wav"), label, f"s{i % 3}", f"s{i % 3}", corpus)


def test_fit_logistic_separates_blobs_and_l2_shrinks_the_weights() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[4.0, 0, 0], [0, 4.0, 0], [0, 0, 4.0]])
    y = np.repeat(np.arange(3), 40)
    x = centres[y] + rng.standard_normal((120, 3))
    w = np.full(120, 1 / 120)
    weak, b = fit_logistic(x, y, w, 3, l2=1e-4)
    assert ((x @ weak + b).argmax(axis=1) == y).mean() > 0.97
    strong, _ = fit_logistic(x, y, w, 3, l2=1.0)
    assert np.linalg.norm(strong) < 0.5 * np.linalg.norm(weak)


def test_fit_logistic_follows_the_sample_weights() -> None:
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 200)
    x = (y * 1.0 + rng.standard_normal(400))[:, None]  # heavily overlapping classes
    even = np.full(400, 1 / 400)
    favour_1 = np.where(y == 1, 4.0, 1.0)
    favour_1 /= favour_1.sum()
    calls = [fit_logistic(x, y, w, 2, l2=1e-3) for w in (even, favour_1)]
    ones = [int(((x @ w + b).argmax(axis=1) == 1).sum()) for w, b in calls]
    assert ones[1] > ones[0] + 40


def test_fit_logistic_rejects_mismatched_inputs() -> None:
    with pytest.raises(TrainingError, match="disagree"):
        fit_logistic(np.zeros((4, 2)), np.zeros(3, dtype=int), np.full(4, 0.25), 2)


def test_balanced_weights_give_every_corpus_label_cell_the_same_total() -> None:
    records = (
        [_record(i, "tess", "anger") for i in range(6)]
        + [_record(i, "tess", "sadness") for i in range(2)]
        + [_record(i, "urdu", "anger") for i in range(1)]
    )
    w = balanced_weights(records)
    assert w.sum() == pytest.approx(1.0)
    cells: dict[tuple[str, str], float] = {}
    for r, wi in zip(records, w, strict=True):
        cells[(r.corpus, r.label)] = cells.get((r.corpus, r.label), 0.0) + wi
    assert list(cells.values()) == pytest.approx([1 / 3] * 3)
    assert balanced_weights(records, by_corpus=False) == pytest.approx(np.full(9, 1 / 9))
    with pytest.raises(TrainingError):
        balanced_weights([])


def test_utterance_features_describe_pitch_and_reject_a_too_short_clip() -> None:
    rng = np.random.default_rng(0)
    low, high = (utterance_features(voice(f0, 1, 0.0, 1.0, rng)) for f0 in (110.0, 300.0))
    assert low.shape == high.shape == (88,)
    assert np.all(np.isfinite(low))
    assert high[LOG_F0] - low[LOG_F0] == pytest.approx(np.log(300 / 110), abs=0.15)
    with pytest.raises(TrainingError, match="too short"):
        utterance_features(np.zeros(100, dtype=np.float32))


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_voice_corpus(tmp_path_factory.mktemp("voices"), actors=4, per_class=3)


def test_loso_folds_score_the_unseen_speaker_and_summarise(voices: Path) -> None:
    report = run_baseline(BaselineOptions(data=(f"{voices}:ravdess",), split="loso", workers=1))
    assert [name for name, _ in report.folds] == [f"loso-Actor_0{i}" for i in range(1, 5)]
    for (name, metrics), split in zip(report.folds, report.splits, strict=True):
        assert metrics.n == 6  # the left-out actor's 3 anger + 3 sadness utterances
        assert split["test"]["speakers"] == [f"ravdess/{name.removeprefix('loso-')}"]
        assert f"ravdess/{name.removeprefix('loso-')}" not in split["train"]["speakers"]
    assert report.summary is not None and report.summary["n_folds"] == 4
    assert report.summary["mean"]["ua"] >= 0.9  # buzzy 300 Hz anger vs pure 110 Hz sadness
    data = json.loads(json.dumps(report.to_dict()))
    assert data["format"] == "edge_ser_baseline/1"
    assert data["options"]["split"] == "loso"


def test_cli_writes_the_report_and_turns_bad_input_into_one_line(
    voices: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    spec = f"{voices}:ravdess"
    args = ["--data", spec, "--split", "holdout:ravdess/Actor_04", "--workers", "1"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("holdout: UA ")
    report = json.loads(out.read_text())
    assert report["folds"][0]["test"]["n"] == 6 and report["summary"] is None
    assert report["failed"] == []

    for bad, message in [
        (["--data", spec, "--split", "none"], "no test side"),
        (["--data", str(tmp_path / "missing") + ":ravdess", "--split", "loso"], "missing"),
        (["--data", spec, "--split", "loso", "--l2", "-1"], "l2"),
        (["--data", spec, "--split", "holdout:ravdess/Actor_99"], "Actor_99"),
    ]:
        assert main(bad) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and "\n" not in err


def test_an_undecodable_file_is_left_out_and_named(voices: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "ravdess"
    shutil.copytree(voices, corpus)
    broken = corpus / "Actor_01" / "03-01-05-01-01-09-01.wav"
    broken.write_bytes(b"RIFF\x00\x00not audio")
    report = run_baseline(
        BaselineOptions(data=(f"{corpus}:ravdess",), split="holdout:ravdess/Actor_04", workers=1)
    )
    assert len(report.failed) == 1 and broken.name in report.failed[0]
    assert report.folds[0][1].n == 6


@pytest.mark.parametrize(
    "change",
    [
        {"data": ()},
        {"labels": ("anger",)},
        {"labels": ("anger", "anger")},
        {"split": "bogus"},
        {"max_iterations": 0},
        {"max_seconds": 0.0},
        {"max_files": 0},
        {"workers": -1},
        {"l2": float("nan")},
    ],
)
def test_options_are_validated(change: dict[str, object]) -> None:
    settings: dict[str, object] = {"data": ("x:ravdess",), "split": "loso", **change}
    with pytest.raises(TrainingError):
        BaselineOptions(**settings)  # type: ignore[arg-type]
