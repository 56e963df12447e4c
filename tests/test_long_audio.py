"""Hours-long audio: a 60-minute file is classified in bounded memory.

Two 16 kHz recordings with the same make-up, 5 and 60 minutes long (mostly pauses with
short utterances, then a stretch of uninterrupted speech that forms one long VAD region),
are written block by block and classified, each in a fresh interpreter that reports its peak
resident memory (``ru_maxrss``) before and after. The growth must stay under a fixed limit
and must not depend on the length: 60 minutes of float32 samples alone would be 230 MB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import speech_bursts

RATE = 16000
BLOCK_S = 60
# One minute of pauses with three utterances (2 s, 3.5 s, 1 s).
PAUSES_WITH_SPEECH = [(5.0, 7.0), (20.0, 23.5), (41.0, 42.0)]
# Growth of peak RSS allowed while classifying, whatever the length: the 5-second decode
# blocks, one model window and ONNX Runtime's arenas fit well inside it.
GROWTH_LIMIT_MB = 120.0
# How much more the 60-minute run may grow than the 5-minute run (allocator noise).
LENGTH_MARGIN_MB = 25.0

CHILD = r"""
import json, resource, sys, time
from edge_ser import Classifier

def peak_mb():
    # Linux reports kilobytes, macOS bytes.
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale

clf = Classifier(sys.argv[1])
clf.classify(sys.argv[3])  # warm-up on a short file: arenas and caches settle
before = peak_mb()
start = time.perf_counter()
result = clf.classify(sys.argv[2])
print(json.dumps({
    "before_mb": before,
    "after_mb": peak_mb(),
    "seconds": time.perf_counter() - start,
    "duration": result.duration,
    "regions": [[r.start, r.end] for r in result.speech_regions],
    "windows": len(result.windows),
    "label": result.label,
    "score_sum": sum(result.scores.values()),
}))
"""


def _blocks(minutes: int) -> Iterator[np.ndarray]:
    """``minutes`` one-minute blocks: all but the last tenth are pauses with utterances,
    the rest is uninterrupted voiced speech (one long region)."""
    talk = max(1, minutes // 10)
    pauses = speech_bursts(PAUSES_WITH_SPEECH, BLOCK_S, RATE, seed=1)
    continuous = speech_bursts([(0.0, BLOCK_S)], BLOCK_S, RATE, seed=2)
    for minute in range(minutes):
        yield pauses if minute < minutes - talk else continuous


def _write(path: Path, minutes: int) -> Path:
    with sf.SoundFile(path, "w", samplerate=RATE, channels=1, subtype="PCM_16") as f:
        for block in _blocks(minutes):
            f.write(block)
    return path


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("long_audio")
    files = {minutes: _write(folder / f"{minutes}min.wav", minutes) for minutes in (5, 60)}
    files[0] = _write(folder / "warmup.wav", 1)
    return files


def _classify_in_child(model: Path, audio: Path, warmup: Path) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(model), str(audio), str(warmup)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data: dict[str, object] = json.loads(proc.stdout)
    return data


@pytest.mark.slow
def test_sixty_minutes_in_bounded_memory(tiny_model_dir: Path, recordings: dict[int, Path]) -> None:
    runs = {m: _classify_in_child(tiny_model_dir, recordings[m], recordings[0]) for m in (5, 60)}
    growth = {m: float(r["after_mb"]) - float(r["before_mb"]) for m, r in runs.items()}  # type: ignore[arg-type]
    report = {m: {"growth_mb": round(growth[m], 1), "s": round(float(r["seconds"]), 1)}  # type: ignore[arg-type]
              for m, r in runs.items()}  # fmt: skip
    assert growth[60] < GROWTH_LIMIT_MB, report
    assert growth[60] <= growth[5] + LENGTH_MARGIN_MB, report
    # And the hour was really processed, every minute of it.
    for minutes, run in runs.items():
        assert run["duration"] == pytest.approx(minutes * 60.0)
        assert run["label"] is not None and run["score_sum"] == pytest.approx(1.0)
        regions = run["regions"]
        assert isinstance(regions, list)
        talk = max(1, minutes // 10)
        # One region per utterance in the paused minutes, then one long region to the end.
        assert len(regions) == len(PAUSES_WITH_SPEECH) * (minutes - talk) + 1, report
        assert regions[-1][1] == pytest.approx(minutes * 60.0)
        assert regions[-1][1] - regions[-1][0] >= talk * 60.0
