"""The one place an ONNX Runtime session is built.

Thread counts, execution providers and the graph optimisation level are set here and
nowhere else. ``.onnx`` and ``.ort`` (ONNX Runtime Mobile format) files both load; ONNX
Runtime recognises the format from the file's content.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import onnxruntime as ort

from .errors import ModelLoadError, OptionsError
from .options import SessionOptions
from .paths import display_name, os_reason

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
    name = "model bytes" if isinstance(model, bytes) else display_name(model)
    source: str | bytes = model if isinstance(model, bytes) else str(model)
    if isinstance(source, str) and not _utf8(source):
        # ONNX Runtime takes the path as UTF-8: a name with other bytes goes in as content.
        try:
            source = Path(source).read_bytes()
        except OSError as exc:
            raise ModelLoadError(f"cannot read {name}: {os_reason(exc)}") from exc
    try:
        return ort.InferenceSession(source, sess_options=so, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types, none shared
        raise ModelLoadError(_why_not_loaded(name, " ".join(str(exc).split()))) from exc


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_MISSING_OP = re.compile(r"(?P<domain>[\w.]*):(?P<op>\w+)\(-?\d+\) is not a registered function/op")
_EXTENSIONS_DOMAIN = "ai.onnx.contrib"


def _why_not_loaded(name: str, message: str) -> str:
    """Say what is missing when ONNX Runtime cannot load a valid graph; else call it corrupt."""
    missing = _MISSING_OP.search(message)
    if missing:
        domain = missing["domain"] or "ai.onnx"
        where = (
            "custom operators of this domain come from onnxruntime-extensions "
            "(pip install onnxruntime-extensions), which the edge-ser runtime does not load; "
            "use model.onnx or model_raw.onnx instead"
            if domain == _EXTENSIONS_DOMAIN
            else "load a model without custom operators, or an onnxruntime build that has it"
        )
        return (
            f"{name} needs the operator {missing['op']} of domain {domain}, which this "
            f"ONNX Runtime ({ort.__version__}) does not provide: {where}"
        )
    if "guarantees* support for models stamped with official released onnx opset" in message:
        opset = re.search(r"Opset (\d+)", message)
        which = f"ONNX opset {opset.group(1)}" if opset else "an ONNX opset"
        return (
            f"{name} uses {which}, newer than this ONNX Runtime ({ort.__version__}) supports: "
            f"upgrade onnxruntime or re-export with an older opset ({message})"
        )
    return (
        f"ONNX Runtime cannot load {name} (corrupt, truncated or not an .onnx/.ort model): "
        f"{message}"
    )
