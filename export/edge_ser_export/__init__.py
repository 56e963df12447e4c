"""edge-ser export toolchain: a fine-tuned checkpoint to an optimised (int8) ONNX model.

Needs the ``export`` extra (torch, transformers, onnx, onnxruntime; onnxruntime-extensions
for the optional encoded-audio variant). The runtime never imports this package. Importing
it is cheap: torch is imported inside the functions that need it.

    from edge_ser_export import export_model
    report = export_model("my-checkpoint", "model-dir", calibration="speech/")
    print(report.summary())

Modules, in pipeline order (each step a path-in, path-out function):
:mod:`.checkpoint` (load and validate), :mod:`.onnx_export` (torch -> fp32 ONNX),
:mod:`.quantize` (dynamic / static int8), :mod:`.optimize` (ONNX Runtime offline
optimisation, ORT format), :mod:`.preprocess_graph` (raw-PCM variant),
:mod:`.encoded_graph` (encoded-audio variant), :mod:`.parity` (torch vs ONNX, int8 vs
fp32, latency), :mod:`.metadata_io` and :mod:`.report`; :mod:`.api` runs them in order.
"""

from __future__ import annotations

from .api import ExportReport, export_model, resolve_quantize_mode

__all__ = ["ExportReport", "export_model", "resolve_quantize_mode"]
