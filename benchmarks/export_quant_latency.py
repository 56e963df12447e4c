"""Size and latency of fp32 vs dynamic vs static int8 on a DistilHuBERT-sized model.

Everything is measured in one process, with the same threads, on the same 8-second window,
interleaved round-robin (each round runs every variant once), so the ratios are fair even
on a shared, noisy machine. Reported: file size, median and best latency per 8-s window,
speed-up against ORT fp32 and PyTorch eager fp32, and agreement with fp32 on held-out real
speech windows (top-1 agreement, max |dp|, logit error relative to the logit spread).

The "edge-ser" variants are built by the same functions, with the same defaults, that
``edge_ser_export.export_model`` uses; "ORT default" variants are the stock
``quantize_dynamic`` / ``quantize_static`` settings, for reference (docs/PERFORMANCE.md).

Without ``--checkpoint`` the model has random weights (a ``HubertConfig`` shaped like
DistilHuBERT: 2 layers, 768 wide, 12 heads, 3072 FFN, 7x512 group-norm conv encoder, a 256
projection, 4 labels) whose classifier head is then fitted as a linear probe on labelled
RAVDESS speech (actors 1-8): size and speed are meaningful, and agreement with fp32 on
held-out actors 9-12 has real class margins behind it (a random head gives near-uniform,
easily flipped probabilities). It is still a random encoder: rerun with a trained
checkpoint for the accuracy figure that counts.

    python benchmarks/export_quant_latency.py                    # default variants
    python benchmarks/export_quant_latency.py --explore          # + static ablations
    python benchmarks/export_quant_latency.py --checkpoint DIR   # a trained model
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
DATASETS = Path(os.environ.get("EDGE_SER_DATASETS") or REPO.parent / "shared" / "datasets")
WINDOW_S = 8.0
SR = 16000
LABELS = ("anger", "happiness", "neutral", "sadness")
PROBE_COMPONENTS = 16


def distilhubert_checkpoint(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import HubertConfig, HubertForSequenceClassification

    torch.manual_seed(seed)
    config = HubertConfig(  # type: ignore[call-arg]
        num_hidden_layers=2,
        hidden_size=768,
        num_attention_heads=12,
        intermediate_size=3072,
        conv_dim=(512,) * 7,
        feat_extract_norm="group",
        classifier_proj_size=256,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    model = HubertForSequenceClassification(config)
    model.train(False)
    model.save_pretrained(str(folder))
    return folder


def speech_files(seed: int) -> list[Path]:
    if not DATASETS.is_dir():
        sys.exit(f"real speech is needed for calibration and agreement: {DATASETS} is missing")
    from edge_ser_export.speech import find_audio_files

    files = find_audio_files(DATASETS)
    random.Random(seed).shuffle(files)
    return files


# RAVDESS file names: 03-01-EE-II-SS-RR-AA; EE is the emotion (02 calm is not neutral).
_RAVDESS_EMOTIONS = {"01": "neutral", "03": "happiness", "04": "sadness", "05": "anger"}


def ravdess_labelled(actors: range) -> list[tuple[Path, int]]:
    """(file, label index) for the four target classes of the given RAVDESS actors."""
    out = []
    for actor in actors:
        for f in sorted((DATASETS / "ravdess" / f"Actor_{actor:02d}").glob("*.flac")):
            emotion = _RAVDESS_EMOTIONS.get(f.stem.split("-")[2])
            if emotion is not None:
                out.append((f, LABELS.index(emotion)))
    return out


def balanced(items: list[tuple[Path, int]], n: int, seed: int) -> list[tuple[Path, int]]:
    by_label: dict[int, list[tuple[Path, int]]] = {}
    for item in items:
        by_label.setdefault(item[1], []).append(item)
    rng = random.Random(seed)
    for group in by_label.values():
        rng.shuffle(group)
    per = max(1, n // len(by_label))
    return [item for group in by_label.values() for item in group[:per]]


def load_labelled(items: list[tuple[Path, int]]) -> tuple[list[np.ndarray], np.ndarray]:
    from edge_ser.audio import load_audio

    windows = [load_audio(path)[: round(WINDOW_S * SR)] for path, _ in items]
    return windows, np.array([label for _, label in items])


def fit_probe(model: Any, windows: list[np.ndarray], labels: np.ndarray) -> float:
    """Fit the classifier head (a linear probe on the pooled features) by logistic regression.

    A random head gives near-uniform probabilities that any noise flips, so agreement
    figures would mean nothing; a probe fitted on real labelled speech has real margins.
    Returns the probe's training accuracy.
    """
    import torch

    with torch.inference_mode():
        feats = np.stack(
            [
                model.projector(model.hubert(torch.from_numpy(w)[None]).last_hidden_state)
                .mean(dim=1)[0]
                .numpy()
                for w in windows
            ]
        ).astype(np.float64)
    return fit_linear_head(model, feats, labels)


def fit_linear_head(model: Any, feats: np.ndarray, labels: np.ndarray) -> float:
    """Set ``model.classifier`` to a logistic-regression probe on ``feats`` (its inputs, one
    row per window); return the probe's training accuracy."""
    import torch

    # Fit on the top principal components only: a probe free to use the low-variance
    # directions of random features overfits them, and amplifies int8 noise along them,
    # in a way a trained network's head would not.
    mu = feats.mean(axis=0)
    _, sv, vt = np.linalg.svd(feats - mu, full_matrices=False)
    components = vt[:PROBE_COMPONENTS].T  # [features, k]
    scale = sv[:PROBE_COMPONENTS] / np.sqrt(len(feats))
    z = (feats - mu) @ components / scale
    k = len(LABELS)
    w, b = np.zeros((z.shape[1], k)), np.zeros(k)
    onehot = np.eye(k)[labels]
    for _ in range(2000):  # gradient descent on softmax cross-entropy + L2
        logits = z @ w + b
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        grad = (p - onehot) / len(z)
        w -= 0.5 * (z.T @ grad + 1e-2 * w)
        b -= 0.5 * grad.sum(axis=0)
    # Fold projection and scaling into the head: logits = feats @ W + (b - mu @ W).
    full = components @ (w / scale[:, None])
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(full.T).float())
        model.classifier.bias.copy_(torch.from_numpy(b - mu @ full).float())
    return float(np.mean((z @ w + b).argmax(axis=1) == labels))


def eight_second_window(windows: list[np.ndarray]) -> np.ndarray:
    """Real speech, concatenated to exactly 8 s (the latency input)."""
    audio = np.concatenate(windows)
    n = round(WINDOW_S * SR)
    return np.ascontiguousarray(np.tile(audio, -(-n // audio.shape[0]))[:n], dtype=np.float32)


def build_variants(
    fp32: Path, tmp: Path, cal: list[np.ndarray], explore: bool
) -> dict[str, Callable[[], Path]]:
    """name -> a function that writes that variant's optimised .onnx and returns its path."""
    from edge_ser_export.optimize import optimize_model
    from edge_ser_export.quantize import (
        WindowCalibrationReader,
        prepare_for_quantization,
        quantize_dynamic_model,
        quantize_static_model,
    )
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    prepared = prepare_for_quantization(fp32, tmp / "prepared.onnx")  # what export_model uses
    unfused = prepare_for_quantization(fp32, tmp / "prepared_unfused.onnx", fuse=False)

    def reader() -> WindowCalibrationReader:
        return WindowCalibrationReader(cal, "input_values")

    def build(name: str, make: Callable[[Path], Any]) -> Callable[[], Path]:
        def run() -> Path:
            raw = tmp / f"{name}.raw.onnx"
            make(raw)
            return optimize_model(raw, tmp / f"{name}.onnx")

        return run

    variants: dict[str, Callable[[], Path]] = {
        "ORT fp32": lambda: optimize_model(fp32, tmp / "fp32.onnx"),
        "dynamic, ORT default (int8 weights, all ops)": build(
            "dyn_default", lambda o: quantize_dynamic(str(unfused), str(o))
        ),
        "dynamic, edge-ser (uint8 weights)": build(
            "dyn_ours", lambda o: quantize_dynamic_model(prepared, o)
        ),
        "static, ORT default QDQ (all ops, per-channel)": build(
            "st_default",
            lambda o: quantize_static(
                str(unfused),
                str(o),
                reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                weight_type=QuantType.QInt8,
                activation_type=QuantType.QUInt8,
            ),
        ),
        "static, edge-ser": build(
            "st_ours", lambda o: quantize_static_model(prepared, o, reader())
        ),
    }
    if explore:
        variants.update(
            {
                "static, edge-ser, fused after quantising": build(
                    "st_unfused", lambda o: quantize_static_model(unfused, o, reader())
                ),
                "static, edge-ser, QLinearMatMul (quantised MatMul outputs)": build(
                    "st_qlmm",
                    lambda o: quantize_static_model(
                        prepared, o, reader(), matmul_float_output=False
                    ),
                ),
                "static, edge-ser, reduce_range (7-bit weights)": build(
                    "st_rr",
                    lambda o: quantize_static_model(prepared, o, reader(), reduce_range=True),
                ),
                "static, edge-ser, MinMax calibration": build(
                    "st_minmax",
                    lambda o: quantize_static_model(
                        prepared, o, reader(), calibrate_method="minmax"
                    ),
                ),
                "static, edge-ser, per-tensor weights": build(
                    "st_pt",
                    lambda o: quantize_static_model(prepared, o, reader(), per_channel=False),
                ),
                "static, edge-ser, feature-encoder convs fp32": build(
                    "st_fe_fp32",
                    lambda o: quantize_static_model(
                        prepared, o, reader(), extra_exclude=feature_encoder_convs(prepared)
                    ),
                ),
                "static, edge-ser, conv layers 1-3 fp32 (--fp32-conv-layers 3)": build(
                    "st_fp32c3",
                    lambda o: quantize_static_model(prepared, o, reader(), fp32_conv_layers=3),
                ),
                "static, edge-ser, MatMul/Gemm only (convs fp32)": build(
                    "st_mm",
                    lambda o: quantize_static_model(
                        prepared, o, reader(), op_types=("MatMul", "Gemm")
                    ),
                ),
                "static, edge-ser, Conv only (MatMuls fp32)": build(
                    "st_conv",
                    lambda o: quantize_static_model(prepared, o, reader(), op_types=("Conv",)),
                ),
                "static, edge-ser, + Gemm/MatMul activations by activation": build(
                    "st_allmm",
                    lambda o: quantize_static_model(
                        prepared, o, reader(), matmul_const_b_only=False
                    ),
                ),
            }
        )
    return variants


def feature_encoder_convs(model_path: Path) -> list[str]:
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    return [
        n.name for n in model.graph.node if n.op_type == "Conv" and "feature_extractor" in n.name
    ]


def agreement(ref_logits: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    def softmax(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return np.asarray(e / e.sum(axis=1, keepdims=True))

    p_ref, p = softmax(ref_logits), softmax(logits)
    spread = float(np.mean(ref_logits.max(axis=1) - ref_logits.min(axis=1)))
    return {
        "top1_agreement": float(np.mean(p_ref.argmax(1) == p.argmax(1))),
        "max_abs_prob_diff": float(np.abs(p_ref - p).max()),
        "logit_rmse_over_spread": float(np.sqrt(np.mean((ref_logits - logits) ** 2)) / spread),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="a trained checkpoint (default: random)")
    parser.add_argument(
        "--calibration-windows", type=int, default=16, help="8-s windows (as export_model)"
    )
    parser.add_argument(
        "--eval-windows", type=int, default=48, help="labelled RAVDESS windows (actors 9-12)"
    )
    parser.add_argument(
        "--probe-windows",
        type=int,
        default=96,
        help="labelled RAVDESS windows (actors 1-8) to fit the random model's head on "
        "(0: keep the random head; ignored with --checkpoint)",
    )
    parser.add_argument("--runs", type=int, default=8, help="timed rounds (after a warm-up)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--explore", action="store_true", help="also build static ablations")
    parser.add_argument("--only", nargs="*", help="substrings of the variant names to run")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch eager timing")
    parser.add_argument(
        "--no-spin",
        action="store_true",
        help="ORT threads sleep instead of spinning: then CPU seconds per run measure the "
        "work done, which (unlike wall time) other processes on a busy machine do not inflate",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import onnxruntime as ort
    import torch
    from edge_ser_export.onnx_export import export_onnx
    from edge_ser_export.speech import fixed_length_windows, load_windows
    from edge_ser_export.speech import model_input as _prepare
    from transformers import AutoModelForAudioClassification

    from edge_ser.metadata import PreprocessingConfig

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="edge_ser_bench_") as tmp_name:
        tmp = Path(tmp_name)
        ckpt = args.checkpoint or distilhubert_checkpoint(tmp / "ckpt", args.seed)
        model = AutoModelForAudioClassification.from_pretrained(str(ckpt)).eval()
        params = sum(p.numel() for p in model.parameters())

        pre = PreprocessingConfig()
        # Calibration: other corpora; probe fit: RAVDESS actors 1-8; evaluation: actors 9-12.
        files = [f for f in speech_files(args.seed) if "ravdess" not in f.parts]
        n_cal = args.calibration_windows
        cal_raw = load_windows(files, max_windows=64 * n_cal, max_seconds=3.0 * n_cal * WINDOW_S)
        # As export_model does: preprocess, join, cut equal 8-s windows.
        cal = fixed_length_windows(
            [_prepare(w, pre, 400) for w in cal_raw.windows], round(WINDOW_S * SR), n_cal
        )
        eval_raw, eval_labels = load_labelled(
            balanced(ravdess_labelled(range(9, 13)), args.eval_windows, args.seed)
        )
        held_out = [_prepare(w, pre, 400) for w in eval_raw]
        probe_acc = None
        if args.checkpoint is None and args.probe_windows > 0:
            probe_raw, probe_labels = load_labelled(
                balanced(ravdess_labelled(range(1, 9)), args.probe_windows, args.seed)
            )
            probe_acc = fit_probe(model, [_prepare(w, pre, 400) for w in probe_raw], probe_labels)
        x8 = _prepare(eight_second_window(list(eval_raw)), PreprocessingConfig(trim_top_db=0), 400)
        feed = {"input_values": x8[None]}

        fp32 = export_onnx(model, tmp / "fp32_export.onnx")
        variants = build_variants(fp32, tmp, cal, args.explore)
        if args.only:
            keep = {"ORT fp32"} | {n for n in variants if any(s in n for s in args.only)}
            variants = {n: f for n, f in variants.items() if n in keep}

        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        if args.no_spin:
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sessions: dict[str, Any] = {}
        sizes: dict[str, int] = {}
        for name, make in variants.items():
            t0 = time.perf_counter()
            path = make()
            print(f"built {name} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            sizes[name] = path.stat().st_size
            sessions[name] = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

        logits = {
            name: np.stack(
                [s.run(["logits"], {"input_values": w[None]})[0][0] for w in held_out]
            ).astype(np.float64)
            for name, s in sessions.items()
        }

        def torch_run() -> None:
            with torch.inference_mode():
                model(input_values=torch.from_numpy(x8)[None])

        runners: dict[str, Callable[[], Any]] = {
            name: functools.partial(s.run, None, feed) for name, s in sessions.items()
        }
        if not args.no_torch:
            runners["PyTorch eager fp32"] = torch_run
        for run in runners.values():  # warm-up
            run()
        times: dict[str, list[float]] = {name: [] for name in runners}
        cpu: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(args.runs):
            for name, run in runners.items():
                c0, t0 = time.process_time(), time.perf_counter()
                run()
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)

    base = float(np.median(times["ORT fp32"]))
    base_min = float(np.min(times["ORT fp32"]))
    eager = float(np.median(times["PyTorch eager fp32"])) if "PyTorch eager fp32" in times else None
    base_cpu = float(np.median(cpu["ORT fp32"]))
    rows = []
    for name, ts in times.items():
        med, best = float(np.median(ts)), float(np.min(ts))
        row: dict[str, Any] = {
            "variant": name,
            "size_mb": sizes[name] / 1e6 if name in sizes else None,
            "median_s": med,
            "min_s": best,
            "speedup_vs_ort_fp32": base / med,
            "speedup_vs_ort_fp32_best": base_min / best,
            "speedup_vs_torch": (eager / med) if eager else None,
            "cpu_s": float(np.median(cpu[name])),
            "cpu_speedup_vs_ort_fp32": base_cpu / float(np.median(cpu[name])),
        }
        if name in logits:
            row.update(agreement(logits["ORT fp32"], logits[name]))
            row["accuracy"] = float(np.mean(logits[name].argmax(axis=1) == eval_labels))
        rows.append(row)

    head = (
        f", head fitted as a linear probe (train accuracy {probe_acc:.2f})"
        if probe_acc is not None
        else ""
    )
    print(
        f"\nmodel: {'random DistilHuBERT-shaped' if args.checkpoint is None else ckpt}{head} "
        f"({params / 1e6:.1f} M params); {args.threads} threads; one {WINDOW_S:.0f}-s window; "
        f"{args.runs} interleaved rounds; calibration {len(cal)} real windows (not RAVDESS); "
        f"agreement and 4-class accuracy on {len(held_out)} labelled RAVDESS windows of "
        "held-out actors 9-12"
    )
    from edge_ser.benchmark import machine_info

    machine = machine_info(args.threads)
    print(
        f"cpu: {machine['cpu']}, {os.cpu_count()} logical cores, flags "
        f"{', '.join(machine['cpu_flags']) or 'none of avx2/avx512f/avx512_vnni/avx_vnni'}, "
        f"load {machine['load_average']}"
    )
    columns = ("MB", "median", "best", "xORT", "xbest", "xtorch", "cpu_s", "xcpu", "top1")
    widths = (6, 7, 6, 5, 5, 6, 6, 5, 5)
    header = " ".join(f"{c:>{w}s}" for c, w in zip(columns, widths, strict=True))
    print(f"{'variant':62s} {header} {'max|dp|':>7s} {'logit err':>9s} {'acc':>5s}")
    for r in rows:
        size = f"{r['size_mb']:6.1f}" if r["size_mb"] else "     -"
        torch_x = f"{r['speedup_vs_torch']:6.2f}" if r["speedup_vs_torch"] else "     -"
        acc = (
            f"{r['top1_agreement']:5.2f} {r['max_abs_prob_diff']:7.4f} "
            f"{r['logit_rmse_over_spread']:9.4f} {r['accuracy']:5.2f}"
            if "top1_agreement" in r
            else ""
        )
        print(
            f"{r['variant']:62s} {size} {r['median_s']:7.3f} {r['min_s']:6.3f} "
            f"{r['speedup_vs_ort_fp32']:5.2f} {r['speedup_vs_ort_fp32_best']:5.2f} {torch_x} "
            f"{r['cpu_s']:6.3f} {r['cpu_speedup_vs_ort_fp32']:5.2f} {acc}"
        )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
