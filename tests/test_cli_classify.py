"""``edge-ser classify``: table and JSON output, inputs, failures and exit codes."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import synth_speechlike

from edge_ser.cli import main
from edge_ser.cli_classify import _ProgressBar, expand_inputs


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    sf.write(tmp_path / "a.wav", synth_speechlike(9.0, 22050, seed=1), 22050)
    sf.write(tmp_path / "sub" / "b.flac", synth_speechlike(3.0, 16000, seed=2), 16000)
    stereo = np.stack([synth_speechlike(2.0, 48000, seed=3)] * 2, axis=1)
    sf.write(tmp_path / "sub" / "c.WAV", stereo, 48000)
    (tmp_path / "notes.txt").write_text("not audio, and not looked at")
    return tmp_path


def test_expand_inputs_walks_folders_and_globs(audio_dir: Path) -> None:
    names = [Path(n).name for n, p in expand_inputs([str(audio_dir)]) if p is not None]
    assert names == ["a.wav", "b.flac", "c.WAV"]
    globbed = expand_inputs([str(audio_dir / "**" / "*.flac"), str(audio_dir / "a.wav")])
    assert [Path(n).name for n, _ in globbed] == ["b.flac", "a.wav"]
    assert expand_inputs([str(audio_dir / "nope*.wav")]) == [(str(audio_dir / "nope*.wav"), None)]
    twice = expand_inputs([str(audio_dir / "a.wav"), str(audio_dir / "a.wav")])
    assert len(twice) == 1


def test_json_lines(
    tiny_model_dir: Path, audio_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["classify", "--model", str(tiny_model_dir), "--json", str(audio_dir)])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    lines = out.strip().splitlines()
    assert len(lines) == 3
    for line in lines:
        data = json.loads(line)
        assert Path(data["path"]).name in {"a.wav", "b.flac", "c.WAV"}
        assert data["label"] in data["scores"]
        assert math.fsum(data["scores"].values()) == pytest.approx(1.0)
        assert data["duration"] > 0 and data["windows"]
        for w in data["windows"]:
            assert {"start", "end", "label", "scores"} <= set(w)
            assert 0 <= w["start"] < w["end"] <= data["duration"]
            assert w["end"] - w["start"] <= 8.0 + 1e-6


def test_table_with_timeline(
    tiny_model_dir: Path, audio_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = audio_dir / "a.wav"
    assert main(["classify", "--model", str(tiny_model_dir), "--timeline", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["FILE", "LABEL", "SCORE", "DURATION", "WINDOWS", "NOTE"]
    name, label, score, duration, windows, *note = lines[1].split()
    assert note in ([], ["low", "confidence"])
    assert name == str(path) and duration == "9.0s"
    assert 0 < float(score) <= 1 and label.isalpha()
    assert len(lines) == 2 + int(windows)  # one timeline row per window
    assert all(" s " in row and "speech" in row for row in lines[2:])


def test_options_reach_the_classifier(
    tiny_model_dir: Path, audio_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["classify", "--model", str(tiny_model_dir), "--json", str(audio_dir / "a.wav")]
    extra = ["--no-vad", "--window", "4", "--overlap", "1", "--min-window", "0.5",
             "--aggregation", "vote", "--min-speech-ratio", "0", "--threads", "1"]  # fmt: skip
    assert main([*args, *extra]) == 0
    data = json.loads(capsys.readouterr().out)
    opts = data["options"]
    assert opts["vad"]["enabled"] is False and opts["window"]["window_s"] == 4.0
    assert opts["aggregation"] == {"method": "vote", "min_speech_ratio": 0.0}
    assert opts["session"]["intra_op_threads"] == 1
    assert [(w["start"], w["end"]) for w in data["windows"]] == [(0, 4), (3, 7), (6, 9)]
    assert main([*args, "--vad-aggressiveness", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["options"]["vad"]["aggressiveness"] == 3


def test_a_failing_file_does_not_stop_the_others(
    tiny_model_dir: Path, audio_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = audio_dir / "bad.wav"
    bad.write_text("this is not audio")
    missing = audio_dir / "missing.wav"
    code = main(["classify", "--model", str(tiny_model_dir), "--json",
                 str(bad), str(missing), str(audio_dir / "a.wav")])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 1
    assert len(out.strip().splitlines()) == 1 and json.loads(out)["path"].endswith("a.wav")
    errors = err.strip().splitlines()
    assert len(errors) == 2
    assert errors[0].startswith(f"{bad}: error: cannot decode")
    assert errors[1] == f"{missing}: error: no such file or folder"


def test_empty_folder_and_unmatched_glob_are_reported(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    pattern = str(tmp_path / "*.flac")
    assert main(["classify", "--model", str(tiny_model_dir), str(empty), pattern]) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors[0].startswith(f"{empty}: error: no audio files in this folder")
    assert errors[1] == f"{pattern}: error: no files match this pattern"


def test_no_speech_row(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(16000, np.float32), 16000)
    assert main(["classify", "--model", str(tiny_model_dir), str(path)]) == 0
    row = capsys.readouterr().out.splitlines()[1]
    assert "(no speech)" in row and row.split()[-1] == "0"


def test_missing_model_is_one_line_and_exit_2(
    audio_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import edge_ser.model

    monkeypatch.setattr(edge_ser.model, "BUNDLED_MODEL_NAMES", ("absent.onnx",))
    assert main(["classify", str(audio_dir / "a.wav")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert "--model" in err and "Traceback" not in err
    assert main(["classify", "--model", str(audio_dir / "no_model"), str(audio_dir)]) == 2


def test_bad_option_is_exit_2(
    tiny_model_dir: Path, audio_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["classify", "--model", str(tiny_model_dir), "--window", "30", str(audio_dir)])
    assert code == 2
    assert "max_window_s" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_and_for_many_or_long_files() -> None:
    quiet = io.StringIO()
    bar = _ProgressBar(quiet, files=5)
    bar.update(0, "a.wav", 1.0, 2.0)
    assert quiet.getvalue() == ""
    term = _Terminal()
    _ProgressBar(term, files=1).update(0, "short.wav", 1.0, 10.0)
    assert term.getvalue() == ""  # one short file: no bar
    bar = _ProgressBar(term, files=4)
    bar.update(1, "b.wav", 5.0, 10.0)
    assert "2/4" in term.getvalue() and "38%" in term.getvalue()
    bar.clear()
    assert term.getvalue().endswith("\r\x1b[K")
    long_bar = _ProgressBar(_Terminal(), files=1)
    long_bar.update(0, "long.wav", 30.0, 600.0)
    assert "5%" in long_bar.out.getvalue()  # type: ignore[attr-defined]
