"""The rough edges a new user hit (issue 17): flags in errors, symlinks, names, CSV, progress,
low confidence, the metadata summary, and the train command's help."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import make_voice_corpus, synth_speechlike

from edge_ser import Classifier
from edge_ser.cli import build_parser, main
from edge_ser.cli_classify import _ProgressBar, expand_inputs
from edge_ser.cli_flags import name_flags
from edge_ser.errors import TrainingError
from edge_ser.results import (
    LOW_CONFIDENCE_MARGIN,
    LOW_CONFIDENCE_TOP,
    is_low_confidence,
)
from edge_ser.walk import walk_files


def _wav(path: Path, seconds: float = 2.0, rate: int = 16000, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, synth_speechlike(seconds, rate, seed=seed), rate)
    return path


# -- option errors name the flag ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--window", "100"], "--window must be a number from 0.5 to 60"),
        (["--min-speech-ratio", "2"], "--min-speech-ratio must be a number from 0 to 1"),
        (["--min-window", "0"], "--min-window must be a number > 0"),
        (["--threads", "999"], "--threads must be an integer from 0 to 256"),
    ],
)
def test_classify_option_errors_name_the_flag(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], flag: str
) -> None:  # fmt: skip
    wav = _wav(tmp_path / "a.wav")
    assert main(["classify", "--model", str(tiny_model_dir), *argv, str(wav)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"edge-ser classify: error: {flag}"), err
    assert "Options." not in err and err.count("\n") == 1


def test_name_flags_leaves_other_words_alone() -> None:
    flags = {"WindowOptions.window_s": "--window", "mix_ratio": "--mix-ratio"}
    message = "WindowOptions.window_s must be less than the window; TrainOptions.mix_ratio too"
    assert name_flags(message, flags) == "--window must be less than the window; --mix-ratio too"
    assert name_flags("VadOptions.frame_ms bad", flags) == "VadOptions.frame_ms bad"  # no flag


def test_train_without_arguments_names_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edge-ser train: error: edge-ser train needs --data and --out")
    assert "--config" in err
    assert main(["train", "--data", "x", "--out", "y", "--mix-ratio", "-1"]) == 2
    assert "error: --mix-ratio must be" in capsys.readouterr().err


def test_train_help_is_current() -> None:
    from edge_ser_train.cli import describe_augment
    from edge_ser_train.data import DEFAULT_AUGMENT

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    train = sub.choices["train"]  # type: ignore[attr-defined]
    helps = {a.dest: a.help or "" for a in train._actions}
    assert "holdout:CORPUS/SPEAKER" in helps["split"]
    described = describe_augment(DEFAULT_AUGMENT)
    assert described in helps["augment"]
    # From the preset's values: speed, noise (all its colours), EQ, band limit, reverb.
    assert DEFAULT_AUGMENT.speed is not None and DEFAULT_AUGMENT.reverb_rt60 is not None
    lo, hi = DEFAULT_AUGMENT.speed
    assert f"speed {lo:g}-{hi:g}" in described and "white/pink/brown" in described
    assert "band limit" in described and f"RT60 {DEFAULT_AUGMENT.reverb_rt60[0]:g}" in described


# -- symlinks -----------------------------------------------------------------------------------


def test_symlinked_folders_are_followed_once_and_loops_stop(tmp_path: Path) -> None:
    real = tmp_path / "real"
    _wav(real / "sub" / "a.wav")
    _wav(tmp_path / "elsewhere" / "b.flac")
    notes = tmp_path / "notes"
    notes.mkdir()
    os.symlink(tmp_path / "elsewhere", notes / "linked")  # a linked folder
    os.symlink(real, notes / "real-again")
    os.symlink(notes, notes / "linked" / "loop")  # a loop back up the tree
    os.symlink(tmp_path / "gone", notes / "dangling.wav")  # a dangling link
    found = walk_files(notes, {".wav", ".flac"})
    assert sorted(p.name for p in found) == ["a.wav", "b.flac"]
    names = [Path(n).name for n, p in expand_inputs([str(notes)]) if p is not None]
    # the dangling link is listed too, so that classify reports it on a line of its own
    assert sorted(names) == ["a.wav", "b.flac", "dangling.wav"]


def test_corpus_loader_follows_symlinks_and_names_the_layout(tmp_path: Path) -> None:
    from edge_ser_train.corpora import load_corpus

    store = make_voice_corpus(tmp_path / "store", actors=2, per_class=1)
    corpus = tmp_path / "ravdess"
    corpus.mkdir()
    for actor in sorted(store.iterdir()):
        os.symlink(actor, corpus / actor.name)  # a corpus assembled from links
    os.symlink(corpus, corpus / "Actor_01" / "loop")
    records = load_corpus("ravdess", corpus)
    assert len(records) == 4 and {r.speaker for r in records} == {"Actor_01", "Actor_02"}
    empty = tmp_path / "empty_ravdess"
    (empty / "wrong").mkdir(parents=True)
    _wav(empty / "wrong" / "hello.wav")
    with pytest.raises(TrainingError) as info:
        load_corpus("ravdess", empty)
    assert "expected the layout RAVDESS: Actor_NN/03-01-EE-II-SS-RR-AA.wav" in str(info.value)


# -- names, CSV ---------------------------------------------------------------------------------


def test_table_names_are_relative_or_base_names(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:  # fmt: skip
    wav = _wav(tmp_path / "deep" / "folder" / "note.wav")
    monkeypatch.chdir(tmp_path)
    assert main(["classify", "--model", str(tiny_model_dir), str(wav)]) == 0
    row = capsys.readouterr().out.splitlines()[1]
    assert row.split()[0] == os.path.join("deep", "folder", "note.wav")
    assert main(["classify", "--model", str(tiny_model_dir), "--basename", str(wav)]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[0] == "note.wav"
    assert main(["classify", "--model", str(tiny_model_dir), "--json", str(wav)]) == 0
    assert json.loads(capsys.readouterr().out)["path"] == str(wav)  # JSON keeps the path given


def test_csv_format(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _wav(tmp_path / "a, with comma.wav", seed=1), _wav(tmp_path / "b.wav", 3.0, seed=2)
    assert (
        main(["classify", "--model", str(tiny_model_dir), "--format", "csv", str(a), str(b)]) == 0
    )
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["path"] for r in rows] == [str(a), str(b)]
    clf = Classifier(tiny_model_dir)
    for row, path in zip(rows, (a, b), strict=True):
        result = clf.classify(path)
        assert row["label"] == result.label
        assert float(row["score"]) == pytest.approx(result.scores[result.label], abs=1e-6)
        assert row["low_confidence"] == str(int(result.low_confidence))
        assert float(row["duration"]) == pytest.approx(result.duration, abs=1e-3)
        assert int(row["windows"]) == len(result.windows)
        for label in clf.labels:
            assert float(row[f"score_{label}"]) == pytest.approx(result.scores[label], abs=1e-6)
    args = ["classify", "--model", str(tiny_model_dir), "--json", "--format", "csv", str(a)]
    assert main(args) == 2
    assert "--json and --format csv disagree" in capsys.readouterr().err


# -- low confidence -----------------------------------------------------------------------------


def test_low_confidence_rule() -> None:
    assert not is_low_confidence({"a": 0.8, "b": 0.1, "c": 0.1})
    assert is_low_confidence({"a": LOW_CONFIDENCE_TOP - 0.01, "b": 0.2, "c": 0.31})  # low top
    top = 0.55
    assert is_low_confidence({"a": top, "b": top - LOW_CONFIDENCE_MARGIN + 0.01, "c": 0.0})
    assert not is_low_confidence({"a": 0.6, "b": 0.6 - LOW_CONFIDENCE_MARGIN - 0.01})
    assert not is_low_confidence({})  # no speech: no label to doubt


def test_low_confidence_in_json_and_table(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = _wav(tmp_path / "a.wav", 9.0)
    assert main(["classify", "--model", str(tiny_model_dir), "--json", str(wav)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["low_confidence"] == is_low_confidence(data["scores"])
    for w in data["windows"]:
        assert w["low_confidence"] == is_low_confidence(w["scores"])
    assert main(["classify", "--model", str(tiny_model_dir), "--timeline", str(wav)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].endswith("low confidence") == data["low_confidence"]
    for line, w in zip(lines[2:], data["windows"], strict=True):
        assert line.endswith("low confidence") == w["low_confidence"]


# -- progress in audio seconds, with an ETA -----------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_counts_audio_seconds_and_shows_an_eta(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    long = _wav(tmp_path / "long.wav", 30.0, 8000)
    shorts = [_wav(tmp_path / f"s{i}.wav", 1.0, 8000) for i in range(10)]
    paths: list[Path | None] = [long, *shorts]
    ticks = [100.0, 110.0, 120.0]

    def clock() -> float:
        return ticks.pop(0) if len(ticks) > 1 else ticks[0]

    monkeypatch.setattr("edge_ser.cli_classify.time.monotonic", clock)
    term = _Terminal()
    bar = _ProgressBar(term, files=len(paths), paths=paths)
    bar.update(0, "long.wav", 0.0, 30.0)  # starts the clock
    bar.update(0, "long.wav", 15.0, 30.0)  # half the long file: 15 of 40 s
    line = term.getvalue().split("\r")[-1]
    assert "1/11" in line and " 38%" in line  # by files it would read 5%
    # 10 s for 37.5%: about 17 s to go.
    assert "ETA 0:17" in line
    bar.update(5, "s4.wav", 0.5, 1.0)
    assert " 86%" in term.getvalue().split("\r")[-1]  # (30 + 4 * 1 + 0.5) / 40


# -- metadata summary ---------------------------------------------------------------------------


def test_print_metadata_is_short(capsys: pytest.CaptureFixture[str]) -> None:
    md = Classifier().metadata
    print(md)
    out = capsys.readouterr().out
    assert len(out) < 600 and out.count("\n") <= 8
    assert "anger, happiness, neutral, sadness" in out and "16000 Hz" in out
    assert "training" in out  # named, not dumped
    assert len(repr(md)) < 1000 and "extra" not in repr(md)
    assert md.to_dict()["extra"]["training"]  # the full record is still there
    assert np.isfinite(md.max_window_s)
