"""Issue 19's budget: int8 speed against ORT fp32 and PyTorch eager, the int8 compute bound,
and the whole runtime's peak memory on long voice notes.

One run, in one process for the latencies (the variants take turns, one 8-s window each, in
a rotating order, so load from other processes falls on all of them alike):

* **PyTorch eager fp32** and **ORT fp32**: a DistilHuBERT-shaped ``HubertConfig`` with random
  weights (the training toolchain's own ``distilhubert_config``; speed does not depend on
  the weights), exported by the exporter and optimised by ONNX Runtime without the graph
  passes (plain ORT);
* **int8 as shipped**: the bundled ``edge_ser/assets/default.onnx`` (static QDQ);
* **int8 + passes**: the same file through :mod:`edge_ser_export.graph_passes` (what every
  export now gets), also scored against the shipped one on the same windows.

All sessions come from the runtime's ``build_session`` at ``--threads`` (default 1). Inputs are
8-s windows of real speech from ``../shared/datasets`` (files joined, preprocessed without the
silence trim so every window is full length). The compute bound counts the multiply-adds
of one window (printed layer by layer) and divides by the best rate of a large standalone
int8 GEMM (and fp32 GEMM) measured in the same process; the nominal rate (64 int8 or 16 fp32
MACs per cycle per core at the reported clock) is given beside it. The ceilings turn that
bound into the best ratios any int8 kernel could reach here: all multiply-adds at the int8
peak, and as quantised (what the graph keeps in fp32 at the fp32 peak).

Memory: the whole runtime (``Classifier.classify``: decode, VAD, windows, inference) on
synthetic voice notes of ``--minutes`` (default 1, 60 and 180), one fresh process each, with
the rewritten model and the runtime's default options; peak RSS is the process's ``VmHWM``.

    python benchmarks/runtime_budget.py                    # ~30 min on a loaded 2-core VM
    python benchmarks/runtime_budget.py --rounds 4 --minutes 1 --out smoke-results   # smoke run

Results: ``benchmarks/results/runtime_budget.json`` and ``.md`` (``--out``), with the CPU flags.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"
BUNDLED = REPO / "edge_ser" / "assets" / "default.onnx"
DEFAULT_OUT = REPO / "benchmarks" / "results"
WINDOW = 128_000  # 8 s at 16 kHz
TORCH, FP32, SHIPPED, PASSES = (
    "PyTorch eager fp32",
    "ORT fp32",
    "int8 as shipped",
    "int8 + graph passes",
)
# Issue 19's targets.
TARGET_VS_FP32, TARGET_VS_TORCH, TARGET_BOUND, TARGET_PEAK_MB = 3.5, 5.0, 0.80, 150.0
FLAT_TOLERANCE_MB = 10.0
INT8_MACS_PER_CYCLE, FP32_MACS_PER_CYCLE = 64, 16  # Zen 4 / AVX-512 VNNI core, nominal

FloatArray = npt.NDArray[np.float32]


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def speech_windows(count: int, seed: int) -> tuple[list[FloatArray], str]:
    """``count`` 8-s windows of real speech (joined files), or speech-like audio without it."""
    import soundfile as sf

    from edge_ser.audio import AUDIO_EXTENSIONS

    files = sorted(
        p
        for p in SHARED_DATASETS.rglob("*")
        if SHARED_DATASETS.is_dir() and p.suffix.lower() in AUDIO_EXTENSIONS
    )
    if not files:
        from edge_ser.benchmark import speechlike

        return [speechlike(WINDOW / 16000, seed=seed + i) for i in range(count)], "synthetic"
    import soxr

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        parts, total = [], 0
        while total < WINDOW:
            audio, rate = sf.read(str(files[rng.integers(len(files))]), dtype="float32")
            audio = audio.mean(axis=1) if audio.ndim > 1 else audio
            audio = soxr.resample(audio, rate, 16000) if rate != 16000 else audio
            parts.append(audio)
            total += audio.shape[0]
        out.append(np.concatenate(parts)[:WINDOW].astype(np.float32))
    return out, "real speech (../shared/datasets)"


def count_macs(config: Any, samples: int = WINDOW) -> dict[str, float]:
    """Multiply-adds of one window, by part, from the model config."""
    macs: dict[str, float] = {}
    frames, channels = samples, 1
    for i, (dim, k, s) in enumerate(
        zip(config.conv_dim, config.conv_kernel, config.conv_stride, strict=True)
    ):
        frames = (frames - k) // s + 1
        macs[f"conv layer {i} ({channels}->{dim}, k{k}, {frames} frames)"] = (
            dim * channels * k * frames
        )
        channels = dim
    t, h = frames, config.hidden_size
    macs[f"feature projection ({channels}->{h})"] = channels * h * t
    groups, kernel = config.num_conv_pos_embedding_groups, config.num_conv_pos_embeddings
    macs[f"positional conv (k{kernel}, {groups} groups)"] = h * (h // groups) * kernel * t
    per_layer = 4 * h * h * t + 2 * t * t * h + 2 * h * config.intermediate_size * t
    macs[f"transformer ({config.num_hidden_layers} layers, {t} frames)"] = (
        per_layer * config.num_hidden_layers
    )
    proj = getattr(config, "classifier_proj_size", 256)
    macs["projector + classifier"] = h * proj * t + proj * config.num_labels
    return {k: float(v) for k, v in macs.items()}


def whisper_layers(extra: Mapping[str, Any]) -> int | None:
    """The encoder depth of a Whisper-family model from its embedded training record, or
    None for a DistilHuBERT model."""
    if extra.get("architecture") != "WhisperForAudioClassification":
        return None
    model = extra.get("training", {}).get("model", {})
    return int(model.get("encoder_layers") or 6)


def whisper_fp32_exports(
    work: Path, seed: int, layers: int, expected_params: int | None
) -> tuple[Any, Path]:
    """A random-weight Whisper-base-shaped classifier cut to ``layers`` layers (torch: the
    exporter's own wrapper, log-mel included, as the graph computes it) and its plain
    ORT-optimised fp32 graph."""
    import torch
    from edge_ser_export.onnx_export import export_onnx
    from edge_ser_export.optimize import optimize_model
    from edge_ser_export.whisper import WhisperClassifierWrapper, log_mel_config
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForAudioClassification

    torch.manual_seed(seed)
    config = WhisperConfig(
        d_model=512,
        encoder_layers=layers,
        encoder_attention_heads=8,
        encoder_ffn_dim=2048,
        decoder_layers=1,
        num_mel_bins=80,
        num_labels=4,
        use_weighted_layer_sum=True,
        classifier_proj_size=256,
    )
    model = WhisperForAudioClassification(config).eval()
    n_params = sum(p.numel() for p in model.encoder.parameters())
    if expected_params is not None and n_params != expected_params:
        raise SystemExit(
            f"the baseline encoder has {n_params} parameters, the shipped one {expected_params}"
        )
    fe = WhisperFeatureExtractor(feature_size=80)
    wrapper = WhisperClassifierWrapper(
        model, log_mel_config(config, fe, "baseline"), fe.mel_filters
    )
    raw = export_onnx(model, work / "fp32_raw.onnx", wrapper=wrapper)
    return wrapper.eval(), optimize_model(raw, work / "fp32.onnx", passes=False)


def whisper_frames(samples: int = WINDOW) -> tuple[int, int]:
    """Whisper's log-mel frames and encoder positions for ``samples`` (8 s: 800 and 400)."""
    mel_frames = samples // 160
    return mel_frames, -(-mel_frames // 2)


def whisper_parts(layers: int, samples: int = WINDOW) -> dict[str, int]:
    """Multiply-adds of one window of a Whisper-base-shaped classifier cut to ``layers``, by
    part, the transformer's attention products apart from its projections and FFN."""
    mel_frames, t = whisper_frames(samples)
    d, ffn = 512, 2048
    return {
        "log-mel": 402 * 400 * mel_frames + 201 * 80 * mel_frames,
        "conv1": 512 * 80 * 3 * mel_frames,
        "conv2": 512 * 512 * 3 * t,
        "projections and FFN": layers * (4 * d * d * t + 2 * d * ffn * t),
        "attention products": layers * 2 * t * t * d,
        "projector + classifier": d * 256 * t + 256 * 4,
    }


def count_whisper_macs(layers: int, samples: int = WINDOW) -> dict[str, float]:
    """Multiply-adds of one window of a Whisper-base-shaped classifier cut to ``layers``."""
    p = whisper_parts(layers, samples)
    mel_frames, t = whisper_frames(samples)
    return {
        f"log-mel (DFT conv 400 -> 402, mel 201 -> 80, {mel_frames} frames)": float(p["log-mel"]),
        f"conv1 (80->512, k3, {mel_frames} frames)": float(p["conv1"]),
        f"conv2 (512->512, k3 stride 2, {t} frames)": float(p["conv2"]),
        f"transformer ({layers} layers, {t} frames)": float(
            p["projections and FFN"] + p["attention products"]
        ),
        "projector + classifier": float(p["projector + classifier"]),
    }


def fp32_whisper_macs(model_path: Path, layers: int, samples: int = WINDOW) -> dict[str, float]:
    """The multiply-adds that a quantised Whisper graph still runs in fp32, read from the graph:
    the log-mel's DFT conv and mel product (always fp32), conv1 if it is a plain ``Conv``, and
    the attention products if they are plain ``MatMul`` nodes of two activations."""
    import onnx
    from edge_ser_export.quantize import FRONT_END_SCOPE, activation_matmul_nodes

    model = onnx.load(str(model_path), load_external_data=False)
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    fp32 = {
        "log-mel": any(name.startswith(FRONT_END_SCOPE) for name in convs),
        "conv1": any(name.startswith("/conv1/") for name in convs),
        "attention products": bool(activation_matmul_nodes(model)),
    }
    parts = whisper_parts(layers, samples)
    return {key: float(parts[key]) for key, kept in fp32.items() if kept}


def ceilings(
    total_macs: float,
    fp32_macs: float,
    peaks: Mapping[str, float],
    baseline_cpu_ms: Mapping[str, float],
) -> dict[str, Any]:
    """The fastest one window can run on this machine, and the ratios that speed would give.

    ``all_int8``: every multiply-add at the measured int8 GEMM peak (the issue's compute
    bound). ``as_quantised``: the ``fp32_macs`` the graph keeps in fp32 at the fp32 peak, the
    rest at the int8 one. A ratio target above the ``all_int8`` ceiling cannot be met by
    faster kernels; the ceiling is the int8 peak over the baseline's own rate, so a smaller
    network of the same kind has the same one.
    """
    floors = {
        "all_int8": total_macs / (peaks["int8"] * 1e9) * 1000,
        "as_quantised": ((total_macs - fp32_macs) / peaks["int8"] + fp32_macs / peaks["fp32"])
        / 1e9
        * 1000,
    }
    return {
        name: {
            "floor_ms": floor,
            **{f"max_speedup_vs_{k}": ms / floor for k, ms in baseline_cpu_ms.items()},
        }
        for name, floor in floors.items()
    }


def fp32_exports(work: Path, seed: int) -> tuple[Any, Path]:
    """The random-weight DistilHuBERT (torch) and its plain ORT-optimised fp32 graph."""
    import torch
    from edge_ser_export.onnx_export import export_onnx
    from edge_ser_export.optimize import optimize_model
    from edge_ser_train.model import distilhubert_config
    from transformers import HubertForSequenceClassification

    torch.manual_seed(seed)
    labels = ("anger", "happiness", "neutral", "sadness")
    config = distilhubert_config(
        tiny=False,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    model = HubertForSequenceClassification(config).eval()
    raw = export_onnx(model, work / "fp32_raw.onnx")
    return model, optimize_model(raw, work / "fp32.onnx", passes=False)


def gemm_peaks(threads: int, runs: int) -> dict[str, float]:
    """Best GMAC/s (in CPU time) of one large int8 GEMM (MatMulIntegerToFloat) and one fp32
    MatMul, the same shapes."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    m, k, n = 3200, 1024, 1024
    rng = np.random.default_rng(0)
    graphs = {
        "int8": helper.make_graph(
            [
                helper.make_node(
                    "MatMulIntegerToFloat",
                    ["a", "b", "sa", "sb", "za", "zb"],
                    ["y"],
                    domain="com.microsoft",
                )
            ],
            "int8",
            [helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
            [
                numpy_helper.from_array(rng.integers(-127, 128, (k, n)).astype(np.int8), "b"),
                numpy_helper.from_array(np.array(0.01, np.float32), "sa"),
                numpy_helper.from_array(np.full(n, 0.01, np.float32), "sb"),
                numpy_helper.from_array(np.array(128, np.uint8), "za"),
                numpy_helper.from_array(np.zeros(n, np.int8), "zb"),
            ],
        ),
        "fp32": helper.make_graph(
            [helper.make_node("MatMul", ["a", "b"], ["y"])],
            "fp32",
            [helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
            [numpy_helper.from_array(rng.normal(size=(k, n)).astype(np.float32), "b")],
        ),
    }
    inputs = {
        "int8": rng.integers(0, 256, (m, k)).astype(np.uint8),
        "fp32": rng.normal(size=(m, k)).astype(np.float32),
    }
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    best = {}
    for name, graph in graphs.items():
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
        )
        session = ort.InferenceSession(model.SerializeToString(), so, ["CPUExecutionProvider"])
        times = []
        for _ in range(runs):  # CPU time: wall time on a loaded machine measures the others
            t0 = time.process_time()
            session.run(None, {"a": inputs[name]})
            times.append(time.process_time() - t0)
        best[name] = m * k * n / min(times) / 1e9
    return best


def interleaved(
    runners: dict[str, Callable[[FloatArray], object]], inputs: list[FloatArray], rounds: int
) -> dict[str, dict[str, list[float]]]:
    for fn in runners.values():  # warm-up
        fn(inputs[0])
    names = list(runners)
    out: dict[str, dict[str, list[float]]] = {n: {"wall": [], "cpu": []} for n in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            x = inputs[r % len(inputs)]
            c0, t0 = time.process_time(), time.perf_counter()
            runners[name](x)
            out[name]["wall"].append(time.perf_counter() - t0)
            out[name]["cpu"].append(time.process_time() - c0)
    return out


def measure_speed(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import torch
    from edge_ser_export.graph_passes import rewrite_model_file

    from edge_ser.metadata import ModelMetadata
    from edge_ser.model import load_model
    from edge_ser.options import SessionOptions
    from edge_ser.preprocess import preprocess
    from edge_ser.session import build_session

    md: ModelMetadata = load_model(args.model).metadata
    layers = whisper_layers(md.extra)
    if layers is None:
        log("building the fp32 DistilHuBERT (random weights) and its ORT graph")
        torch_model, fp32_path = fp32_exports(work, args.seed)
        macs = count_macs(torch_model.config)
    else:
        log(f"building the fp32 Whisper base cut to {layers} layers (random weights), ORT graph")
        expected = md.extra.get("training", {}).get("model", {}).get("encoder_parameters")
        torch_model, fp32_path = whisper_fp32_exports(work, args.seed, layers, expected)
        macs = count_whisper_macs(layers)
    passes_path = work / "default_passes.onnx"
    report = rewrite_model_file(args.model, passes_path)
    pre = md.preprocessing.__class__(**{**md.preprocessing.__dict__, "trim_top_db": 0.0})
    raw, source = speech_windows(args.windows, args.seed)
    inputs = [preprocess(x, pre) for x in raw]

    torch.set_num_threads(args.threads)
    options = SessionOptions(intra_op_threads=args.threads)
    sessions = {
        FP32: build_session(fp32_path, options),
        SHIPPED: build_session(args.model, options),
        PASSES: build_session(passes_path, options),
    }

    def torch_run(x: FloatArray) -> object:
        with torch.inference_mode():
            if layers is not None:
                return torch_model(torch.from_numpy(x)[None])
            return torch_model(input_values=torch.from_numpy(x)[None]).logits

    def ort_run(session: Any) -> Callable[[FloatArray], object]:
        name = session.get_inputs()[0].name
        return lambda x: session.run(["probabilities"], {name: x[None]})

    runners: dict[str, Callable[[FloatArray], object]] = {TORCH: torch_run}
    runners.update({name: ort_run(s) for name, s in sessions.items()})
    for other in args.compare:  # other models, timed in the same rounds (ratios only)
        runners[f"other: {other.parent.name}/{other.name}"] = ort_run(build_session(other, options))
    # The rewritten graph against the shipped one, on the same windows.
    a = np.concatenate([runners[SHIPPED](x)[0] for x in inputs])  # type: ignore[index]
    b = np.concatenate([runners[PASSES](x)[0] for x in inputs])  # type: ignore[index]
    parity = {
        "windows": len(inputs),
        "max_abs_prob_diff": float(np.abs(a - b).max()),
        "top1_agreement": float(np.mean(a.argmax(1) == b.argmax(1))),
    }
    log(f"latency: {len(runners)} variants x {args.rounds} rounds at {args.threads} thread(s)")
    times = interleaved(runners, inputs, args.rounds)
    log("standalone GEMM peaks")
    peaks = gemm_peaks(args.threads, 12)
    rows: dict[str, Any] = {}
    for name, t in times.items():
        rows[name] = {
            "median_ms": float(np.median(t["wall"]) * 1000),
            "min_ms": float(np.min(t["wall"]) * 1000),
            "p90_ms": float(np.percentile(t["wall"], 90) * 1000),
            "cpu_median_ms": float(np.median(t["cpu"]) * 1000),
            "runs": len(t["wall"]),
        }
    for row in rows.values():
        for key, base in (("ort_fp32", FP32), ("torch", TORCH)):
            row[f"speedup_vs_{key}"] = rows[base]["median_ms"] / row["median_ms"]
            row[f"cpu_speedup_vs_{key}"] = rows[base]["cpu_median_ms"] / row["cpu_median_ms"]
    total = sum(macs.values())
    bound = {}
    for name, kind in ((FP32, "fp32"), (SHIPPED, "int8"), (PASSES, "int8")):
        rate = total / (rows[name]["cpu_median_ms"] / 1000) / 1e9
        bound[name] = {
            "kind": kind,
            "gmacs_per_s": rate,
            "of_measured_gemm_peak": rate / peaks[kind],
            "of_nominal_peak": rate
            / ((INT8_MACS_PER_CYCLE if kind == "int8" else FP32_MACS_PER_CYCLE) * args.threads)
            / ((_cpu_mhz() or float("nan")) / 1000),
        }
    fp32_parts = {} if layers is None else fp32_whisper_macs(args.model, layers)
    ceiling = ceilings(
        total,
        sum(fp32_parts.values()),
        peaks,
        {"ort_fp32": rows[FP32]["cpu_median_ms"], "torch": rows[TORCH]["cpu_median_ms"]},
    )
    return {
        "input": source,
        "model": "DistilHuBERT" if layers is None else f"Whisper base, first {layers} layers",
        "fp32_macs_in_int8_graph": fp32_parts,
        "ceilings": ceiling,
        "threads": args.threads,
        "rounds": args.rounds,
        "passes": report.to_dict(),
        "passes_vs_shipped": parity,
        "latency": rows,
        "macs": macs,
        "total_gmacs": total / 1e9,
        "gemm_peak_gmacs_per_s": peaks,
        "bound": bound,
        "wall_over_cpu": {n: r["median_ms"] / r["cpu_median_ms"] for n, r in rows.items()},
    }


def measure_memory(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    from edge_ser_export.graph_passes import rewrite_model_file

    from edge_ser.benchmark import measure_long_audio, write_voice_note

    model = work / "default_passes.onnx"
    rewrite_model_file(args.model, model)  # always: --work may hold another model's
    out = []
    for minutes in args.minutes:
        note = work / f"note_{minutes:g}min.wav"
        if not note.is_file():
            log(f"writing a {minutes:g}-minute voice note")
            write_voice_note(note, minutes, seed=args.seed)
        log(f"whole runtime on {minutes:g} min")
        result = measure_long_audio(str(model), note, args.memory_threads)
        result["minutes"] = minutes
        out.append(result)
        log(f"  peak {result['peak_rss_mb']:.1f} MB, wall {result['wall_s']:.0f} s")
    return out


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Runtime budget (issue 19)",
        "",
        f"Written {report['created']} by `python benchmarks/runtime_budget.py`; the sections "
        "below say when each was measured. Machine: "
        f"{m['cpu']} ({m['cores']} cores at {report.get('cpu_mhz', '?')} MHz nominal, load "
        f"{m['load_average']} before and {report['machine_after']['load_average']} after), "
        f"CPU flags: **{', '.join(m['cpu_flags']) or 'none of the tracked ones'}**; "
        f"onnxruntime {m['onnxruntime']}, Python {m['python']}.",
        "",
    ]
    s = report.get("speed")
    if s:
        sm = s["machine"]
        lines += [
            f"## Latency per 8-s window, {s['threads']} thread(s), {s['rounds']} interleaved "
            f"rounds ({s['input']})",
            "",
            f"Measured {s['measured']}, load {sm['load_average']}, CPU flags "
            f"{', '.join(sm['cpu_flags'])}.",
            "",
            "| variant | median wall | CPU | vs ORT fp32 (wall / CPU) | vs PyTorch (wall / CPU) |",
            "|---|---|---|---|---|",
        ]
        for name, r in s["latency"].items():
            lines.append(
                f"| {name} | {r['median_ms']:.0f} ms | {r['cpu_median_ms']:.0f} ms | "
                f"{r['speedup_vs_ort_fp32']:.2f}x / {r['cpu_speedup_vs_ort_fp32']:.2f}x | "
                f"{r['speedup_vs_torch']:.2f}x / {r['cpu_speedup_vs_torch']:.2f}x |"
            )
        wall_cpu = ", ".join(f"{k} {v:.2f}" for k, v in s["wall_over_cpu"].items())
        lines += [
            "",
            f"Wall / CPU time (1.0 on an idle core; above it, time lost to other processes): "
            f"{wall_cpu}.",
            "",
            f"The passes ({s['passes']}) against the shipped graph on the same windows: "
            f"largest probability difference {s['passes_vs_shipped']['max_abs_prob_diff']:.2g}, "
            f"top-1 agreement {s['passes_vs_shipped']['top1_agreement']:.3f} "
            f"({s['passes_vs_shipped']['windows']} windows).",
            "",
            f"### Multiply-adds of one window: {s['total_gmacs']:.2f} G",
            "",
            "| part | G MACs |",
            "|---|---|",
        ]
        lines += [f"| {k} | {v / 1e9:.3f} |" for k, v in s["macs"].items()]
        peaks = s["gemm_peak_gmacs_per_s"]
        lines += [
            "",
            f"Standalone GEMM peaks in this run: int8 {peaks['int8']:.0f} GMAC/s, fp32 "
            f"{peaks['fp32']:.0f} GMAC/s (ratio {peaks['int8'] / peaks['fp32']:.2f}; nominal "
            f"{INT8_MACS_PER_CYCLE} and {FP32_MACS_PER_CYCLE} MACs per cycle: ratio 4).",
            "",
            "Rates in CPU time (the model's MACs / its median CPU time per window):",
            "",
            "| variant | GMAC/s | of the measured GEMM peak | of the nominal peak |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {k} ({v['kind']}) | {v['gmacs_per_s']:.0f} | "
            f"{100 * v['of_measured_gemm_peak']:.0f}% | {100 * v['of_nominal_peak']:.0f}% |"
            for k, v in s["bound"].items()
        ]
        c = s.get("ceilings")
        if c:
            kept = ", ".join(
                f"{k} {v / 1e9:.3f} G" for k, v in s.get("fp32_macs_in_int8_graph", {}).items()
            )
            lines += [
                "",
                "### Ceilings: the fastest a window can run here",
                "",
                f"- Every multiply-add at the int8 GEMM peak: {s['total_gmacs']:.2f} G / "
                f"{peaks['int8']:.0f} GMAC/s = **{c['all_int8']['floor_ms']:.1f} ms**. At that "
                f"speed int8 would be {c['all_int8']['max_speedup_vs_ort_fp32']:.2f}x ORT fp32 "
                f"and {c['all_int8']['max_speedup_vs_torch']:.2f}x PyTorch eager (CPU time): "
                "a ratio target above these cannot be met by faster kernels.",
                f"- As quantised (kept in fp32 at the fp32 peak: {kept or 'nothing'}): "
                f"**{c['as_quantised']['floor_ms']:.1f} ms**, "
                f"{c['as_quantised']['max_speedup_vs_ort_fp32']:.2f}x ORT fp32 and "
                f"{c['as_quantised']['max_speedup_vs_torch']:.2f}x PyTorch eager. The rewritten "
                f"int8 graph runs at "
                f"{100 * c['as_quantised']['floor_ms'] / s['latency'][PASSES]['cpu_median_ms']:.0f}%"
                " of this floor (floor / its CPU time).",
            ]
    mem = report.get("memory")
    if mem:
        mm = mem["machine"]
        lines += [
            "",
            "## Whole runtime on voice notes (int8 + graph passes, default options)",
            "",
            f"Measured {mem['measured']}, intra-op threads {mem['threads']} (0: ONNX Runtime's "
            f"choice), load {mm['load_average']}, CPU flags {', '.join(mm['cpu_flags'])}.",
            "",
            "| note | windows | wall | CPU | RSS after load | peak RSS |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['minutes']:g} min | {r['windows']} | {r['wall_s']:.0f} s | {r['cpu_s']:.0f} s"
            f" | {r['rss_after_load_mb']:.0f} MB | {r['peak_rss_mb']:.0f} MB |"
            for r in mem["notes"]
        ]
    lines += ["", "## Against the targets", ""]
    lines += [
        f"- {t['target']}: measured {t['measured']} -> **{'met' if t['met'] else 'not met'}**"
        for t in report["targets"]
    ]
    return "\n".join(lines) + "\n"


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    s = report.get("speed")
    if s:
        r = s["latency"][PASSES]
        for key, goal, label in (
            ("ort_fp32", TARGET_VS_FP32, "int8 >= 3.5x ORT fp32"),
            ("torch", TARGET_VS_TORCH, "int8 >= 5x PyTorch eager"),
        ):
            wall, cpu = r[f"speedup_vs_{key}"], r[f"cpu_speedup_vs_{key}"]
            out.append(
                {
                    "target": f"{label} ({s['threads']} thread)",
                    "measured": f"{wall:.2f}x wall, {cpu:.2f}x CPU",
                    "met": min(wall, cpu) >= goal,
                }
            )
        ceiling = s.get("ceilings", {}).get("all_int8")
        if ceiling:
            for o, key in zip(out, ("ort_fp32", "torch"), strict=True):
                o["measured"] += f" (ceiling here {ceiling[f'max_speedup_vs_{key}']:.2f}x)"
        frac = s["bound"][PASSES]["of_measured_gemm_peak"]
        out.append(
            {
                "target": "int8 >= 80% of the int8 compute bound (CPU time, measured GEMM peak)",
                "measured": f"{100 * frac:.0f}%",
                "met": frac >= TARGET_BOUND,
            }
        )
    mem = report.get("memory")
    if mem:
        peak = max(r["peak_rss_mb"] for r in mem["notes"])
        spread = peak - min(r["peak_rss_mb"] for r in mem["notes"])
        out.append(
            {
                "target": f"peak RSS <= {TARGET_PEAK_MB:.0f} MB on every note",
                "measured": f"{peak:.0f} MB",
                "met": peak <= TARGET_PEAK_MB,
            }
        )
        out.append(
            {
                "target": f"flat with length (spread <= {FLAT_TOLERANCE_MB:.0f} MB)",
                "measured": f"{spread:.1f} MB",
                "met": spread <= FLAT_TOLERANCE_MB,
            }
        )
    return out


def _cpu_mhz() -> float | None:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "cpu MHz":
                return round(float(value), 1)
    except (OSError, ValueError):
        pass
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads for latency")
    parser.add_argument("--rounds", type=int, default=15, help="timed windows per variant")
    parser.add_argument("--windows", type=int, default=4, help="distinct input windows")
    parser.add_argument(
        "--minutes", type=lambda s: [float(v) for v in s.split(",") if v], default=[1, 60, 180]
    )
    parser.add_argument(
        "--memory-threads", type=int, default=0, help="runtime threads for the notes (0: auto)"
    )
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--work", type=Path, default=None, help="cache folder for notes/models")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--model", type=Path, default=BUNDLED, help="int8 model file (default: the bundled default)"
    )
    parser.add_argument(
        "--compare",
        type=Path,
        nargs="*",
        default=[],
        metavar="MODEL",
        help="other model files timed in the same rounds (e.g. a previous default)",
    )
    args = parser.parse_args(argv)
    from edge_ser.benchmark import machine_info

    with tempfile.TemporaryDirectory(prefix="edge_ser_budget_") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        report: dict[str, Any] = {
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_info(args.threads),
            "cpu_mhz": _cpu_mhz(),
        }
        if not args.skip_speed:
            report["speed"] = measure_speed(args, work)
            report["speed"]["measured"] = report["created"]
            report["speed"]["machine"] = report["machine"]
        if not args.skip_memory:
            report["memory"] = {
                "measured": report["created"],
                "machine": report["machine"],
                "threads": args.memory_threads,
                "notes": measure_memory(args, work),
            }
        report["machine_after"] = machine_info(args.threads)
    # A section this run skipped is kept from the report already in --out (each section
    # says when it was measured), so the long notes and the latencies can run separately.
    previous = args.out / "runtime_budget.json"
    if previous.is_file():
        old = json.loads(previous.read_text())
        for key in ("speed", "memory"):
            if key not in report and key in old:
                report[key] = old[key]
    report["targets"] = targets(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "runtime_budget.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "runtime_budget.md").write_text(markdown(report))
    sys.stdout.write(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
