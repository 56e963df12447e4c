"""``edge-ser export``: a fine-tuned checkpoint to a model folder for ``edge-ser classify``.

Cheap to import: torch and the toolchain load inside :func:`run`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint",
        metavar="CHECKPOINT",
        help="a save_pretrained folder or hub id of a HuBERT/DistilHuBERT, wav2vec2 or WavLM "
        "audio-classification model, or the output folder of `edge-ser train`; or 'bundled': "
        "the bundled default model as it is, with its raw-PCM variant and (--ort) the files "
        "for ONNX Runtime Mobile",
    )
    parser.add_argument(
        "--out", "-o", required=True, type=Path, metavar="DIR", help="the model folder to write"
    )
    parser.add_argument(
        "--quantize",
        choices=("dynamic", "static", "none"),
        default=None,
        help="int8 mode (default: static with --calibration, else dynamic; none = fp32)",
    )
    parser.add_argument(
        "--calibration",
        type=Path,
        metavar="AUDIO_DIR",
        help="speech recordings for static calibration (files held out from calibration are "
        "used for the parity checks)",
    )
    parser.add_argument(
        "--parity-audio",
        type=Path,
        metavar="AUDIO_DIR",
        help="speech for the parity checks (default: held-out calibration files, else "
        "synthetic speech-like audio)",
    )
    parser.add_argument(
        "--ort",
        action="store_true",
        help="also write .ort files and required-operators configs for ONNX Runtime Mobile",
    )
    parser.add_argument(
        "--no-raw-variant",
        dest="raw_variant",
        action="store_false",
        help="do not write model_raw.onnx (raw 16 kHz PCM in, preprocessing in-graph)",
    )
    parser.add_argument(
        "--encoded-variant",
        action="store_true",
        help="also write model_encoded.onnx: takes a whole WAV/FLAC/MP3 file as bytes and "
        "decodes it in-graph (needs onnxruntime-extensions where it runs)",
    )
    parser.add_argument(
        "--max-calibration-windows",
        type=int,
        default=16,
        metavar="N",
        help="calibration windows (8 s of speech each) to use at most (default: %(default)s)",
    )
    parser.add_argument(
        "--fp32-conv-layers",
        type=int,
        default=1,
        metavar="N",
        help="static int8: leading conv feature-encoder layers kept in fp32 (default: "
        "%(default)s, the waveform conv); 3 agrees better with fp32, slower and larger",
    )
    parser.add_argument(
        "--calibration-method",
        choices=("percentile", "minmax", "entropy"),
        default="percentile",
        help="static int8: how activation ranges are calibrated (default: %(default)s, "
        "99.999%%: one outlier frame does not set a tensor's range)",
    )
    parser.add_argument(
        "--keep-fp32",
        nargs="+",
        default=[],
        metavar="NAME",
        help="keep the Conv/MatMul/Gemm nodes whose names contain NAME in fp32, e.g. fc2 "
        "(the FFN output projections, the layers most sensitive to int8)",
    )
    parser.add_argument(
        "--quantize-attention",
        action="store_true",
        help="static int8: also quantise the attention products (MatMuls of two activations)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=None,
        metavar="P",
        help="largest accepted torch vs ONNX probability difference (default: 1e-3)",
    )


class _Progress:
    """Calibration progress on one rewritten stderr line; other stages as plain lines."""

    def __init__(self) -> None:
        self._last = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == "calibrate":
            end = "\n" if done == total else ""
            print(f"\rcalibrating: {done}/{total} windows", end=end, file=sys.stderr, flush=True)
        elif done == 0 and stage != self._last:
            print(f"{stage}...", file=sys.stderr, flush=True)
        self._last = stage


def run(args: argparse.Namespace) -> int:
    if args.checkpoint == "bundled":  # a folder of that name: pass ./bundled
        from .bundled import export_bundled

        done = export_bundled(args.out, ort=args.ort, raw_variant=args.raw_variant)
        print(done.summary())
        return 0
    from .api import export_model

    try:  # transformers' per-shard progress bars add nothing to ours
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    except ImportError:
        pass  # export_model reports the missing toolchain

    report = export_model(
        args.checkpoint,
        args.out,
        quantize=args.quantize,
        calibration=args.calibration,
        ort=args.ort,
        raw_variant=args.raw_variant,
        encoded_variant=args.encoded_variant,
        parity_audio=args.parity_audio,
        tolerance=args.tolerance,
        max_calibration_windows=args.max_calibration_windows,
        fp32_conv_layers=args.fp32_conv_layers,
        calibration_method=args.calibration_method,
        keep_fp32=tuple(args.keep_fp32),
        quantize_attention=args.quantize_attention,
        progress=_Progress(),
    )
    print(report.summary())
    return 0
