"""The edge-ser benchmark suite: latency, real-time factor and memory, against baselines.

One command, one run, every number side by side (ratios are only compared within a run):

1. a DistilHuBERT-sized model (random weights from a ``HubertConfig``: 2 layers, 768 wide,
   12 heads, 3072 FFN, 7x512 group-norm conv encoder, 256 projection, 4 labels), or
   ``--checkpoint DIR`` (e.g. the bundled model's training output);
2. exported with :func:`edge_ser_export.export_model` as fp32 (``none``), dynamic int8 (the
   paper's) and static int8 (calibrated on real speech from ../shared/datasets through a
   temporary folder of symlinks, or on synthetic speech where that is absent: recorded);
3. per-8-s-window latency of PyTorch eager fp32 (transformers), ORT fp32, ORT dynamic int8
   and ORT static int8, each at 1 and 2 intra-op threads, interleaved in blocks so that load
   from other processes falls on every variant alike; median and p90 over ``--windows``
   windows after a warm-up, and speed-ups against ORT fp32 and PyTorch eager;
4. cold start (import plus session creation, fresh processes) of each ORT variant;
5. long-audio scaling: 1, 10 and 60 minutes of a synthetic voice note through the whole
   runtime (decode, VAD, windowing, inference, aggregation) with the default int8 model
   (what ``edge-ser export`` makes when given calibration audio), one fresh process per
   length: wall time, real-time factor and peak resident memory (flat memory is the goal).

Results go to ``benchmarks/results/`` (``--out``; a ``--quick`` run writes into the work
folder unless given ``--out``, so it never replaces the checked-in results):
``results.json``, ``results.md`` and ``results.png``. Exported models and voice notes are
cached in ``--work`` (default: a folder in the system temp dir) and reused by later runs;
``--resume`` also reuses the stages a previous, interrupted run with the same settings
finished.

    python benchmarks/run_benchmarks.py                      # full run (10-20 min, 2 cores)
    python benchmarks/run_benchmarks.py --quick              # smoke run (a few minutes)
    python benchmarks/run_benchmarks.py --checkpoint DIR     # a trained checkpoint

Needs the ``dev`` extra (torch, transformers, onnx, matplotlib).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = Path(os.environ.get("EDGE_SER_DATASETS") or REPO.parent / "shared" / "datasets")
DEFAULT_OUT = REPO / "benchmarks" / "results"
DEFAULT_WORK = Path(tempfile.gettempdir()) / "edge-ser-benchmarks"
LABELS = ("anger", "happiness", "neutral", "sadness")
MODES = ("none", "dynamic", "static")
TORCH = "PyTorch eager fp32"
VARIANTS = {
    "none": "ORT fp32",
    "dynamic": "ORT dynamic int8 (paper's)",
    "static": "ORT static int8",
}
CALIBRATION_FILES = 16
PARITY_WINDOWS = 4
# Targets of issue 6 (on a 2-core machine, ratios from one run).
TARGET_VS_FP32 = 2.0
TARGET_VS_TORCH = 2.5
TARGET_RTF = 0.03
TARGET_PEAK_MB = 200.0
# "Flat" memory: the longest note peaks at most this much above the shortest.
FLAT_TOLERANCE_MB = 10.0

FloatArray = npt.NDArray[np.float32]


def log(message: str) -> None:
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


# -- settings and the resumable state -----------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="edge-ser benchmark suite: latency, RTF and memory against baselines",
        epilog="Full run: 10-20 minutes on 2 shared cores; --quick: a smoke run.",
    )
    p.add_argument("--checkpoint", type=Path, help="a fine-tuned checkpoint (default: random "
                   "weights in a DistilHuBERT-sized HubertConfig)")  # fmt: skip
    p.add_argument("--out", type=Path, help="results folder (default: benchmarks/results; "
                   "with --quick, quick-results in the work folder)")  # fmt: skip
    p.add_argument("--work", type=Path, default=DEFAULT_WORK,
                   help="cache of exported models and voice notes (default: %(default)s)")  # fmt: skip
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: few windows, short notes (0.5 and 1 min)")  # fmt: skip
    p.add_argument("--windows", type=int, help="timed windows per variant and thread count "
                   "(default 12, --quick 3)")  # fmt: skip
    p.add_argument("--warmup", type=int, default=2, help="untimed windows per variant first")
    p.add_argument("--block", type=int, help="windows a variant runs in a row before the next "
                   "takes over (default 3, --quick 1)")  # fmt: skip
    p.add_argument("--threads", type=str, default="1,2", help="intra-op thread counts")
    p.add_argument("--minutes", type=str, help="voice note lengths for the scaling run "
                   "(default 1,10,60; --quick 0.5,1)")  # fmt: skip
    p.add_argument("--scaling-threads", type=int, default=2,
                   help="intra-op threads of the runtime in the scaling run")  # fmt: skip
    p.add_argument(
        "--runtime-options",
        type=json.loads,
        default=None,
        metavar="JSON",
        help='ClassifierOptions for the scaling run, e.g. \'{"session": {"batch_size": 1}}\'',
    )
    p.add_argument("--cold-runs", type=int, default=3, help="fresh processes per cold start")
    p.add_argument("--resume", action="store_true",
                   help="reuse the stages an interrupted run with the same settings finished")  # fmt: skip
    p.add_argument("--fresh", action="store_true", help="re-export the models (ignore the cache)")
    p.add_argument("--synthetic-calibration", action="store_true",
                   help="calibrate on synthetic speech even where real speech is available")  # fmt: skip
    p.add_argument("--tiny", action="store_true",
                   help="a tiny HuBERT config instead of DistilHuBERT (tests only)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.out is None:
        args.out = args.work / "quick-results" if args.quick else DEFAULT_OUT
    args.windows = args.windows or (3 if args.quick else 12)
    args.block = args.block or (1 if args.quick else 3)
    args.thread_counts = [int(t) for t in args.threads.split(",") if t.strip()]
    minutes = args.minutes or ("0.5,1" if args.quick else "1,10,60")
    args.lengths = [float(m) for m in minutes.split(",") if m.strip()]
    if (
        args.windows < 1
        or args.block < 1
        or args.warmup < 0
        or not args.thread_counts
        or min(args.thread_counts) < 1
        or not args.lengths
        or min(args.lengths) <= 0
    ):
        p.error("--windows and --block must be >= 1, --threads >= 1, --minutes > 0")
    return args


class State:
    """Finished stages, kept in the work folder so an interrupted run can resume."""

    def __init__(self, path: Path, key: str, resume: bool) -> None:
        self.path = path
        self.key = key
        self.data: dict[str, Any] = {}
        if resume and path.is_file():
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("key") == key:
                self.data = saved.get("stages", {})
                log(f"resuming: finished stages {sorted(self.data)}")

    def get(self, stage: str) -> Any:
        return self.data.get(stage)

    def put(self, stage: str, value: Any) -> Any:
        self.data[stage] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"key": self.key, "stages": self.data}), encoding="utf-8")
        return value


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:12]


# -- model and export ---------------------------------------------------------------------


def build_checkpoint(folder: Path, *, tiny: bool, seed: int) -> Path:
    """A random-weight HuBERT classifier shaped like DistilHuBERT (or a tiny one).

    The shape is the training toolchain's own (``edge_ser_train.model.distilhubert_config``),
    so the benchmark measures the architecture that ``edge-ser train`` builds.
    """
    import torch
    from edge_ser_train.model import distilhubert_config
    from transformers import HubertForSequenceClassification

    torch.manual_seed(seed)
    config = distilhubert_config(
        tiny=tiny,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    model: Any = HubertForSequenceClassification(config)
    model.eval().save_pretrained(str(folder))
    return folder


def calibration_folder(folder: Path, *, synthetic: bool, seed: int) -> dict[str, Any]:
    """Fill ``folder`` with speech for calibration and parity; describe where it came from.

    Real speech is linked (never copied) from ../shared/datasets, spread over its corpora.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if not synthetic and SHARED_DATASETS.is_dir():
        from edge_ser_export.speech import find_audio_files

        files = find_audio_files(SHARED_DATASETS)
        random.Random(seed).shuffle(files)
        chosen = files[:CALIBRATION_FILES]
        for i, f in enumerate(chosen):
            (folder / f"{i:02d}{f.suffix.lower()}").symlink_to(f)
        corpora = sorted({f.relative_to(SHARED_DATASETS).parts[0] for f in chosen})
        return {
            "source": "real",
            "files": len(chosen),
            "from": "../shared/datasets",
            "corpora": corpora,
        }
    import soundfile as sf

    from edge_ser.benchmark import speechlike

    rng = np.random.default_rng(seed)
    for i in range(CALIBRATION_FILES):
        sf.write(folder / f"{i:02d}.wav", speechlike(rng.uniform(2.0, 6.0), 16000, rng), 16000)
    why = "requested" if synthetic else "../shared/datasets is absent"
    return {"source": "synthetic", "files": CALIBRATION_FILES, "why": why}


def export_all(
    checkpoint: Path, work: Path, cal_dir: Path, fresh: bool, quick: bool
) -> dict[str, Any]:
    """Export the three modes (cached); return per mode the folder and the export report.

    A quantised mode whose export fails is recorded with its ``error`` and left out of the
    measurements (the fp32 export must work).
    """
    from edge_ser_export import export_model

    out: dict[str, Any] = {}
    for mode in MODES:
        folder = work / f"model_{mode}"
        report = folder / "export_report.json"
        if fresh or not report.is_file() or not (folder / "model.onnx").is_file():
            log(f"exporting {mode} ...")
            t0 = time.perf_counter()
            try:
                _export(export_model, checkpoint, folder, mode, cal_dir, quick)
            except Exception as exc:
                if mode == "none":
                    raise
                log(f"the {mode} export FAILED, left out of the run: {exc}")
                out[mode] = {"error": " ".join(f"{type(exc).__name__}: {exc}".split())}
                continue
            log(f"exported {mode} in {time.perf_counter() - t0:.0f} s")
        else:
            log(f"reusing the {mode} export in {folder}")
        data = json.loads(report.read_text(encoding="utf-8"))
        out[mode] = {
            "folder": str(folder),
            "size_bytes": (folder / "model.onnx").stat().st_size,
            "parity": data.get("parity", {}),
            "audio": data.get("audio", {}),
        }
    return out


def _export(
    export_model: Callable[..., object],
    checkpoint: Path,
    folder: Path,
    mode: str,
    cal_dir: Path,
    quick: bool,
) -> None:
    export_model(
        checkpoint,
        folder,
        quantize=mode,
        calibration=cal_dir if mode == "static" else None,
        parity_audio=None if mode == "static" else cal_dir,
        raw_variant=False,
        max_calibration_windows=4 if quick else 12,
        max_parity_windows=2 if quick else PARITY_WINDOWS,
    )


def exported(exports: dict[str, Any]) -> list[str]:
    """The modes whose export worked, in order."""
    return [m for m in MODES if "folder" in exports[m]]


# -- latency ------------------------------------------------------------------------------


def measure_latencies(
    checkpoint: Path,
    exports: dict[str, Any],
    *,
    threads: Sequence[int],
    windows: int,
    warmup: int,
    block: int,
    seed: int,
) -> dict[str, Any]:
    """Seconds per full window for every variant and thread count, interleaved in blocks."""
    import torch

    from edge_ser.benchmark import latency_inputs
    from edge_ser.model import load_model
    from edge_ser.options import SessionOptions
    from edge_ser.session import build_session

    torch_model = eager_model(checkpoint)
    reference = load_model(Path(exports["none"]["folder"]))
    md = reference.metadata
    inputs = latency_inputs(reference, min(8, windows), seed)
    del reference

    results: dict[str, Any] = {}
    for n in threads:
        torch.set_num_threads(n)
        runners: dict[str, Callable[[FloatArray], object]] = {}

        def run_torch(x: FloatArray) -> object:
            with torch.inference_mode():
                return torch_model(torch.from_numpy(x)[None])

        runners[TORCH] = run_torch
        for mode in exported(exports):
            session = build_session(
                Path(exports[mode]["folder"]) / "model.onnx", SessionOptions(intra_op_threads=n)
            )

            def run_ort(x: FloatArray, s: Any = session) -> object:
                return s.run([md.output_name], {md.input_name: x[None, :]})

            runners[VARIANTS[mode]] = run_ort
        log(f"latency at {n} thread(s): {len(runners)} variants x {windows} windows")
        wall: dict[str, list[float]] = {name: [] for name in runners}
        cpu: dict[str, list[float]] = {name: [] for name in runners}
        for fn in runners.values():
            for i in range(warmup):
                fn(inputs[i % len(inputs)])
        names = list(runners)
        done = 0
        rounds = 0
        while done < windows:
            count = min(block, windows - done)
            # Rotate the order each round: no variant always runs right after another.
            order = names[rounds % len(names) :] + names[: rounds % len(names)]
            for name in order:
                for j in range(count):
                    x = inputs[(done + j) % len(inputs)]
                    c0, t0 = time.process_time(), time.perf_counter()
                    runners[name](x)
                    wall[name].append(time.perf_counter() - t0)
                    cpu[name].append(time.process_time() - c0)
            done += count
            rounds += 1
        results[str(n)] = summarise(wall, cpu)
    return {
        "threads": list(threads),
        "windows": windows,
        "warmup": warmup,
        "block": block,
        "window_s": md.max_window_s,
        "input": "synthetic speech-like, preprocessed without trimming (full windows)",
        "by_threads": results,
    }


def summarise(wall: dict[str, list[float]], cpu: dict[str, list[float]]) -> dict[str, Any]:
    """Median/p90 per variant and speed-ups against ORT fp32 and PyTorch eager (medians)."""
    rows: dict[str, Any] = {}
    for name, ts in wall.items():
        a = np.asarray(ts)
        rows[name] = {
            "median_ms": float(np.median(a) * 1000),
            "p90_ms": float(np.percentile(a, 90) * 1000),
            "min_ms": float(a.min() * 1000),
            "mean_ms": float(a.mean() * 1000),
            "cpu_median_ms": float(np.median(cpu[name]) * 1000),
            "runs": len(ts),
        }
    base, eager = rows[VARIANTS["none"]], rows[TORCH]
    for row in rows.values():
        row["speedup_vs_ort_fp32"] = base["median_ms"] / row["median_ms"]
        row["speedup_vs_torch"] = eager["median_ms"] / row["median_ms"]
        # The same ratios in CPU time, which other processes on a shared machine inflate less.
        row["cpu_speedup_vs_ort_fp32"] = base["cpu_median_ms"] / row["cpu_median_ms"]
        row["cpu_speedup_vs_torch"] = eager["cpu_median_ms"] / row["cpu_median_ms"]
    return rows


# -- cold start and long audio ------------------------------------------------------------


def cold_starts(exports: dict[str, Any], threads: int, runs: int) -> dict[str, Any]:
    from edge_ser.benchmark import measure_cold_start

    out = {}
    for mode in exported(exports):
        log(f"cold start of {VARIANTS[mode]}")
        out[VARIANTS[mode]] = measure_cold_start(exports[mode]["folder"], threads, runs)
    return out


def scaling_run(
    model: str,
    minutes: float,
    work: Path,
    threads: int,
    seed: int,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One voice note of ``minutes`` through the whole runtime, in a fresh process."""
    from edge_ser.benchmark import measure_long_audio, write_voice_note

    notes = work / "notes"
    notes.mkdir(parents=True, exist_ok=True)
    note = notes / f"voice_note_{minutes:g}min_seed{seed}.wav"
    if not note.is_file():
        log(f"writing a {minutes:g}-minute voice note")
        partial = note.with_suffix(".partial.wav")
        write_voice_note(partial, minutes, seed=seed)
        partial.replace(note)
    log(f"long audio: {minutes:g} min")
    result = measure_long_audio(model, note, threads, options=options)
    result["minutes"] = minutes
    return result


# -- reporting ----------------------------------------------------------------------------


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 6 with the measured value and whether it is met.

    The speed-ups are given at every thread count measured: on a shared 2-core machine the
    2-thread figures also carry the cost of competing with other processes for both cores.
    """
    default = VARIANTS[report["default_mode"]]
    rows: list[dict[str, Any]] = []
    for n, by_variant in report["latency"]["by_threads"].items():
        row = by_variant[default]
        rows += [
            {
                "target": f"default int8 >= {TARGET_VS_FP32:g}x faster than ORT fp32 "
                f"({n} thread{'s' if n != '1' else ''}, medians)",
                "measured": round(row["speedup_vs_ort_fp32"], 2),
                "measured_cpu_time": round(row["cpu_speedup_vs_ort_fp32"], 2),
                "met": row["speedup_vs_ort_fp32"] >= TARGET_VS_FP32,
            },
            {
                "target": f"default int8 >= {TARGET_VS_TORCH:g}x faster than PyTorch eager "
                f"({n} thread{'s' if n != '1' else ''}, medians)",
                "measured": round(row["speedup_vs_torch"], 2),
                "measured_cpu_time": round(row["cpu_speedup_vs_torch"], 2),
                "met": row["speedup_vs_torch"] >= TARGET_VS_TORCH,
            },
        ]
    scaling = report["scaling"]
    longest, shortest = scaling[-1], scaling[0]
    growth = longest["peak_rss_mb"] - shortest["peak_rss_mb"]
    worst_rtf = max(s["rtf"] for s in scaling)
    return [
        *rows,
        {
            "target": f"real-time factor <= {TARGET_RTF:g} (worst over the note lengths)",
            "measured": round(worst_rtf, 4),
            "measured_cpu_time": round(max(s["cpu_rtf"] for s in scaling), 4),
            "met": worst_rtf <= TARGET_RTF,
        },
        {
            "target": f"peak memory <= {TARGET_PEAK_MB:g} MB for the "
            f"{longest['minutes']:g}-minute note",
            "measured": round(longest["peak_rss_mb"], 1),
            "met": longest["peak_rss_mb"] <= TARGET_PEAK_MB,
        },
        {
            "target": f"memory flat with length (peak grows <= {FLAT_TOLERANCE_MB:g} MB from "
            f"{shortest['minutes']:g} to {longest['minutes']:g} min)",
            "measured": round(growth, 1),
            "met": growth <= FLAT_TOLERANCE_MB,
        },
    ]


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lat = report["latency"]
    lines = [
        "# edge-ser benchmark results",
        "",
        f"Run {report['finished']} with `{report['command']}`"
        + (" (**quick smoke run: too few windows to trust**)" if report["quick"] else "")
        + ".",
        "",
        f"**Machine:** {m['cpu']} ({', '.join(m['cpu_flags']) or 'no AVX2/VNNI flags'}), "
        f"{m['cores']} logical cores, {m['memory_mb']:.0f} MB RAM, {m['os']}; "
        f"Python {m['python']}, onnxruntime {m['onnxruntime']}, torch {report['torch']}, "
        f"transformers {report['transformers']}. Load average {m['load_average']} at the "
        f"start and {report['load_average_end']} at the end: **the CPU is shared with other "
        "jobs**, so absolute times are noisy; the ratios, taken within this one run with the "
        "variants interleaved, are what to compare. " + _contention(report),
        "",
        f"**Model:** {report['model']['description']} ({report['model']['parameters'] / 1e6:.2f} M "
        f"parameters). Static calibration audio: {_describe_audio(report['calibration'])}. "
        f"Default int8 model (what `edge-ser export` makes with calibration audio): "
        f"`{report['default_mode']}`.",
        "",
        "## Targets",
        "",
        "Met or not is judged on wall time, as specified; the CPU-time column gives the same "
        "figure in CPU seconds, which competing processes inflate less.",
        "",
        "| target | measured | in CPU time | met |",
        "|---|---|---|---|",
    ]
    for t in report["targets"]:
        cpu = t.get("measured_cpu_time", "-")
        met = "yes" if t["met"] else "**no**"
        lines.append(f"| {t['target']} | {t['measured']} | {cpu} | {met} |")
    lines += [
        "",
        f"## Latency per {lat['window_s']:g}-second window",
        "",
        f"Median and p90 over {lat['windows']} windows per variant and thread count, after "
        f"{lat['warmup']} warm-up windows; variants take turns in blocks of {lat['block']}. "
        "Speed-ups are ratios of medians. `cpu ms` is the process CPU time per window (all "
        "threads, spin-waiting included) and `(cpu)` the speed-ups in CPU time.",
        "",
        "| variant | file MB | threads | median ms | p90 ms | cpu ms | vs ORT fp32 (cpu) "
        "| vs PyTorch (cpu) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    sizes = {
        VARIANTS[k]: v["size_bytes"] / 1e6
        for k, v in report["exports"].items()
        if "size_bytes" in v
    }
    for n, rows in lat["by_threads"].items():
        for name, r in rows.items():
            size = f"{sizes[name]:.1f}" if name in sizes else "-"
            lines.append(
                f"| {name} | {size} | {n} | {r['median_ms']:.0f} | {r['p90_ms']:.0f} | "
                f"{r['cpu_median_ms']:.0f} | {r['speedup_vs_ort_fp32']:.2f}x "
                f"({r['cpu_speedup_vs_ort_fp32']:.2f}x) | {r['speedup_vs_torch']:.2f}x "
                f"({r['cpu_speedup_vs_torch']:.2f}x) |"
            )
    lines += [
        "",
        "## Cold start (import edge_ser + session creation, fresh process)",
        "",
        "| variant | median s | import s | session s |",
        "|---|---|---|---|",
    ]
    for name, c in report["cold_start"].items():
        lines.append(
            f"| {name} | {c['cold_start_s']:.2f} | {c['import_s']:.2f} | {c['session_s']:.2f} |"
        )
    lines += [
        "",
        f"## Long audio through the whole runtime ({VARIANTS[report['default_mode']]}, "
        f"{report['scaling_threads']} threads{_options_note(report)})",
        "",
        "Synthetic voice notes (speech-like bursts with pauses, 16 kHz WAV), decoded, "
        "VAD-segmented, windowed, classified and aggregated by `Classifier.classify` in a fresh "
        "process per length. Peak RSS is that process's `VmHWM`.",
        "",
        "| minutes | speech s | windows | wall s | RTF | CPU s | CPU-time RTF "
        "| RSS after load MB | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in report["scaling"]:
        lines.append(
            f"| {s['minutes']:g} | {s['speech_s']:.0f} | {s['windows']} | {s['wall_s']:.1f} | "
            f"{s['rtf']:.4f} | {s['cpu_s']:.1f} | {s['cpu_rtf']:.4f} | "
            f"{s['rss_after_load_mb']:.0f} | {s['peak_rss_mb']:.0f} |"
        )
    first, last = report["scaling"][0], report["scaling"][-1]
    lines += [
        "",
        f"Classifying adds {first['peak_rss_mb'] - first['rss_after_load_mb']:.0f} MB to the "
        f"{first['rss_after_load_mb']:.0f} MB the loaded runtime holds (the activations of one "
        f"window); from {first['minutes']:g} to {last['minutes']:g} minutes the peak moves by "
        f"{last['peak_rss_mb'] - first['peak_rss_mb']:+.1f} MB.",
    ]
    lines += ["", "## Export parity (max |dp| against the reference)", ""]
    for mode, e in report["exports"].items():
        if "error" in e:
            lines.append(f"- {VARIANTS[mode]}: **export failed, not measured**: {e['error']}")
            continue
        parts = [
            f"{k}: {v['max_abs_diff']:.2g} (top-1 {v['top1_agreement']:.0%}, "
            f"{v['windows']} windows)"
            for k, v in e["parity"].items()
        ]
        lines.append(f"- {VARIANTS[mode]}: " + "; ".join(parts))
    if report["model"]["random_weights"]:
        lines += [
            "",
            "Random weights give near-uniform probabilities, so these parity figures only show "
            "that the graphs compute the same function; accuracy is measured on a trained model.",
        ]
    lines += ["", "![latency and scaling](results.png)", ""]
    return "\n".join(lines)


def _options_note(report: dict[str, Any]) -> str:
    options = report.get("runtime_options")
    return f", options {json.dumps(options)}" if options else ""


def _contention(report: dict[str, Any]) -> str:
    """How much of a core the single-thread runs got: CPU time over wall time."""
    rows = report["latency"]["by_threads"].get("1")
    if not rows:
        return ""
    share = float(np.median([r["cpu_median_ms"] / r["median_ms"] for r in rows.values()]))
    return (
        f"During the single-thread latency runs this process got {share:.0%} of a core "
        "(CPU time over wall time)."
    )


def _describe_audio(cal: dict[str, Any]) -> str:
    if cal["source"] == "real":
        return f"real speech, {cal['files']} files from {', '.join(cal['corpora'])}"
    return f"synthetic speech-like audio ({cal['why']})"


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lat = report["latency"]["by_threads"]
    names = list(next(iter(lat.values())))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    ax = axes[0]
    width = 0.8 / len(lat)
    for i, (n, rows) in enumerate(lat.items()):
        xs = np.arange(len(names)) + i * width
        med = [rows[v]["median_ms"] for v in names]
        p90 = [rows[v]["p90_ms"] - rows[v]["median_ms"] for v in names]
        ax.bar(xs, med, width, yerr=[np.zeros(len(names)), p90], capsize=3, label=f"{n} thr")
    ax.set_xticks(np.arange(len(names)) + width * (len(lat) - 1) / 2)
    ax.set_xticklabels([v.replace(" (paper's)", "\n(paper's)") for v in names], fontsize=8)
    ax.set_ylabel(f"ms per {report['latency']['window_s']:g}-s window (median, bar to p90)")
    ax.set_title("Latency per window")
    ax.legend()
    scaling = report["scaling"]
    minutes = [s["minutes"] for s in scaling]
    ax = axes[1]
    ax.plot(minutes, [s["rtf"] for s in scaling], "o-", label="measured")
    ax.axhline(TARGET_RTF, color="tab:red", ls="--", label=f"target {TARGET_RTF:g}")
    ax.set_xlabel("minutes of audio")
    ax.set_ylabel("real-time factor")
    ax.set_ylim(bottom=0)
    ax.set_title("Real-time factor (whole runtime)")
    ax.legend()
    ax = axes[2]
    ax.plot(minutes, [s["peak_rss_mb"] for s in scaling], "o-", label="peak RSS")
    ax.plot(minutes, [s["rss_after_load_mb"] for s in scaling], "s:", label="RSS after load")
    ax.axhline(TARGET_PEAK_MB, color="tab:red", ls="--", label=f"target {TARGET_PEAK_MB:g} MB")
    ax.set_xlabel("minutes of audio")
    ax.set_ylabel("MB")
    ax.set_ylim(bottom=0)
    ax.set_title("Memory against length")
    ax.legend()
    fig.suptitle(
        f"edge-ser, {report['model']['description']} - {report['machine']['cpu']}, "
        f"{report['machine']['cores']} cores (shared), onnxruntime "
        f"{report['machine']['onnxruntime']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- the run ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import torch
    import transformers
    from edge_ser_export import resolve_quantize_mode

    from edge_ser.benchmark import machine_info

    started = time.perf_counter()
    machine = machine_info()
    if args.checkpoint is not None and not args.checkpoint.is_dir():
        print(f"checkpoint folder not found: {args.checkpoint}", file=sys.stderr)
        return 2
    model_key = (
        "ckpt-" + _key(str(args.checkpoint.resolve()), args.checkpoint.stat().st_mtime)
        if args.checkpoint
        else ("tiny" if args.tiny else "distilhubert") + f"-random-seed{args.seed}"
    )
    # Cached exports are only reused by the same exporter code.
    model_key += "-export" + _source_hash(REPO / "export" / "edge_ser_export")
    work = args.work / f"{model_key}{'-quick' if args.quick else ''}"
    if args.fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    settings = [model_key, args.windows, args.warmup, args.block, args.thread_counts,
                args.lengths, args.scaling_threads, args.cold_runs, args.seed,
                args.synthetic_calibration, args.runtime_options]  # fmt: skip
    state = State(work / "state.json", _key(*settings), args.resume)

    if args.checkpoint is None:
        checkpoint = work / "checkpoint"
        if not (checkpoint / "config.json").is_file():
            log("building a random-weight checkpoint")
            build_checkpoint(checkpoint, tiny=args.tiny, seed=args.seed)
        description = (
            "tiny HuBERT (test config), random weights"
            if args.tiny
            else "DistilHuBERT-sized HuBERT, random weights"
        )
    else:
        checkpoint = args.checkpoint
        description = f"checkpoint {args.checkpoint.name}"
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(checkpoint))
    params = _count_parameters(checkpoint)

    cal_dir = work / "calibration"
    cal_info_path = work / "calibration.json"
    if args.fresh or not cal_info_path.is_file():
        shutil.rmtree(cal_dir, ignore_errors=True)
        cal_info = calibration_folder(cal_dir, synthetic=args.synthetic_calibration, seed=args.seed)
        cal_info_path.write_text(json.dumps(cal_info), encoding="utf-8")
    cal_info = json.loads(cal_info_path.read_text(encoding="utf-8"))
    default_mode = resolve_quantize_mode(None, cal_dir)

    exports = export_all(checkpoint, work, cal_dir, args.fresh, args.quick)
    if default_mode not in exported(exports):
        fallback = exported(exports)[-1]
        log(f"the default {default_mode} export failed: using {fallback} in its place")
        default_mode = fallback

    latency = state.get("latency") or state.put(
        "latency",
        measure_latencies(
            checkpoint,
            exports,
            threads=args.thread_counts,
            windows=args.windows,
            warmup=args.warmup,
            block=args.block,
            seed=args.seed,
        ),
    )
    cold = state.get("cold_start") or state.put(
        "cold_start", cold_starts(exports, max(args.thread_counts), args.cold_runs)
    )
    scaling = []
    for minutes in args.lengths:
        stage = f"scaling_{minutes:g}"
        scaling.append(
            state.get(stage)
            or state.put(
                stage,
                scaling_run(
                    exports[default_mode]["folder"],
                    minutes,
                    args.work,
                    args.scaling_threads,
                    args.seed,
                    args.runtime_options,
                ),
            )
        )

    report: dict[str, Any] = {
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(
            [
                "python benchmarks/run_benchmarks.py",
                *map(_portable, sys.argv[1:] if argv is None else argv),
            ]
        ),
        "quick": args.quick,
        "duration_s": round(time.perf_counter() - started, 1),
        "machine": machine,
        "load_average_end": machine_info()["load_average"],
        "cpu_note": "CPU shared with other jobs: compare ratios within this run, not absolute times",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "model": {
            "description": description,
            "random_weights": args.checkpoint is None,
            "parameters": params,
            "config": {
                k: getattr(config, k, None)
                for k in (
                    "num_hidden_layers",
                    "hidden_size",
                    "num_attention_heads",
                    "intermediate_size",
                    "conv_dim",
                    "feat_extract_norm",
                    "classifier_proj_size",
                    "num_labels",
                )
            },
        },
        "calibration": cal_info,
        "default_mode": default_mode,
        "exports": {
            mode: {k: v for k, v in e.items() if k != "folder"} for mode, e in exports.items()
        },
        "latency": latency,
        "cold_start": cold,
        "scaling_threads": args.scaling_threads,
        "scaling": scaling,
    }
    if args.runtime_options:
        report["runtime_options"] = args.runtime_options
    report["targets"] = targets(report)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (args.out / "results.md").write_text(markdown(report), encoding="utf-8")
    plot(report, args.out / "results.png")
    log(f"done in {report['duration_s']:.0f} s: results in {args.out}")
    for t in report["targets"]:
        log(f"  {'met    ' if t['met'] else 'NOT MET'}  {t['target']}: {t['measured']}")
    return 0


def _portable(arg: str) -> str:
    """A command-line argument as the results may show it: an absolute path becomes its
    last component (no build-machine path in a checked-in result)."""
    return Path(arg).name if Path(arg).is_absolute() else arg


def _source_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for f in sorted(folder.glob("*.py")):
        digest.update(f.name.encode() + f.read_bytes())
    return digest.hexdigest()[:8]


def eager_model(checkpoint: Path) -> Any:
    """The checkpoint as PyTorch runs it on raw samples (``[batch, samples] -> logits``, eval
    mode): the model itself for a waveform model, and for Whisper the exporter's own wrapper,
    the log-mel included, as the graph computes it."""
    import torch
    from edge_ser_export.checkpoint import load_checkpoint
    from edge_ser_export.whisper import WhisperClassifierWrapper

    ckpt = load_checkpoint(checkpoint)
    if ckpt.front_end == "log_mel":
        wrapper = WhisperClassifierWrapper.for_checkpoint(ckpt)
        return lambda x: wrapper(x)[1]
    model = ckpt.model.eval()

    def logits(x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = model(input_values=x).logits
        return out

    return logits


def _count_parameters(checkpoint: Path) -> int:
    from transformers import AutoModelForAudioClassification

    model = AutoModelForAudioClassification.from_pretrained(str(checkpoint))
    return int(sum(p.numel() for p in model.parameters()))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
