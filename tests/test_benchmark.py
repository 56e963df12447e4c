"""``edge-ser benchmark`` and the benchmark suite: every field present, with sane values.

Speed is measured in ``benchmarks/``, never asserted here: these tests check that the
numbers are well-formed and consistent with each other (and with the model file), on the
tiny model with small counts.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import soundfile as sf

import edge_ser.model
from edge_ser import Classifier
from edge_ser import benchmark as bench
from edge_ser.cli import main
from edge_ser.errors import ModelNotFoundError

REPO = Path(__file__).resolve().parents[1]
RUN_BENCHMARKS = REPO / "benchmarks" / "run_benchmarks.py"


def _check_report(data: dict[str, Any], model_file: Path, *, windows: int, minutes: float) -> None:
    # Size: exactly the model file's.
    size = model_file.stat().st_size
    assert data["model_size_bytes"] == size
    assert data["model_size_mb"] == pytest.approx(size / 1e6)
    assert Path(data["model_file"]).resolve() == model_file.resolve()
    assert data["quantization"] == "none"
    assert data["labels"] == ["anger", "happiness", "neutral", "sadness"]
    # Cold start: positive, and the sum of its parts.
    cold = data["cold_start"]
    assert data["cold_start_s"] > 0
    assert cold["import_s"] > 0 and cold["session_s"] > 0
    assert data["cold_start_s"] == pytest.approx(cold["cold_start_s"])
    assert all(t > 0 for t in cold["runs_s"])
    # Latency: positive, ordered percentiles within the observed range.
    lat = data["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert lat["min"] <= lat["mean"] <= lat["max"]
    assert data["latency"]["windows"] == windows
    assert data["latency"]["window_s"] == 8.0
    assert data["latency"]["input_samples"] == 8 * 16000
    # Real-time factor: classify time over audio length, on a note of the asked length.
    la = data["long_audio"]
    assert la["audio_s"] == pytest.approx(minutes * 60, abs=1e-3)
    assert data["rtf"] > 0
    assert data["rtf"] == pytest.approx(la["wall_s"] / la["audio_s"])
    assert la["windows"] >= 1 and 0 < la["speech_s"] < la["audio_s"]
    assert la["cpu_s"] > 0 and la["cpu_rtf"] == pytest.approx(la["cpu_s"] / la["audio_s"])
    assert la["label"] in data["labels"]
    # Memory: of the subprocess; the peak is at least what it held after loading.
    assert data["peak_rss_mb"] == la["peak_rss_mb"]
    assert 0 < la["rss_after_load_mb"] <= data["peak_rss_mb"] < 10_000
    # The machine.
    m = data["machine"]
    assert m["cpu"] and isinstance(m["cpu"], str)
    assert m["cores"] >= 1 and 1 <= m["usable_cores"] <= m["cores"]
    assert m["onnxruntime"] == ort.__version__
    assert m["python"] == platform.python_version()
    assert isinstance(m["threads"], int)


def test_json_report_has_every_field(
    tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["benchmark", "--model", str(tiny_model_dir), "--windows", "6", "--warmup", "1",
         "--minutes", "0.3", "--cold-runs", "2", "--json"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1  # one JSON object, nothing else on stdout
    data = json.loads(lines[0])
    required = {"model_size_mb", "cold_start_s", "latency_ms", "rtf", "peak_rss_mb", "machine"}
    assert required <= set(data)
    assert {"p50", "p90", "p99"} <= set(data["latency_ms"])
    assert len(data["cold_start"]["runs_s"]) == 2
    assert data["machine"]["threads"] == 0
    _check_report(data, tiny_model_dir / "model.onnx", windows=6, minutes=0.3)


def test_table_output_and_threads(tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_file = tiny_model_dir / "model.onnx"
    code = main(
        ["benchmark", "--model", str(model_file), "--threads", "1", "--windows", "3",
         "--minutes", "0.2", "--cold-runs", "1"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = out.rstrip("\n").splitlines()
    names = ["model", "model size", "cold start", "latency", "real-time factor", "peak memory",
             "machine", "software"]  # fmt: skip
    for name in names:
        assert any(r.startswith(name) for r in rows), (name, out)
    # Aligned: every value starts in the same column.
    starts = {len(r) - len(r.split("  ", 1)[1].lstrip()) for r in rows}
    assert len(starts) == 1
    assert "p50" in out and "p90" in out and "p99" in out
    assert "threads 1" in out
    size_mb = model_file.stat().st_size / 1e6
    assert f"{size_mb:.1f} MB" in out


def test_without_a_bundled_model_says_so_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(edge_ser.model, "BUNDLED_MODEL_NAMES", ("not-installed.onnx",))
    code = main(["benchmark", "--json"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "no bundled default model is installed" in err and "--model" in err
    assert "Traceback" not in err
    with pytest.raises(ModelNotFoundError):
        bench.find_model_file(None)


def test_bundled_model_resolves_to_its_file() -> None:
    from importlib import resources

    assets = resources.files("edge_ser.assets")
    if not any(assets.joinpath(n).is_file() for n in bench.BUNDLED_MODEL_NAMES):
        pytest.skip("no bundled model installed in edge_ser/assets yet")
    found = bench.find_model_file(None)
    assert found.arg is None
    assert found.path.is_file() and found.size_bytes == found.path.stat().st_size
    assert found.name.startswith("edge_ser.assets/")


def test_bad_model_and_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["benchmark", "--model", str(tmp_path / "missing")]) == 2
    assert "model not found" in capsys.readouterr().err
    assert main(["benchmark", "--model", str(tmp_path)]) == 2
    assert "holds no model.onnx" in capsys.readouterr().err
    for bad in (["--windows", "0"], ["--minutes", "-1"], ["--threads", "x"], ["--minutes", "nan"]):
        with pytest.raises(SystemExit) as exc:
            main(["benchmark", *bad])
        assert exc.value.code == 2


def test_percentiles_are_ordered_and_in_ms() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 100):
        seconds = rng.exponential(0.1, n)
        p = bench.percentiles(list(seconds))
        assert p["min"] <= p["p50"] <= p["p90"] <= p["p99"] <= p["max"]
        assert p["max"] == pytest.approx(seconds.max() * 1000)
        assert p["p50"] == pytest.approx(np.median(seconds) * 1000)


def test_voice_note_is_speech_with_pauses(tmp_path: Path, tiny_model_dir: Path) -> None:
    path = tmp_path / "note.wav"
    seconds = bench.write_voice_note(path, 0.5, sample_rate=22050, seed=3)
    info = sf.info(str(path))
    assert info.samplerate == 22050 and info.channels == 1
    assert info.frames == round(0.5 * 60 * 22050) and seconds == pytest.approx(30.0)
    x, _ = sf.read(str(path), dtype="float32")
    assert 0.05 < float(np.max(np.abs(x))) <= 1.0
    # The runtime's VAD hears speech, and pauses between utterances.
    result = Classifier(tiny_model_dir).classify(path)
    assert len(result.speech_regions) >= 2
    assert 0.4 * result.duration < result.speech_duration < 0.97 * result.duration
    # Seeded: the same note twice.
    again = tmp_path / "again.wav"
    bench.write_voice_note(again, 0.5, sample_rate=22050, seed=3)
    assert path.read_bytes() == again.read_bytes()


def test_latency_inputs_are_full_preprocessed_windows(tiny_model_dir: Path) -> None:
    from edge_ser.model import load_model

    model = load_model(tiny_model_dir)
    inputs = bench.latency_inputs(model, 3)
    assert len(inputs) == 3
    for x in inputs:
        assert x.dtype == np.float32 and x.shape == (8 * 16000,)
        assert float(np.max(np.abs(x))) == pytest.approx(1.0)  # peak-normalised
    assert not np.array_equal(inputs[0], inputs[1])


def test_benchmark_module_needs_no_torch(tmp_path: Path, tiny_model_dir: Path) -> None:
    """The command, and the subprocesses it measures, run with torch unimportable."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import importlib.abc, sys\n"
        "class _Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'torch', 'transformers'}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r} (blocked)', name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Block())\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    proc = subprocess.run(
        [sys.executable, "-m", "edge_ser.cli", "benchmark", "--model", str(tiny_model_dir),
         "--windows", "2", "--minutes", "0.1", "--cold-runs", "1", "--json"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rtf"] > 0


# -- benchmarks/run_benchmarks.py -----------------------------------------------------------


def _suite() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_benchmarks", RUN_BENCHMARKS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_suite_runs_a_whisper_checkpoint_in_pytorch_as_the_graph_does(tmp_path: Path) -> None:
    """The eager baseline of a Whisper checkpoint takes raw samples (the exporter's wrapper,
    log-mel included) and gives the logits that the exported fp32 graph gives."""
    torch = pytest.importorskip("torch")
    from edge_ser_export import export_model
    from test_export_whisper import make_tiny_whisper

    suite = _suite()
    ckpt = make_tiny_whisper(tmp_path / "whisper")
    eager = suite.eager_model(ckpt)
    x = (0.1 * np.random.default_rng(0).standard_normal(32_000)).astype(np.float32)
    with torch.inference_mode():
        logits = eager(torch.from_numpy(x)[None]).numpy()
    assert logits.shape == (1, 4)
    report = export_model(ckpt, tmp_path / "fp32", quantize="none", raw_variant=False)
    session = ort.InferenceSession(str(report.model_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    graph_logits = session.run(["logits"], {name: x[None]})[0]
    np.testing.assert_allclose(logits, graph_logits, atol=1e-3)
    assert suite._portable("/some/where/ship_trunc4") == "ship_trunc4"
    assert suite._portable("runs/model") == "runs/model"


def test_suite_ratios_and_targets() -> None:
    suite = _suite()
    fp32, dyn, static = (suite.VARIANTS[m] for m in suite.MODES)
    wall = {suite.TORCH: [0.5, 0.6, 0.7], fp32: [0.4, 0.4, 0.4], dyn: [0.3] * 3, static: [0.1] * 3}
    rows = suite.summarise(wall, wall)
    assert rows[fp32]["speedup_vs_ort_fp32"] == pytest.approx(1.0)
    assert rows[suite.TORCH]["speedup_vs_torch"] == pytest.approx(1.0)
    assert rows[static]["speedup_vs_ort_fp32"] == pytest.approx(4.0)
    assert rows[static]["speedup_vs_torch"] == pytest.approx(6.0)
    assert rows[dyn]["speedup_vs_ort_fp32"] == pytest.approx(4 / 3)
    assert rows[static]["cpu_speedup_vs_ort_fp32"] == pytest.approx(4.0)
    report = {
        "default_mode": "static",
        "latency": {"by_threads": {"2": rows}},
        "scaling": [
            {"minutes": 1, "rtf": 0.02, "cpu_rtf": 0.02, "peak_rss_mb": 150.0},
            {"minutes": 60, "rtf": 0.04, "cpu_rtf": 0.03, "peak_rss_mb": 215.0},
        ],
    }
    met = {t["target"].split(" (")[0]: t["met"] for t in suite.targets(report)}
    assert met["default int8 >= 2x faster than ORT fp32"] is True
    assert met["default int8 >= 2.5x faster than PyTorch eager"] is True
    assert [v for k, v in met.items() if k.startswith("real-time")] == [False]
    assert [v for k, v in met.items() if k.startswith("peak memory")] == [False]
    assert [v for k, v in met.items() if k.startswith("memory flat")] == [False]


def test_suite_arguments() -> None:
    suite = _suite()
    args = suite.parse_args(["--quick"])
    assert args.windows == 3 and args.lengths == [0.5, 1.0] and args.thread_counts == [1, 2]
    full = suite.parse_args([])
    assert full.lengths == [1.0, 10.0, 60.0] and full.windows >= 10
    with pytest.raises(SystemExit):
        suite.parse_args(["--minutes", "0"])
    assert isinstance(full, argparse.Namespace)


@pytest.mark.slow
def test_suite_quick_run_on_a_tiny_model(tmp_path: Path) -> None:
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, str(RUN_BENCHMARKS), "--tiny", "--quick", "--work", str(tmp_path / "w"),
         "--out", str(out), "--windows", "2", "--minutes", "0.2,0.4", "--cold-runs", "1",
         "--synthetic-calibration", "--runtime-options", '{"session": {"batch_size": 1}}'],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((out / "results.json").read_text())
    assert (out / "results.png").stat().st_size > 10_000
    md = (out / "results.md").read_text()
    # --work and --out were absolute: the results name them without the machine's path
    assert str(tmp_path) not in md and str(tmp_path) not in (out / "results.json").read_text()
    assert data["machine"]["cpu"] in md and "shared" in md

    assert data["calibration"]["source"] == "synthetic"
    assert data["default_mode"] == "static"
    assert set(data["exports"]) == {"none", "dynamic", "static"}
    by_threads = data["latency"]["by_threads"]
    assert set(by_threads) == {"1", "2"}
    for rows in by_threads.values():
        assert set(rows) == {
            "PyTorch eager fp32",
            "ORT fp32",
            "ORT dynamic int8 (paper's)",
            "ORT static int8",
        }
        base = rows["ORT fp32"]["median_ms"]
        eager = rows["PyTorch eager fp32"]["median_ms"]
        for r in rows.values():
            assert r["runs"] == 2
            assert 0 < r["min_ms"] <= r["median_ms"] <= r["p90_ms"]
            assert r["speedup_vs_ort_fp32"] == pytest.approx(base / r["median_ms"])
            assert r["speedup_vs_torch"] == pytest.approx(eager / r["median_ms"])
    assert [s["minutes"] for s in data["scaling"]] == [0.2, 0.4]
    assert data["runtime_options"] == {"session": {"batch_size": 1}}
    assert '"batch_size": 1' in md
    for s in data["scaling"]:
        assert s["audio_s"] == pytest.approx(s["minutes"] * 60, abs=1e-3)
        assert s["rtf"] == pytest.approx(s["wall_s"] / s["audio_s"])
        assert 0 < s["rss_after_load_mb"] <= s["peak_rss_mb"]
    assert set(data["cold_start"]) == {"ORT fp32", "ORT dynamic int8 (paper's)", "ORT static int8"}
    assert all(isinstance(t["met"], bool) for t in data["targets"]) and len(data["targets"]) == 7
    for mode, e in data["exports"].items():
        assert e["size_bytes"] > 0
        assert "torch_vs_onnx_fp32" in e["parity"], mode


# -- benchmarks/runtime_budget.py -----------------------------------------------------------


def _budget() -> ModuleType:
    path = REPO / "benchmarks" / "runtime_budget.py"
    spec = importlib.util.spec_from_file_location("runtime_budget", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_budget_counts_the_multiply_adds_of_distilhubert() -> None:
    pytest.importorskip("transformers")
    from edge_ser_train.model import distilhubert_config

    budget = _budget()
    macs = budget.count_macs(distilhubert_config(tiny=False, num_labels=4), 128_000)
    # Layer 1: 512 x 512 x 3 weights applied at 12,799 frames (8 s -> 25,599 -> 12,799).
    assert macs["conv layer 1 (512->512, k3, 12799 frames)"] == 512 * 512 * 3 * 12799
    # The encoder's 399 frames: q/k/v/out, scores and context, FFN, for 2 layers.
    t = 399
    per_layer = 4 * 768 * 768 * t + 2 * t * t * 768 + 2 * 768 * 3072 * t
    assert macs["transformer (2 layers, 399 frames)"] == 2 * per_layer
    assert sum(macs.values()) / 1e9 == pytest.approx(27.9, abs=0.05)


def test_budget_counts_a_cut_whisper_and_reads_its_depth_from_the_metadata() -> None:
    budget = _budget()
    macs = budget.count_whisper_macs(4, 128_000)
    # 8 s: 800 mel frames, 400 encoder frames; q/k/v/out, scores and context, FFN per layer.
    t = 400
    per_layer = 4 * 512 * 512 * t + 2 * t * t * 512 + 2 * 512 * 2048 * t
    assert macs["transformer (4 layers, 400 frames)"] == 4 * per_layer
    assert macs["conv2 (512->512, k3 stride 2, 400 frames)"] == 512 * 512 * 3 * 400
    assert sum(macs.values()) / 1e9 == pytest.approx(6.30, abs=0.01)
    whisper = {"architecture": "WhisperForAudioClassification"}
    assert budget.whisper_layers({**whisper, "training": {"model": {"encoder_layers": 4}}}) == 4
    assert budget.whisper_layers(whisper) == 6  # no training record: Whisper base's depth
    assert budget.whisper_layers({"architecture": "HubertForSequenceClassification"}) is None


def test_budget_targets_use_the_rewritten_model_and_the_longest_note() -> None:
    budget = _budget()
    row = {
        "speedup_vs_ort_fp32": 3.6,
        "cpu_speedup_vs_ort_fp32": 3.4,
        "speedup_vs_torch": 5.5,
        "cpu_speedup_vs_torch": 5.1,
    }
    report = {
        "speed": {
            "threads": 1,
            "latency": {budget.PASSES: row},
            "bound": {budget.PASSES: {"of_measured_gemm_peak": 0.82}},
        },
        "memory": {"notes": [{"peak_rss_mb": 140.0}, {"peak_rss_mb": 151.0}]},
    }
    met = {t["target"].split(" (")[0]: t["met"] for t in budget.targets(report)}
    assert met["int8 >= 3.5x ORT fp32"] is False  # the CPU-time ratio misses it
    assert met["int8 >= 5x PyTorch eager"] is True
    assert met["int8 >= 80% of the int8 compute bound"] is True
    assert met["peak RSS <= 150 MB on every note"] is False
    assert met["flat with length"] is False  # 11 MB apart


def test_budget_ceilings_are_the_multiply_adds_at_the_peaks() -> None:
    budget = _budget()
    peaks = {"int8": 200.0, "fp32": 50.0}  # GMAC/s
    c = budget.ceilings(6e9, 1e9, peaks, {"ort_fp32": 140.0, "torch": 170.0})
    # 6 G at 200 GMAC/s = 30 ms; 140 ms / 30 ms and 170 ms / 30 ms.
    assert c["all_int8"]["floor_ms"] == pytest.approx(30.0)
    assert c["all_int8"]["max_speedup_vs_ort_fp32"] == pytest.approx(140 / 30)
    assert c["all_int8"]["max_speedup_vs_torch"] == pytest.approx(170 / 30)
    # 5 G at 200 plus 1 G at 50: 25 + 20 ms.
    assert c["as_quantised"]["floor_ms"] == pytest.approx(45.0)
    report = {
        "speed": {
            "threads": 1,
            "latency": {
                budget.PASSES: {
                    "speedup_vs_ort_fp32": 2.3,
                    "cpu_speedup_vs_ort_fp32": 2.3,
                    "speedup_vs_torch": 2.8,
                    "cpu_speedup_vs_torch": 2.8,
                }
            },
            "bound": {budget.PASSES: {"of_measured_gemm_peak": 0.56}},
            "ceilings": c,
        }
    }
    measured = {t["target"].split(" (")[0]: t["measured"] for t in budget.targets(report)}
    assert "ceiling here 4.67x" in measured["int8 >= 3.5x ORT fp32"]
    assert "ceiling here 5.67x" in measured["int8 >= 5x PyTorch eager"]


def test_budget_reads_which_multiply_adds_a_graph_keeps_in_fp32(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    budget = _budget()
    w = numpy_helper.from_array(np.zeros((4, 4), np.float32), "w")

    def graph(nodes: list[Any], name: str) -> Path:
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 4])
        path = tmp_path / f"{name}.onnx"
        onnx.save(helper.make_model(helper.make_graph(nodes, name, [x], [y], [w])), str(path))
        return path

    fp32 = graph(
        [
            helper.make_node("Conv", ["x", "w"], ["a"], name="/log_mel/Conv"),
            helper.make_node("Conv", ["a", "w"], ["b"], name="/conv1/Conv"),
            helper.make_node("MatMul", ["b", "w"], ["c"], name="/layers.0/fc1/MatMul"),
            helper.make_node("MatMul", ["c", "b"], ["y"], name="/layers.0/self_attn/MatMul"),
        ],
        "fp32",
    )
    parts = budget.fp32_whisper_macs(fp32, 4, 128_000)
    assert parts == {
        "log-mel": 402 * 400 * 800 + 201 * 80 * 800,
        "conv1": 512 * 80 * 3 * 800,
        "attention products": 4 * 2 * 400 * 400 * 512,
    }
    int8 = graph(
        [
            helper.make_node("Conv", ["x", "w"], ["a"], name="/log_mel/Conv"),
            helper.make_node("QLinearConv", ["a", "w"], ["b"], name="/conv1/Conv_quant"),
            helper.make_node("MatMul", ["b", "w"], ["y"], name="/layers.0/fc1/MatMul"),
        ],
        "int8",
    )
    assert set(budget.fp32_whisper_macs(int8, 4, 128_000)) == {"log-mel"}
