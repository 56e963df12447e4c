"""The export report: what was written, how big, how faithful, how fast."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_ser.metadata import ModelMetadata

from .parity import ParityResult

__all__ = ["REPORT_FILENAME", "ExportReport"]

REPORT_FILENAME = "export_report.json"


@dataclass(frozen=True)
class ExportReport:
    """The result of :func:`edge_ser_export.export_model`.

    Attributes:
        out_dir: the model folder (what ``edge-ser classify --model`` takes).
        model_path: ``model.onnx``, the default artifact (quantised per ``quantization``).
        metadata: the metadata embedded in ``model.onnx`` and written to ``edge_ser.json``.
        quantization: ``none``, ``dynamic`` or ``static``.
        raw_model_path: ``model_raw.onnx`` (raw PCM in, preprocessing in-graph), if made.
        encoded_model_path: ``model_encoded.onnx`` (encoded audio bytes in), if made.
        ort_path: ``model.ort`` for ONNX Runtime Mobile, if made.
        raw_ort_path: ``model_raw.ort``, if made.
        operators_config_path: ``model.required_operators.config``, if made.
        report_path: ``export_report.json``.
        sizes: file name -> bytes, for every file written (plus ``fp32 (reference)``).
        parity: comparison name -> :class:`ParityResult` (``torch_vs_onnx_fp32``,
            ``quantized_vs_fp32``, ``raw_vs_model``, ``ort_vs_onnx``, ``raw_ort_vs_raw``, ``encoded_vs_raw``).
        latency: variant -> ``{"median_s", "min_s", "runs"}`` per ``window_s`` window.
        audio: where the parity (and calibration) windows came from.
        front_end_parity: for an in-graph front end (Whisper's log-mel): how far the
            graph's features are from ``WhisperFeatureExtractor``'s on the parity windows.
    """

    out_dir: Path
    model_path: Path
    metadata: ModelMetadata
    quantization: str
    report_path: Path
    raw_model_path: Path | None = None
    encoded_model_path: Path | None = None
    ort_path: Path | None = None
    raw_ort_path: Path | None = None
    operators_config_path: Path | None = None
    sizes: Mapping[str, int] = field(default_factory=dict)
    parity: Mapping[str, ParityResult] = field(default_factory=dict)
    latency: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    audio: Mapping[str, Any] = field(default_factory=dict)
    front_end_parity: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def rel(p: Path | None) -> str | None:
            return None if p is None else p.name

        return {
            "out_dir": str(self.out_dir),
            "quantization": self.quantization,
            "files": {
                "model": rel(self.model_path),
                "raw_model": rel(self.raw_model_path),
                "encoded_model": rel(self.encoded_model_path),
                "ort": rel(self.ort_path),
                "raw_ort": rel(self.raw_ort_path),
                "required_operators": rel(self.operators_config_path),
                "metadata": "edge_ser.json",
            },
            "sizes_bytes": dict(self.sizes),
            "parity": {k: v.to_dict() for k, v in self.parity.items()},
            "latency": {k: dict(v) for k, v in self.latency.items()},
            "audio": dict(self.audio),
            "front_end_parity": dict(self.front_end_parity),
            "metadata": self.metadata.to_dict(),
        }

    def write(self) -> Path:
        self.report_path.write_text(
            json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        return self.report_path

    def summary(self) -> str:
        """A few human-readable lines (what the CLI prints)."""
        mb = 1e6
        lines = [f"exported {self.quantization} model to {self.out_dir}"]
        written = {n: b for n, b in self.sizes.items() if (self.out_dir / n).is_file()}
        lines.append(
            "  files: " + ", ".join(f"{name} {size / mb:.1f} MB" for name, size in written.items())
        )
        reference = {n: b for n, b in self.sizes.items() if n not in written}
        if reference:  # e.g. the fp32 graph: a size to compare with, not a file
            lines.append(
                "  not written, for comparison: "
                + ", ".join(f"{name} {size / mb:.1f} MB" for name, size in reference.items())
            )
        for name, p in self.parity.items():
            lines.append(
                f"  parity {name}: max |dp| {p.max_abs_diff:.2g}, "
                f"top-1 agreement {p.top1_agreement:.1%} over {p.windows} windows"
            )
        if self.front_end_parity:
            fe = self.front_end_parity
            lines.append(
                f"  parity front end (log-mel vs WhisperFeatureExtractor): max |d| "
                f"{fe['max_abs_diff']:.2g} over {fe['windows']} windows "
                f"(tolerance {fe['tolerance']:.2g})"
            )
        for name, lat in self.latency.items():
            lines.append(f"  latency {name}: {lat['median_s'] * 1000:.1f} ms per window")
        src = self.audio.get("parity", {})
        if isinstance(src, Mapping):
            lines.append(f"  parity audio: {src.get('source')} ({src.get('windows')} windows)")
        return "\n".join(lines)
