"""``edge-ser batch`` on a real local Ray cluster: identity with classify, resume, bad files.

The Ray tests share one local cluster (``ray.init(num_cpus=2)``, started once per module,
about 5 s), which ``classify_batch`` joins instead of starting its own. Input resolution,
manifests, the output-folder checks and the optional import run without Ray.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from conftest import synth_speechlike

from edge_ser import EdgeSerError
from edge_ser.cli import main

pa = pytest.importorskip(
    "pyarrow", reason='pyarrow is not installed: pip install "edge-ser[batch]"'
)
ray = pytest.importorskip("ray", reason='Ray is not installed: pip install "edge-ser[batch]"')

from edge_ser.batch import (  # noqa: E402 - after the skips
    BatchProgress,
    classify_batch,
    read_results,
    resolve_inputs,
)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    if ray.is_initialized():  # pragma: no cover - another module left one running
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def audio_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six files of different rates, lengths and channels, one undecodable, one empty."""
    root = tmp_path_factory.mktemp("batch_in")
    (root / "sub").mkdir()
    sf.write(root / "a.wav", synth_speechlike(9.0, 22050, seed=1), 22050)
    sf.write(root / "b.flac", synth_speechlike(3.0, 16000, seed=2), 16000)
    stereo = np.stack([synth_speechlike(2.5, 48000, seed=3)] * 2, axis=1)
    sf.write(root / "sub" / "c.wav", stereo, 48000)
    sf.write(root / "sub" / "d d.ogg", synth_speechlike(4.0, 16000, seed=4), 16000)
    sf.write(root / "quiet.wav", np.zeros(16000, dtype=np.float32), 16000)
    (root / "sub" / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    (root / "empty.flac").write_bytes(b"")
    return root


def _classify_json(
    model: Path, inputs: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """``edge-ser classify --json --threads 1``: results by path, and errors by path."""
    main(["classify", "--model", str(model), "--json", "--threads", "1", *inputs])
    out, err = capsys.readouterr()
    results = {d["path"]: d for d in map(json.loads, out.splitlines())}
    errors = dict(line.split(": error: ", 1) for line in err.splitlines() if ": error: " in line)
    assert len(errors) == len(err.splitlines()), err  # nothing else on stderr
    return results, errors


def _jsonl_rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for f in sorted((out / "_jsonl").glob("*.jsonl")) for line in f.open()]


@pytest.mark.slow
def test_batch_equals_classify_and_a_bad_file_is_a_row(
    ray_cluster: None,
    tiny_model_dir: Path,
    audio_set: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri = (audio_set / "b.flac").as_uri()  # through pyarrow's filesystem layer
    monkeypatch.chdir(audio_set.parent)  # relative names, as a user types them
    audio_set = Path(audio_set.name)
    missing = str(audio_set / "missing.wav")
    seen: list[BatchProgress] = []
    summary = classify_batch(
        [str(audio_set), missing, uri],
        tmp_path / "out",
        model=tiny_model_dir,
        batch={"workers": 2, "threads_per_worker": 1, "jsonl": True},
        progress=seen.append,
    )
    expected, errors = _classify_json(tiny_model_dir, [str(audio_set), missing], capsys)
    assert len(expected) == 5 and set(errors) == {
        str(audio_set / "sub" / "bad.wav"),
        str(audio_set / "empty.flac"),
        missing,
    }

    rows = read_results(tmp_path / "out")
    assert sorted(r["path"] for r in rows) == sorted([*expected, *errors, uri])
    for source in (rows, _jsonl_rows(tmp_path / "out")):
        by_path = {r["path"]: r for r in source}
        assert len(by_path) == len(source) == 9
        for path, want in expected.items():
            got = dict(by_path[path])
            assert (got.pop("status"), got.pop("error")) == ("ok", None)
            assert got == want  # every field of classify --json, exactly
        for path, message in errors.items():
            assert by_path[path] == {"path": path, "status": "error", "error": message}
        remote = dict(by_path[uri])
        assert remote.pop("path") == uri and remote["status"] == "ok"
        local = dict(expected[str(audio_set / "b.flac")])
        local.pop("path")
        assert {k: v for k, v in remote.items() if k not in ("status", "error")} == local

    assert (summary.inputs, summary.processed, summary.failed, summary.skipped) == (9, 9, 3, 0)
    assert summary.workers == 2 and not summary.ok
    audio = (
        sum(d["duration"] for d in expected.values())
        + expected[str(audio_set / "b.flac")]["duration"]
    )
    assert summary.audio_seconds == pytest.approx(audio)
    assert seen[-1].done == seen[-1].files == 9 and seen[-1].failed == 3
    assert all(a.done <= b.done for a, b in itertools.pairwise(seen))


@pytest.mark.slow
def test_interrupted_run_resumes_nothing_lost_nothing_twice(
    ray_cluster: None,
    tiny_model_dir: Path,
    audio_set: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    good = [str(p) for p in sorted(audio_set.rglob("*")) if p.suffix in (".wav", ".flac", ".ogg")]

    def stop_after_two(p: BatchProgress) -> None:
        if p.done >= 2:
            raise KeyboardInterrupt

    # flush_rows=1: every finished row is its own part, as if the run died right after it.
    with pytest.raises(KeyboardInterrupt):
        classify_batch(
            good,
            out,
            model=tiny_model_dir,
            batch={"workers": 1, "flush_rows": 1, "jsonl": True},
            progress=stop_after_two,
        )
    first = read_results(out)
    assert 2 <= len(first) < len(good)
    # What a crash mid-write leaves: a temporary part and a JSONL part without its Parquet.
    (out / ".part-x-00000.parquet.tmp").write_bytes(b"half a part")
    (out / "_jsonl" / "part-x-00000.jsonl").write_text('{"path": "ghost"}\n')

    # The rerun goes through the CLI, with the classify options' defaults.
    code = main(["batch", *good, "--out", str(out), "--model", str(tiny_model_dir), "--jsonl"])
    err = capsys.readouterr().err
    assert code == 1  # bad.wav and empty.flac are error rows
    summary = [line for line in err.splitlines() if line.startswith("edge-ser batch: ")]
    assert len(summary) == 1
    assert f"{len(first)} already done" in summary[0]
    assert f"{len(good) - len(first)} processed" in summary[0]

    rows = read_results(out)
    assert sorted(r["path"] for r in rows) == sorted(good)  # every file once
    assert {r["path"]: r for r in rows if r["path"] in {f["path"] for f in first}} == {
        f["path"]: f for f in first
    }  # the first run's rows are kept as they were
    assert sorted(r["path"] for r in _jsonl_rows(out)) == sorted(good)
    assert not (out / ".part-x-00000.parquet.tmp").exists()

    # A third run has nothing left to do and starts no workers.
    again = classify_batch(good, out, model=tiny_model_dir, batch={"workers": 1})
    assert (again.processed, again.skipped, again.failed_before, again.workers) == (
        0,
        len(good),
        2,
        0,
    )
    assert len(read_results(out)) == len(good)


def test_manifests_resolve_relative_to_their_folder(audio_set: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    names = ["a.wav", "sub/c.wav", str(audio_set / "b.flac")]
    (audio_set / "list.csv").write_text("path,speaker\n" + "".join(f"{n},x\n" for n in names))
    pq.write_table(pa.table({"path": names}), audio_set / "list.parquet")
    (audio_set / "list.jsonl").write_text("".join(json.dumps({"path": n}) + "\n" for n in names))
    want = [str(audio_set / "a.wav"), str(audio_set / "sub" / "c.wav"), str(audio_set / "b.flac")]
    for manifest in ("list.csv", "list.parquet", "list.jsonl"):
        assert resolve_inputs([str(audio_set / manifest)]) == [(n, None) for n in want]
    uri = resolve_inputs([(audio_set / "list.csv").as_uri()])
    assert [n for n, _ in uri] == [
        (audio_set / "a.wav").as_uri(),
        (audio_set / "sub/c.wav").as_uri(),
        (audio_set / "b.flac").as_uri(),  # a remote manifest's paths are on its filesystem
    ]
    folder = resolve_inputs([(audio_set / "sub").as_uri()])
    assert [n.rsplit("/", 1)[-1] for n, _ in folder] == ["bad.wav", "c.wav", "d%20d.ogg"]
    # Duplicates across inputs collapse; a missing input says why.
    twice = resolve_inputs([str(audio_set / "a.wav"), str(audio_set / "list.csv")])
    assert [n for n, _ in twice] == want
    assert resolve_inputs([str(tmp_path / "nope.wav")]) == [
        (str(tmp_path / "nope.wav"), "no such file or folder")
    ]

    (tmp_path / "no_path.csv").write_text("file\na.wav\n")
    with pytest.raises(EdgeSerError, match="no 'path' column"):
        resolve_inputs([str(tmp_path / "no_path.csv")])
    (tmp_path / "hole.jsonl").write_text('{"path": "a.wav"}\n{"path": null}\n')
    with pytest.raises(EdgeSerError, match="row 2 has no path"):
        resolve_inputs([str(tmp_path / "hole.jsonl")])
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(EdgeSerError, match="cannot read manifest"):
        resolve_inputs([str(tmp_path / "broken.parquet")])


def test_out_with_other_options_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    # Only an input that names no file: rows are written without starting Ray.
    first = classify_batch([str(empty)], out, model=tiny_model_dir)
    assert (first.processed, first.failed, first.workers) == (1, 1, 0)
    assert read_results(out) == [
        {"path": str(empty), "status": "error", "error": read_results(out)[0]["error"]}
    ]
    assert read_results(out)[0]["error"].startswith("no audio files in this folder")
    # Other threads are fine (speed, not results); another aggregation is not.
    same = classify_batch([str(empty)], out, model=tiny_model_dir, batch={"threads_per_worker": 2})
    assert (same.skipped, same.processed) == (1, 0)
    with pytest.raises(EdgeSerError, match="another model or other options"):
        classify_batch(
            [str(empty)], out, model=tiny_model_dir, options={"aggregation": {"method": "vote"}}
        )


def test_bad_batch_options_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(EdgeSerError, match="threads_per_worker must be 1 to 256"):
        classify_batch([], tmp_path, batch={"threads_per_worker": 0})
    with pytest.raises(EdgeSerError, match="unknown option"):
        classify_batch([], tmp_path, batch={"worker": 2})


def test_import_edge_ser_does_not_import_ray() -> None:
    code = (
        "import sys, edge_ser, edge_ser.cli, edge_ser.batch, edge_ser.cli_batch\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'pyarrow'))\n"
        "print(heavy)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_without_ray_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import builtins

    for name in list(sys.modules):
        if name.split(".")[0] == "ray":
            monkeypatch.delitem(sys.modules, name)
    real_import = builtins.__import__

    def guarded(name: str, *args: object, **kwargs: object) -> object:
        if name.split(".")[0] == "ray":
            raise ImportError(f"No module named {name!r} (blocked by test)")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", guarded)
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'pip install "edge-ser[batch]"' in err[0]


def test_unusable_output_folder_is_one_line_exit_2(
    audio_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    assert main(["batch", str(audio_set), "--out", str(not_a_folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "edge-ser batch: error: cannot use the output folder"
    )


def test_progress_line_counts_files_audio_hours_and_failures() -> None:
    import io

    from edge_ser.cli_batch import _Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    bar = _Progress(out)
    bar.update(BatchProgress(files=10, done=4, failed=1, audio_seconds=1800.0, elapsed_s=60.0))
    line = out.getvalue()
    assert line.startswith("\r[") and "4/10 files" in line and "0.50 audio h" in line
    assert "30.0 h/h" in line and "0.07 files/s" in line and "1 failed" in line
    bar.clear()
    assert out.getvalue().endswith("\r\x1b[K")
    quiet = io.StringIO()  # not a terminal: nothing, so logs and pipes stay clean
    _Progress(quiet).update(BatchProgress(10, 4, 1, 1800.0, 60.0))
    assert quiet.getvalue() == ""
