"""Reliability, round 2: the plumbing edges that shells, phones and long recordings hit.

Each family is checked through the API and through the CLI (in a real process where the
shell's plumbing matters: pipes, closed descriptors, signals, permissions).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from conftest import speech_bursts

from edge_ser import (
    AggregationOptions,
    Classifier,
    ClassifierOptions,
    PreprocessingConfig,
    SessionOptions,
    VadOptions,
    WindowOptions,
    load_model,
)
from edge_ser.cli import main
from edge_ser.errors import (
    AudioDecodeError,
    AudioNotFoundError,
    AudioReadError,
    EdgeSerError,
    InvalidAudioError,
    ModelLoadError,
    ModelMetadataError,
    OptionsError,
)
from edge_ser.fields import needs_bounds
from edge_ser.metadata import METADATA_FILENAME, METADATA_KEY, ModelMetadata
from edge_ser.native import capture_native_stderr, native_stderr_to_log
from edge_ser.paths import display_name

RATE = 16000
BURSTS = [(0.5, 2.0), (3.0, 4.2)]
SECONDS = 5.0
CLI = [sys.executable, "-c", "import sys; from edge_ser_launcher import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def clf(tiny_model_dir: Path) -> Classifier:
    return Classifier(tiny_model_dir)


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("round2") / "note.wav"
    sf.write(path, speech_bursts(BURSTS, SECONDS, RATE), RATE, subtype="PCM_16")
    return path


def _cli(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("capture_output", True)
    return subprocess.run(
        [*CLI, *args], text=True, timeout=120, check=False, **kwargs
    )  # fmt: skip


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err and "Exception ignored" not in err, err


# -- 1. closed pipes and full disks ------------------------------------------------------------


def test_closed_pipe_exits_quietly_with_the_sigpipe_status(
    tiny_model_dir: Path, wav: Path, tmp_path: Path
) -> None:
    copies = [str(shutil.copy(wav, tmp_path / f"{i}.wav")) for i in range(6)]
    for mode in ([], ["--json"]):
        proc = subprocess.Popen(
            [*CLI, "classify", "--model", str(tiny_model_dir), *mode, *copies],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()  # `| head -1`
        proc.stdout.close()
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == 141, err
        assert first.strip() and err == ""


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_full_disk_is_one_line_and_exit_2(tiny_model_dir: Path, wav: Path) -> None:
    with open("/dev/full", "w") as full:
        proc = _cli(["classify", "--model", str(tiny_model_dir), "--json", str(wav)],
                    capture_output=False, stdout=full, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "edge-ser classify: error: cannot write output: No space left on device"
    ]


# -- 2. bad paths in a batch -------------------------------------------------------------------


def test_too_long_names_do_not_stop_the_batch(
    clf: Classifier, tiny_model_dir: Path, wav: Path, tmp_path: Path
) -> None:
    long_name = tmp_path / ("a" * 300 + ".wav")
    long_path = tmp_path / ("d/" * 2500 + "x.wav")
    for bad in (long_name, long_path):
        with pytest.raises(AudioReadError, match="File name too long"):
            clf.classify(bad)
    proc = _cli(["classify", "--model", str(tiny_model_dir), "--json",
                 str(long_name), str(wav), str(long_path), str(wav.parent)])  # fmt: skip
    assert proc.returncode == 1
    _no_traceback(proc.stderr)
    assert len(proc.stdout.splitlines()) == 1  # wav (the folder holds the same file)
    errors = proc.stderr.splitlines()
    assert len(errors) == 2 and all("File name too long" in line for line in errors)


def _unprivileged(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` as a non-root user (65534, nobody) when we are root."""
    if os.geteuid() != 0:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv is not installed: cannot drop privileges")
    return subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *cmd],
        cwd=cwd, capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": "/"},
    )  # fmt: skip


@pytest.fixture
def locked_tree(tiny_model_dir: Path) -> Iterator[Path]:
    """A world-readable tree with a good file, an unreadable file, a folder without read
    permission and one without search permission, and a copy of the tiny model."""
    root = Path(tempfile.mkdtemp(prefix="edge-ser-perm-"))
    try:
        shutil.copytree(tiny_model_dir, root / "model")
        x = speech_bursts(BURSTS, SECONDS, RATE)
        for name in ("good.wav", "secret.wav", "noread/a.wav", "nosearch/b.wav"):
            (root / name).parent.mkdir(exist_ok=True)
            sf.write(root / name, x, RATE)
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        (root / "secret.wav").chmod(0)
        (root / "noread").chmod(0o311)  # search but no read: the listing fails
        (root / "nosearch").chmod(0o644)  # read but no search: names, no access
        yield root
    finally:
        for path in [root, *root.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


def test_permission_problems_as_a_non_root_user(locked_tree: Path) -> None:
    root = locked_tree
    probe = _unprivileged([sys.executable, "-c", "import edge_ser"], root)
    if probe.returncode != 0:
        pytest.skip(f"the interpreter is not usable by an unprivileged user: {probe.stderr[-300:]}")
    # The API: each problem is an AudioError naming the cause, never a raw OSError.
    script = (
        "import json, sys\n"
        "from edge_ser import Classifier\n"
        "clf = Classifier('model')\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n"
        "        r = clf.classify(p); print(json.dumps([p, 'ok', r.label is not None]))\n"
        "    except Exception as e:\n"
        "        print(json.dumps([p, type(e).__name__, str(e)]))\n"
    )
    names = ["secret.wav", "nosearch/b.wav", "good.wav"]
    api = _unprivileged([sys.executable, "-c", script, *names], root)
    assert api.returncode == 0, api.stderr
    got = {row[0]: row[1:] for row in map(json.loads, api.stdout.splitlines())}
    assert got["secret.wav"][0] == "AudioReadError" and "Permission denied" in got["secret.wav"][1]
    assert got["nosearch/b.wav"][0] == "AudioReadError"
    assert "Permission denied" in got["nosearch/b.wav"][1]
    assert got["good.wav"] == ["ok", True]
    # The CLI: the folder walk reports what it cannot read, the good file still comes out.
    cli = _unprivileged([*CLI, "classify", "--model", "model", "--json", "."], root)
    _no_traceback(cli.stderr)
    assert cli.returncode == 1
    assert [json.loads(line)["path"] for line in cli.stdout.splitlines()] == ["good.wav"]
    errors = sorted(cli.stderr.splitlines())
    assert len(errors) == 3, errors
    assert errors[0].startswith("noread: error: cannot read this folder: Permission denied")
    assert errors[1].startswith("nosearch/b.wav: error: cannot open") and "denied" in errors[1]
    assert errors[2].startswith("secret.wav: error: cannot open") and "denied" in errors[2]
    # A model the user may not read is one line, exit 2.
    (root / "model" / "model.onnx").chmod(0)
    denied = _unprivileged([*CLI, "classify", "--model", "model", "good.wav"], root)
    assert denied.returncode == 2 and len(denied.stderr.splitlines()) == 1, denied.stderr
    assert "Permission denied" in denied.stderr


# -- 3. names that are not UTF-8, 9. names with newlines -------------------------------------


@pytest.fixture
def odd_names(wav: Path, tmp_path: Path) -> dict[str, Path]:
    names = {
        "latin1": os.fsdecode(b"voice\xff\xfe.wav"),
        "newline": "two\nlines.wav",
        "escape": "red\x1b[31m.wav",
    }
    out = {}
    for key, name in names.items():
        try:
            shutil.copy(wav, tmp_path / name)
        except (OSError, UnicodeEncodeError) as exc:  # pragma: no cover - e.g. macOS APFS
            pytest.skip(f"this file system refuses the name {name!r}: {exc}")
        out[key] = tmp_path / name
    return out


def test_odd_names_through_the_api(clf: Classifier, odd_names: dict[str, Path], wav: Path) -> None:
    want = clf.classify(wav)
    for path in odd_names.values():
        got = clf.classify(path)
        assert got.source == str(path) and got.scores == want.scores
        with path.open("rb") as f:
            assert clf.classify(f).scores == want.scores
    missing = odd_names["newline"].with_name("gone\nhere.wav")
    with pytest.raises(AudioNotFoundError) as info:
        clf.classify(missing)
    assert "\n" not in str(info.value) and "gone\\nhere.wav" in str(info.value)


def test_odd_names_through_the_cli(tiny_model_dir: Path, odd_names: dict[str, Path]) -> None:
    paths = [str(p) for p in odd_names.values()]
    missing = str(odd_names["newline"].with_name("gone\nhere.wav"))
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run([*CLI, "classify", "--model", str(tiny_model_dir), "--json", *paths,
                           missing], capture_output=True, timeout=120, env=env)  # fmt: skip
    assert proc.returncode == 1
    lines = proc.stdout.decode("utf-8").splitlines()  # valid UTF-8 even for \xff\xfe
    assert [os.fsencode(json.loads(line)["path"]) for line in lines] == list(
        map(os.fsencode, paths)
    )
    err = proc.stderr.decode("utf-8").splitlines()
    assert err == [f"{display_name(missing)}: error: no such file or folder"]
    assert "\\n" in err[0] and "\n" not in display_name(missing)
    table = subprocess.run([*CLI, "classify", "--model", str(tiny_model_dir), *paths],
                           capture_output=True, timeout=120, env=env)  # fmt: skip
    rows = table.stdout.decode("utf-8").splitlines()
    assert len(rows) == 1 + len(paths)  # one row per file: no name breaks a row
    assert any("voice\\xff\\xfe.wav" in r for r in rows) and any("two\\nlines" in r for r in rows)
    assert not any("\x1b" in r for r in rows)  # a name cannot send terminal escapes


# -- 4. a FIFO (or a device) as the model ------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
def test_fifo_or_device_as_model_is_refused_at_once(tmp_path: Path, wav: Path) -> None:
    fifo = tmp_path / "m.onnx"
    os.mkfifo(fifo)
    for model in (fifo, Path("/dev/zero")):
        if not model.exists():
            continue
        start = time.monotonic()
        with pytest.raises(ModelLoadError, match=r"not a model file"):
            Classifier(model)
        assert time.monotonic() - start < 5
    proc = _cli(["classify", "--model", str(fifo), str(wav)])
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"edge-ser classify: error: {fifo} is a pipe (FIFO), not a model file; pass a model "
        "folder or an .onnx/.ort file"
    ]
    # A FIFO sidecar does not block either.
    os.mkfifo(tmp_path / METADATA_FILENAME)
    with pytest.raises(ModelMetadataError, match="not a file"):
        ModelMetadata.read(tmp_path / METADATA_FILENAME)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
def test_audio_from_a_fifo_and_process_substitution(
    clf: Classifier, tiny_model_dir: Path, wav: Path, tmp_path: Path
) -> None:
    want = clf.classify(wav).scores
    fifo = tmp_path / "live.wav"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f'cat "{wav}" > "{fifo}"'])
    assert clf.classify(fifo).scores == want
    writer.wait(timeout=30)
    bash = shutil.which("bash")
    if bash is None:
        return
    command = " ".join([*map(_quote, CLI), "classify", "--model", _quote(str(tiny_model_dir)),
                        "--json", f"<(cat {_quote(str(wav))})"])  # fmt: skip
    proc = subprocess.run([bash, "-c", command], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["scores"] == want


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


# -- 5. damage in a file keeps what was decoded -----------------------------------------------


def _damaged(path: Path, at: float = 0.9, count: int = 16) -> Path:
    data = bytearray(path.read_bytes())
    pos = int(len(data) * at)
    for i in range(count):
        data[pos + i] ^= 0xFF
    out = path.with_name("damaged_" + path.name)
    out.write_bytes(bytes(data))
    return out


@pytest.fixture(scope="module")
def long_flac(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spans = [(t + 0.3, t + 2.3) for t in np.arange(0.0, 40.0, 3.0)]
    path = tmp_path_factory.mktemp("flac") / "note.flac"
    sf.write(path, speech_bursts(spans, 40.0, RATE), RATE, format="FLAC")
    return path


def test_flac_damage_keeps_the_audio_before_it(
    clf: Classifier, long_flac: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clean = clf.classify(long_flac)
    bad = _damaged(long_flac)
    with caplog.at_level(logging.WARNING, logger="edge_ser"):
        got = clf.classify(bad)
    # 90% of the bytes: about 36 s of 40 decoded, at most a tenth of a second lost to the
    # damaged frame beyond the FLAC frame itself.
    assert 34.0 < got.duration < 40.0
    assert len(got.warnings) == 1 and "decoding stopped at" in got.warnings[0]
    assert f"{got.duration:.2f} s of 40.00 s" in got.warnings[0]
    assert got.warnings[0] in caplog.text
    assert got.to_dict()["warnings"] == list(got.warnings)
    # Every window wholly before the damage is exactly what the clean file gives.
    before = [w for w in clean.windows if w.end <= got.duration - 8.0]
    assert before and [w.to_dict() for w in got.windows[: len(before)]] == [
        w.to_dict() for w in before
    ]
    with bad.open("rb") as f:  # the same from a file object
        assert clf.classify(f).duration == pytest.approx(got.duration)
    assert clean.warnings == ()


def test_truncated_flac_says_where_it_ends(
    clf: Classifier, long_flac: Path, tmp_path: Path
) -> None:
    data = long_flac.read_bytes()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(data[: len(data) // 2])  # a download cut short: STREAMINFO says 40 s
    result = clf.classify(cut)
    assert 15.0 < result.duration < 25.0 and result.label is not None
    assert len(result.warnings) == 1
    assert f"decoding stopped at {result.duration:.2f} s of 40.00 s" in result.warnings[0]


def test_damage_through_the_cli(tiny_model_dir: Path, long_flac: Path) -> None:
    bad = _damaged(long_flac)
    proc = _cli(["classify", "--model", str(tiny_model_dir), "--json", str(bad)])
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["label"] is not None and 34.0 < data["duration"] < 40.0
    assert len(data["warnings"]) == 1 and "decoding stopped at" in data["warnings"][0]
    assert proc.stderr.splitlines() == [f"WARNING edge_ser.audio: {data['warnings'][0]}"]


# -- 6. metadata bounds and 7. option types ----------------------------------------------------


@pytest.mark.parametrize(
    ("make", "field", "accepted"),
    [
        (lambda: VadOptions(frame_ms=30.0), "VadOptions.frame_ms", "one of 10, 20, 30"),  # type: ignore[arg-type]
        (lambda: VadOptions(aggressiveness=2.0), "VadOptions.aggressiveness", "one of 0, 1"),  # type: ignore[arg-type]
        (lambda: VadOptions(enabled="no"), "VadOptions.enabled", "true or false"),  # type: ignore[arg-type]
        (lambda: VadOptions(energy_floor_dbfs=5.0), "energy_floor_dbfs", "from -120 to 0 or null"),
        (lambda: WindowOptions(window_s="8"), "WindowOptions.window_s", "a finite number"),  # type: ignore[arg-type]
        (lambda: WindowOptions(overlap_s=math.nan), "WindowOptions.overlap_s", "a finite number"),
        (lambda: SessionOptions(providers=5), "SessionOptions.providers", "a list of strings"),  # type: ignore[arg-type]
        (lambda: SessionOptions(providers="CPUExecutionProvider"), "providers", "a list of strings"),  # type: ignore[arg-type]
        (lambda: SessionOptions(batch_size=True), "SessionOptions.batch_size", "an integer"),
        (lambda: AggregationOptions(method=3), "AggregationOptions.method", "'duration'"),  # type: ignore[arg-type]
        (lambda: ClassifierOptions.from_dict({"vad": {"frame_ms": 30.0}}), "frame_ms", "one of"),
        (lambda: ClassifierOptions.from_dict({"vad": {"enabled": "no"}}), "enabled", "true or false"),
        (lambda: ClassifierOptions.from_dict({"vad": {7: 1}}), "option names", "strings"),
        (lambda: Classifier(model=123), "model", "a path"),  # type: ignore[arg-type]
        (lambda: load_model(123), "model", "a path"),  # type: ignore[arg-type]
    ],
)  # fmt: skip
def test_wrong_types_name_the_field_the_value_and_what_is_accepted(
    make: Any, field: str, accepted: str
) -> None:
    with pytest.raises(OptionsError) as info:
        make()
    message = str(info.value)
    assert field in message and accepted in message and "got" in message, message


def test_options_are_normalised() -> None:
    assert WindowOptions(window_s=8).window_s == 8.0
    assert isinstance(WindowOptions(window_s=np.float32(8)).window_s, float)
    assert VadOptions(frame_ms=np.int64(20)).frame_ms == 20
    assert SessionOptions(providers=["CPUExecutionProvider"]).providers == ("CPUExecutionProvider",)
    assert VadOptions(energy_floor_dbfs=None).energy_floor_dbfs is None


@pytest.mark.parametrize(
    "cls",
    [VadOptions, WindowOptions, AggregationOptions, SessionOptions, ModelMetadata, PreprocessingConfig],
)  # fmt: skip
def test_every_numeric_field_declares_its_bounds(cls: type) -> None:
    # A field added later (by any change) must say its limits: JSON must not size memory.
    assert needs_bounds(cls) == []


def _labels_meta(model_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((model_dir / METADATA_FILENAME).read_text())
    return data


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"preprocessing": {"trim_frame_length": 1e9}}, "trim_frame_length"),
        ({"preprocessing": {"trim_frame_length": 10**9}}, "trim_frame_length"),
        ({"preprocessing": {"trim_top_db": math.inf}}, "trim_top_db"),
        ({"max_window_s": math.nan}, "max_window_s"),
        ({"min_input_samples": 10**12}, "min_input_samples"),
        ({"labels": [f"l{i}" for i in range(5000)]}, "labels"),
        ({"labels": ["a", "b" * 10_000]}, "labels"),
        ({"input_name": 5}, "input_name"),
        ({"format_version": "1"}, "format_version"),
        ({"preprocessing": {"peak_normalize": "yes"}}, "peak_normalize"),
    ],
)
def test_metadata_outside_its_bounds(
    tiny_model_dir: Path, change: dict[str, Any], field: str
) -> None:
    data = _labels_meta(tiny_model_dir)
    for key, value in change.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    with pytest.raises(ModelMetadataError, match=field):
        ModelMetadata.from_dict(data)


def test_sidecar_that_would_allocate_gigabytes(tiny_model_dir: Path, tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx", reason="stripping embedded metadata needs onnx")
    proto = onnx.load(str(tiny_model_dir / "model.onnx"))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "model.onnx"))
    data = _labels_meta(tiny_model_dir)
    data["preprocessing"]["trim_frame_length"] = 1e9
    (tmp_path / METADATA_FILENAME).write_text(json.dumps(data))
    with pytest.raises(ModelMetadataError, match=r"trim_frame_length must be an integer from 1"):
        Classifier(tmp_path)
    assert main(["classify", "--model", str(tmp_path), "x.wav"]) == 2
    (tmp_path / METADATA_FILENAME).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelMetadataError, match="not valid JSON: nested too deeply"):
        Classifier(tmp_path)


def test_bad_option_values_from_the_cli(tiny_model_dir: Path, wav: Path, capsys: Any) -> None:
    base = ["classify", "--model", str(tiny_model_dir), str(wav)]
    assert main([*base, "--energy-floor", "5"]) == 2
    assert "energy_floor_dbfs must be a number from -120 to 0 or null" in capsys.readouterr().err
    for bad in (["--window", "nan"], ["--min-speech-ratio", "inf"]):
        assert main([*base, *bad]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and "got" in err


# -- 8. file objects ---------------------------------------------------------------------------


class _Raising(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return 0

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def readinto(self, buffer: Any) -> int:
        raise OSError(5, "Input/output error")


class _Unseekable:
    """A pipe-like reader: ``read`` only."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(size, 1000) if size and size > 0 else size)


def test_bad_file_objects(clf: Classifier, wav: Path, capfd: pytest.CaptureFixture[str]) -> None:
    closed = wav.open("rb")
    closed.close()
    cases: list[tuple[object, type[EdgeSerError], str]] = [
        (wav.open("r"), InvalidAudioError, "text mode"),
        (closed, InvalidAudioError, "closed"),
        (open(os.devnull, "wb"), InvalidAudioError, "not open for reading"),  # noqa: SIM115
        (_Raising(), AudioReadError, "Input/output error"),
        (io.StringIO("RIFF"), InvalidAudioError, "text mode"),
        (io.BytesIO(b""), AudioDecodeError, r"the file is empty: 0 bytes"),
    ]
    for obj, error, words in cases:
        with pytest.raises(error, match=words):
            clf.classify(obj)  # type: ignore[arg-type]
        getattr(obj, "close", lambda: None)()
    _no_traceback(capfd.readouterr().err)


def test_non_seekable_streams_are_read_correctly(
    clf: Classifier, wav: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    want = clf.classify(wav)
    data = wav.read_bytes()
    assert clf.classify(_Unseekable(data)).scores == want.scores  # type: ignore[arg-type]
    cat = subprocess.Popen(["cat", str(wav)], stdout=subprocess.PIPE)
    assert cat.stdout is not None
    assert clf.classify(cat.stdout).scores == want.scores
    cat.wait(timeout=30)
    with pytest.raises(AudioDecodeError, match="the stream is empty"):
        clf.classify(_Unseekable(b""))  # type: ignore[arg-type]
    _no_traceback(capfd.readouterr().err)


def test_an_endless_stream_is_bounded(
    clf: Classifier, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import edge_ser.sources as sources

    monkeypatch.setattr(sources, "MAX_STREAM_BYTES", 2_000_000)
    if Path("/dev/zero").exists():
        with pytest.raises(AudioDecodeError, match="stream longer than 2000000 bytes"):
            clf.classify("/dev/zero")


# -- 10. stderr closed, stdout closed ---------------------------------------------------------


def test_closed_stderr_never_reaches_stdout(
    tiny_model_dir: Path, wav: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.wav"
    args = ["classify", "--model", str(tiny_model_dir), "--json", str(missing), str(wav)]
    proc = subprocess.run([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True, timeout=120, close_fds=True,
                          preexec_fn=lambda: os.close(2))  # fmt: skip
    assert proc.returncode == 1
    assert [json.loads(line)["path"] for line in proc.stdout.splitlines()] == [str(wav)]


def test_closed_stdout_is_an_error(tiny_model_dir: Path, wav: Path) -> None:
    proc = subprocess.run([*CLI, "classify", "--model", str(tiny_model_dir), str(wav)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=120, preexec_fn=lambda: os.close(1))  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "edge-ser: error: standard output is closed; nowhere to write results"
    ]


# -- 11. SIGINT during start-up ----------------------------------------------------------------


@pytest.mark.parametrize("delay", [0.01, 0.05, 0.1, 0.2, 0.4])
def test_sigint_during_start_up(tiny_model_dir: Path, wav: Path, delay: float) -> None:
    # The signal goes after the interpreter's own start-up (its site import is Python's,
    # before any edge-ser code runs), signalled through a pipe just before the launcher.
    read, write = os.pipe()
    started = [
        sys.executable,
        "-c",
        "import os, sys; os.write(int(sys.argv[1]), b'.'); "
        "from edge_ser_launcher import main; sys.argv[1:2] = []; sys.exit(main())",
    ]
    proc = subprocess.Popen([*started, str(write), "classify", "--model", str(tiny_model_dir),
                             str(wav)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, pass_fds=(write,))  # fmt: skip
    os.close(write)
    assert os.read(read, 1) == b"."
    os.close(read)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    _no_traceback(err)
    # Interrupted (130, with one line), killed before Python could handle it, or done.
    assert proc.returncode in (130, -signal.SIGINT, 0), (proc.returncode, err)
    if proc.returncode == 130:
        assert err.splitlines() == ["edge-ser: interrupted"]


# -- 12. digital silence is not speech ---------------------------------------------------------


def _utterance(seconds: float, rng: np.random.Generator) -> np.ndarray:
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    f0 = rng.uniform(110, 220) * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    syllables = np.sin(2 * np.pi * rng.uniform(3, 5) * t) > -0.2
    return np.asarray(0.25 * voiced * syllables, dtype=np.float32)


def _note(
    gap_fill: str, seconds: float = 180.0, gap: float = 2.4
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Utterances separated by ``gap`` seconds of digital silence (exact zeros), of a DC
    level, or of a -80 dBFS noise floor."""
    rng = np.random.default_rng(0)
    parts, gaps, t = [], [], 0
    while t < seconds * RATE:
        u = _utterance(rng.uniform(1.5, 4.0), rng)
        parts.append(u)
        t += u.shape[0]
        n = round(gap * RATE)
        fill = {
            "zeros": np.zeros(n),
            "noise-80": 1e-4 * rng.standard_normal(n),
        }.get(gap_fill, np.zeros(n))
        parts.append(fill.astype(np.float32))
        gaps.append((t, t + n))
        t += n
    x = np.concatenate(parts)
    if gap_fill == "dc":
        x = x + np.float32(0.2)
    return x.astype(np.float32), gaps


def _gap_inside(result_regions: Any, gaps: list[tuple[int, int]]) -> float:
    """The longest stretch of any gap that lies inside a speech region, in seconds."""
    longest = 0.0
    for a, b in gaps:
        for r in result_regions:
            overlap = min(b / RATE, r.end) - max(a / RATE, r.start)
            longest = max(longest, overlap)
    return longest


@pytest.mark.parametrize("fill", ["zeros", "dc", "noise-80"])
def test_digital_silence_splits_regions_on_a_long_note(tiny_model_dir: Path, fill: str) -> None:
    x, gaps = _note(fill)
    gated = Classifier(tiny_model_dir).classify(x, RATE)
    # Only the padding (150 ms) and a frame (30 ms) of a gap may sit in a region.
    assert _gap_inside(gated.speech_regions, gaps) <= 0.15 + 0.03 + 1e-6
    assert len(gated.speech_regions) == len(gaps)
    if fill == "zeros":
        # Without the gate, webrtcvad (adapted to the note) calls whole gaps speech.
        ungated = Classifier(tiny_model_dir, {"vad": {"energy_floor_dbfs": None}}).classify(x, RATE)
        assert _gap_inside(ungated.speech_regions, gaps) > 2.0
        assert len(ungated.speech_regions) < len(gaps)


def test_energy_floor_from_the_cli(tiny_model_dir: Path, tmp_path: Path, capsys: Any) -> None:
    x, gaps = _note("zeros", seconds=60.0)
    path = tmp_path / "padded.wav"
    sf.write(path, x, RATE)
    counts = {}
    for flag in ([], ["--energy-floor", "off"], ["--energy-floor", "-60"]):
        assert main(["classify", "--model", str(tiny_model_dir), "--json", *flag, str(path)]) == 0
        data = json.loads(capsys.readouterr().out)
        counts[tuple(flag)] = len(data["speech_regions"])
        floor = data["options"]["vad"]["energy_floor_dbfs"]
        assert floor == {(): -70.0, ("--energy-floor", "off"): None}.get(tuple(flag), -60.0)
    assert counts[()] == len(gaps) == counts[("--energy-floor", "-60")]


# -- 13. native stderr noise -------------------------------------------------------------------


def test_native_stderr_is_captured_and_logged(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="edge_ser"), capture_native_stderr():
        with native_stderr_to_log("broken.mp3"):
            os.write(2, b"Note: Trying to resync...\nNote: Skipped 1024 bytes in input.\n")
        print("python's own stderr", file=sys.stderr)
    err = capfd.readouterr().err
    assert not any(line.startswith("Note:") for line in err.splitlines()), err
    assert "python's own stderr" in err
    assert "broken.mp3: the decoder printed: Note: Trying to resync... Note: Skipped" in caplog.text
    os.write(2, b"after\n")  # descriptor 2 is back
    assert capfd.readouterr().err == "after\n"


def test_broken_mp3s_give_one_line_each(tiny_model_dir: Path, tmp_path: Path) -> None:
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile has no MP3 support")
    x = speech_bursts([(t + 0.3, t + 2.3) for t in range(0, 20, 3)], 20.0, RATE)
    good = tmp_path / "good.mp3"
    sf.write(good, x, RATE, format="MP3")
    data = good.read_bytes()
    cut = tmp_path / "cut.mp3"  # libmpg123 prints its own error lines on this one
    cut.write_bytes(data[: len(data) // 2])
    noise = tmp_path / "noise.mp3"
    rng = np.random.default_rng(3)
    noise.write_bytes(b"\xff\xfb\x90\x64" + rng.bytes(2000) + b"\xff\xfb\x90\x64" + rng.bytes(8000))
    proc = _cli(["classify", "--model", str(tiny_model_dir), "--json", str(cut), str(noise)])
    lines = proc.stderr.splitlines()
    # Only edge-ser's own lines: the cut file's warning, the noise file's error (if any).
    assert all(line.startswith((f"WARNING edge_ser.audio: {cut}: ", f"{noise}: error: "))
               for line in lines), lines  # fmt: skip
    data = json.loads(proc.stdout.splitlines()[0])
    assert data["path"] == str(cut) and 5.0 < data["duration"] < 15.0
    assert (
        len(data["warnings"]) == 1
        and "ends before the length its header gives" in data["warnings"][0]
    )


# -- 14. a graph that needs an unavailable custom operator -------------------------------------


def _graph_with(domain: str, op: str, path: Path) -> Path:
    onnx = pytest.importorskip("onnx", reason="building the graph needs onnx")
    from onnx import TensorProto, helper

    node = helper.make_node(op, ["input_values"], ["probabilities"], domain=domain)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("input_values", TensorProto.FLOAT, ["b", "n"])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["b", 4])],
    )  # fmt: skip
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(domain, 1)]
    )
    model.ir_version = 8
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps({"labels": ["a", "b", "c", "d"]})
    onnx.save(model, str(path))
    return path


def test_missing_custom_operator_is_named(tmp_path: Path, wav: Path) -> None:
    encoded = _graph_with("ai.onnx.contrib", "AudioDecoder", tmp_path / "model_encoded.onnx")
    with pytest.raises(ModelLoadError) as info:
        Classifier(encoded)
    message = str(info.value)
    assert "needs the operator AudioDecoder of domain ai.onnx.contrib" in message
    assert "onnxruntime-extensions" in message and "corrupt" not in message
    other = _graph_with("com.example", "Magic", tmp_path / "other.onnx")
    with pytest.raises(ModelLoadError, match=r"needs the operator Magic of domain com\.example"):
        Classifier(other)
    proc = _cli(["classify", "--model", str(encoded), str(wav)])
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert "needs the operator AudioDecoder" in proc.stderr


# -- helpers' own edges -----------------------------------------------------------------------


def test_display_name() -> None:
    assert display_name("plain/é name.wav") == "plain/é name.wav"
    assert display_name(os.fsdecode(b"a\xff.wav")) == "a\\xff.wav"
    assert display_name("a\nb\\c.wav") == "a\\nb\\\\c.wav"
    assert display_name("x\x1b[0m\x7f") == "x\\x1b[0m\\x7f"


def test_permissions_helper_is_not_root_only(tmp_path: Path) -> None:
    # The folder walk never raises, whatever it meets (a dangling link, a symlink loop).
    from edge_ser.cli_classify import expand_inputs

    (tmp_path / "loop").symlink_to(tmp_path)
    (tmp_path / "dangling.wav").symlink_to(tmp_path / "nowhere.wav")
    sf.write(tmp_path / "a.wav", np.zeros(1600, np.float32), RATE)
    found = expand_inputs([str(tmp_path)])
    names = [Path(name).name for name, _ in found]
    assert names.count("a.wav") == 1 and "dangling.wav" in names
    assert stat.S_ISDIR((tmp_path / "loop").stat().st_mode)


def test_model_path_that_is_not_utf8(tiny_model_dir: Path, tmp_path: Path, wav: Path) -> None:
    folder = tmp_path / os.fsdecode(b"mod\xe8le")
    try:
        shutil.copytree(tiny_model_dir, folder)
    except (OSError, UnicodeEncodeError) as exc:  # pragma: no cover - e.g. macOS APFS
        pytest.skip(f"this file system refuses a non-UTF-8 name: {exc}")
    clf = Classifier(folder)
    assert clf.model_source == display_name(folder / "model.onnx")
    assert clf.classify(wav).scores == Classifier(tiny_model_dir).classify(wav).scores
    proc = _cli(["classify", "--model", str(folder / "nope.onnx"), str(wav)])
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert line.startswith(
        f"edge-ser classify: error: model not found: {display_name(folder / 'nope.onnx')}"
    )
