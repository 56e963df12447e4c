"""Streaming: equal to file mode, independent of chunk size, bounded memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import SHARED_DATASETS, speech_bursts, synth_speechlike

from edge_ser import ClassificationResult, Classifier, load_audio
from edge_ser.errors import EdgeSerError, InvalidAudioError

# Batched and single-window inference of equal-length windows differ by float rounding in
# ONNX Runtime's kernels (measured up to ~1e-8 on the tiny model with 2 threads); with
# batch_size=1 stream and file results are bit-identical. The tolerance for batched runs:
BATCH_ATOL = 1e-6


@pytest.fixture(scope="module")
def clf(tiny_model_dir: Path) -> Classifier:
    return Classifier(tiny_model_dir, {"session": {"batch_size": 1}})


@pytest.fixture(scope="module")
def batched(tiny_model_dir: Path) -> Classifier:
    return Classifier(tiny_model_dir, {"session": {"batch_size": 8}})


def _feed(clf: Classifier, x: np.ndarray, rate: int, chunk: int) -> ClassificationResult:
    stream = clf.stream(rate)
    for i in range(0, x.shape[0], chunk):
        stream.accept_waveform(x[i : i + chunk])
    return stream.finish()


def _assert_close(a: ClassificationResult, b: ClassificationResult, atol: float) -> None:
    assert a.label == b.label
    assert a.speech_regions == b.speech_regions
    assert [(w.start, w.end, w.speech_ratio) for w in a.windows] == [
        (w.start, w.end, w.speech_ratio) for w in b.windows
    ]
    for wa, wb in zip(a.windows, b.windows, strict=True):
        for k in wa.scores:
            assert wa.scores[k] == pytest.approx(wb.scores[k], abs=atol)
    for k in a.scores:
        assert a.scores[k] == pytest.approx(b.scores[k], abs=atol)


@pytest.mark.parametrize("rate", [16000, 44100])
def test_stream_equals_file_mode_for_any_chunk_size(
    clf: Classifier, tmp_path: Path, rate: int
) -> None:
    x = synth_speechlike(14.0, rate, seed=11)
    path = tmp_path / "note.wav"
    sf.write(path, x, rate, subtype="FLOAT")
    from_file = clf.classify(path).to_dict()
    assert len(from_file["windows"]) >= 4
    # Chunks of 1 and 7 samples are covered for the resampler and VAD in their own tests.
    for chunk in (97, 1001, rate // 2, 10 * rate):
        result = _feed(clf, x, rate, chunk).to_dict()
        result["path"] = from_file["path"]
        assert result == from_file, f"chunk={chunk}"


def test_long_speech_across_chunks_without_vad(tiny_model_dir: Path) -> None:
    clf = Classifier(
        tiny_model_dir,
        {"vad": {"enabled": False}, "window": {"overlap_s": 0.5}, "session": {"batch_size": 1}},
    )
    x = synth_speechlike(30.0, 48000, seed=12)
    reference = clf.classify(x, 48000).to_dict()
    for chunk in (480, 12345, 48000 * 7):
        assert _feed(clf, x, 48000, chunk).to_dict() == reference


def test_batched_results_match_within_measured_tolerance(
    clf: Classifier, batched: Classifier
) -> None:
    # Equal-length windows (identical bursts) are batched by the file pass.
    x = speech_bursts([(0.5, 2.0), (3.0, 4.5), (5.5, 7.0), (8.0, 9.5)], 10.0)
    single = clf.classify(x, 16000)
    together = batched.classify(x, 16000)
    streamed = _feed(batched, x, 16000, 333)
    _assert_close(together, single, BATCH_ATOL)
    _assert_close(streamed, single, BATCH_ATOL)


def test_windows_are_yielded_as_they_complete(clf: Classifier) -> None:
    x = synth_speechlike(24.0, 16000, seed=13)
    stream = clf.stream(16000)
    yielded = []
    for i in range(0, x.shape[0], 1600):
        new = stream.accept_waveform(x[i : i + 1600])
        for w in new:
            assert w.end <= stream.duration
        yielded += new
    assert yielded, "windows arrive before finish()"
    result = stream.finish()
    assert tuple(yielded) == result.windows[: len(yielded)]
    assert result.windows[len(yielded) - 1].end < 24.0 - 2.0  # early, not all at the end


def test_stream_memory_is_bounded(tiny_model_dir: Path) -> None:
    clf = Classifier(tiny_model_dir, {"vad": {"enabled": False}})
    stream = clf.stream(16000)
    chunk = synth_speechlike(0.5, 16000, seed=14)
    held = []
    for _ in range(240):  # two minutes of continuous speech
        stream.accept_waveform(chunk)
        held.append(stream.buffered_seconds)
    result = stream.finish()
    assert len(result.windows) == 15
    # At most the last emitted window (8 s), what came after it, and the compaction slack.
    assert max(held) <= 20.0
    assert max(held[120:]) <= max(held[:120]) + 0.5  # does not grow with the stream


def test_silence_stream_is_no_speech(clf: Classifier) -> None:
    stream = clf.stream(8000)
    for _ in range(20):
        assert stream.accept_waveform(np.zeros(800, np.int16)) == []
    result = stream.finish()
    assert result.label is None and result.windows == () and result.duration == 2.0


def test_chunk_dtypes_and_channels(clf: Classifier) -> None:
    x = synth_speechlike(6.0, 16000, seed=15)
    reference = _feed(clf, x, 16000, 1600).to_dict()
    pcm = np.stack([(x * 32767).astype(np.int16)] * 2, axis=1)
    result = _feed(clf, pcm, 16000, 1600).to_dict()
    assert [(w["start"], w["end"]) for w in result["windows"]] == [
        (w["start"], w["end"]) for w in reference["windows"]
    ]
    stream = clf.stream(16000)
    with pytest.raises(InvalidAudioError):
        stream.accept_waveform(np.array([np.nan], np.float32))


def test_a_finished_stream_refuses_more(clf: Classifier) -> None:
    stream = clf.stream(16000)
    stream.accept_waveform(np.zeros(160, np.float32))
    stream.finish()
    with pytest.raises(EdgeSerError, match="finished"):
        stream.accept_waveform(np.zeros(160, np.float32))
    with pytest.raises(EdgeSerError, match="finished"):
        stream.finish()


@pytest.mark.corpus
def test_real_speech_stream_equals_file_mode(clf: Classifier) -> None:
    folder = SHARED_DATASETS / "savee"
    files = sorted(folder.glob("*.flac"))[:8] if folder.is_dir() else []
    if not files:
        pytest.skip(f"real speech not available: {folder} is missing (see ../shared/README.md)")
    # A ~30 s "voice note" of real sentences, at 44.1 kHz like a phone recording.
    x16 = np.concatenate([sf.read(f, dtype="float32")[0] for f in files])
    x = load_audio(x16, 16000, target_rate=44100)
    reference = clf.classify(x, 44100).to_dict()
    assert len(reference["windows"]) >= 4
    for chunk in (441, 4410 * 3 + 17):
        assert _feed(clf, x, 44100, chunk).to_dict() == reference
