"""Backbones side by side: DistilHuBERT vs Whisper-base vs Whisper-tiny, fp32 and int8.

Every model is exported by ``edge_ser_export.export_model`` (fp32, dynamic int8 and static
int8) and run by the runtime's own session builder, in one process, with the variants
interleaved round-robin (rotating order) so that load from other jobs on a shared machine
falls on all of them alike. Reported per variant: file size, latency per 8-second window at
1 and 2 intra-op threads (median, with ratios against DistilHuBERT's ORT fp32 measured in the
same run), peak resident memory of a fresh process that loads the model and scores full
windows, and int8 agreement with fp32 on held-out real speech (from the export report).

The models:

* **DistilHuBERT**: random weights in a DistilHuBERT-shaped ``HubertConfig`` (2 layers, 768
  wide, 7x512 group-norm conv encoder), as in ``run_benchmarks.py``;
* **Whisper-base**: the real encoder at ``../shared/models/whisper-base-encoder`` (6 layers,
  d_model 512; fp16 weights loaded as fp32), or ``--whisper-base`` (a folder or hub id);
* **Whisper-tiny**: random weights in Whisper-tiny's encoder shape (4 layers, d_model 384,
  6 heads, FFN 1536, 80 mels).

Each model gets a linear-probe head fitted on labelled RAVDESS speech (actors 1-8) so that
int8 agreement on held-out actors 9-12 has real class margins behind it (a random head's
near-uniform probabilities flip on any noise); accuracy here is a probe's, not a trained
model's. Whisper runs on the window's own length (no 30-s padding), as exported.

    python benchmarks/backbones.py                 # full run, results in benchmarks/results/
    python benchmarks/backbones.py --quick         # smoke run (few windows, no static)
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATASETS = SHARED / "datasets"
WHISPER_BASE = SHARED / "models" / "whisper-base-encoder"
WHISPER_BASE_NAME = "../shared/models/whisper-base-encoder"
LABELS = ("anger", "happiness", "neutral", "sadness")
SR = 16000
WINDOW_S = 8.0
MODELS = ("DistilHuBERT", "Whisper-base", "Whisper-tiny")
MODES = ("none", "dynamic", "static")
MODE_NAMES = {"none": "fp32", "dynamic": "dynamic int8", "static": "static int8"}
BASELINE = "DistilHuBERT fp32"

sys.path.insert(0, str(Path(__file__).resolve().parent))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- checkpoints ---------------------------------------------------------------------------


def whisper_checkpoint(folder: Path, source: str | None, seed: int) -> Path:
    """A ``WhisperForAudioClassification`` with 4 labels: ``source``'s encoder, or random
    weights in Whisper-tiny's shape when ``source`` is None."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForAudioClassification

    torch.manual_seed(seed)
    labels = {"id2label": dict(enumerate(LABELS)), "label2id": {x: i for i, x in enumerate(LABELS)}}
    if source is None:
        config = WhisperConfig(
            d_model=384,
            encoder_layers=4,
            encoder_attention_heads=6,
            encoder_ffn_dim=1536,
            decoder_layers=4,
            decoder_attention_heads=6,
            decoder_ffn_dim=1536,
            num_mel_bins=80,
            num_labels=len(LABELS),
            **labels,
        )
        model = WhisperForAudioClassification(config)
        fe = WhisperFeatureExtractor(feature_size=80)
    else:
        model = WhisperForAudioClassification.from_pretrained(
            source, num_labels=len(LABELS), dtype=torch.float32, **labels
        )
        fe = WhisperFeatureExtractor.from_pretrained(source)
    model.eval()
    model.save_pretrained(str(folder))
    fe.save_pretrained(str(folder))
    return folder


def pooled_features(checkpoint: Path, windows: list[np.ndarray]) -> tuple[Any, np.ndarray]:
    """The loaded model and its classifier inputs (projector output, mean over frames)."""
    import torch
    from edge_ser_export.checkpoint import load_checkpoint
    from edge_ser_export.speech import model_input
    from edge_ser_export.whisper import WhisperClassifierWrapper

    ckpt = load_checkpoint(checkpoint)
    model = ckpt.model
    inputs = [model_input(w, ckpt.preprocessing, ckpt.min_input_samples) for w in windows]
    with torch.inference_mode():
        if ckpt.front_end == "log_mel":
            wrapper = WhisperClassifierWrapper.for_checkpoint(ckpt)
            rows = [wrapper.pooled(torch.from_numpy(x)[None])[0].numpy() for x in inputs]
        else:
            rows = [
                model.projector(model.hubert(torch.from_numpy(x)[None]).last_hidden_state)
                .mean(dim=1)[0]
                .numpy()
                for x in inputs
            ]
    return model, np.stack(rows).astype(np.float64)


def fit_head(checkpoint: Path, windows: list[np.ndarray], labels: np.ndarray) -> float:
    """Fit the classifier as a linear probe (export_quant_latency's recipe) and save it."""
    from export_quant_latency import fit_linear_head

    model, feats = pooled_features(checkpoint, windows)
    accuracy = fit_linear_head(model, feats, labels)
    model.save_pretrained(str(checkpoint))
    return accuracy


# -- audio ---------------------------------------------------------------------------------


def link_files(files: list[Path], folder: Path) -> Path:
    """Symlinks to corpus files (never copies) in a flat folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(files):
        link = folder / f"{i:03d}_{f.name}"
        if not link.exists():
            link.symlink_to(f)
    return folder


def audio_sets(work: Path, seed: int) -> dict[str, Any]:
    """Probe data (RAVDESS 1-8), calibration (RAVDESS 1-8 + other corpora) and parity audio
    (RAVDESS 9-12, held out from both)."""
    from edge_ser_export.speech import find_audio_files
    from export_quant_latency import balanced, load_labelled, ravdess_labelled

    train = balanced(ravdess_labelled(range(1, 9)), 96, seed)
    held_out = [f for f, _ in balanced(ravdess_labelled(range(9, 13)), 48, seed)]
    others = [
        f
        for corpus in ("savee", "tess", "urdu")
        if (DATASETS / corpus).is_dir()
        for f in find_audio_files(DATASETS / corpus)
    ]
    rng = random.Random(seed)
    rng.shuffle(others)
    cal = [f for f, _ in train[:8]] + others[:8]
    windows, labels = load_labelled(train)
    return {
        "probe": (windows, labels),
        "calibration": link_files(cal, work / "calibration"),
        "parity": link_files(held_out, work / "parity"),
        "describe": {
            "probe": f"RAVDESS actors 1-8, {len(train)} clips (balanced)",
            "calibration": f"{len(cal)} files: RAVDESS actors 1-8 and other corpora",
            "parity": f"RAVDESS actors 9-12, {len(held_out)} clips (held out)",
        },
    }


def eight_seconds(files: list[Path]) -> np.ndarray:
    from edge_ser.audio import load_audio

    audio = np.concatenate([load_audio(f) for f in files])
    n = round(WINDOW_S * SR)
    return np.ascontiguousarray(np.tile(audio, -(-n // audio.shape[0]))[:n], dtype=np.float32)


# -- measurements --------------------------------------------------------------------------


def measure_latency(
    folders: dict[str, Path], window: np.ndarray, threads: int, windows: int, block: int = 2
) -> dict[str, dict[str, float]]:
    """Median wall and CPU ms per 8-s window for each model folder, interleaved."""
    import dataclasses

    from edge_ser.model import load_model
    from edge_ser.options import SessionOptions
    from edge_ser.preprocess import preprocess
    from edge_ser.session import build_session

    runners: dict[str, Callable[[], object]] = {}
    for name, folder in folders.items():
        md = load_model(folder).metadata
        x = preprocess(window, dataclasses.replace(md.preprocessing, trim_top_db=0.0))[None]
        session = build_session(folder / "model.onnx", SessionOptions(intra_op_threads=threads))
        runners[name] = functools.partial(session.run, [md.output_name], {md.input_name: x})
    for fn in runners.values():
        fn()
    wall: dict[str, list[float]] = {n: [] for n in runners}
    cpu: dict[str, list[float]] = {n: [] for n in runners}
    names = list(runners)
    rounds = 0
    while len(wall[names[0]]) < windows:
        order = names[rounds % len(names) :] + names[: rounds % len(names)]
        for name in order:
            for _ in range(block):
                c0, t0 = time.process_time(), time.perf_counter()
                runners[name]()
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
        rounds += 1
    return {
        n: {
            "median_ms": float(np.median(wall[n]) * 1000),
            "p90_ms": float(np.percentile(wall[n], 90) * 1000),
            "cpu_median_ms": float(np.median(cpu[n]) * 1000),
            "runs": len(wall[n]),
        }
        for n in names
    }


_MEMORY_CODE = """\
import json, sys
import numpy as np
from edge_ser.benchmark import _peak_rss_mb, _status_mb
from edge_ser.model import load_model
from edge_ser.options import SessionOptions
a = json.loads(sys.argv[1])
model = load_model(a["model"], SessionOptions(intra_op_threads=a["threads"]))
after_load = _status_mb("VmRSS")
rng = np.random.default_rng(0)
windows = [(0.1 * rng.standard_normal(a["samples"])).astype(np.float32) for _ in range(3)]
model.score(windows, batch_size=1)
print(json.dumps({"rss_after_load_mb": after_load, "peak_rss_mb": _peak_rss_mb()}))
"""


def measure_memory(folder: Path, threads: int) -> dict[str, float]:
    """Resident memory of a fresh process: after loading, and its peak over 3 full windows."""
    from edge_ser.benchmark import _run_child

    payload = {"model": str(folder), "threads": threads, "samples": round(WINDOW_S * SR)}
    return _run_child(_MEMORY_CODE, payload, timeout=600)


# -- output --------------------------------------------------------------------------------


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    threads = report["threads"]
    head = "| model | int8 | file | " + " | ".join(
        f"{t} thread{'s' if t > 1 else ''} | vs {BASELINE}" for t in threads
    )
    head += " | peak RSS | int8 top-1 agreement (max abs dp) |"
    lines = [
        "# Backbones side by side (`benchmarks/backbones.py`)",
        "",
        f"**Machine:** {m['cpu']} ({', '.join(m['cpu_flags']) or 'no AVX2/VNNI flags'}), "
        f"{m['usable_cores']} usable cores, load average {m['load_average']} at the start; "
        f"onnxruntime {m['onnxruntime']}, Python {m['python']}. Latency is per 8-s window "
        "(median wall time, the variants interleaved in one process); ratios are against "
        f"{BASELINE} in the same run. Peak RSS: a fresh process that loads the model and "
        "scores three 8-s windows (2 threads).",
        "",
        head,
        "|" + "---|" * (head.count("|") - 1),
    ]
    for name, row in report["variants"].items():
        cells = [row["model"], MODE_NAMES[row["mode"]], f"{row['size_mb']:.1f} MB"]
        for t in threads:
            lat = report["latency"][str(t)][name]
            base = report["latency"][str(t)][BASELINE]["median_ms"]
            cells += [f"{lat['median_ms']:.0f} ms", f"{base / lat['median_ms']:.2f}x"]
        cells.append(f"{row['memory']['peak_rss_mb']:.0f} MB")
        agree = row.get("agreement")
        cells.append(
            "-" if agree is None else f"{agree['top1_agreement']:.1%} ({agree['max_abs_diff']:.3f})"
        )
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Agreement: int8 vs fp32 on {report['audio']['parity']}, with a linear-probe head "
        f"fitted on {report['audio']['probe']} (probe training accuracy: "
        + ", ".join(
            f"{k} {'n/a' if v is None else f'{v:.2f}'}" for k, v in report["probe_accuracy"].items()
        )
        + "). Static int8 calibration: "
        + report["audio"]["calibration"]
        + ".",
        "",
        "DistilHuBERT and Whisper-tiny have random encoder weights (size and speed are "
        "meaningful, accuracy is not); Whisper-base is the real encoder "
        f"(`{WHISPER_BASE_NAME}`). Whisper runs on the window's own length (400 positions "
        "for 8 s), the log-mel front end inside the graph.",
    ]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["variants"])
    threads = report["threads"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    width = 0.8 / len(threads)
    x = np.arange(len(names))
    for i, t in enumerate(threads):
        values = [report["latency"][str(t)][n]["median_ms"] for n in names]
        ax.bar(x + (i - (len(threads) - 1) / 2) * width, values, width, label=f"{t} thread(s)")
    ax.set_xticks(x, [n.replace(" ", "\n", 1) for n in names], fontsize=8)
    ax.set_ylabel("ms per 8-s window (median)")
    ax.set_title("Latency per 8-s window, ONNX Runtime")
    ax.legend()
    sizes = [report["variants"][n]["size_mb"] for n in names]
    peaks = [report["variants"][n]["memory"]["peak_rss_mb"] for n in names]
    ax2.scatter(sizes, peaks)
    for n, s, p in zip(names, sizes, peaks, strict=True):
        ax2.annotate(n, (s, p), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax2.set_xlabel("model file (MB)")
    ax2.set_ylabel("peak RSS (MB)")
    ax2.set_title("Size and peak memory")
    m = report["machine"]
    fig.suptitle(f"{m['cpu']} ({', '.join(m['cpu_flags'])}), load {m['load_average']}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# -- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: temp)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--windows", type=int, default=10, help="timed windows per variant")
    parser.add_argument("--whisper-base", default=str(WHISPER_BASE), help="folder or hub id")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 windows, no static")
    parser.add_argument(
        "--modes", default=",".join(MODES), help="export modes to compare (none,dynamic,static)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not DATASETS.is_dir():
        sys.exit(f"real speech is needed for the probe heads and agreement: {DATASETS} is missing")
    from edge_ser_export import export_model
    from export_quant_latency import distilhubert_checkpoint

    from edge_ser.benchmark import machine_info

    threads = [int(t) for t in args.threads.split(",")]
    windows = 2 if args.quick else args.windows
    modes = ("none", "dynamic") if args.quick else tuple(args.modes.split(","))
    if "none" not in modes or not set(modes) <= set(MODES):
        sys.exit(f"--modes must include 'none' (the baseline) and only {', '.join(MODES)}")
    with tempfile.TemporaryDirectory(prefix="edge_ser_backbones_") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        machine = machine_info()
        audio = audio_sets(work, args.seed)
        makers: dict[str, Callable[[Path], Path]] = {
            "DistilHuBERT": lambda f: distilhubert_checkpoint(f, args.seed),
            "Whisper-base": lambda f: whisper_checkpoint(f, args.whisper_base, args.seed),
            "Whisper-tiny": lambda f: whisper_checkpoint(f, None, args.seed),
        }
        variants: dict[str, dict[str, Any]] = {}
        folders: dict[str, Path] = {}
        probe: dict[str, float | None] = {}
        for model_name, make in makers.items():
            ckpt = work / f"ckpt_{model_name}"
            marker = ckpt / "probe.json"  # --work reuses checkpoints and exports
            exported = all(
                (work / f"model_{model_name}_{m}" / "export_report.json").is_file() for m in modes
            )
            if not marker.is_file() and not (exported and (ckpt / "config.json").is_file()):
                make(ckpt)
                accuracy = fit_head(ckpt, *audio["probe"])
                marker.write_text(json.dumps({"train_accuracy": accuracy}), encoding="utf-8")
            # None: an interrupted run's exports, reused, whose probe accuracy went unrecorded.
            probe[model_name] = (
                json.loads(marker.read_text())["train_accuracy"] if marker.is_file() else None
            )
            for mode in modes:
                name = f"{model_name} {MODE_NAMES[mode]}"
                folder = work / f"model_{model_name}_{mode}"
                if not (folder / "export_report.json").is_file():
                    log(f"exporting {name}")
                    export_model(
                        ckpt,
                        folder,
                        quantize=mode,
                        calibration=audio["calibration"] if mode == "static" else None,
                        parity_audio=audio["parity"],
                        max_parity_windows=48,
                    )
                folders[name] = folder
                report = json.loads((folder / "export_report.json").read_text())
                variants[name] = {
                    "model": model_name,
                    "mode": mode,
                    "size_mb": (folder / "model.onnx").stat().st_size / 1e6,
                    "agreement": report["parity"].get("quantized_vs_fp32"),
                    "torch_vs_onnx_max_abs_diff": report["parity"]["torch_vs_onnx_fp32"][
                        "max_abs_diff"
                    ],
                    "front_end_parity": report.get("front_end_parity") or None,
                    "export_latency_ms": {
                        k: v["median_s"] * 1000 for k, v in report["latency"].items()
                    },
                }
        latency = {}
        for t in threads:
            log(f"latency at {t} thread(s): {len(folders)} variants x {windows} windows")
            latency[str(t)] = measure_latency(
                folders, eight_seconds(sorted(audio["parity"].iterdir())[:6]), t, windows
            )
        for name, folder in folders.items():
            log(f"memory: {name}")
            variants[name]["memory"] = measure_memory(folder, max(threads))
    result = {
        "machine": machine,
        "threads": threads,
        "windows": windows,
        "window_s": WINDOW_S,
        "whisper_base": WHISPER_BASE_NAME
        if Path(args.whisper_base) == WHISPER_BASE
        else args.whisper_base,
        "audio": audio["describe"],
        "probe_accuracy": probe,
        "variants": variants,
        "latency": latency,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "backbones.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / "backbones.md").write_text(markdown(result), encoding="utf-8")
    plot(result, out / "backbones.png")
    log(f"wrote {out / 'backbones.md'}")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
