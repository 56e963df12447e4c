"""``edge-ser benchmark``: how fast, how heavy and how big the runtime is on this machine.

Measured, on the bundled model or ``--model``:

* **cold start**: ``import edge_ser`` plus building the :class:`~edge_ser.Classifier`
  (session creation), timed inside a fresh Python process (interpreter start-up excluded);
  the median of ``--cold-runs`` processes.
* **latency** per full window (the model's ``max_window_s``, e.g. 8 s): ``session.run`` on
  preprocessed speech-like windows, p50/p90/p99 over ``--windows`` windows after a warm-up.
  Preprocessing runs without silence trimming here, so every input is a full window.
* **real-time factor** of the whole runtime (decode, resample, VAD, windowing,
  preprocessing, inference, aggregation): :meth:`Classifier.classify` on a synthetic voice
  note of ``--minutes`` (speech-like bursts with pauses) written to a temporary WAV, in a
  subprocess, so that the **peak resident memory** reported (``VmHWM``, else ``ru_maxrss``)
  is that of the runtime alone.
* the model file's size, and the machine (CPU, cores, ONNX Runtime and Python versions,
  threads, load average: these machines may be shared, so compare ratios from one run).

The measuring functions are public so that ``benchmarks/run_benchmarks.py`` reuses them.
The module imports no torch.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .cli_flags import add_model_argument
from .errors import EdgeSerError, ModelNotFoundError
from .model import (
    ASSETS_PACKAGE,
    BUNDLED_MODEL_NAMES,
    BUNDLED_MODELS,
    MODEL_FILENAMES,
    Model,
    bundled_model_file,
    load_model,
)
from .options import SessionOptions

__all__ = [
    "ModelFile",
    "add_arguments",
    "find_model_file",
    "machine_info",
    "measure_cold_start",
    "measure_latency",
    "measure_long_audio",
    "percentiles",
    "run",
    "run_benchmark",
    "speechlike",
    "write_voice_note",
]

logger = logging.getLogger("edge_ser.benchmark")

FloatArray = npt.NDArray[np.float32]

DEFAULT_WINDOWS = 100
DEFAULT_WARMUP = 2
DEFAULT_MINUTES = 3.0
DEFAULT_COLD_RUNS = 3
DEFAULT_NOTE_RATE = 16_000
MB = 1_000_000  # decimal megabytes, as file sizes are usually quoted


# -- the model file ------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFile:
    """The file a model argument resolves to.

    Attributes:
        arg: what to pass to :class:`~edge_ser.Classifier` (``None``: the bundled model).
        path: the model file on disk.
        name: how to show it (the bundled model's name inside the package).
    """

    arg: str | None
    path: Path
    name: str

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


def find_model_file(model: str | os.PathLike[str] | None) -> ModelFile:
    """Resolve a model folder, file or ``None`` (bundled) the way the runtime does.

    Raises:
        ModelNotFoundError: the path does not exist, the folder holds no model, or no model
            was given and no bundled model is installed.
    """
    if model is None or (str(model) in BUNDLED_MODELS and not Path(model).exists()):
        bundled = "default" if model is None else str(model)
        found = bundled_model_file(bundled)
        if found is not None:
            # An installed package is a plain folder; as_file() only copies out of zips.
            with resources.as_file(found[0]) as file:
                return ModelFile(None if model is None else bundled, Path(file), found[1])
        names = BUNDLED_MODEL_NAMES if bundled == "default" else BUNDLED_MODELS[bundled]
        raise ModelNotFoundError(
            f"no bundled {bundled} model is installed (looked for {', '.join(names)} in "
            f"{ASSETS_PACKAGE}): pass --model DIR with a folder made by "
            "`edge-ser export CHECKPOINT DIR`"
        )
    path = Path(model)
    if not path.exists():
        raise ModelNotFoundError(f"model not found: {path}")
    if path.is_dir():
        for name in MODEL_FILENAMES:
            if (path / name).is_file():
                return ModelFile(str(path), path / name, str(path / name))
        raise ModelNotFoundError(
            f"{path} holds no {' or '.join(MODEL_FILENAMES)}; pass a folder written by "
            "`edge-ser export` or a model file"
        )
    return ModelFile(str(path), path, str(path))


# -- synthetic speech ----------------------------------------------------------------------


def speechlike(
    seconds: float, sample_rate: int, rng: np.random.Generator, *, amplitude: float = 0.3
) -> FloatArray:
    """One utterance of voiced, speech-like audio (no pauses longer than a syllable gap).

    A harmonic series with a gliding pitch and a random spectral tilt under a syllabic
    envelope (3-6 syllables a second), plus faint breath noise: webrtcvad takes it for
    speech, and it drives the model's convolutions like real speech would.
    """
    n = max(1, round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    f0 = rng.uniform(95, 230) * (
        1.0 + 0.12 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t + rng.uniform(0, 2 * np.pi))
    )
    # Wrapped to one turn, float32 is precise enough for k * phase (and twice as fast).
    phase = np.mod(2 * np.pi * np.cumsum(f0) / sample_rate, 2 * np.pi).astype(np.float32)
    tilt = rng.uniform(0.9, 1.5)
    top = max(2, min(24, int(0.45 * sample_rate / 230)))  # stay below Nyquist
    voiced = np.zeros(n, dtype=np.float32)
    for k in range(1, top):
        voiced += np.sin(
            np.float32(k) * phase + np.float32(rng.uniform(0, 2 * np.pi))
        ) / np.float32(k**tilt)
    rate = rng.uniform(3.0, 6.0)
    envelope = np.clip(np.abs(np.sin(np.pi * rate * t + rng.uniform(0, np.pi))) * 1.6, 0, 1) ** 2
    x = amplitude * voiced * envelope + 0.004 * rng.standard_normal(n)
    return np.asarray(x, dtype=np.float32)


def _voice_note_chunks(seconds: float, sample_rate: int, seed: int) -> Iterator[FloatArray]:
    """Utterances of 0.8-9 s separated by pauses of 0.3-2.5 s (faint noise), in order."""
    rng = np.random.default_rng(seed)
    total = round(seconds * sample_rate)
    written = 0
    speaking = True
    while written < total:
        if speaking:
            length = rng.uniform(0.8, 9.0)
            chunk = speechlike(length, sample_rate, rng, amplitude=rng.uniform(0.1, 0.45))
        else:
            length = rng.uniform(0.3, 2.5)
            n = round(length * sample_rate)
            chunk = (0.001 * rng.standard_normal(n)).astype(np.float32)
        chunk = chunk[: total - written]
        written += chunk.shape[0]
        speaking = not speaking
        yield chunk


def write_voice_note(
    path: str | os.PathLike[str],
    minutes: float,
    *,
    sample_rate: int = DEFAULT_NOTE_RATE,
    seed: int = 0,
) -> float:
    """Write a synthetic voice note (16-bit WAV) of ``minutes``; return its length in seconds.

    Written utterance by utterance, so memory does not grow with the length.
    """
    import soundfile as sf

    frames = 0
    with sf.SoundFile(
        str(path), "w", samplerate=sample_rate, channels=1, subtype="PCM_16", format="WAV"
    ) as f:
        for chunk in _voice_note_chunks(minutes * 60.0, sample_rate, seed):
            f.write(np.clip(chunk, -1.0, 1.0))
            frames += chunk.shape[0]
    return frames / sample_rate


# -- statistics and the machine ------------------------------------------------------------


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99 (linear interpolation, hence ordered), mean, min and max, in ms."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    if ms.size == 0:
        raise EdgeSerError("no timings to summarise")
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "mean": float(ms.mean()),
        "min": float(ms.min()),
        "max": float(ms.max()),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Hardware", "Processor") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _cpu_flags() -> list[str]:
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "asimddp", "amx_int8")
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("flags", "Features"):
                have = set(value.split())
                return [f for f in wanted if f in have]
    except OSError:
        pass
    return []


def machine_info(threads: int | None = None) -> dict[str, Any]:
    """The machine a measurement ran on: CPU, cores, load, versions and threads."""
    import onnxruntime as ort

    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 0
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "cores": os.cpu_count() or 0,
        "usable_cores": usable,
        "load_average": load,
        "memory_mb": _total_memory_mb(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
    }
    if threads is not None:
        info["threads"] = threads
        info["threads_note"] = "0 = ONNX Runtime's choice" if threads == 0 else "intra-op"
    return info


def _total_memory_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) * 1024 / MB, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _status_mb(field: str) -> float | None:
    """``VmRSS`` / ``VmHWM`` of this process from /proc, in MB (None where unavailable)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024 / MB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _peak_rss_mb() -> float:
    hwm = _status_mb("VmHWM")
    if hwm is not None:
        return hwm
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return float(peak) / MB if sys.platform == "darwin" else float(peak) * 1024 / MB


# -- measurements --------------------------------------------------------------------------


def _child_env() -> dict[str, str]:
    """The environment for measuring subprocesses: this very edge_ser first on the path."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _run_child(code: str, payload: dict[str, Any], timeout: float | None) -> dict[str, Any]:
    cmd = [sys.executable, "-c", code, json.dumps(payload)]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=_child_env(), timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise EdgeSerError(f"benchmark subprocess ran past {timeout:.0f} s") from exc
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        why = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise EdgeSerError(f"benchmark subprocess failed (exit {proc.returncode}): {why}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# Timed from before `import edge_ser` (the interpreter's own start-up is not counted).
_COLD_START_CODE = """\
import json, sys, time
t0 = time.perf_counter()
import edge_ser
t1 = time.perf_counter()
a = json.loads(sys.argv[1])
clf = edge_ser.Classifier(a["model"], {"session": {"intra_op_threads": a["threads"]}})
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "session_s": t2 - t1, "labels": len(clf.labels)}))
"""


def measure_cold_start(
    model: str | None, threads: int = 0, runs: int = DEFAULT_COLD_RUNS
) -> dict[str, Any]:
    """Import plus session creation, each run in a fresh process; medians over ``runs``."""
    samples = [
        _run_child(_COLD_START_CODE, {"model": model, "threads": threads}, timeout=300)
        for _ in range(max(1, runs))
    ]
    totals = [s["import_s"] + s["session_s"] for s in samples]
    return {
        "cold_start_s": float(np.median(totals)),
        "import_s": float(np.median([s["import_s"] for s in samples])),
        "session_s": float(np.median([s["session_s"] for s in samples])),
        "runs_s": [round(t, 4) for t in totals],
    }


def latency_inputs(model: Model, count: int, seed: int = 0) -> list[FloatArray]:
    """``count`` distinct full-length model inputs made from speech-like audio.

    Preprocessed as the runtime does, except that silence is not trimmed, so each input is
    exactly ``max_window_s`` long (the costliest window the runtime sends).
    """
    md = model.metadata
    n = round(md.max_window_s * md.sample_rate)
    rng = np.random.default_rng(seed)
    cfg = replace(md.preprocessing, trim_top_db=0.0)
    md_full = replace(md, preprocessing=cfg)
    full = replace(model, metadata=md_full)
    return [
        full.prepare_input(speechlike(n / md.sample_rate, md.sample_rate, rng)[:n])
        for _ in range(max(1, count))
    ]


def measure_latency(
    model: Model,
    windows: int = DEFAULT_WINDOWS,
    *,
    warmup: int = DEFAULT_WARMUP,
    distinct: int = 8,
    seed: int = 0,
) -> dict[str, Any]:
    """Seconds per ``session.run`` on one full window, over ``windows`` timed runs."""
    md = model.metadata
    inputs = latency_inputs(model, min(distinct, windows), seed)
    names = [md.output_name]

    def once(x: FloatArray) -> float:
        t0 = time.perf_counter()
        model.session.run(names, {md.input_name: x[None, :]})
        return time.perf_counter() - t0

    for i in range(warmup):
        once(inputs[i % len(inputs)])
    times = [once(inputs[i % len(inputs)]) for i in range(windows)]
    return {
        "latency_ms": percentiles(times),
        "windows": windows,
        "warmup": warmup,
        "window_s": md.max_window_s,
        "input_samples": int(inputs[0].shape[0]),
    }


_LONG_AUDIO_CODE = """\
from edge_ser.benchmark import _long_audio_child
_long_audio_child()
"""


def _long_audio_child() -> None:
    """Subprocess body of :func:`measure_long_audio`: prints one JSON line."""
    from .classifier import Classifier

    a = json.loads(sys.argv[1])
    t0 = time.perf_counter()
    options = a.get("options") or {}
    session = {**options.get("session", {}), "intra_op_threads": a["threads"]}
    clf = Classifier(a["model"], {**options, "session": session})
    load_s = time.perf_counter() - t0
    rss_loaded = _status_mb("VmRSS")
    c1, t1 = time.process_time(), time.perf_counter()
    result = clf.classify(a["audio"])
    wall = time.perf_counter() - t1
    cpu = time.process_time() - c1
    out = {
        "audio_s": result.duration,
        "wall_s": wall,
        "rtf": wall / result.duration if result.duration > 0 else None,
        # CPU seconds of all this process's threads: unlike wall time, not stretched by
        # other processes competing for the cores (but it counts ORT's spin-waiting).
        "cpu_s": cpu,
        "cpu_rtf": cpu / result.duration if result.duration > 0 else None,
        "load_s": load_s,
        "windows": len(result.windows),
        "speech_s": result.speech_duration,
        "label": result.label,
        "rss_after_load_mb": rss_loaded,
        "peak_rss_mb": _peak_rss_mb(),
    }
    print(json.dumps(out))


def measure_long_audio(
    model: str | None,
    audio: str | os.PathLike[str],
    threads: int = 0,
    *,
    options: Mapping[str, Any] | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Classify ``audio`` with the whole runtime in a fresh process.

    ``options`` are :class:`~edge_ser.ClassifierOptions` as a dict (default: the defaults;
    ``threads`` sets ``session.intra_op_threads`` either way).

    Returns wall time of :meth:`Classifier.classify` (model loading excluded, reported as
    ``load_s``), the real-time factor, the CPU seconds it used (``cpu_s``, ``cpu_rtf``),
    window and speech counts, and the subprocess's resident memory after loading and at its
    peak (MB).
    """
    return _run_child(
        _LONG_AUDIO_CODE,
        {
            "model": model,
            "audio": str(audio),
            "threads": threads,
            "options": dict(options or {}),
        },
        timeout=timeout,
    )


@contextmanager
def _temporary_voice_note(minutes: float, sample_rate: int, seed: int) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="edge_ser_bench_") as tmp:
        path = Path(tmp) / f"voice_note_{minutes:g}min.wav"
        write_voice_note(path, minutes, sample_rate=sample_rate, seed=seed)
        yield path


def run_benchmark(
    model: str | os.PathLike[str] | None = None,
    *,
    threads: int = 0,
    windows: int = DEFAULT_WINDOWS,
    warmup: int = DEFAULT_WARMUP,
    minutes: float = DEFAULT_MINUTES,
    cold_runs: int = DEFAULT_COLD_RUNS,
    sample_rate: int = DEFAULT_NOTE_RATE,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Everything ``edge-ser benchmark`` reports, as one JSON-ready dict.

    Raises:
        ModelNotFoundError: no such model, or no bundled model when ``model`` is None.
        EdgeSerError: the model cannot be loaded or a measuring subprocess failed.
    """
    say = progress or (lambda stage: None)
    file = find_model_file(model)
    session_options = SessionOptions(intra_op_threads=threads)
    machine = machine_info(threads)

    say("cold start")
    cold = measure_cold_start(file.arg, threads, cold_runs)

    say("latency")
    loaded = load_model(None if file.arg is None else Path(file.arg), session_options)
    lat = measure_latency(loaded, windows, warmup=warmup, seed=seed)
    md = loaded.metadata
    del loaded

    say("real-time factor")
    with _temporary_voice_note(minutes, sample_rate, seed) as note:
        long_audio = measure_long_audio(file.arg, note, threads)
    long_audio.update({"minutes": minutes, "sample_rate": sample_rate, "audio": "synthetic"})

    size = file.size_bytes
    machine["load_average_after"] = machine_info()["load_average"]
    return {
        "model": file.name,
        "model_file": str(file.path),
        "quantization": md.quantization,
        "labels": list(md.labels),
        "model_size_bytes": size,
        "model_size_mb": size / MB,
        "cold_start_s": cold["cold_start_s"],
        "cold_start": cold,
        "latency_ms": lat["latency_ms"],
        "latency": {k: v for k, v in lat.items() if k != "latency_ms"},
        "rtf": long_audio["rtf"],
        "long_audio": long_audio,
        "peak_rss_mb": long_audio["peak_rss_mb"],
        "machine": machine,
    }


# -- the command ---------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (value > 0 and np.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)
    parser.add_argument(
        "--threads",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="ONNX Runtime intra-op threads (default: 0 = automatic)",
    )
    parser.add_argument(
        "--windows",
        type=_positive_int,
        default=DEFAULT_WINDOWS,
        metavar="N",
        help=f"timed windows for the latency percentiles (default {DEFAULT_WINDOWS})",
    )
    parser.add_argument(
        "--warmup",
        type=_non_negative_int,
        default=DEFAULT_WARMUP,
        metavar="N",
        help=f"untimed warm-up windows (default {DEFAULT_WARMUP})",
    )
    parser.add_argument(
        "--minutes",
        type=_positive_float,
        default=DEFAULT_MINUTES,
        metavar="M",
        help=f"length of the synthetic voice note for the real-time factor "
        f"(default {DEFAULT_MINUTES:g})",
    )
    parser.add_argument(
        "--cold-runs",
        type=_positive_int,
        default=DEFAULT_COLD_RUNS,
        metavar="N",
        help=f"fresh processes timed for the cold start (median; default {DEFAULT_COLD_RUNS})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="do not report the stages and their expected duration on stderr",
    )


def run(args: argparse.Namespace) -> int:
    from .narrate import BenchmarkNarrator

    narrator = BenchmarkNarrator(
        sys.stderr,
        cold_runs=args.cold_runs,
        windows=args.windows,
        warmup=args.warmup,
        minutes=args.minutes,
    )

    def progress(stage: str) -> None:
        if not args.quiet:
            narrator(stage)
        logger.info("measuring %s", stage)

    if not args.quiet:
        narrator.start()

    report = run_benchmark(
        args.model,
        threads=args.threads,
        windows=args.windows,
        warmup=args.warmup,
        minutes=args.minutes,
        cold_runs=args.cold_runs,
        progress=progress,
    )
    if not args.quiet:
        narrator.done()
    if args.json:
        print(json.dumps(report))
    else:
        print(format_table(report))
    return 0


def format_table(report: dict[str, Any]) -> str:
    """The human-readable report: a small aligned table."""
    m = report["machine"]
    lat = report["latency_ms"]
    cold = report["cold_start"]
    la = report["long_audio"]
    win = report["latency"]
    threads = "auto" if m["threads"] == 0 else str(m["threads"])
    rows = [
        ("model", f"{report['model']} ({report['quantization']})"),
        ("model size", f"{report['model_size_mb']:.1f} MB"),
        (
            "cold start",
            f"{report['cold_start_s']:.2f} s  (import {cold['import_s']:.2f} s + "
            f"session {cold['session_s']:.2f} s, median of {len(cold['runs_s'])})",
        ),
        (
            f"latency / {win['window_s']:g} s window",
            f"p50 {lat['p50']:.1f} ms  p90 {lat['p90']:.1f} ms  p99 {lat['p99']:.1f} ms  "
            f"({win['windows']} windows)",
        ),
        (
            "real-time factor",
            f"{report['rtf']:.4f}  ({la['audio_s'] / 60:.1f} min voice note in "
            f"{la['wall_s']:.1f} s, {la['windows']} windows)",
        ),
        ("peak memory", f"{report['peak_rss_mb']:.0f} MB  (after loading {_mb(la)} MB)"),
        ("machine", f"{m['cpu']}, {m['cores']} cores, load {_load(m)}"),
        ("software", f"onnxruntime {m['onnxruntime']}, Python {m['python']}, threads {threads}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _mb(long_audio: dict[str, Any]) -> str:
    value = long_audio.get("rss_after_load_mb")
    return "?" if value is None else f"{value:.0f}"


def _load(machine: dict[str, Any]) -> str:
    load = machine.get("load_average") or []
    return "/".join(f"{x:.1f}" for x in load) if load else "?"
