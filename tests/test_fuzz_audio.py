"""Fuzzing the audio path: random and mutated file bytes never crash or hang the runtime.

Real WAV (16-bit, 8-bit, 24-bit, float), FLAC, OGG Vorbis, Opus, MP3 and AIFF files written
by soundfile are mutated (bit flips biased towards the header, truncations, header and
chunk-size corruption, spliced and zeroed stretches) or replaced by random bytes, then
classified from a path or from a file object. Only :class:`edge_ser.errors.EdgeSerError`
may escape, and no case may hang.

The cases run in a child process, so that a hang inside a C library (which no Python
timeout can interrupt) or a crash is caught too: the parent waits at most
``CASE_TIMEOUT_S`` for each case, then kills the child and names the case.

The sequence of cases is fixed by a seed; the child works through it for ``BUDGET_S``
seconds (about 2,000 cases on an idle 2-core machine) and at least ``MIN_CASES`` must run,
so a slow CI box checks a shorter prefix of the same sequence. ``EDGE_SER_FUZZ_SECONDS`` and
``EDGE_SER_FUZZ_SEED`` give a longer or different local run.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import pytest

BUDGET_S = float(os.environ.get("EDGE_SER_FUZZ_SECONDS", "8"))
SEED = int(os.environ.get("EDGE_SER_FUZZ_SEED", "8"))
MAX_CASES = 100_000
MIN_CASES = 300
CASE_TIMEOUT_S = 20.0  # generous: a case normally takes milliseconds, even on a busy CI box

WORKER = r"""
import faulthandler
import io
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import soundfile as sf

from edge_ser import Classifier
from edge_ser.errors import EdgeSerError

faulthandler.enable()
model_dir, out_dir = sys.argv[1], Path(sys.argv[2])
seed, cases, budget = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
rng = np.random.default_rng(seed)
clf = Classifier(model_dir, {"session": {"batch_size": 1, "intra_op_threads": 1}})


def speechlike(seconds, rate):
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(140 + 40 * np.sin(2 * np.pi * 0.7 * t)) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    return (0.3 * voiced * (np.sin(2 * np.pi * 2.0 * t) > -0.3)).astype(np.float32)


def encode(fmt, subtype, rate, channels, seconds=0.6):
    x = speechlike(seconds, rate)
    if channels > 1:
        x = np.stack([x * (k + 1) / channels for k in range(channels)], axis=1)
    buffer = io.BytesIO()
    sf.write(buffer, x, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


BASES = [
    ("wav", encode("WAV", "PCM_16", 16000, 1)),
    ("wav", encode("WAV", "PCM_U8", 8000, 1)),
    ("wav", encode("WAV", "PCM_24", 44100, 2)),
    ("wav", encode("WAV", "FLOAT", 22050, 1)),
    ("wav", encode("WAVEX", "PCM_16", 48000, 6, 0.3)),
    ("flac", encode("FLAC", "PCM_16", 16000, 1)),
    ("flac", encode("FLAC", "PCM_24", 48000, 2)),
    ("ogg", encode("OGG", "VORBIS", 16000, 1)),
    ("ogg", encode("OGG", "VORBIS", 44100, 2)),
    ("aiff", encode("AIFF", "PCM_16", 16000, 1)),
    ("opus", encode("OGG", "OPUS", 16000, 1)),
    ("mp3", encode("MP3", "MPEG_LAYER_III", 44100, 2)),
]
HEADER = 64


def mutate(data):
    data = bytearray(data)
    kind = rng.choice(["flip", "flip-header", "truncate", "header", "size-field", "splice",
                       "zero", "random", "random-with-magic"])
    if kind in ("flip", "flip-header"):
        span = HEADER if kind == "flip-header" else len(data)
        for _ in range(int(rng.integers(1, 24))):
            i = int(rng.integers(0, min(span, len(data))))
            data[i] ^= 1 << int(rng.integers(0, 8))
    elif kind == "truncate":
        data = data[: int(rng.integers(0, len(data)))]
    elif kind == "header":
        n = int(rng.integers(1, HEADER))
        start = int(rng.integers(0, HEADER - n + 1))
        data[start : start + n] = rng.bytes(n)
    elif kind == "size-field":
        # Chunk sizes, rates and channel counts live in 2- and 4-byte fields of the header.
        i = int(rng.integers(0, HEADER - 4))
        value = [0, 1, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, int(rng.integers(0, 2**32))]
        data[i : i + 4] = int(rng.choice(value)).to_bytes(4, rng.choice(["little", "big"]))
    elif kind == "splice":
        a, b = sorted(int(v) for v in rng.integers(0, len(data), 2))
        data = data[:b] + data[a:b] * int(rng.integers(1, 4)) + data[b:]
    elif kind == "zero":
        a, b = sorted(int(v) for v in rng.integers(0, len(data), 2))
        data[a:b] = bytes(b - a)
    elif kind == "random":
        data = bytearray(rng.bytes(int(rng.integers(0, 4096))))
    else:
        data = data[:12] + bytearray(rng.bytes(int(rng.integers(0, 4096))))
    return kind, bytes(data)


deadline = time.monotonic() + budget
for case in range(cases):
    if time.monotonic() > deadline:
        break
    ext, base = BASES[int(rng.integers(0, len(BASES)))]
    kind, data = mutate(base)
    path = out_dir / f"current.{ext}"
    path.write_bytes(data)
    as_path = case % 2 == 0
    print(f"START {case} {kind} {ext} {'path' if as_path else 'fileobj'} {len(data)}", flush=True)
    try:
        result = clf.classify(path if as_path else io.BytesIO(data))
        if result.label is not None:
            assert abs(sum(result.scores.values()) - 1.0) < 1e-6, result.scores
        outcome = "result"
    except EdgeSerError as exc:
        outcome = type(exc).__name__
    except BaseException as exc:
        keep = out_dir / f"failing_{case}.{ext}"
        keep.write_bytes(data)
        detail = traceback.format_exc().strip().splitlines()[-1]
        print(f"BAD {case} {kind} {keep} {detail}", flush=True)
        continue
    print(f"DONE {case} {outcome}", flush=True)
print("END", flush=True)
"""


def _reader(stream: object, lines: queue.Queue[str | None]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line.rstrip("\n"))
    lines.put(None)


def _start(script: Path, model: Path, out: Path, stderr: IO[str]) -> subprocess.Popen[str]:
    args = [str(model), str(out), str(SEED), str(MAX_CASES), str(BUDGET_S)]
    return subprocess.Popen(
        [sys.executable, str(script), *args], stdout=subprocess.PIPE, stderr=stderr, text=True,
        cwd=out,
    )  # fmt: skip


@pytest.mark.slow
def test_mutated_and_random_audio_bytes(tiny_model_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "fuzz_worker.py"
    script.write_text(WORKER)
    # libsndfile's decoders and the runtime's warnings chatter on stderr: into a file, not a
    # pipe that nobody drains, so the child never blocks on it.
    log = tmp_path / "worker_stderr.log"
    with log.open("w") as stderr_file:
        proc = _start(script, tiny_model_dir, tmp_path, stderr_file)
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    errors: list[str] = []
    line: str | None = None
    current = "before the first case"
    outcomes: dict[str, int] = {}
    try:
        while True:
            try:
                line = lines.get(timeout=CASE_TIMEOUT_S)
            except queue.Empty:
                pytest.fail(
                    f"no progress for {CASE_TIMEOUT_S:.0f} s: hung on {current}; "
                    f"its bytes are in {tmp_path} (current.*)"
                )
            if line is None or line == "END":
                break
            if line.startswith("START "):
                current = line[len("START ") :]
            elif line.startswith("DONE "):
                outcome = line.split()[2]
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
            elif line.startswith("BAD "):
                errors.append(line)
    finally:
        if line != "END" and proc.poll() is None:
            proc.kill()  # hung, or the test failed: do not wait for it
        proc.communicate(timeout=60)
    tail = log.read_text(errors="replace")[-3000:]
    assert proc.returncode == 0, f"the worker died on {current} (code {proc.returncode}):\n{tail}"
    assert not errors, "non-EdgeSerError exceptions:\n" + "\n".join(errors)
    done = sum(outcomes.values())
    assert done >= MIN_CASES, f"only {done} cases ran in {BUDGET_S} s: {outcomes}"
    # The mutations are neither all fatal nor all harmless: both paths were exercised.
    assert outcomes.get("result", 0) > done // 10, outcomes
    assert outcomes.get("AudioDecodeError", 0) > done // 10, outcomes
