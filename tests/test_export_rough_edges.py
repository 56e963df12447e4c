"""Export rough edges (issue 17): calibration shortfalls, the files summary, random weights,
and the bundled model made ready for a phone with one command."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import synth_speechlike

from edge_ser import Classifier
from edge_ser.cli import main

pytest.importorskip("torch", reason="the export toolchain needs torch (pip install -e '.[export]')")


def test_short_calibration_warns_and_summary_lists_written_files(
    tiny_checkpoint: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from edge_ser_export import export_model

    cal = tmp_path / "cal"
    cal.mkdir()
    for i in range(3):
        sf.write(cal / f"c{i}.wav", synth_speechlike(3.0, 16000, seed=i), 16000)
    with caplog.at_level(logging.WARNING, logger="edge_ser"):
        report = export_model(
            tiny_checkpoint,
            tmp_path / "out",
            quantize="static",
            calibration=cal,
            raw_variant=False,
            max_calibration_windows=4,
        )
    shortfall = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("calibration:")
    ]
    assert len(shortfall) == 1, caplog.text
    message = shortfall[0]
    assert "1 of the 4 windows asked for" in message and "s of speech in" in message
    assert "file(s)" in message and "--quantize dynamic" in message
    files_line = next(x for x in report.summary().splitlines() if x.startswith("  files:"))
    listed = [part.split()[0] for part in files_line.removeprefix("  files: ").split(", ")]
    assert listed and all((tmp_path / "out" / name).is_file() for name in listed)
    assert "fp32 (reference)" not in files_line
    assert "not written, for comparison: fp32 (reference)" in report.summary()


def test_random_weights_are_explained(
    tiny_checkpoint: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from edge_ser_export.checkpoint import load_checkpoint
    from safetensors.numpy import load_file, save_file

    base = tmp_path / "base"
    shutil.copytree(tiny_checkpoint, base)
    weights = load_file(str(base / "model.safetensors"))
    kept = {k: v for k, v in weights.items() if not k.startswith(("classifier", "projector"))}
    save_file(kept, str(base / "model.safetensors"), metadata={"format": "pt"})
    with caplog.at_level(logging.WARNING):
        load_checkpoint(base)
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("edge_ser")]
    assert len(ours) == 1, caplog.text
    assert "4 weight(s) are not in the checkpoint and were randomly initialised" in ours[0]
    assert "classification head is random" in ours[0] and "edge-ser train" in ours[0]
    everything = caplog.text + capsys.readouterr().err
    assert "LOAD REPORT" not in everything  # transformers' own table is replaced by ours
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        load_checkpoint(tiny_checkpoint)  # a complete checkpoint: no warning
    assert not [r for r in caplog.records if "randomly initialised" in r.getMessage()]


@pytest.mark.slow
def test_bundled_model_to_phone_in_one_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "phone"
    assert main(["export", "bundled", "--out", str(out), "--ort"]) == 0  # the README one-liner
    printed = capsys.readouterr().out
    expected = {
        "model.onnx", "model_raw.onnx", "model.ort", "model_raw.ort", "edge_ser.json",
        "model.required_operators.config", "model_raw.required_operators.config",
    }  # fmt: skip
    assert {p.name for p in out.iterdir()} == expected
    assert all(name in printed for name in expected)
    audio = synth_speechlike(11.0, 16000, seed=5)
    bundled = Classifier().classify(audio, 16000)
    for name in ("model_raw.ort", "model.ort", "model_raw.onnx"):
        clf = Classifier(out / name)
        assert clf.metadata.input_kind == ("raw_pcm" if "raw" in name else "preprocessed")
        result = clf.classify(audio, 16000)
        assert result.label == bundled.label and len(result.windows) == len(bundled.windows)
        got = np.array([result.scores[k] for k in clf.labels])
        want = np.array([bundled.scores[k] for k in clf.labels])
        assert np.max(np.abs(got - want)) < 1e-3
