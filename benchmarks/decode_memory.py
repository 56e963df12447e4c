"""Peak memory and speed of decoding phone formats (FFmpeg through PyAV) against WAV.

Each note is synthetic speech-like audio, encoded during the run with PyAV (AAC in m4a and
Opus in webm, as phones and browsers record) and written as 16-bit WAV for the baseline. Each
decode runs in a fresh process that loads both decoders, resets its peak-RSS counter
(``/proc/self/clear_refs``, Linux), then reads the whole file through ``edge_ser.audio.open_audio``
in blocks and resamples it to 16 kHz, as ``Classifier.classify`` does; it reports its peak RSS
(and its growth while decoding) and its wall time. Flat memory means the peak does not grow with the note's length.

    python benchmarks/decode_memory.py --minutes 1,10,30 --out benchmarks/results/decode_memory.json

Figures are ratios and differences within one run (the machine may be shared); the CPU flags
are recorded beside them.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

CHILD = r"""
import json, sys, time
from edge_ser.audio import Resampler, open_audio
import av  # both decoders start with the same libraries loaded

def status_mb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024

before = status_mb("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current RSS
t0 = time.perf_counter()
samples = 0
with open_audio(sys.argv[1]) as f:
    resampler = Resampler(f.sample_rate, 16000)
    for block in f.blocks():
        samples += resampler.process(block).shape[0]
    samples += resampler.flush().shape[0]
    decoder = type(f).__name__
print(json.dumps({"seconds": samples / 16000, "wall_s": time.perf_counter() - t0,
                  "rss_before_mb": before, "peak_rss_mb": status_mb("VmHWM"),
                  "growth_mb": status_mb("VmHWM") - before, "decoder": decoder}))
"""


def _speech(seconds: float, rate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = (np.sin(2 * np.pi * 0.35 * t) > -0.3).astype(np.float64)
    return (0.3 * voiced * env + 0.002 * rng.standard_normal(t.shape[0])).astype(np.float32)


def _encode(path: Path, minutes: float, rate: int, codec: str, fmt: str) -> None:
    import av

    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        resampler = av.AudioResampler(
            format=stream.codec_context.format.name, layout="mono", rate=rate
        )
        chunk_s = 10.0
        for i in range(int(np.ceil(minutes * 60 / chunk_s))):
            x = _speech(chunk_s, rate, seed=i)[None, :]
            frame = av.AudioFrame.from_ndarray(x, format="fltp", layout="mono")
            frame.sample_rate = rate
            for f in resampler.resample(frame):
                container.mux(stream.encode(f))
        for f in resampler.resample(None):
            container.mux(stream.encode(f))
        container.mux(stream.encode(None))


def _wav(path: Path, minutes: float, rate: int) -> None:
    with sf.SoundFile(str(path), "w", rate, 1, subtype="PCM_16") as f:
        for i in range(int(np.ceil(minutes * 6))):
            f.write(_speech(10.0, rate, seed=i))


def _decode(path: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True
    )
    return dict(json.loads(proc.stdout))


def _cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "fma")
                return [f for f in line.split(":", 1)[1].split() if f in wanted]
    except OSError:
        pass
    return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", default="1,10,30", help="note lengths (default 1,10,30)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()
    minutes = [float(m) for m in args.minutes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for m in minutes:
            files = {
                "wav (libsndfile)": tmp / f"{m:g}.wav",
                "m4a aac (ffmpeg)": tmp / f"{m:g}.m4a",
                "webm opus (ffmpeg)": tmp / f"{m:g}.webm",
            }
            _wav(files["wav (libsndfile)"], m, 44_100)
            _encode(files["m4a aac (ffmpeg)"], m, 44_100, "aac", "ipod")
            _encode(files["webm opus (ffmpeg)"], m, 48_000, "libopus", "webm")
            for name, path in files.items():
                r = _decode(path)
                rows.append({"minutes": m, "format": name, "bytes": path.stat().st_size, **r})
                print(
                    f"{m:5g} min  {name:20s} peak {r['peak_rss_mb']:6.1f} MB "
                    f"(+{r['growth_mb']:5.1f} MB while decoding)  "
                    f"{r['wall_s']:6.2f} s  ({r['decoder']})",
                    flush=True,
                )
    report = {
        "rows": rows,
        "machine": {"cpu_flags": _cpu_flags(), "python": platform.python_version()},
    }
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
