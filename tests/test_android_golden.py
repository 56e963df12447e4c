"""Android parity: the golden vectors the Kotlin core module is tested against.

``android_demo/tools/make_golden.py`` runs the Python runtime over deterministic inputs and
records what it does; ``android_demo/core`` (pure Kotlin) is unit-tested against those files.
Here the files are regenerated from the committed inputs and compared with the committed
outputs, so a Python change that would break Android parity fails in CI, and the JVM tests
run when kotlinc and JUnit 4 are installed (``apt-get install -y kotlin junit4``).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ANDROID = ROOT / "android_demo"
GOLDEN = ANDROID / "core" / "src" / "test" / "resources" / "golden"
RUN_JVM_TESTS = ANDROID / "core" / "run_jvm_tests.sh"
REGENERATE = "regenerate with `python android_demo/tools/make_golden.py` and rerun the JVM tests"

# Values recomputed on another machine may differ in the last bits (numpy's summation order
# follows the CPU's SIMD width); behaviour changes show up far above this.
REL_TOL = 1e-7
ABS_TOL = 1e-9


def _load_make_golden() -> ModuleType:
    path = ANDROID / "tools" / "make_golden.py"
    spec = importlib.util.spec_from_file_location("make_golden", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_golden"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def make_golden() -> ModuleType:
    return _load_make_golden()


@pytest.fixture(scope="module")
def regenerated(make_golden: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden files recomputed by the current Python runtime from the committed inputs."""
    out = tmp_path_factory.mktemp("golden")
    make_golden.build(out, inputs_dir=GOLDEN)
    return out


def _f32(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4")


def _assert_same(new: Any, old: Any, where: str) -> None:
    if isinstance(new, float) or isinstance(old, float):
        assert isinstance(new, int | float) and isinstance(old, int | float), where
        assert new == pytest.approx(old, rel=REL_TOL, abs=ABS_TOL), (
            f"{where}: {new!r} != {old!r}; {REGENERATE}"
        )
    elif isinstance(new, dict) and isinstance(old, dict):
        assert sorted(new) == sorted(old), f"{where}: keys differ; {REGENERATE}"
        for key in new:
            if key in ("output", "mono") and isinstance(new[key], str):
                a, b = _f32(new[key]), _f32(old[key])
                assert a.shape == b.shape, f"{where}.{key}: length differs; {REGENERATE}"
                np.testing.assert_allclose(a, b, rtol=0, atol=1e-6, err_msg=f"{where}.{key}")
            else:
                _assert_same(new[key], old[key], f"{where}.{key}")
    elif isinstance(new, list) and isinstance(old, list):
        assert len(new) == len(old), f"{where}: length {len(new)} != {len(old)}; {REGENERATE}"
        for i, (a, b) in enumerate(zip(new, old, strict=True)):
            _assert_same(a, b, f"{where}[{i}]")
    else:
        assert new == old, f"{where}: {new!r} != {old!r}; {REGENERATE}"


def test_golden_files_match_the_python_runtime(regenerated: Path) -> None:
    committed = sorted(p.relative_to(GOLDEN) for p in GOLDEN.rglob("*") if p.is_file())
    produced = sorted(p.relative_to(regenerated) for p in regenerated.rglob("*") if p.is_file())
    assert produced == committed, REGENERATE
    for rel in produced:
        new, old = regenerated / rel, GOLDEN / rel
        if rel.suffix == ".json":
            _assert_same(json.loads(new.read_text()), json.loads(old.read_text()), str(rel))
        else:
            assert new.read_bytes() == old.read_bytes(), f"{rel}: {REGENERATE}"


def test_golden_data_exercises_the_pipeline() -> None:
    """The vectors must cover what the Kotlin tests claim to check (and stay small)."""
    index = json.loads((GOLDEN / "index.json").read_text())
    cases = [json.loads((GOLDEN / f"stream_{n}.json").read_text()) for n in index["stream_cases"]]
    windows = [w for c in cases for w in c["windows"]]
    assert len(windows) >= 15
    assert {w["label"] for w in windows} == set(index["labels"])  # every class wins somewhere
    assert any(c["options"]["vad"]["enabled"] is False for c in cases)
    assert {c["options"]["vad"]["frame_ms"] for c in cases} == {10, 20, 30}
    assert any(c["metadata"]["input_kind"] == "preprocessed" for c in cases)
    assert any(c["vad_calls"]["prime_calls"] > 0 for c in cases)
    # A slid-back tail (overlapping its neighbour by more than the configured overlap).
    assert any(
        b["start_sample"] < a["end_sample"] - (c["plan"]["window"] - c["plan"]["hop"])
        for c in cases
        for a, b in zip(c["windows"], c["windows"][1:], strict=False)
    )
    total = sum(p.stat().st_size for p in GOLDEN.rglob("*") if p.is_file())
    assert total < 1_000_000, f"golden files take {total} bytes; keep them under 1 MB"


def test_synthetic_inputs_are_reproducible(make_golden: ModuleType) -> None:
    """The script still synthesises the committed audio (within 1 LSB: np.sin may differ by an
    ulp across platforms, which is why the comparison above reuses the committed inputs)."""
    for case in make_golden.CASES:
        old = json.loads((GOLDEN / f"stream_{case.name}.json").read_text())
        committed = make_golden.decode_int16(old["audio"]).astype(np.int32)
        fresh = case.make_audio().astype(np.int32)
        assert fresh.shape == committed.shape, case.name
        if fresh.size:
            assert int(np.max(np.abs(fresh - committed))) <= 1, case.name


def _jvm_tools_missing() -> str | None:
    missing = [tool for tool in ("kotlinc", "java") if shutil.which(tool) is None]
    for jar in (
        os.environ.get("JUNIT_JAR", "/usr/share/java/junit4.jar"),
        os.environ.get("HAMCREST_JAR", "/usr/share/java/hamcrest-core.jar"),
    ):
        if not Path(jar).is_file():
            missing.append(jar)
    return ", ".join(missing) if missing else None


@pytest.mark.slow
def test_kotlin_core_passes_its_jvm_tests() -> None:
    if os.environ.get("EDGE_SER_SKIP_JVM_TESTS") == "1":
        pytest.skip("EDGE_SER_SKIP_JVM_TESTS=1: run_jvm_tests.sh runs as its own CI step")
    missing = _jvm_tools_missing()
    if missing:
        pytest.skip(
            f"Kotlin JVM tests not run: missing {missing} "
            "(install with `apt-get install -y kotlin junit4`)"
        )
    proc = subprocess.run(
        ["bash", str(RUN_JVM_TESTS)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    last = proc.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"(\d+) passed, 0 failed", last)
    assert match is not None, output[-4000:]
    assert int(match.group(1)) >= 40, last
