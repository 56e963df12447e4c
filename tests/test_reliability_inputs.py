"""The bad-input matrix: every input a voice-note app may hand over, through the API and the CLI.

Each case ends in a specific :mod:`edge_ser.errors` type whose message names what was given
and what is accepted, or in a defined result (for example "no speech"). The CLI reports one
line per failing input, exits non-zero and still prints every other input's result.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import speech_bursts

from edge_ser import Classifier, load_model
from edge_ser.cli import main
from edge_ser.errors import (
    AudioDecodeError,
    AudioNotFoundError,
    EdgeSerError,
    InvalidAudioError,
    ModelLoadError,
    ModelMetadataError,
    ModelNotFoundError,
    UnsupportedAudioError,
)
from edge_ser.metadata import METADATA_FILENAME, METADATA_KEY
from edge_ser.results import ClassificationResult

BURSTS = [(0.5, 2.0), (3.0, 4.2)]
SECONDS = 5.0


@pytest.fixture(scope="module")
def clf(tiny_model_dir: Path) -> Classifier:
    return Classifier(tiny_model_dir, {"session": {"batch_size": 1}})


@pytest.fixture(scope="module")
def reference(clf: Classifier) -> ClassificationResult:
    """The same speech as a plain 16 kHz float array: what every format must reproduce."""
    return clf.classify(speech_bursts(BURSTS, SECONDS, 16000), 16000)


def _check_valid(result: ClassificationResult, labels: tuple[str, ...]) -> None:
    if result.label is None:
        assert result.scores == {} and result.windows == ()
    else:
        assert set(result.scores) == set(labels)
        assert math.fsum(result.scores.values()) == pytest.approx(1.0, abs=1e-9)
    for w in result.windows:
        assert 0.0 <= w.start < w.end <= result.duration + 1e-9
        assert math.fsum(w.scores.values()) == pytest.approx(1.0, abs=1e-9)


# -- the audio matrix ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad (or unusual) input file and what must come of it."""

    make: Callable[[Path], Path]
    error: type[EdgeSerError] | None = None  # None: a defined result, checked by `result`
    given: str = ""  # regex: the message names what was given ({path} = the file)
    accepted: str = ""  # regex: ... and what is accepted
    result: str = ""  # "no-speech" or "speech" (regions as in the reference)


def _wav(name: str, x: np.ndarray, rate: int = 16000, **kw: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        sf.write(path, x, rate, **kw)
        return path

    return make


def _bytes(name: str, data: bytes | Callable[[], bytes]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data() if callable(data) else data)
        return path

    return make


def _good_wav_bytes() -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, speech_bursts(BURSTS, SECONDS, 16000), 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _missing(folder: Path) -> Path:
    return folder / "never_recorded.wav"


def _empty_folder(folder: Path) -> Path:
    path = folder / "no_audio_here"
    path.mkdir()
    (path / "readme.txt").write_text("not audio")
    return path


def _with_bad_samples(value: float) -> np.ndarray:
    """Speech with a damaged stretch (every 97th sample from 1.0 to 1.5 s) inside a burst."""
    x = speech_bursts(BURSTS, SECONDS, 16000)
    x[16000:24000:97] = value
    return x


def _undecodable(make: Callable[[Path], Path], given: str = r"cannot decode {path}") -> Case:
    return Case(make, AudioDecodeError, given, accepted=r"accepted formats: .*WAV")


SPEECH = speech_bursts(BURSTS, SECONDS, 16000)

AUDIO_CASES: dict[str, Case] = {
    "missing-path": Case(_missing, AudioNotFoundError, r"not found: {path}"),
    "folder-without-audio": Case(_empty_folder, AudioNotFoundError, r"{path} is a folder"),
    "empty-file": _undecodable(_bytes("empty.wav", b""), r"{path} as audio \(the file is empty"),
    "random-bytes-wav": _undecodable(_bytes("random.wav", np.random.default_rng(2).bytes(4096))),
    # Starts with an MPEG frame sync: libsndfile tries (and fails) to decode it as MP3, then
    # says the file "does not exist"; the message must not repeat that.
    "corrupt-mp3": _undecodable(
        _bytes("broken.mp3", b"\xff\xfb\x90\x64" + np.random.default_rng(3).bytes(4096)),
        r"{path} as audio \(not a recognised audio format, or a damaged file\)",
    ),
    "text-file": _undecodable(_bytes("notes.txt", b"buy milk\nthis is not audio\n" * 20)),
    # A WAV header, no samples: the file holds nothing to classify.
    "zero-sample-wav": Case(_wav("zero.wav", np.zeros(0, np.float32)), result="no-speech"),
    "header-only-wav": Case(
        _bytes("header.wav", lambda: _good_wav_bytes()[:44]), result="no-speech"
    ),
    "silence-only": Case(_wav("silence.wav", np.zeros(16000 * 3, np.float32)), result="no-speech"),
    "dc-offset-only": Case(_wav("dc.wav", np.full(16000 * 3, 0.4, np.float32)), result="no-speech"),
    "10-ms": Case(_wav("tiny.wav", SPEECH[16000 : 16000 + 160]), result="no-speech"),
    # Damaged samples in a file are replaced by 0 (with a warning): the rest still counts.
    "nan-samples": Case(
        _wav("nan.wav", _with_bad_samples(np.nan), subtype="FLOAT"), result="speech"
    ),
    "inf-samples": Case(
        _wav("inf.wav", _with_bad_samples(np.inf), subtype="FLOAT"), result="speech"
    ),
    "huge-samples": Case(
        _wav("huge.wav", _with_bad_samples(3e38), subtype="FLOAT"), result="speech"
    ),
    "dc-offset": Case(_wav("offset.wav", SPEECH + 0.4), result="speech"),
    "hard-clipping": Case(_wav("clipped.wav", np.clip(SPEECH * 30, -1, 1)), result="speech"),
    "8-khz": Case(_wav("8k.wav", speech_bursts(BURSTS, SECONDS, 8000), 8000), result="speech"),
    "96-khz": Case(_wav("96k.wav", speech_bursts(BURSTS, SECONDS, 96000), 96000), result="speech"),
    "6-channels": Case(
        _wav("6ch.wav", np.stack([SPEECH * (k + 1) / 7 for k in range(6)], axis=1)),
        result="speech",
    ),
    "8-bit": Case(_wav("u8.wav", SPEECH, subtype="PCM_U8"), result="speech"),
    "24-bit": Case(_wav("s24.wav", SPEECH, subtype="PCM_24"), result="speech"),
    "32-bit-float": Case(_wav("f32.wav", SPEECH, subtype="FLOAT"), result="speech"),
    "big-endian-aiff": Case(
        _wav("be.aiff", SPEECH, format="AIFF", subtype="PCM_16", endian="BIG"), result="speech"
    ),
}


@pytest.fixture(scope="module")
def audio_cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad_inputs")
    return {name: case.make(folder) for name, case in AUDIO_CASES.items()}


def _pattern(template: str, path: Path) -> str:
    return template.replace("{path}", re.escape(str(path)))


@pytest.mark.parametrize("name", list(AUDIO_CASES))
def test_audio_matrix_through_the_api(
    clf: Classifier,
    reference: ClassificationResult,
    audio_cases: dict[str, Path],
    name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    case, path = AUDIO_CASES[name], audio_cases[name]
    if case.error is not None:
        with pytest.raises(case.error) as info:
            clf.classify(path)
        message = str(info.value)
        assert re.search(_pattern(case.given, path), message), message
        assert re.search(case.accepted, message), message
        if path.is_file() and path.stat().st_size > 0:  # a file object fails the same way
            with path.open("rb") as f, pytest.raises(case.error):
                clf.classify(f)
        return
    with caplog.at_level(logging.WARNING, logger="edge_ser"):
        result = clf.classify(path)
    _check_valid(result, clf.labels)
    assert result.source == str(path)
    if case.result == "no-speech":
        assert result.label is None and result.speech_regions == ()
        return
    assert result.label is not None
    assert result.duration == pytest.approx(SECONDS, abs=1e-3)
    # Decoded right (rate, channels, bit depth, endianness): VAD finds the same speech.
    got = [(r.start, r.end) for r in result.speech_regions]
    want = [(r.start, r.end) for r in reference.speech_regions]
    assert len(got) == len(want)
    for (a, b), (c, d) in zip(got, want, strict=True):
        assert a == pytest.approx(c, abs=0.05) and b == pytest.approx(d, abs=0.05)
    if name in {"nan-samples", "inf-samples", "huge-samples"}:
        # The warning names the file, so a batch log says which recording was damaged.
        assert any(str(path) in r.getMessage() for r in caplog.records), caplog.text


def test_truncated_wav_gives_the_result_for_the_samples_it_holds(
    clf: Classifier, tmp_path: Path
) -> None:
    data = _good_wav_bytes()
    cut = 44 + 2 * int(16000 * 2.5)  # header + 2.5 s of 16-bit samples, header still says 5 s
    path = tmp_path / "cut.wav"
    path.write_bytes(data[:cut])
    result = clf.classify(path)
    _check_valid(result, clf.labels)
    assert result.duration == pytest.approx(2.5, abs=1e-3)
    assert result.label is not None and result.speech_regions[0].start < 0.5
    # A cut in the middle of a sample (odd byte count) is no worse.
    path.write_bytes(data[: cut + 1])
    assert clf.classify(path).duration == pytest.approx(2.5, abs=1e-3)


@pytest.mark.parametrize(
    ("audio", "rate", "error", "given", "accepted"),
    [
        (np.zeros(16000, np.float32), None, UnsupportedAudioError, "sample_rate", "required"),
        (np.zeros(16000, np.float32), 100, UnsupportedAudioError, "got 100", "4000 to 384000"),
        (np.zeros(16000, np.float32), 16000.5, UnsupportedAudioError, "16000.5", "integer"),
        (np.zeros(16000, np.float32), 10**6, UnsupportedAudioError, "1000000", "4000 to 384000"),
        (np.zeros((2, 2, 2), np.float32), 16000, InvalidAudioError, r"\(2, 2, 2\)", "1-D"),
        (np.zeros((2, 16000), np.float32), 16000, InvalidAudioError, r"\(2, 16000\)", r"audio\.T"),
        (np.zeros((100, 0), np.float32), 16000, InvalidAudioError, r"\(100, 0\)", "1 to 64"),
        (np.zeros(10, np.complex64), 16000, InvalidAudioError, "complex64", "floating point"),
        (np.array(["a", "b"]), 16000, InvalidAudioError, "<U1", "integer PCM"),
        (np.array([0.1, np.nan]), 16000, InvalidAudioError, "1 NaN", "only finite"),
        (np.array([0.1, -np.inf]), 16000, InvalidAudioError, "1 NaN or infinite", "finite"),
        (np.array([0.1, 3e7]), 16000, InvalidAudioError, "3e\\+07", "at most 1e\\+06"),
        ([0.1, 0.2], 16000, InvalidAudioError, "list", "numpy array"),
        (b"RIFF....WAVE", None, InvalidAudioError, "bytes", "binary file object"),
    ],
    ids=["no-rate", "rate-100", "rate-float", "rate-1mhz", "3-d", "channels-first",
         "no-channels", "complex", "strings", "nan", "inf", "huge", "list", "bytes"],
)  # fmt: skip
def test_bad_arrays_and_arguments(
    clf: Classifier, audio: object, rate: object, error: type[EdgeSerError], given: str,
    accepted: str,
) -> None:  # fmt: skip
    with pytest.raises(error) as info:
        clf.classify(audio, rate)  # type: ignore[arg-type]
    assert re.search(given, str(info.value)), str(info.value)
    assert re.search(accepted, str(info.value)), str(info.value)


def test_bad_chunks_leave_the_stream_usable(clf: Classifier) -> None:
    x = speech_bursts(BURSTS, SECONDS, 16000)
    stream = clf.stream(16000)
    stream.accept_waveform(x[:16000])
    for bad in ([[0.1, 0.2], [0.3]], np.array([np.nan], np.float32), np.zeros((3, 3, 3))):
        with pytest.raises(InvalidAudioError):
            stream.accept_waveform(bad)  # type: ignore[arg-type]
    stream.accept_waveform(x[16000:])
    assert stream.finish().to_dict() == clf.classify(x, 16000).to_dict()
    with pytest.raises(UnsupportedAudioError, match="got 3"):
        clf.stream(3)


def test_file_with_an_impossible_rate_or_channel_count(clf: Classifier, tmp_path: Path) -> None:
    slow = tmp_path / "slow.wav"
    sf.write(slow, np.zeros(3000, np.float32), 1000)  # libsndfile writes it; we take >= 4 kHz
    with pytest.raises(UnsupportedAudioError, match=r"sample rate of .*slow\.wav.* got 1000"):
        clf.classify(slow)
    wide = tmp_path / "wide.wav"
    sf.write(wide, np.zeros((10, 65), np.float32), 16000)
    with pytest.raises(
        UnsupportedAudioError, match=r"wide\.wav has 65 channels; accepted: 1 to 64"
    ):
        clf.classify(wide)


# -- the model matrix ---------------------------------------------------------------------------


def _onnx() -> object:
    return pytest.importorskip("onnx", reason="building broken models needs the onnx package")


def _rewrite(src: Path, dst: Path, *, metadata: dict[str, object] | None = None,
             rename_input: str | None = None) -> Path:  # fmt: skip
    """A copy of ``src`` with replaced embedded metadata and/or a renamed graph input."""
    onnx = _onnx()
    proto = onnx.load(str(src))  # type: ignore[attr-defined]
    if metadata is not None:
        for entry in proto.metadata_props:
            if entry.key == METADATA_KEY:
                entry.value = json.dumps(metadata)
    if rename_input is not None:
        old = proto.graph.input[0].name
        proto.graph.input[0].name = rename_input
        for node in proto.graph.node:
            node.input[:] = [rename_input if i == old else i for i in node.input]
    onnx.save(proto, str(dst))  # type: ignore[attr-defined]
    return dst


def _meta(model_dir: Path, **change: object) -> dict[str, object]:
    data: dict[str, object] = json.loads((model_dir / METADATA_FILENAME).read_text())
    return data | change


ModelMaker = Callable[[Path, Path], Path]

MODEL_CASES: dict[str, tuple[ModelMaker, type[EdgeSerError], str, str]] = {
    "missing": (
        lambda src, tmp: tmp / "no_such_model",
        ModelNotFoundError, r"model not found: .*no_such_model", "",
    ),
    "folder-without-model": (
        lambda src, tmp: tmp,
        ModelNotFoundError, r"holds no model\.onnx or model\.ort", r"edge-ser export",
    ),
    "corrupt": (
        lambda src, tmp: _bytes("corrupt.onnx", np.random.default_rng(2).bytes(20000))(tmp),
        ModelLoadError, r"cannot load .*corrupt\.onnx", r"\.onnx/\.ort model",
    ),
    "truncated": (
        lambda src, tmp: _bytes("cut.onnx", (src / "model.onnx").read_bytes()[:30000])(tmp),
        ModelLoadError, r"cannot load .*cut\.onnx", r"\.onnx/\.ort model",
    ),
    "text-as-model": (
        lambda src, tmp: _bytes("model.onnx", b"<html>404 Not Found</html>")(tmp),
        ModelLoadError, r"cannot load .*model\.onnx", r"\.onnx/\.ort model",
    ),
    "wrong-input-name": (
        lambda src, tmp: _rewrite(src / "model.onnx", tmp / "m.onnx", rename_input="audio"),
        ModelMetadataError, r"input_name 'input_values' is not a graph input", r"graph inputs: audio",
    ),
    "labels-disagree": (
        lambda src, tmp: _rewrite(
            src / "model.onnx", tmp / "m.onnx", metadata=_meta(src, labels=["calm", "upset", "x"])
        ),
        ModelMetadataError, r"3 labels", r"graph outputs 4 classes",
    ),
    "output-name-disagrees": (
        lambda src, tmp: _rewrite(
            src / "model.onnx", tmp / "m.onnx", metadata=_meta(src, output_name="emotion")
        ),
        ModelMetadataError, r"'emotion' is not a graph output", r"graph outputs: .*probabilities",
    ),
    "min-input-disagrees": (
        lambda src, tmp: _rewrite(
            src / "model.onnx", tmp / "m.onnx", metadata=_meta(src, min_input_samples=40)
        ),
        ModelMetadataError, r"min_input_samples=40", r"the shortest its metadata accepts",
    ),
    "metadata-wrong-types": (
        lambda src, tmp: _rewrite(
            src / "model.onnx", tmp / "m.onnx", metadata=_meta(src, min_input_samples="400")
        ),
        ModelMetadataError, r"got '400'", r"an integer from 1",
    ),
    "labels-not-a-list": (
        lambda src, tmp: _rewrite(src / "model.onnx", tmp / "m.onnx", metadata={"labels": "ab"}),
        ModelMetadataError, r"got 'ab'", r"must be a list",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(MODEL_CASES))
def test_model_matrix_through_the_api(tiny_model_dir: Path, tmp_path: Path, name: str) -> None:
    make, error, given, accepted = MODEL_CASES[name]
    path = make(tiny_model_dir, tmp_path)
    with pytest.raises(error) as info:
        Classifier(path)
    message = str(info.value)
    assert re.search(given, message), message
    assert re.search(accepted, message), message
    assert "\n" not in message  # ONNX Runtime's multi-line messages are folded


def test_sidecar_metadata_that_is_not_json(tiny_model_dir: Path, tmp_path: Path) -> None:
    onnx = _onnx()
    proto = onnx.load(str(tiny_model_dir / "model.onnx"))  # type: ignore[attr-defined]
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "model.onnx"))  # type: ignore[attr-defined]
    (tmp_path / METADATA_FILENAME).write_text('{"labels": ["a", "b"')
    with pytest.raises(ModelMetadataError, match=r"edge_ser\.json is not valid JSON"):
        load_model(tmp_path)


# -- raw-PCM graphs and the in-graph silence trim --------------------------------------------


def _short_after_trim() -> np.ndarray:
    """700 samples: one silent 512-sample trim frame, then 188 loud ones. The silence trim
    leaves 188 samples, fewer than the model's 400-sample minimum input."""
    x = np.zeros(700, np.float32)
    x[512:] = 0.5 * np.sin(np.arange(188) * 0.3)
    return x


def _raw_without_padding(model_dir: Path, out: Path) -> Path:
    """A raw-PCM graph as older exporters wrote it: trim in-graph, no zero-padding after."""
    onnx = _onnx()
    try:
        from edge_ser_export.preprocess_graph import compose_raw_model
    except ImportError as exc:  # pragma: no cover - the toolchain is part of the dev install
        pytest.skip(f"building a raw-PCM graph needs edge_ser_export: {exc}")
    md = load_model(model_dir).metadata
    classifier = onnx.load(str(model_dir / "model.onnx"))  # type: ignore[attr-defined]
    raw = compose_raw_model(classifier, md.preprocessing, input_name=md.input_name, min_samples=1)
    meta = _meta(model_dir, input_kind="raw_pcm", input_name=raw.graph.input[0].name)
    entry = raw.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    onnx.save(raw, str(out))  # type: ignore[attr-defined]
    return out


def test_raw_pcm_windows_that_trim_below_the_minimum_input(
    tiny_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    opts = {"vad": {"enabled": False}, "session": {"batch_size": 1}}
    x = _short_after_trim()
    default = Classifier(tiny_model_dir, opts).classify(x, 16000)
    assert default.label is not None  # numpy preprocessing pads after trimming
    padded_raw = tiny_model_dir / "model_raw.onnx"
    if padded_raw.is_file():
        got = Classifier(padded_raw, opts).classify(x, 16000)
        assert got.label is not None
        for k in got.scores:
            assert got.scores[k] == pytest.approx(default.scores[k], abs=1e-5)
    # A raw graph that does not pad would fail inside ONNX Runtime: the runtime finds this
    # out at load, warns, and skips such windows (a defined "no speech" for this input).
    with caplog.at_level(logging.WARNING, logger="edge_ser"):
        old = Classifier(_raw_without_padding(tiny_model_dir, tmp_path / "old_raw.onnx"), opts)
    assert "does not pad" in caplog.text
    skipped = old.classify(x, 16000)
    assert skipped.label is None and skipped.windows == ()
    # Ordinary windows still go through that graph, and agree with the default model.
    speech = speech_bursts(BURSTS, SECONDS, 16000)
    a, b = old.classify(speech, 16000), Classifier(tiny_model_dir, opts).classify(speech, 16000)
    assert [(w.start, w.end) for w in a.windows] == [(w.start, w.end) for w in b.windows]
    for wa, wb in zip(a.windows, b.windows, strict=True):
        for k in wa.scores:
            assert wa.scores[k] == pytest.approx(wb.scores[k], abs=1e-5)


# -- the CLI -------------------------------------------------------------------------------------

GOOD = ("8-khz", "96-khz", "6-channels", "8-bit", "24-bit", "32-bit-float", "big-endian-aiff")
DEFINED = ("zero-sample-wav", "header-only-wav", "silence-only", "10-ms", "nan-samples")
FAILING = (
    "missing-path",
    "folder-without-audio",
    "empty-file",
    "random-bytes-wav",
    "corrupt-mp3",
    "text-file",
)


def _batch(audio_cases: dict[str, Path]) -> list[str]:
    # Failures first, between and last: none of them may stop the batch.
    order = [FAILING[0], *GOOD[:3], *FAILING[1:3], *DEFINED, *GOOD[3:], *FAILING[3:]]
    return [str(audio_cases[name]) for name in order]


def _check_batch_output(out: str, err: str, audio_cases: dict[str, Path]) -> None:
    results = [json.loads(line) for line in out.splitlines()]
    by_path = {r["path"]: r for r in results}
    assert len(results) == len(GOOD) + len(DEFINED)
    for name in GOOD:
        data = by_path[str(audio_cases[name])]
        assert data["label"] in data["scores"] and data["windows"]
        assert math.fsum(data["scores"].values()) == pytest.approx(1.0)
    for name in DEFINED[:-1]:
        assert by_path[str(audio_cases[name])]["label"] is None
    assert by_path[str(audio_cases["nan-samples"])]["label"] is not None
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert len(errors) == len(FAILING)
    for name, line in zip(FAILING, errors, strict=True):
        assert line.startswith(f"{audio_cases[name]}: error: "), line
    assert "Traceback" not in err
    # No other line reports an error. Other lines are warnings: edge_ser's about the damaged
    # (NaN) file (when logging goes to stderr), and the notes libmpg123 (inside libsndfile)
    # prints on the corrupt MP3, which libsndfile gives no way to silence.
    others = [line for line in err.splitlines() if ": error: " not in line]
    assert not any(re.search(r"error|exception", line, re.IGNORECASE) for line in others), others


def test_cli_batch_keeps_going(
    tiny_model_dir: Path, audio_cases: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    code = main(["classify", "--model", str(tiny_model_dir), "--json", *_batch(audio_cases)])
    out, err = capfd.readouterr()  # file descriptors: ONNX Runtime's C++ logs would show here
    assert code == 1
    _check_batch_output(out, err, audio_cases)


def test_cli_batch_in_a_real_process(tiny_model_dir: Path, audio_cases: dict[str, Path]) -> None:
    script = Path(sys.executable).with_name("edge-ser")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "edge_ser.cli"]
    proc = subprocess.run(
        [*command, "classify", "--model", str(tiny_model_dir), "--json", *_batch(audio_cases)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    _check_batch_output(proc.stdout, proc.stderr, audio_cases)


def test_cli_table_mode_reports_failures_too(
    tiny_model_dir: Path, audio_cases: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    paths = [str(audio_cases[n]) for n in ("empty-file", "8-bit", "silence-only", "text-file")]
    assert main(["classify", "--model", str(tiny_model_dir), *paths]) == 1
    out, err = capfd.readouterr()
    rows = out.splitlines()
    assert len(rows) == 3 and rows[0].startswith("FILE")
    assert rows[1].startswith(paths[1]) and "(no speech)" in rows[2]
    assert [line.split(": error: ")[0] for line in err.splitlines()] == [paths[0], paths[3]]


def test_cli_survives_an_unexpected_error(
    tiny_model_dir: Path,
    audio_cases: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    real = Classifier.classify
    victim = str(audio_cases["24-bit"])

    def flaky(self: Classifier, audio: object, *args: object, **kwargs: object) -> object:
        if str(audio) == victim:
            raise RuntimeError("simulated bug\nwith a second line")
        return real(self, audio, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Classifier, "classify", flaky)
    paths = [str(audio_cases[n]) for n in ("8-bit", "24-bit", "32-bit-float")]
    assert main(["classify", "--model", str(tiny_model_dir), "--json", *paths]) == 1
    out, err = capfd.readouterr()
    assert [json.loads(line)["path"] for line in out.splitlines()] == [paths[0], paths[2]]
    assert err.splitlines() == [
        f"{victim}: error: unexpected RuntimeError: simulated bug with a second line "
        "(a bug: please report it)"
    ]


@pytest.mark.parametrize("name", list(MODEL_CASES))
def test_model_matrix_through_the_cli(
    tiny_model_dir: Path,
    audio_cases: dict[str, Path],
    tmp_path: Path,
    name: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    make, _, given, _ = MODEL_CASES[name]
    model = make(tiny_model_dir, tmp_path)
    code = main(["classify", "--model", str(model), "--json", str(audio_cases["8-bit"])])
    out, err = capfd.readouterr()
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("edge-ser classify: error: "), err
    assert re.search(given, err), err
