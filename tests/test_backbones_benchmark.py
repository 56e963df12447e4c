"""``benchmarks/backbones.py``: its interleaved latency loop and its table (not its numbers)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "backbones.py"


@pytest.fixture(scope="module")
def backbones() -> ModuleType:
    spec = importlib.util.spec_from_file_location("backbones", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["backbones"] = module
    spec.loader.exec_module(module)
    return module


def test_latency_is_measured_for_every_variant(backbones: ModuleType, tiny_model_dir: Path) -> None:
    window = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    folders = {"DistilHuBERT fp32": tiny_model_dir, "other": tiny_model_dir}
    rows = backbones.measure_latency(folders, window, threads=1, windows=3, block=2)
    assert set(rows) == set(folders)
    for row in rows.values():
        assert row["runs"] >= 3 and 0 < row["median_ms"] <= row["p90_ms"]


def test_the_table_has_one_row_per_variant_and_ratios(backbones: ModuleType) -> None:
    def latency(ms: float) -> dict[str, float]:
        return {"median_ms": ms, "p90_ms": ms, "cpu_median_ms": ms, "runs": 4}

    variants = {
        "DistilHuBERT fp32": {"model": "DistilHuBERT", "mode": "none", "size_mb": 94.7},
        "Whisper-tiny dynamic int8": {"model": "Whisper-tiny", "mode": "dynamic", "size_mb": 8.5},
    }
    for v in variants.values():
        v["memory"] = {"peak_rss_mb": 200.0}
    variants["Whisper-tiny dynamic int8"]["agreement"] = {
        "top1_agreement": 0.98,
        "max_abs_diff": 0.1,
    }
    report = {
        "machine": {
            "cpu": "cpu",
            "cpu_flags": ["avx2"],
            "usable_cores": 2,
            "load_average": [1.0],
            "onnxruntime": "1",
            "python": "3",
        },
        "threads": [1, 2],
        "variants": variants,
        "latency": {
            "1": {"DistilHuBERT fp32": latency(1000), "Whisper-tiny dynamic int8": latency(100)},
            "2": {"DistilHuBERT fp32": latency(600), "Whisper-tiny dynamic int8": latency(80)},
        },
        "audio": {"parity": "p", "probe": "q", "calibration": "c"},
        "probe_accuracy": {"DistilHuBERT": 0.5},
    }
    table = backbones.markdown(report)
    rows = [line for line in table.splitlines() if line.startswith("| Whisper-tiny")]
    assert rows == [
        "| Whisper-tiny | dynamic int8 | 8.5 MB | 100 ms | 10.00x | 80 ms | 7.50x | 200 MB "
        "| 98.0% (0.100) |"
    ]
    assert "| DistilHuBERT | fp32 | 94.7 MB | 1000 ms | 1.00x |" in table
    assert "avx2" in table
