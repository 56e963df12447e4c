"""Export toolchain: checkpoint -> ONNX (fp32, dynamic int8, static int8), ORT, raw-PCM variant.

Exports are expensive, so each mode is exported once per session and shared. The tiny
checkpoint has the real architecture (conv encoder with group norm, transformer, pooled
head), only far smaller.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from conftest import LABELS, SHARED_DATASETS, make_tiny_checkpoint, synth_speechlike
from edge_ser_export import ExportReport, export_model

from edge_ser.errors import ExportError, ParityError
from edge_ser.metadata import METADATA_FILENAME, METADATA_KEY, ModelMetadata
from edge_ser.preprocess import preprocess

pytest.importorskip("torch", reason="the export toolchain (edge-ser[export]) is not installed")

RAVDESS = SHARED_DATASETS / "ravdess" / "Actor_01"


def _session(path: Path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _probs(path: Path, x: np.ndarray, input_name: str = "input_values") -> np.ndarray:
    (p,) = _session(path).run(["probabilities"], {input_name: np.asarray(x, np.float32)[None]})
    return np.asarray(p[0], dtype=np.float64)


def _prepared(x: np.ndarray, md: ModelMetadata) -> np.ndarray:
    """What the runtime feeds a preprocessed model."""
    y = preprocess(x, md.preprocessing)
    return np.pad(y, (0, max(0, md.min_input_samples - y.shape[0])))


def _embedded(path: Path) -> str:
    return str(_session(path).get_modelmeta().custom_metadata_map[METADATA_KEY])


def _weight_bytes(path: Path) -> int:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    return sum(numpy_helper.to_array(t).nbytes for t in model.graph.initializer)


def _write_wav(path: Path, x: np.ndarray) -> None:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, 16000, subtype="PCM_16")


@pytest.fixture(scope="session")
def calibration_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six short speech-like WAVs (one in a subfolder) and a file that is not audio."""
    root = tmp_path_factory.mktemp("calibration")
    for i in range(6):
        sub = root / "nested" if i == 5 else root
        _write_wav(sub / f"utt{i}.wav", synth_speechlike(1.5 + 0.3 * i, seed=10 + i))
    (root / "README.txt").write_text("not audio\n")
    return root


@pytest.fixture(scope="session")
def static_export(
    tiny_checkpoint: Path, calibration_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> ExportReport:
    # No quantize argument: static is the default when calibration audio is given.
    return export_model(
        tiny_checkpoint,
        tmp_path_factory.mktemp("static"),
        calibration=calibration_dir,
        ort=True,
        max_calibration_windows=4,
    )


@pytest.fixture(scope="session")
def dynamic_export(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> ExportReport:
    return export_model(
        tiny_checkpoint, tmp_path_factory.mktemp("dynamic"), ort=True, encoded_variant=True
    )


@pytest.fixture(params=["none", "dynamic", "static"])
def exported(request: pytest.FixtureRequest, tiny_model_dir: Path) -> tuple[str, Path]:
    """(mode, folder) for every quantisation mode."""
    if request.param == "none":
        return "none", tiny_model_dir
    report: ExportReport = request.getfixturevalue(f"{request.param}_export")
    return request.param, report.out_dir


# -- the folder contract ---------------------------------------------------------------


def test_every_mode_writes_the_folder_contract(exported: tuple[str, Path]) -> None:
    mode, folder = exported
    for name in ("model.onnx", "model_raw.onnx", METADATA_FILENAME, "export_report.json"):
        assert (folder / name).is_file(), name
    md = ModelMetadata.read(folder / METADATA_FILENAME)
    assert md.labels == LABELS
    assert md.quantization == mode
    assert md.sample_rate == 16000 and md.max_window_s == 8.0
    assert md.min_input_samples == 400  # HuBERT's conv receptive field
    assert md.input_kind == "preprocessed" and md.input_name == "input_values"
    for tool in ("torch", "transformers", "onnx", "onnxruntime"):
        assert tool in md.extra["tool_versions"]
    assert "torch_vs_onnx_fp32" in md.extra["parity"]
    report = json.loads((folder / "export_report.json").read_text())
    assert report["quantization"] == mode
    assert report["parity"]["torch_vs_onnx_fp32"]["max_abs_diff"] <= 1e-3


def test_saved_graph_is_portable(exported: tuple[str, Path]) -> None:
    """Offline optimisation stops before the x86-only NCHWc layout transform."""
    import onnx

    _, folder = exported
    for name in ("model.onnx", "model_raw.onnx"):
        model = onnx.load(str(folder / name))
        domains = {node.domain for node in model.graph.node}
        assert "com.microsoft.nchwc" not in domains, name


def test_embedded_metadata_is_identical_to_the_sidecar(exported: tuple[str, Path]) -> None:
    _, folder = exported
    embedded = _embedded(folder / "model.onnx")
    sidecar = (folder / METADATA_FILENAME).read_text()
    assert json.loads(embedded) == json.loads(sidecar)
    assert ModelMetadata.from_json(embedded) == ModelMetadata.read(folder / METADATA_FILENAME)


def test_raw_variant_metadata(exported: tuple[str, Path]) -> None:
    _, folder = exported
    md = ModelMetadata.from_json(_embedded(folder / "model_raw.onnx"))
    assert md.input_kind == "raw_pcm" and md.input_name == "waveform"
    base = ModelMetadata.read(folder / METADATA_FILENAME)
    assert md.labels == base.labels and md.preprocessing == base.preprocessing
    assert [i.name for i in _session(folder / "model_raw.onnx").get_inputs()] == ["waveform"]


def test_runtime_loads_every_mode(exported: tuple[str, Path]) -> None:
    from edge_ser.model import load_model

    mode, folder = exported
    model = load_model(folder)
    assert model.metadata.quantization == mode
    windows = [synth_speechlike(2.0, seed=3), synth_speechlike(0.5, seed=4)]
    probs = model.score(windows, batch_size=2)
    assert probs.shape == (2, len(LABELS))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    raw = load_model(folder / "model_raw.onnx")
    assert raw.metadata.input_kind == "raw_pcm"
    np.testing.assert_allclose(raw.score(windows, batch_size=1), probs, atol=1e-5)


# -- parity ------------------------------------------------------------------------------


def test_fp32_graph_matches_torch(tiny_checkpoint: Path, tiny_model_dir: Path) -> None:
    import torch
    from transformers import HubertForSequenceClassification

    model = HubertForSequenceClassification.from_pretrained(str(tiny_checkpoint)).eval()
    md = ModelMetadata.read(tiny_model_dir / METADATA_FILENAME)
    for seed, seconds in ((0, 1.0), (1, 3.7), (2, 8.0)):
        x = _prepared(synth_speechlike(seconds, seed=seed), md)
        with torch.inference_mode():
            ref = torch.softmax(model(torch.from_numpy(x)[None]).logits, -1)[0].numpy()
        np.testing.assert_allclose(_probs(tiny_model_dir / "model.onnx", x), ref, atol=1e-5)


def test_dynamic_axes_batch_and_length(tiny_model_dir: Path) -> None:
    session = _session(tiny_model_dir / "model.onnx")
    rng = np.random.default_rng(0)
    for batch, samples in ((1, 400), (3, 16000), (2, 37_123)):
        x = (0.1 * rng.standard_normal((batch, samples))).astype(np.float32)
        probs, logits = session.run(["probabilities", "logits"], {"input_values": x})
        assert probs.shape == logits.shape == (batch, len(LABELS))
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        np.testing.assert_allclose(probs, e / e.sum(axis=1, keepdims=True), atol=1e-5)


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_quantized_stays_close_to_fp32(mode: str, tiny_model_dir: Path, request: Any) -> None:
    report: ExportReport = request.getfixturevalue(f"{mode}_export")
    assert report.quantization == mode
    quant = report.parity["quantized_vs_fp32"]
    assert quant.windows >= 1 and 0.0 <= quant.top1_agreement <= 1.0
    md = report.metadata
    for seed in (5, 6, 7):
        x = _prepared(synth_speechlike(3.0, seed=seed), md)
        p_q = _probs(report.model_path, x)
        p_f = _probs(tiny_model_dir / "model.onnx", x)
        # Measured on this tiny model: int8 moves its probabilities by < 1e-3.
        assert np.max(np.abs(p_q - p_f)) < 5e-3
    # int8 weights: the weights take well under half the fp32 bytes (the first conv and
    # the classifier, a few KB, stay fp32; a tiny model's graph structure dominates its file).
    assert _weight_bytes(report.model_path) < 0.45 * _weight_bytes(tiny_model_dir / "model.onnx")


def test_static_calibrates_on_the_given_audio(static_export: ExportReport) -> None:
    cal = static_export.audio["calibration"]
    par = static_export.audio["parity"]
    # 4 of the 1.5-3.0 s files calibrate: joined (7-10 s), they make one window.
    assert cal["source"] == "real" and cal["windows"] == 1 and cal["window_s"] <= 8.0
    assert cal["method"] == "percentile"
    # Parity runs on files held out from calibration.
    assert par["source"] == "real" and par["windows"] >= 1
    assert static_export.metadata.extra["parity_audio"]["source"] == "real"


def test_dynamic_without_audio_uses_synthetic_parity(dynamic_export: ExportReport) -> None:
    assert dynamic_export.audio["parity"]["source"] == "synthetic"
    assert "calibration" not in dynamic_export.audio
    lat = dynamic_export.latency
    assert set(lat) == {"fp32", "dynamic"} and all(v["median_s"] > 0 for v in lat.values())


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_ort_format_matches_onnx(mode: str, request: Any) -> None:
    report: ExportReport = request.getfixturevalue(f"{mode}_export")
    assert report.ort_path is not None and report.raw_ort_path is not None
    assert report.operators_config_path is not None
    assert report.ort_path.read_bytes()[4:8] == b"ORTM"  # flatbuffer file identifier
    config = report.operators_config_path.read_text()
    assert "ai.onnx" in config and "Conv" in config
    assert "nchwc" not in config.lower()  # no x86-only layout in the mobile artifact
    for seed in (1, 2):
        raw = synth_speechlike(2.5, seed=seed)
        x = _prepared(raw, report.metadata)
        np.testing.assert_allclose(
            _probs(report.ort_path, x), _probs(report.model_path, x), atol=1e-6
        )
        assert report.raw_model_path is not None
        np.testing.assert_allclose(
            _probs(report.raw_ort_path, raw, "waveform"),
            _probs(report.raw_model_path, raw, "waveform"),
            atol=1e-6,
        )
    # The runtime reads the metadata back from the .ort file too.
    assert ModelMetadata.from_json(_embedded(report.ort_path)) == report.metadata
    assert ModelMetadata.from_json(_embedded(report.raw_ort_path)).input_kind == "raw_pcm"


def _raw_cases() -> list[np.ndarray]:
    speech = synth_speechlike(2.0, seed=8)
    silence = np.zeros(8000, np.float32)
    return [
        speech,
        np.concatenate([silence, speech, silence]),  # trimmed at both ends
        np.concatenate([silence, 0.5 * np.ones(100, np.float32), silence]),  # < 400 after trim
        np.zeros(4000, np.float32),  # all silence: kept whole
        synth_speechlike(8.0, seed=9),
    ]


@pytest.mark.parametrize("mode", ["none", "static"])
def test_raw_variant_matches_numpy_preprocess_and_model(
    mode: str, tiny_model_dir: Path, request: Any
) -> None:
    folder = tiny_model_dir if mode == "none" else request.getfixturevalue("static_export").out_dir
    md = ModelMetadata.read(folder / METADATA_FILENAME)
    for raw in _raw_cases():
        expected = _probs(folder / "model.onnx", _prepared(raw, md))
        got = _probs(folder / "model_raw.onnx", raw, "waveform")
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_parity_error_when_graph_differs_from_torch(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    from edge_ser_export import onnx_export

    original = onnx_export.ClassifierWrapper.forward

    def skewed(self: Any, input_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, logits = original(self, input_values)
        logits = logits + torch.tensor([3.0, 0.0, 0.0, 0.0])
        return torch.softmax(logits, dim=-1), logits

    monkeypatch.setattr(onnx_export.ClassifierWrapper, "forward", skewed)
    with pytest.raises(ParityError, match="torch fp32"):
        export_model(
            tiny_checkpoint,
            tmp_path / "out",
            quantize="none",
            raw_variant=False,
            max_parity_windows=1,
        )
    assert not (tmp_path / "out" / "model.onnx").exists()  # nothing half-written


def test_encoded_variant_decodes_audio_bytes(dynamic_export: ExportReport, tmp_path: Path) -> None:
    import io

    import onnxruntime_extensions
    import soundfile as sf

    from edge_ser.errors import ModelError, ModelMetadataError
    from edge_ser.model import load_model

    path = dynamic_export.encoded_model_path
    assert path is not None and path.name == "model_encoded.onnx"
    assert dynamic_export.parity["encoded_vs_raw"].max_abs_diff <= 1e-5
    so = ort.SessionOptions()
    so.register_custom_ops_library(onnxruntime_extensions.get_library_path())
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["audio_stream"]
    clip = synth_speechlike(2.0, seed=12)
    raw_model = dynamic_export.out_dir / "model_raw.onnx"
    for fmt in ("WAV", "FLAC"):
        buf = io.BytesIO()
        sf.write(buf, clip, 16000, format=fmt, subtype="PCM_16")
        data = np.frombuffer(buf.getvalue(), dtype=np.uint8)[None]
        (got,) = session.run(["probabilities"], {"audio_stream": data})
        buf.seek(0)
        pcm = sf.read(buf, dtype="float32")[0]
        np.testing.assert_allclose(got[0], _probs(raw_model, pcm, "waveform"), atol=1e-5)
    # 44.1 kHz stereo is downmixed and resampled in-graph.
    buf = io.BytesIO()
    sf.write(buf, np.stack([clip, clip], axis=1), 44100, format="WAV", subtype="PCM_16")
    (p,) = session.run(
        ["probabilities"], {"audio_stream": np.frombuffer(buf.getvalue(), np.uint8)[None]}
    )
    assert p.shape == (1, len(LABELS)) and abs(float(p.sum()) - 1.0) < 1e-5
    # Its metadata says what it takes, in a form the runtime refuses rather than misuses.
    meta = json.loads(session.get_modelmeta().custom_metadata_map[METADATA_KEY])
    assert meta["input_kind"] == "encoded_audio" and meta["labels"] == list(LABELS)
    with pytest.raises(ModelMetadataError, match="input_kind"):
        ModelMetadata.from_dict(meta)
    lone = tmp_path / "model_encoded.onnx"
    lone.write_bytes(path.read_bytes())
    with pytest.raises(ModelError):
        load_model(lone)


# -- other architectures ---------------------------------------------------------------


@pytest.mark.parametrize("arch", ["wav2vec2", "wavlm"])
def test_other_architectures_export(arch: str, tmp_path: Path) -> None:
    ckpt = make_tiny_checkpoint(tmp_path / "ckpt", arch=arch, seed=1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.ort").write_bytes(b"stale")  # left by an earlier export
    report = export_model(ckpt, out, quantize="none", raw_variant=False, max_parity_windows=2)
    assert report.metadata.extra["architecture"].lower().startswith(arch)
    assert report.parity["torch_vs_onnx_fp32"].max_abs_diff < 1e-4
    assert not (out / "model.ort").exists() and not (out / "model_raw.onnx").exists()
    assert report.raw_model_path is None and report.ort_path is None


# -- bad checkpoints -------------------------------------------------------------------


def _edit_config(folder: Path, **changes: Any) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    path.write_text(json.dumps(config))


@pytest.fixture
def copied_checkpoint(tiny_checkpoint: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(tiny_checkpoint, tmp_path / "ckpt"))


def test_checkpoint_without_id2label(copied_checkpoint: Path, tmp_path: Path) -> None:
    _edit_config(copied_checkpoint, id2label=None, label2id=None)
    with pytest.raises(ExportError, match="no id2label"):
        export_model(copied_checkpoint, tmp_path / "out", quantize="none")


def test_checkpoint_with_default_label_names(copied_checkpoint: Path, tmp_path: Path) -> None:
    _edit_config(copied_checkpoint, id2label={str(i): f"LABEL_{i}" for i in range(4)})
    with pytest.raises(ExportError, match="no id2label"):
        export_model(copied_checkpoint, tmp_path / "out", quantize="none")


def test_checkpoint_with_unknown_labels(copied_checkpoint: Path, tmp_path: Path) -> None:
    _edit_config(
        copied_checkpoint,
        id2label={"0": "anger", "1": "calm", "2": "fear", "3": "sadness"},
        label2id={"anger": 0, "calm": 1, "fear": 2, "sadness": 3},
    )
    with pytest.raises(ExportError, match="calm") as info:
        export_model(copied_checkpoint, tmp_path / "out", quantize="none")
    assert "fear" in str(info.value) and "happiness" in str(info.value)
    assert "'anger'" not in str(info.value).split("cannot")[0]  # only the bad labels named


def test_checkpoint_with_duplicate_classes(copied_checkpoint: Path, tmp_path: Path) -> None:
    _edit_config(copied_checkpoint, id2label={"0": "ang", "1": "hap", "2": "exc", "3": "sad"})
    with pytest.raises(ExportError, match="happiness"):
        export_model(copied_checkpoint, tmp_path / "out", quantize="none")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model_type": "data2vec-audio"}, "unsupported architecture 'data2vec-audio'"),
        ({"architectures": ["HubertForCTC"]}, "not an audio classifier"),
    ],
)
def test_unsupported_architecture(
    copied_checkpoint: Path, tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    _edit_config(copied_checkpoint, **changes)
    with pytest.raises(ExportError, match=message) as info:
        export_model(copied_checkpoint, tmp_path / "out", quantize="none")
    assert "HubertForSequenceClassification" in str(info.value)
    assert "WavLMForSequenceClassification" in str(info.value)


def test_missing_checkpoint_and_folder_without_config(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="does not exist"):
        export_model(tmp_path / "nope", tmp_path / "out", quantize="none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match="no config\\.json"):
        export_model(tmp_path / "empty", tmp_path / "out", quantize="none")


def test_label_aliases_map_to_canonical_names(tmp_path: Path) -> None:
    from edge_ser_export.checkpoint import load_checkpoint

    ckpt = make_tiny_checkpoint(tmp_path / "ckpt", labels=("Sad", "neu", "excited", "ANGRY"))
    loaded = load_checkpoint(ckpt)
    assert loaded.labels == ("sadness", "neutral", "happiness", "anger")  # output order kept
    assert loaded.source_labels == ("Sad", "neu", "excited", "ANGRY")
    assert loaded.min_input_samples == 400


def test_training_output_folder(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """`edge-ser train` writes a save_pretrained folder plus edge_ser_train.json."""
    import shutil

    from edge_ser_export.checkpoint import load_checkpoint

    fold = Path(shutil.copytree(tiny_checkpoint, tmp_path / "run" / "fold_1"))
    info = {
        "status": "complete",
        "labels": list(LABELS),
        "preprocessing": {"trim_top_db": 30.0, "trim_frame_length": 256, "pre_emphasis": 0.9},
        "max_window_s": 6.0,
    }
    (fold / "edge_ser_train.json").write_text(json.dumps(info))
    loaded = load_checkpoint(fold)
    assert loaded.max_window_s == 6.0
    assert loaded.preprocessing.pre_emphasis == 0.9
    assert loaded.preprocessing.trim_frame_length == 256
    assert loaded.training_info is not None and loaded.training_info["status"] == "complete"
    with pytest.raises(ExportError, match="fold_1"):  # the multi-fold parent folder
        load_checkpoint(tmp_path / "run")
    (fold / "edge_ser_train.json").write_text(json.dumps({**info, "max_window_s": 0.1}))
    with pytest.raises(ExportError, match="max_window_s"):
        load_checkpoint(fold)


def test_quantize_mode_resolution(tmp_path: Path) -> None:
    from edge_ser_export import resolve_quantize_mode

    assert resolve_quantize_mode(None, tmp_path) == "static"
    assert resolve_quantize_mode(None, None) == "dynamic"
    assert resolve_quantize_mode("none", tmp_path) == "none"
    with pytest.raises(ExportError, match="calibration"):
        resolve_quantize_mode("static", None)
    with pytest.raises(ExportError, match="'int4'"):
        resolve_quantize_mode("int4", None)


# -- real speech -----------------------------------------------------------------------


@pytest.mark.corpus
@pytest.mark.skipif(not RAVDESS.is_dir(), reason=f"real speech not available at {RAVDESS}")
def test_static_export_calibrated_on_real_speech(tiny_checkpoint: Path, tmp_path: Path) -> None:
    report = export_model(
        tiny_checkpoint,
        tmp_path / "out",
        calibration=RAVDESS,
        raw_variant=False,
        max_calibration_windows=3,
        max_parity_windows=3,
    )
    assert report.quantization == "static"
    assert report.audio["calibration"]["windows"] == 3
    assert report.audio["calibration"]["window_s"] == 8.0
    assert report.audio["parity"] == {**report.audio["parity"], "source": "real", "windows": 3}
    assert report.parity["quantized_vs_fp32"].max_abs_diff < 0.05


def _fp32_convs(path: Path) -> list[str]:
    import onnx

    model = onnx.load(str(path))
    floats = {i.name for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
    return [n.name for n in model.graph.node if n.op_type == "Conv" and n.input[1] in floats]


def test_fp32_conv_layers_keeps_leading_encoder_convs_in_fp32(
    tiny_checkpoint: Path,
    calibration_dir: Path,
    static_export: ExportReport,
    tmp_path: Path,
) -> None:
    import onnx
    from edge_ser_export.quantize import leading_conv_nodes

    with pytest.raises(ExportError, match="fp32_conv_layers"):
        export_model(
            tiny_checkpoint, tmp_path / "bad", calibration=calibration_dir, fp32_conv_layers=-1
        )
    report = export_model(
        tiny_checkpoint,
        tmp_path / "three",
        calibration=calibration_dir,
        max_calibration_windows=4,
        fp32_conv_layers=3,
        raw_variant=False,
    )
    default = _fp32_convs(static_export.out_dir / "model.onnx")
    three = _fp32_convs(report.out_dir / "model.onnx")
    graph = onnx.load(str(report.out_dir / "model.onnx"))
    assert default == leading_conv_nodes(graph, 1)  # by default only the waveform conv
    assert three == leading_conv_nodes(graph, 3)  # the waveform conv, then two more
    recorded = json.loads((report.out_dir / "export_report.json").read_text())
    assert recorded["audio"]["calibration"]["fp32_conv_layers"] == 3
