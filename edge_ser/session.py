"""The one place an ONNX Runtime session is built.

Thread counts, execution providers and the graph optimisation level are set here and
nowhere else. ``.onnx`` and ``.ort`` (ONNX Runtime Mobile format) files both load; ONNX
Runtime recognises the format from the file's content.
"""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort

from .errors import ModelLoadError, OptionsError
from .options import SessionOptions

__all__ = ["build_session"]

logger = logging.getLogger("edge_ser.session")


def _select_providers(requested: tuple[str, ...]) -> list[str]:
    available = ort.get_available_providers()
    chosen = [p for p in requested if p in available]
    if not chosen:
        raise OptionsError(
            f"SessionOptions.providers: none of {list(requested)} is available in this "
            f"onnxruntime build; available: {', '.join(available)}"
        )
    skipped = [p for p in requested if p not in available]
    if skipped:
        logger.info("execution providers not available, skipped: %s", ", ".join(skipped))
    return chosen


def build_session(model: Path | bytes, options: SessionOptions) -> ort.InferenceSession:
    """Create an inference session for a model file (or its bytes).

    Raises:
        ModelLoadError: the file is not a model ONNX Runtime can load.
        OptionsError: none of the requested providers is available.
    """
    so = ort.SessionOptions()
    so.intra_op_num_threads = options.intra_op_threads
    so.inter_op_num_threads = options.inter_op_threads
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Windows come in many lengths; memory patterns are planned per input shape and kept,
    # which added ~110 MB of peak memory on long voice notes (benchmarks/README.md).
    so.enable_mem_pattern = False
    # Idle pool threads sleep instead of spinning: on a shared or loaded CPU a spinning
    # worker burns a core that the other thread needs (measured: 373 against 412 ms wall,
    # 252 against 279 ms CPU per 8-s window at 2 threads); with 1 thread there is no pool.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3  # errors only: the library reports problems itself
    providers = _select_providers(options.providers)
    source = model if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(source, sess_options=so, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types, none shared
        name = "model bytes" if isinstance(model, bytes) else str(model)
        raise ModelLoadError(
            f"ONNX Runtime cannot load {name} (corrupt, truncated or not an .onnx/.ort model): "
            f"{' '.join(str(exc).split())}"
        ) from exc
