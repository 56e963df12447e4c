"""Offline graph optimisation with ONNX Runtime, and conversion to the ORT format.

The saved ``.onnx`` is optimised at the *extended* level: constant folding, redundant-node
elimination and the fusions of the CPU provider (GELU, LayerNorm, attention pieces, QDQ to
QLinear ops). It stops short of the *layout* level, whose NCHWc transform produces an
x86-only graph, so the same file runs on ARM phones. Then the graph passes of
:mod:`.graph_passes` run on the result (group-norm folding, the conv encoder in slices of
time): exact rewrites that lower the peak memory and speed up the ops around the convs.

The ``.ort`` file for ONNX Runtime Mobile is made by ORT's own converter with the ARM target
(which also excludes the NCHWc transform), plus the ``required_operators.config`` that a
reduced-operator build of ONNX Runtime takes.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import onnxruntime as ort

from edge_ser.errors import ExportError

__all__ = ["OPTIMIZATION_LEVELS", "convert_to_ort", "optimize_model"]

logger = logging.getLogger("edge_ser.export")

OPTIMIZATION_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
}


def optimize_model(src: Path, dst: Path, level: str = "extended", *, passes: bool = True) -> Path:
    """Run ORT's graph optimisations on ``src`` and save the optimised graph as ``dst``.

    With ``passes`` (the default for every exported graph), the rewrites of
    :func:`~edge_ser_export.graph_passes.apply_graph_passes` follow; graphs that go on to the
    quantiser are optimised without them.
    """
    if level not in OPTIMIZATION_LEVELS:
        raise ExportError(
            f"optimisation level must be one of {sorted(OPTIMIZATION_LEVELS)}, got {level!r} "
            "(the 'all' level bakes in x86-only layouts)"
        )
    so = ort.SessionOptions()
    so.graph_optimization_level = OPTIMIZATION_LEVELS[level]
    so.optimized_model_filepath = str(dst)
    so.log_severity_level = 3
    try:
        ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types
        raise ExportError(f"ONNX Runtime cannot optimise {src.name}: {exc}") from exc
    logger.info("optimised %s at level %s -> %s", src.name, level, dst)
    if passes:
        from .graph_passes import rewrite_model_file

        rewrite_model_file(dst, dst)
    return dst


def convert_to_ort(model_path: Path) -> tuple[Path, Path]:
    """Write ``<name>.ort`` and ``<name>.required_operators.config`` beside ``model_path``.

    Uses the Fixed optimisation style (optimisations baked into the file, what the CPU and
    XNNPACK providers on a phone want) and the ARM target platform.
    """
    from onnxruntime.tools.convert_onnx_models_to_ort import (
        OptimizationStyle,
        convert_onnx_models_to_ort,
    )

    log = io.StringIO()
    # The converter's helper logs each config it writes at INFO on its own handler.
    helper_logger = logging.getLogger("ort_format_model.utils")
    old_level = helper_logger.level
    helper_logger.setLevel(logging.WARNING)
    try:
        # The converter reports on stdout; keep it out of the caller's output.
        with contextlib.redirect_stdout(log):
            convert_onnx_models_to_ort(
                model_path,
                optimization_styles=[OptimizationStyle.Fixed],
                target_platform="arm",
            )
    except Exception as exc:
        raise ExportError(f"ORT-format conversion of {model_path.name} failed: {exc}") from exc
    finally:
        helper_logger.setLevel(old_level)
        for line in log.getvalue().splitlines():
            logger.debug("convert_onnx_models_to_ort: %s", line)
    ort_path = model_path.with_suffix(".ort")
    config_path = model_path.with_suffix(".required_operators.config")
    if not ort_path.is_file() or not config_path.is_file():
        raise ExportError(f"ORT-format conversion of {model_path.name} wrote no {ort_path.name}")
    return ort_path, config_path
