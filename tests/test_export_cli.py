"""``edge-ser export`` end to end, its errors, and the toolchain-missing path."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
import soundfile as sf
from conftest import LABELS, synth_speechlike

from edge_ser.cli import main
from edge_ser.errors import ToolchainMissingError
from edge_ser.metadata import METADATA_FILENAME, ModelMetadata


def test_cli_static_export_end_to_end(
    tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch", reason="the export toolchain (edge-ser[export]) is not installed")
    audio = tmp_path / "speech"
    audio.mkdir()
    for i in range(5):  # 3 files (18 s) calibrate: two 8-s windows; 2 are held out
        sf.write(str(audio / f"u{i}.wav"), synth_speechlike(6.0, seed=20 + i), 16000)
    out = tmp_path / "model"
    rc = main(
        [
            "export",
            str(tiny_checkpoint),
            "--out",
            str(out),
            "--calibration",
            str(audio),
            "--max-calibration-windows",
            "2",
            "--ort",
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "calibrating: 2/2 windows" in captured.err
    assert "exported static model" in captured.out
    assert "parity torch_vs_onnx_fp32" in captured.out and "latency" in captured.out
    assert "histogram" not in captured.out  # the ORT calibrator's own prints are held back
    for name in ("model.onnx", "model.ort", "model_raw.onnx", "model.required_operators.config"):
        assert (out / name).is_file(), name
    md = ModelMetadata.read(out / METADATA_FILENAME)
    assert md.quantization == "static" and md.labels == LABELS
    report = json.loads((out / "export_report.json").read_text())
    assert report["audio"]["calibration"]["windows"] == 2

    # The folder is what `edge-ser classify --model` takes.
    from edge_ser import Classifier

    result = Classifier(model=out).classify(synth_speechlike(3.0, seed=1), sample_rate=16000)
    assert result.label in LABELS
    assert abs(sum(result.scores.values()) - 1.0) < 1e-6


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--quantize", "static"], "needs calibration audio"),
        (["--max-calibration-windows", "0"], "max_calibration_windows"),
        (["--fp32-conv-layers", "-1"], "fp32_conv_layers"),
    ],
)
def test_cli_usage_errors(
    tiny_checkpoint: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    pytest.importorskip("torch", reason="the export toolchain (edge-ser[export]) is not installed")
    rc = main(["export", str(tiny_checkpoint), "--out", str(tmp_path / "o"), *extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_bad_checkpoint_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch", reason="the export toolchain (edge-ser[export]) is not installed")
    rc = main(["export", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert rc == 2 and "Traceback" not in err
    assert len(errors) == 1 and "does not exist" in errors[0]


@pytest.mark.usefixtures("no_torch")
def test_export_without_toolchain_says_how_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m.startswith("edge_ser_export")]:
        monkeypatch.delitem(sys.modules, name)
    cli = importlib.import_module("edge_ser_export.cli")  # cheap: no torch at import
    assert "torch" not in sys.modules
    from edge_ser_export import export_model

    with pytest.raises(ToolchainMissingError, match=r"pip install 'edge-ser\[export\]'"):
        export_model(tmp_path, tmp_path / "o")
    assert callable(cli.run)
    rc = main(["export", str(tmp_path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "pip install 'edge-ser[export]'" in err
    assert not (tmp_path / "o").exists()
