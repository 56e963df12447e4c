"""``edge-ser benchmark`` says on stderr what it is doing and how long it will take."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

import edge_ser.benchmark
import edge_ser.narrate
from edge_ser.cli import main
from edge_ser.narrate import BenchmarkNarrator

QUICK = ["--windows", "3", "--warmup", "1", "--minutes", "0.2", "--cold-runs", "1"]


def test_stages_and_estimates_on_a_non_tty_stderr(
    tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["benchmark", "--model", str(tiny_model_dir), "--json", *QUICK]) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") == 1  # stdout: the JSON alone
    lines = err.strip().splitlines()
    assert lines[0].startswith("benchmark: 1 cold starts, 4 timed windows and a 0.2-minute")
    assert re.search(r"about \d+ s in all", lines[0])
    stages = [line.split(" (")[0] for line in lines[1:-1]]
    assert stages == ["measuring cold start", "measuring latency", "measuring real-time factor"]
    assert all(re.search(r": about \d+ s$", line) for line in lines[1:-1])
    assert re.fullmatch(r"benchmark done in \d+ s", lines[-1])


def test_quiet_says_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fake_run(*args: Any, progress: Any = None, **kwargs: Any) -> dict[str, Any]:
        for stage in ("cold start", "latency", "real-time factor"):
            progress(stage)
        return {"rtf": 0.1}

    monkeypatch.setattr(edge_ser.benchmark, "run_benchmark", fake_run)
    assert main(["benchmark", "--quiet", "--json", *QUICK]) == 0
    out, err = capsys.readouterr()
    assert err == "" and json.loads(out) == {"rtf": 0.1}
    assert main(["benchmark", "--json", *QUICK]) == 0  # the same run, narrated
    assert capsys.readouterr().err.count("measuring ") == 3


def test_estimate_follows_the_measured_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(edge_ser.narrate.time, "monotonic", lambda: now[0])
    out = io.StringIO()
    n = BenchmarkNarrator(out, cold_runs=3, windows=98, warmup=2, minutes=10.0)
    n.start()
    n("cold start")
    now[0] = 5.0
    n("latency")
    now[0] = 5.0 + 100 * 0.5  # this machine: 0.5 s per window, not the typical 0.2
    n("real-time factor")
    # 10 minutes = 75 windows of 8 s, at 0.5 s each, plus decoding/VAD and a process start.
    assert n.estimate("real-time factor") == pytest.approx(1.5 + 75 * 0.5 * 1.2)
    assert "about 46 s" in out.getvalue().splitlines()[-1]
    now[0] = 200.0
    n.done()
    assert out.getvalue().splitlines()[-1] == "benchmark done in 3 min 20 s"
