"""edge-ser export toolchain: a fine-tuned checkpoint to an optimised (int8) ONNX model.

Needs the ``export`` extra (torch, transformers, onnx). The runtime never imports this.
Importing this package is cheap: torch is imported inside the functions that need it.
"""

from __future__ import annotations

from .api import ExportReport, export_model

__all__ = ["ExportReport", "export_model"]
