"""Which part of the model makes static int8 disagree with fp32?

Exports one checkpoint several times through the real export path (``export_model``), each
time keeping a different set of nodes in fp32, and prints the top-1 agreement and the
probability differences of each int8 model against an fp32 export, on every third file of the
given audio folders (each file's first 8 s, preprocessed as the runtime does).

    python benchmarks/int8_sensitivity.py CHECKPOINT FP32_EXPORT_DIR CALIBRATION_DIR OUT_DIR \
        AUDIO_DIR [AUDIO_DIR ...]

Variants: ``all`` (the shipped recipe), ``conv-only`` (int8 convs, fp32 MatMul/Gemm),
``matmul-only`` (int8 MatMul/Gemm, fp32 convs), and ``all-minmax`` (MinMax calibration).
The model card of the bundled model reports what this printed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import onnx
import onnxruntime as ort
from edge_ser_export import quantize
from edge_ser_export.api import export_model
from edge_ser_export.speech import model_input

from edge_ser.audio import AUDIO_EXTENSIONS, load_audio
from edge_ser.metadata import PreprocessingConfig

VARIANTS: dict[str, tuple[str, str]] = {  # name: (node kind kept fp32, calibration method)
    "all": ("", "percentile"),
    "conv-only": ("MatMul,Gemm", "percentile"),
    "matmul-only": ("Conv", "percentile"),
    "all-minmax": ("", "minmax"),
}


def probabilities(model: Path, inputs: list[np.ndarray]) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    logits = np.stack([session.run(None, {name: x[None]})[0][0] for x in inputs])
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def with_fp32_kinds(kinds: str, method: str) -> Callable[..., Any]:
    original = quantize.quantize_static_model

    def patched(src: Path, dst: Path, reader: Any, **kwargs: Any) -> Path:
        graph = onnx.load(str(src)).graph
        keep = [n.name for n in graph.node if kinds and n.op_type in kinds.split(",")]
        kwargs.update(calibrate_method=method, extra_exclude=keep)
        return original(src, dst, reader, **kwargs)

    return patched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="the checkpoint folder that was exported")
    parser.add_argument("fp32", help="its fp32 export folder (edge-ser export --quantize none)")
    parser.add_argument("calibration", help="the calibration audio folder of the int8 export")
    parser.add_argument("out", help="folder for the int8 variants")
    parser.add_argument("audio", nargs="+", help="folders of real speech")
    args = parser.parse_args()
    files = sorted(
        p for d in args.audio for p in Path(d).rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS
    )[::3]
    config = PreprocessingConfig()
    inputs = [
        model_input(load_audio(f, target_rate=16000)[: 8 * 16000], config, 400) for f in files
    ]
    reference = probabilities(Path(args.fp32) / "model.onnx", inputs)
    results: dict[str, dict[str, float]] = {}
    for name, (kinds, method) in VARIANTS.items():
        out = Path(args.out) / name
        with mock.patch.object(quantize, "quantize_static_model", with_fp32_kinds(kinds, method)):
            export_model(
                args.checkpoint,
                out,
                quantize="static",
                calibration=args.calibration,
                raw_variant=False,
            )
        p = probabilities(out / "model.onnx", inputs)
        results[name] = {
            "top1_agreement": float((p.argmax(1) == reference.argmax(1)).mean()),
            "max_abs_diff": float(np.abs(p - reference).max()),
            "mean_abs_diff": float(np.abs(p - reference).mean()),
        }
        print(name, results[name], flush=True)
    print(json.dumps({"files": len(files), "results": results}, indent=2))


if __name__ == "__main__":
    main()
