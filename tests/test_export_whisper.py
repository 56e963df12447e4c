"""Whisper encoders: export (fp32, dynamic, static, .ort), the in-graph log-mel, the runtime.

The tiny checkpoint is a ``WhisperForAudioClassification`` built from a ``WhisperConfig``
(random weights, 2 encoder layers of width 32, 80 mel bins, a learned weighted layer sum)
whose head is scaled up so that its probabilities are far from uniform (a parity check on
near-uniform probabilities would prove little). Each export runs once per session.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import LABELS, SHARED_DATASETS, speech_bursts, synth_speechlike

from edge_ser import Classifier
from edge_ser.errors import ExportError
from edge_ser.metadata import METADATA_FILENAME, ModelMetadata
from edge_ser.model import load_model

pytest.importorskip("torch", reason="the export toolchain (edge-ser[export]) is not installed")

from edge_ser_export import ExportReport, export_model
from edge_ser_export.speech import synthetic_speech

# In-graph log-mel vs WhisperFeatureExtractor, in the extractor's units ((log10 + 4) / 4):
# measured up to 2.1e-5 (synthetic speech) and 2.5e-5 (RAVDESS) with ONNX Runtime fp32.
LOG_MEL_ATOL = 1e-4
# Odd lengths (frame counts odd and even, a partial last hop) and a full 8-s window.
LENGTHS = (401, 4001, 12345, 16001, 40007, 128000)


def make_tiny_whisper(
    path: Path,
    *,
    n_mels: int = 80,
    fe_mels: int | None = None,
    weighted: bool = True,
    seed: int = 0,
) -> Path:
    """A tiny ``WhisperForAudioClassification`` folder with its ``preprocessor_config.json``."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForAudioClassification

    torch.manual_seed(seed)
    config = WhisperConfig(
        d_model=32,
        encoder_layers=2,
        encoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=64,
        num_mel_bins=n_mels,
        max_source_positions=1500,
        classifier_proj_size=16,
        use_weighted_layer_sum=weighted,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    model = WhisperForAudioClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(200.0)  # spread the classes: probabilities far from 1/4
        if weighted:
            model.layer_weights.copy_(torch.tensor([0.5, 2.0, -1.0]))
    model.save_pretrained(str(path))
    WhisperFeatureExtractor(feature_size=fe_mels or n_mels).save_pretrained(str(path))
    return path


@pytest.fixture(scope="session")
def whisper_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_whisper(tmp_path_factory.mktemp("whisper_ckpt"))


@pytest.fixture(scope="session")
def whisper_calibration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("whisper_cal")
    for i in range(4):
        sf.write(root / f"u{i}.wav", synth_speechlike(4.0 + i, seed=30 + i), 16000)
    return root


@pytest.fixture(scope="session")
def whisper_fp32(
    whisper_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> ExportReport:
    return export_model(whisper_checkpoint, tmp_path_factory.mktemp("w_fp32"), quantize="none")


@pytest.fixture(scope="session")
def whisper_dynamic(
    whisper_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> ExportReport:
    return export_model(whisper_checkpoint, tmp_path_factory.mktemp("w_dynamic"), ort=True)


@pytest.fixture(scope="session")
def whisper_static(
    whisper_checkpoint: Path, whisper_calibration: Path, tmp_path_factory: pytest.TempPathFactory
) -> ExportReport:
    return export_model(
        whisper_checkpoint,
        tmp_path_factory.mktemp("w_static"),
        calibration=whisper_calibration,
        ort=True,
        max_calibration_windows=2,
    )


@pytest.fixture(params=["none", "dynamic", "static"])
def whisper_export(request: pytest.FixtureRequest) -> ExportReport:
    name = {"none": "whisper_fp32", "dynamic": "whisper_dynamic", "static": "whisper_static"}
    report: ExportReport = request.getfixturevalue(name[request.param])
    return report


# -- the in-graph log-mel ---------------------------------------------------------------


def _feature_extractor(path: Path) -> object:
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor.from_pretrained(str(path))


def test_in_graph_log_mel_equals_the_feature_extractor(
    whisper_fp32: ExportReport, whisper_checkpoint: Path
) -> None:
    from edge_ser_export.whisper import in_graph_log_mel, reference_log_mel

    fe = _feature_extractor(whisper_checkpoint)
    rng = np.random.default_rng(5)
    windows = [synth_speechlike(n / 16000, seed=n) for n in LENGTHS]
    windows.append((0.05 * rng.standard_normal(9999)).astype(np.float32))  # noise, odd
    got = in_graph_log_mel(whisper_fp32.model_path, windows, "input_values")
    for w, g in zip(windows, got, strict=True):
        ref = reference_log_mel(fe, w)
        assert g.shape == ref.shape == (80, w.shape[0] // 160), w.shape
        assert np.max(np.abs(g - ref)) < LOG_MEL_ATOL, w.shape[0]
        # Not trivially equal: the features vary over the window (values span at most 2).
        assert np.ptp(ref) > 0.5


def test_the_export_reports_front_end_parity(whisper_export: ExportReport) -> None:
    fe = whisper_export.front_end_parity
    assert fe["windows"] >= 1 and fe["max_abs_diff"] < fe["tolerance"] == 1e-3
    report = json.loads(whisper_export.report_path.read_text())
    assert report["front_end_parity"]["max_abs_diff"] == fe["max_abs_diff"]
    extra = whisper_export.metadata.extra
    assert extra["parity"]["log_mel_vs_feature_extractor"]["max_abs_diff"] == fe["max_abs_diff"]
    assert extra["front_end"]["n_mels"] == 80 and extra["front_end"]["hop_length"] == 160


def test_a_wrong_front_end_fails_parity_loudly(
    whisper_fp32: ExportReport, whisper_checkpoint: Path
) -> None:
    from edge_ser_export.whisper import check_front_end
    from transformers import WhisperFeatureExtractor

    from edge_ser.errors import ParityError

    # A feature extractor with another hop: the graph's features no longer match it.
    other = WhisperFeatureExtractor(feature_size=80, hop_length=200)
    with pytest.raises(ParityError, match="log-mel"):
        check_front_end(whisper_fp32.model_path, other, [synth_speechlike(2.0, seed=1)])


# -- the folder contract -----------------------------------------------------------------


def test_every_mode_writes_the_folder_contract(whisper_export: ExportReport) -> None:
    folder = whisper_export.out_dir
    for name in ("model.onnx", "model_raw.onnx", METADATA_FILENAME, "export_report.json"):
        assert (folder / name).is_file(), name
    md = ModelMetadata.read(folder / METADATA_FILENAME)
    assert md.labels == LABELS and md.quantization == whisper_export.quantization
    assert md.front_end == "log_mel" and md.extra["architecture"] == "WhisperForAudioClassification"
    # Whisper: trim and peak normalisation, no pre-emphasis.
    assert md.preprocessing.pre_emphasis == 0.0
    assert md.preprocessing.trim_top_db == 20.0 and md.preprocessing.peak_normalize
    assert md.min_input_samples == 400 and md.input_kind == "preprocessed"
    parity = whisper_export.parity
    assert parity["torch_vs_onnx_fp32"].reference.startswith("transformers WhisperFeatureExtractor")
    assert parity["torch_vs_onnx_fp32"].max_abs_diff < 1e-3
    assert parity["raw_vs_model"].max_abs_diff < 1e-3
    if whisper_export.quantization != "none":
        assert parity["quantized_vs_fp32"].windows >= 1
        assert whisper_export.quantization in whisper_export.latency


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_ort_files_and_required_operators(mode: str, request: pytest.FixtureRequest) -> None:
    report: ExportReport = request.getfixturevalue(f"whisper_{mode}")
    assert report.ort_path is not None and report.ort_path.is_file()
    assert report.raw_ort_path is not None and report.operators_config_path is not None
    ops = report.operators_config_path.read_text()
    assert "Conv" in ops and "Log" in ops and "Pad" in ops  # the front end's ops
    assert report.parity["ort_vs_onnx"].max_abs_diff < 1e-3
    assert report.parity["raw_ort_vs_raw"].max_abs_diff < 1e-3


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_int8_keeps_the_front_end_and_conv1_in_fp32(
    mode: str, request: pytest.FixtureRequest
) -> None:
    import onnx

    report: ExportReport = request.getfixturevalue(f"whisper_{mode}")
    graph = onnx.load(str(report.model_path)).graph
    front = [n for n in graph.node if n.name.startswith("/log_mel/")]
    assert {"Conv", "MatMul", "Log"} <= {n.op_type for n in front}
    quantised_ops = {"ConvInteger", "QLinearConv", "MatMulInteger", "QLinearMatMul"}
    quantised_ops |= {"DynamicQuantizeMatMul", "MatMulIntegerToFloat"}
    assert not any(n.op_type in quantised_ops for n in front)
    front_tensors = {o for n in front for o in n.output}
    rest = [n for n in graph.node if not n.name.startswith("/log_mel/")]
    conv1 = [n for n in rest if n.op_type == "Conv" and set(n.input) & front_tensors]
    assert len(conv1) == 1  # conv1 reads the log-mel in fp32
    # ...and the encoder behind it is quantised.
    assert any(n.op_type in quantised_ops for n in graph.node)
    if mode == "static":  # but not the attention products, unless asked (--quantize-attention)
        scores = {n.op_type for n in graph.node if "self_attn/MatMul" in n.name}
        assert "MatMul" in scores and "QLinearMatMul" not in scores, scores


def test_keep_fp32_and_the_calibration_method_reach_the_graph_and_the_report(
    whisper_checkpoint: Path, whisper_calibration: Path, tmp_path: Path
) -> None:
    import onnx

    report = export_model(
        whisper_checkpoint,
        tmp_path / "kept",
        calibration=whisper_calibration,
        raw_variant=False,
        max_calibration_windows=2,
        calibration_method="minmax",
        keep_fp32=("fc2",),
        quantize_attention=True,
    )
    graph = onnx.load(str(report.model_path)).graph
    ops = {name: {n.op_type for n in graph.node if name in n.name} for name in ("fc1", "fc2")}
    assert "MatMul" in ops["fc2"] and "MatMulIntegerToFloat" not in ops["fc2"]
    assert "MatMulIntegerToFloat" in ops["fc1"]  # the rest is still int8
    # the attention products (two activations) are quantised too
    scores = {n.op_type for n in graph.node if "self_attn/MatMul" in n.name}
    assert "QLinearMatMul" in scores, scores
    calibration = json.loads(report.report_path.read_text())["audio"]["calibration"]
    assert calibration["method"] == "minmax" and calibration["keep_fp32"] == ["fc2"]
    assert calibration["quantize_attention"] is True
    with pytest.raises(ExportError, match="no Conv, MatMul or Gemm node has such a name"):
        export_model(
            whisper_checkpoint,
            tmp_path / "none",
            calibration=whisper_calibration,
            raw_variant=False,
            max_calibration_windows=2,
            keep_fp32=("no_such_layer",),
        )
    with pytest.raises(ExportError, match="calibration_method must be one of"):
        export_model(whisper_checkpoint, tmp_path / "x", calibration_method="median")


# -- the runtime -------------------------------------------------------------------------


def test_classifier_runs_a_whisper_model_like_any_other(whisper_dynamic: ExportReport) -> None:
    clf = Classifier(whisper_dynamic.out_dir)
    assert clf.metadata.front_end == "log_mel"
    x = synth_speechlike(12.0, 44100, seed=3)
    result = clf.classify(x, 44100)
    assert result.label in LABELS and abs(sum(result.scores.values()) - 1.0) < 1e-6
    assert result.windows and all(w.end - w.start <= 8.0 + 1e-6 for w in result.windows)
    assert set(result.to_dict()["windows"][0]) == {
        "start",
        "end",
        "label",
        "scores",
        "speech_ratio",
        "low_confidence",
    }
    again = clf.classify(x, 44100)
    assert again.to_dict() == result.to_dict()  # deterministic


def test_window_scores_match_transformers_on_the_runtime_input(
    whisper_fp32: ExportReport, whisper_checkpoint: Path
) -> None:
    """The runtime's own path (preprocess without pre-emphasis, pad) through the graph equals
    transformers' extractor + model on the same window."""
    from edge_ser_export.whisper import reference_probabilities
    from transformers import WhisperForAudioClassification

    model = load_model(whisper_fp32.out_dir)
    torch_model = WhisperForAudioClassification.from_pretrained(
        str(whisper_checkpoint), attn_implementation="eager"
    ).eval()
    fe = _feature_extractor(whisper_checkpoint)
    windows = [synth_speechlike(s, seed=i) for i, s in enumerate((0.02, 1.3, 3.7, 8.0))]
    got = model.score(windows, batch_size=1)
    ref = reference_probabilities(torch_model, fe, [model.prepare_input(w) for w in windows])
    assert np.max(np.abs(got - ref)) < 1e-4
    assert np.max(ref) > 0.6  # a confident head: the comparison has margins behind it


def test_batching_equal_length_windows_is_still_valid(whisper_fp32: ExportReport) -> None:
    model = load_model(whisper_fp32.out_dir)
    # Equal lengths, different voices and pauses (each row has its own log-mel floor).
    windows = [synthetic_speech(5.0, seed=40 + i) for i in range(4)]
    one = model.score(windows, batch_size=1)
    four = model.score(windows, batch_size=4)
    assert np.max(np.abs(one - four)) < 1e-5
    assert np.ptp(one, axis=0).max() > 1e-2  # the windows do score differently


def test_stream_is_chunk_size_independent(whisper_dynamic: ExportReport) -> None:
    clf = Classifier(whisper_dynamic.out_dir, {"session": {"batch_size": 1}})
    x = speech_bursts([(0.3, 3.1), (3.8, 13.5), (14.0, 14.9)], 16.0, 48000, seed=2)
    reference = clf.classify(x, 48000).to_dict()
    assert len(reference["windows"]) >= 3
    for chunk in (997, 48000, 48000 * 5):
        stream = clf.stream(48000)
        for i in range(0, x.shape[0], chunk):
            stream.accept_waveform(x[i : i + chunk])
        assert stream.finish().to_dict() == reference, chunk


def test_cli_classifies_whisper_models_without_torch(
    whisper_dynamic: ExportReport, whisper_static: ExportReport, tmp_path: Path
) -> None:
    from conftest import run_with_sitecustomize
    from test_no_torch import SITECUSTOMIZE, _edge_ser_command

    wav = tmp_path / "note.wav"
    sf.write(wav, synth_speechlike(6.0, 22050, seed=4), 22050)
    models = [whisper_dynamic.out_dir, whisper_static.out_dir]
    assert whisper_static.ort_path is not None
    models.append(whisper_static.ort_path)  # ONNX Runtime Mobile format, metadata inside
    for model in models:
        cmd = [*_edge_ser_command(), "classify", "--model", str(model), "--json", str(wav)]
        proc = run_with_sitecustomize(cmd, tmp_path, SITECUSTOMIZE)
        assert proc.returncode == 0, proc.stderr
        assert "NO_TORCH_CHECK []" in proc.stderr, proc.stderr
        data = json.loads(proc.stdout)
        assert data["label"] in LABELS and data["windows"], model


# -- checkpoints that cannot be exported --------------------------------------------------


def _export_error(checkpoint: Path, tmp_path: Path) -> str:
    with pytest.raises(ExportError) as info:
        export_model(checkpoint, tmp_path / "out", quantize="none")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_decoder_only_checkpoint_is_refused(tmp_path: Path) -> None:
    from transformers import WhisperConfig, WhisperForCausalLM

    config = WhisperConfig(
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_labels=4,
        id2label=dict(enumerate(LABELS)),
    )
    WhisperForCausalLM(config).save_pretrained(str(tmp_path / "decoder"))
    message = _export_error(tmp_path / "decoder", tmp_path)
    assert "WhisperForCausalLM" in message and "decoder only" in message

    # The same decoder weights under a classifier's name: no encoder weights in the files.
    cfg_path = tmp_path / "decoder" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["architectures"] = ["WhisperForAudioClassification"]
    cfg_path.write_text(json.dumps(cfg))
    message = _export_error(tmp_path / "decoder", tmp_path)
    assert "no weights for" in message and "encoder" in message


def test_a_wrong_mel_count_is_refused(tmp_path: Path) -> None:
    ckpt = make_tiny_whisper(tmp_path / "ckpt", n_mels=80, fe_mels=128)
    message = _export_error(ckpt, tmp_path)
    assert "feature_size 128" in message and "num_mel_bins is 80" in message


def test_the_cli_reports_a_bad_whisper_checkpoint_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge_ser.cli import main

    ckpt = make_tiny_whisper(tmp_path / "ckpt", n_mels=80, fe_mels=128)
    rc = main(["export", str(ckpt), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert rc == 2 and "Traceback" not in err
    assert len(errors) == 1 and "num_mel_bins" in errors[0], err
    assert not (tmp_path / "o").exists()


def test_a_whisper_encoder_without_labels_is_refused() -> None:
    encoder = SHARED_DATASETS.parent / "models" / "whisper-base-encoder"
    if not (encoder / "config.json").is_file():
        pytest.skip(f"the shared Whisper encoder is not at {encoder}")
    with pytest.raises(ExportError, match="no id2label"):
        export_model(encoder, encoder / "never-written", quantize="none")
