"""Classifier end to end on the tiny exported model: audio in, label, scores, timeline out."""

from __future__ import annotations

import json
import math
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import SHARED_DATASETS, speech_bursts, synth_speechlike

from edge_ser import Classifier, ClassifierOptions, load_model
from edge_ser.errors import (
    InvalidAudioError,
    ModelLoadError,
    ModelMetadataError,
    ModelNotFoundError,
    OptionsError,
    UnsupportedAudioError,
)
from edge_ser.metadata import METADATA_FILENAME, METADATA_KEY
from edge_ser.results import ClassificationResult

RATES = [8000, 16000, 22050, 44100, 48000]
BURSTS = [(0.5, 2.0), (3.0, 13.5), (15.0, 15.3)]  # a short, a long (> 8 s) and a tiny burst


@pytest.fixture(scope="module")
def clf(tiny_model_dir: Path) -> Classifier:
    return Classifier(tiny_model_dir)


def _check_result(result: ClassificationResult, labels: tuple[str, ...]) -> None:
    assert result.label in labels
    assert set(result.scores) == set(labels)
    assert math.fsum(result.scores.values()) == pytest.approx(1.0, abs=1e-9)
    assert result.scores[result.label] == max(result.scores.values())
    starts = [(w.start, w.end) for w in result.windows]
    assert starts == sorted(starts), "windows are ordered"
    for w in result.windows:
        assert 0.0 <= w.start < w.end <= result.duration
        assert w.end - w.start <= 8.0 + 1e-9
        assert math.fsum(w.scores.values()) == pytest.approx(1.0, abs=1e-9)
        assert w.label == max(w.scores, key=w.scores.__getitem__)
        assert 0.0 <= w.speech_ratio <= 1.0


@pytest.mark.parametrize("rate", RATES)
def test_windows_map_back_to_the_original_audio(clf: Classifier, rate: int) -> None:
    x = speech_bursts(BURSTS, 17.0, sample_rate=rate)
    result = clf.classify(x, rate)
    assert result.duration == pytest.approx(17.0)
    _check_result(result, clf.labels)
    pad = clf.options.vad.speech_pad_ms / 1000
    regions = [(r.start, r.end) for r in result.speech_regions]
    assert len(regions) == 3
    for (start, end), (b_start, b_end) in zip(regions, BURSTS, strict=True):
        assert start == pytest.approx(b_start - pad, abs=0.04)
        assert b_end + pad - 0.04 <= end <= b_end + pad + 0.2  # webrtcvad hangover
    # The windowing policy, in seconds of the original audio: the 1.5 s region is one window,
    # the 10.5 s region a full 8 s window plus its tail, the 0.3 s region is extended
    # backwards to min_window_s (1 s).
    r1, r2, r3 = regions
    spans = [(w.start, w.end) for w in result.windows]
    expected = [r1, (r2[0], r2[0] + 8.0), (r2[0] + 8.0, r2[1]), (r3[1] - 1.0, r3[1])]
    assert len(spans) == len(expected)
    for got, want in zip(spans, expected, strict=True):
        assert got == pytest.approx(want, abs=1e-6)


def test_stereo_and_int16_input(clf: Classifier) -> None:
    mono = synth_speechlike(6.0, 22050, seed=4)
    stereo = np.stack([mono, mono], axis=1)
    assert clf.classify(stereo, 22050).to_dict() == clf.classify(mono, 22050).to_dict()
    pcm = (mono * 32767).astype(np.int16)
    a, b = clf.classify(pcm, 22050), clf.classify(mono, 22050)
    assert [(w.start, w.end) for w in a.windows] == [(w.start, w.end) for w in b.windows]
    for wa, wb in zip(a.windows, b.windows, strict=True):
        for k in clf.labels:
            assert wa.scores[k] == pytest.approx(wb.scores[k], abs=1e-3)


def test_multichannel_wav_file_equals_its_array(clf: Classifier, tmp_path: Path) -> None:
    x = synth_speechlike(5.0, 44100, seed=5)
    channels = np.stack([x, 0.5 * x, np.zeros_like(x)], axis=1)
    path = tmp_path / "three.wav"
    sf.write(path, channels, 44100, subtype="FLOAT")
    from_file = clf.classify(path)
    from_array = clf.classify(channels, 44100)
    assert from_file.source == str(path) and from_array.source is None
    assert from_file.windows == from_array.windows
    with path.open("rb") as f:
        assert clf.classify(f).windows == from_file.windows


def test_runs_are_deterministic(clf: Classifier, tiny_model_dir: Path) -> None:
    x = synth_speechlike(12.0, 16000, seed=6)
    first = clf.classify(x, 16000).to_dict()
    assert clf.classify(x, 16000).to_dict() == first
    assert Classifier(tiny_model_dir).classify(x, 16000).to_dict() == first


def test_one_classifier_is_safe_across_threads(clf: Classifier) -> None:
    inputs = [synth_speechlike(4.0 + i, 16000, seed=i) for i in range(4)]
    expected = [clf.classify(x, 16000).to_dict() for x in inputs]
    got: dict[int, dict[str, object]] = {}

    def work(i: int) -> None:
        for _ in range(3):
            got[i] = clf.classify(inputs[i], 16000).to_dict()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [got[i] for i in range(4)] == expected


@pytest.mark.parametrize(
    "audio",
    [
        np.zeros(16000 * 3, np.float32),  # digital silence
        (0.001 * np.random.default_rng(0).standard_normal(16000 * 3)).astype(np.float32),
        np.zeros(0, np.float32),  # empty
        np.zeros(100, np.float32),  # shorter than the model's input
    ],
    ids=["silence", "noise-floor", "empty", "tiny"],
)
def test_no_speech_is_a_defined_result(clf: Classifier, audio: np.ndarray) -> None:
    result = clf.classify(audio, 16000)
    assert result.label is None and not result.has_speech
    assert result.scores == {} and result.windows == ()
    assert result.to_dict()["label"] is None


def test_audio_shorter_than_the_model_input_without_vad(tiny_model_dir: Path) -> None:
    clf = Classifier(tiny_model_dir, {"vad": {"enabled": False}})
    n = clf.metadata.min_input_samples
    assert clf.classify(np.full(n // 2, 0.1, np.float32), 16000).label is None
    short = clf.classify(synth_speechlike(0.5, 16000), 16000)  # below min_window_s: one window
    assert short.label is not None and [(w.start, w.end) for w in short.windows] == [(0.0, 0.5)]


def test_no_vad_and_overlap_options(tiny_model_dir: Path) -> None:
    opts = {"vad": {"enabled": False}, "window": {"window_s": 4.0, "overlap_s": 1.0}}
    clf = Classifier(tiny_model_dir, opts)
    result = clf.classify(synth_speechlike(10.5, 16000), 16000)
    spans = [(w.start, w.end) for w in result.windows]
    assert spans == [(0.0, 4.0), (3.0, 7.0), (6.0, 10.0), (9.0, 10.5)]
    assert all(w.speech_ratio == 1.0 for w in result.windows)
    assert result.options.window.overlap_s == 1.0 and not result.options.vad.enabled


def test_result_serialises_to_json(clf: Classifier) -> None:
    data = json.loads(json.dumps(clf.classify(synth_speechlike(5.0, 16000), 16000).to_dict()))
    assert {"path", "label", "scores", "duration", "windows"} <= set(data)
    assert {"start", "end", "label", "scores"} <= set(data["windows"][0])


def test_input_errors(clf: Classifier, tmp_path: Path) -> None:
    x = synth_speechlike(1.0, 16000)
    with pytest.raises(UnsupportedAudioError, match="sample_rate is required"):
        clf.classify(x)
    with pytest.raises(UnsupportedAudioError, match="4000 to 384000"):
        clf.classify(x, 100)
    bad = x.copy()
    bad[5] = np.nan
    with pytest.raises(InvalidAudioError):
        clf.classify(bad, 16000)
    path = tmp_path / "a.wav"
    sf.write(path, x, 16000)
    with pytest.raises(UnsupportedAudioError, match="only with arrays"):
        clf.classify(path, 8000)


def test_options_are_validated_against_the_model(tiny_model_dir: Path) -> None:
    with pytest.raises(OptionsError, match="max_window_s"):
        Classifier(tiny_model_dir, {"window": {"window_s": 12.0}})
    with pytest.raises(OptionsError, match="unknown option"):
        Classifier(tiny_model_dir, {"vad": {"agressiveness": 1}})
    opts = ClassifierOptions.from_dict({"aggregation": {"method": "vote"}})
    assert Classifier(tiny_model_dir, opts).options.aggregation.method == "vote"


# -- model loading -------------------------------------------------------------------------


def _ort_copy(model_dir: Path, out: Path) -> Path:
    """Save the model in ORT format through ONNX Runtime itself (keeps its metadata)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.optimized_model_filepath = str(out)
    so.add_session_config_entry("session.save_model_format", "ORT")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    ort.InferenceSession(str(model_dir / "model.onnx"), so, providers=["CPUExecutionProvider"])
    return out


def test_onnx_and_ort_files_load_and_agree(tiny_model_dir: Path, tmp_path: Path) -> None:
    x = synth_speechlike(6.0, 16000, seed=7)
    from_dir = Classifier(tiny_model_dir).classify(x, 16000)
    from_file = Classifier(tiny_model_dir / "model.onnx").classify(x, 16000)
    ort_file = _ort_copy(tiny_model_dir, tmp_path / "model.ort")
    from_ort = Classifier(ort_file).classify(x, 16000)  # metadata embedded in the .ort
    assert from_file.windows == from_dir.windows
    for a, b in zip(from_ort.windows, from_dir.windows, strict=True):
        assert (a.start, a.end) == (b.start, b.end)
        for k in a.scores:
            assert a.scores[k] == pytest.approx(b.scores[k], abs=1e-5)
    ort_only = tmp_path / "ort_only"
    ort_only.mkdir()
    shutil.copy(ort_file, ort_only / "model.ort")
    assert load_model(ort_only).source.endswith("model.ort")


def _edit_model(src: Path, dst: Path, *, metadata: str | None) -> Path:
    onnx = pytest.importorskip("onnx", reason="editing model metadata needs the onnx package")
    proto = onnx.load(str(src))
    kept = [p for p in proto.metadata_props if p.key != METADATA_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    if metadata is not None:
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, metadata
    onnx.save(proto, str(dst))
    return dst


def test_sidecar_metadata_is_used_when_none_is_embedded(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    _edit_model(tiny_model_dir / "model.onnx", tmp_path / "model.onnx", metadata=None)
    shutil.copy(tiny_model_dir / METADATA_FILENAME, tmp_path / METADATA_FILENAME)
    assert load_model(tmp_path).metadata.labels == load_model(tiny_model_dir).metadata.labels
    (tmp_path / METADATA_FILENAME).unlink()
    with pytest.raises(ModelMetadataError, match="no embedded 'edge_ser' metadata"):
        load_model(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labels": ["a", "b", "c"]}, "3 labels"),
        ({"input_name": "waveform"}, "not a graph input"),
        ({"output_name": "probs"}, "not a graph output"),
        ({"sample_rate": 22050}, "sample_rate"),
    ],
)
def test_metadata_that_disagrees_with_the_graph(
    tiny_model_dir: Path, tmp_path: Path, change: dict[str, object], message: str
) -> None:
    meta = json.loads((tiny_model_dir / METADATA_FILENAME).read_text()) | change
    _edit_model(tiny_model_dir / "model.onnx", tmp_path / "m.onnx", metadata=json.dumps(meta))
    with pytest.raises(ModelMetadataError, match=message):
        load_model(tmp_path / "m.onnx")


def test_missing_corrupt_and_truncated_models(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="not found"):
        Classifier(tmp_path / "nope")
    with pytest.raises(ModelNotFoundError, match=r"holds no model\.onnx or model\.ort"):
        Classifier(tmp_path)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"definitely not a model" * 100)
    with pytest.raises(ModelLoadError, match="cannot load"):
        Classifier(garbage)
    data = (tiny_model_dir / "model.onnx").read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError):
        Classifier(truncated)


def test_no_model_and_no_bundled_model(monkeypatch: pytest.MonkeyPatch) -> None:
    import edge_ser.model

    monkeypatch.setattr(edge_ser.model, "BUNDLED_MODEL_NAMES", ("absent.onnx",))
    with pytest.raises(ModelNotFoundError, match="--model"):
        Classifier()


def test_bundled_model_is_found_through_package_resources(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edge_ser.model

    package = tmp_path / "fake_edge_ser_assets"
    package.mkdir()
    (package / "__init__.py").write_text("")
    shutil.copy(tiny_model_dir / "model.onnx", package / "default.onnx")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(edge_ser.model, "ASSETS_PACKAGE", "fake_edge_ser_assets")
    clf = Classifier()
    assert clf.model_source == "fake_edge_ser_assets/default.onnx"
    assert clf.labels == load_model(tiny_model_dir).metadata.labels


def test_raw_pcm_variant_agrees_with_the_default_model(tiny_model_dir: Path) -> None:
    raw_path = tiny_model_dir / "model_raw.onnx"
    if not raw_path.is_file():
        pytest.skip(
            "the exporter did not write model_raw.onnx (the in-graph preprocessing variant)"
        )
    raw = Classifier(raw_path)
    assert raw.metadata.input_kind == "raw_pcm"
    x = synth_speechlike(10.0, 16000, seed=8)
    a, b = Classifier(tiny_model_dir).classify(x, 16000), raw.classify(x, 16000)
    assert [(w.start, w.end) for w in a.windows] == [(w.start, w.end) for w in b.windows]
    for wa, wb in zip(a.windows, b.windows, strict=True):
        for k in wa.scores:
            # In-graph and numpy preprocessing are both float32 (measured difference: 0.0).
            assert wa.scores[k] == pytest.approx(wb.scores[k], abs=1e-5)


@pytest.mark.corpus
def test_real_speech_is_found_and_classified(clf: Classifier) -> None:
    folder = SHARED_DATASETS / "ravdess" / "Actor_01"
    files = sorted(folder.glob("*.flac"))[:4] if folder.is_dir() else []
    if not files:
        pytest.skip(f"real speech not available: {folder} is missing (see ../shared/README.md)")
    for path in files:
        result = clf.classify(path)
        _check_result(result, clf.labels)
        assert result.speech_regions, f"no speech found in {path.name}"
        # RAVDESS clips hold one sentence with silence around it.
        assert 0.5 < result.speech_duration < result.duration


def test_bundled_models_are_found_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_model_dir: Path
) -> None:
    import edge_ser.model
    from edge_ser.errors import ModelNotFoundError

    # a name that is not installed says so, and names the way out
    monkeypatch.setitem(edge_ser.model.BUNDLED_MODELS, "whisper-base", ("absent.onnx",))
    with pytest.raises(ModelNotFoundError, match="bundled model 'whisper-base' is not installed"):
        Classifier("whisper-base")
    with pytest.raises(ModelNotFoundError, match="bundled models by name: default, whisper-base"):
        Classifier("no-such-model")
    # an installed name loads its own file (here: the tiny model standing in for it)
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "__init__.py").write_text("")
    (assets / "stand-in.onnx").write_bytes((tiny_model_dir / "model.onnx").read_bytes())
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(edge_ser.model, "ASSETS_PACKAGE", "assets")
    monkeypatch.setitem(edge_ser.model.BUNDLED_MODELS, "whisper-base", ("stand-in.onnx",))
    clf = Classifier("whisper-base")
    assert clf.model_source == "assets/stand-in.onnx"
    # a path that exists wins over a bundled name
    monkeypatch.chdir(tmp_path)
    (tmp_path / "whisper-base").mkdir()
    (tmp_path / "whisper-base" / "model.onnx").write_bytes(
        (tiny_model_dir / "model.onnx").read_bytes()
    )
    assert Classifier("whisper-base").model_source.endswith("model.onnx")
    assert "assets" not in Classifier("whisper-base").model_source
