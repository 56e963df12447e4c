"""int8 quantisation with ONNX Runtime: dynamic, and static QDQ calibrated on speech.

Choices, and why (measured by ``benchmarks/export_quant_latency.py``; see also
docs/PERFORMANCE.md):

* Before quantising, ONNX Runtime's extended fusions run on the fp32 graph
  (:func:`prepare_for_quantization`): GELU, LayerNorm and the attention-score MatMul become
  single fp32 nodes. Fused after quantising, the Quantize/Dequantize pairs between their
  pieces stop most GELUs from fusing.
* ``dynamic``: unsigned int8 weights. Dynamic quantisation turns every Conv into a
  ``ConvInteger``; with ORT's default signed weights those run about 2-3x slower than fp32,
  with uint8 weights they run faster. Conv, MatMul and Gemm weights are all quantised, so
  the file is a quarter of fp32 (the convolutions hold over a third of the weights).
* ``static`` (the fast path): QDQ, per-channel int8 weights, uint8 activations,
  percentile calibration on equal-length windows of speech. Only Conv, MatMul and Gemm are quantised; MatMuls only
  where one side is a weight, and with float outputs (``MatMulIntegerToFloat``): quantising
  the elementwise ops, softmax and the activation-by-activation attention products adds
  Quantize/Dequantize work that costs more than it saves.
* Both keep two tiny nodes in fp32: the first convolution (1 input channel: quantising its
  input would reduce the audio itself to 8 bits) and the classifier (so logits are not
  rounded to 256 levels). Together they hold a few thousand weights and negligible compute.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from edge_ser.errors import ExportError

__all__ = [
    "CALIBRATION_METHODS",
    "DEFAULT_CALIBRATION_METHOD",
    "DYNAMIC_OP_TYPES",
    "FRONT_END_SCOPE",
    "QUANTIZE_MODES",
    "STATIC_OP_TYPES",
    "WindowCalibrationReader",
    "activation_matmul_nodes",
    "classifier_nodes",
    "front_end_nodes",
    "leading_conv_nodes",
    "named_nodes",
    "prepare_for_quantization",
    "quantize_dynamic_model",
    "quantize_static_model",
    "waveform_conv_nodes",
]

logger = logging.getLogger("edge_ser.export")

QUANTIZE_MODES = ("none", "dynamic", "static")
DYNAMIC_OP_TYPES = ("Conv", "MatMul", "Gemm")
STATIC_OP_TYPES = ("Conv", "MatMul", "Gemm")
# Percentile (99.999%) rather than MinMax: one outlier frame no longer sets the range of a
# whole tensor. Histogram calibrators need equal-length calibration windows.
DEFAULT_CALIBRATION_METHOD = "percentile"
CALIBRATION_METHODS = ("percentile", "minmax", "entropy")

ProgressFn = Callable[[str, int, int], None]


class WindowCalibrationReader(CalibrationDataReader):  # type: ignore[misc]
    """Feeds preprocessed windows, one per call, as ``{input_name: [1, samples]}``.

    Windows may differ in length: MinMax calibration reduces every tensor to its min and
    max per window, so shapes need not match between windows.
    """

    def __init__(
        self,
        windows: Sequence[npt.NDArray[np.float32]],
        input_name: str,
        progress: ProgressFn | None = None,
    ) -> None:
        self._windows = list(windows)
        self._input_name = input_name
        self._progress = progress
        self._next = 0

    def __len__(self) -> int:
        return len(self._windows)

    def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
        if self._next >= len(self._windows):
            return None
        x = self._windows[self._next]
        self._next += 1
        if self._progress is not None:
            self._progress("calibrate", self._next, len(self._windows))
        return {self._input_name: np.ascontiguousarray(x[None, :], dtype=np.float32)}

    def rewind(self) -> None:
        self._next = 0


@contextlib.contextmanager
def _quiet_ort_quantizer() -> Iterator[None]:
    """Keep the ORT quantiser's chatter out of the caller's output.

    It logs per-tensor INFO lines on the root logger and its histogram calibrators print
    to stdout; the printed lines go to this package's debug log instead.
    """
    root = logging.getLogger()
    level = root.level
    if level < logging.WARNING:
        root.setLevel(logging.WARNING)
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            yield
    finally:
        root.setLevel(level)
        for line in captured.getvalue().splitlines():
            logger.debug("onnxruntime.quantization: %s", line)


def waveform_conv_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of Conv nodes whose weight has a single input channel (the waveform conv)."""
    weights = {init.name: init for init in model.graph.initializer}
    names: list[str] = []
    for node in model.graph.node:
        if node.op_type != "Conv" or len(node.input) < 2 or node.input[1] not in weights:
            continue
        dims = list(weights[node.input[1]].dims)
        if len(dims) >= 2 and dims[1] == 1 and not _is_grouped(node):
            names.append(node.name)
    return names


# Node-name prefix of an in-graph front end (Whisper's log-mel: torch.onnx names nodes by
# module path, and the wrapper's front end is the module ``log_mel``).
FRONT_END_SCOPE = "/log_mel/"


def front_end_nodes(model: onnx.ModelProto) -> list[str]:
    """Nodes of the in-graph log-mel front end: kept in fp32 (its power spectrum spans 10
    decades before the log; 256 levels would flatten it) and it is cheap."""
    return [n.name for n in model.graph.node if n.name.startswith(FRONT_END_SCOPE)]


def leading_conv_nodes(model: onnx.ModelProto, n: int) -> list[str]:
    """Names of the first ``n`` ungrouped Conv nodes in graph order: the conv feature
    encoder's layers, the waveform conv first (the grouped positional conv comes later)."""
    convs = [
        node.name for node in model.graph.node if node.op_type == "Conv" and not _is_grouped(node)
    ]
    return convs[: max(0, n)]


def named_nodes(model: onnx.ModelProto, parts: Sequence[str]) -> list[str]:
    """Conv, MatMul and Gemm nodes whose names contain one of ``parts`` (``keep_fp32``)."""
    return [
        n.name
        for n in model.graph.node
        if n.op_type in ("Conv", "MatMul", "Gemm") and any(p in n.name for p in parts)
    ]


def activation_matmul_nodes(model: onnx.ModelProto) -> list[str]:
    """MatMul nodes with no weight input (attention probabilities x values)."""
    weights = {init.name for init in model.graph.initializer}
    return [
        n.name
        for n in model.graph.node
        if n.op_type == "MatMul" and not any(i in weights for i in n.input)
    ]


def classifier_nodes(model: onnx.ModelProto) -> list[str]:
    """The last Gemm/MatMul before the outputs: the classifier that makes the logits.

    Kept in fp32 so the logits (and probabilities) are not rounded to 256 levels; it
    holds ``labels x projection`` weights, a few KB.
    """
    producers = {o: n for n in model.graph.node for o in n.output}
    seen: set[str] = set()
    stack = [o.name for o in model.graph.output]
    while stack:
        name = stack.pop()
        node = producers.get(name)
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type in ("Gemm", "MatMul"):
            return [node.name]
        stack.extend(node.input)
    return []


def _is_grouped(node: onnx.NodeProto) -> bool:
    return any(a.name == "group" and a.i > 1 for a in node.attribute)


def prepare_for_quantization(src: Path, dst: Path, *, fuse: bool = True) -> Path:
    """Shape inference and graph clean-up that the ORT quantiser expects, then fusions.

    With ``fuse``, ONNX Runtime's extended-level fusions run *before* quantisation: GELU,
    LayerNorm and the attention-score MatMul become single nodes that stay fp32. Fused
    afterwards, the Quantize/Dequantize pairs inserted between their pieces stop seven of
    the eight GELUs of a HuBERT encoder from fusing.
    """
    from .optimize import optimize_model

    shaped = dst.with_name(dst.stem + ".shaped.onnx") if fuse else dst
    # ORT's shape inference writes temporary files (sym_shape_infer_temp.onnx, *.data) into
    # the working directory when it fails (it does on Whisper's graph): run it in dst's folder.
    cwd = os.getcwd()
    os.chdir(dst.resolve().parent)
    try:
        try:
            quant_pre_process(str(src.resolve()), str(shaped.resolve()), skip_symbolic_shape=False)
        except Exception as exc:  # symbolic shape inference can fail on unusual graphs
            logger.warning("symbolic shape inference failed (%s); retrying without it", exc)
            quant_pre_process(str(src.resolve()), str(shaped.resolve()), skip_symbolic_shape=True)
    finally:
        os.chdir(cwd)
    if fuse:
        optimize_model(shaped, dst, level="extended", passes=False)
        shaped.unlink(missing_ok=True)
    return dst


def quantize_dynamic_model(
    src: Path,
    dst: Path,
    *,
    op_types: Iterable[str] = DYNAMIC_OP_TYPES,
    weight_type: str = "uint8",
    keep_waveform_conv: bool = True,
    keep_classifier: bool = True,
    extra_exclude: Sequence[str] = (),
) -> Path:
    """Dynamic int8 quantisation (weights int8 in the file, activations quantised at run time)."""
    model = onnx.load(str(src))
    exclude = list(extra_exclude)
    exclude += waveform_conv_nodes(model) if keep_waveform_conv else []
    if keep_classifier:
        exclude += classifier_nodes(model)
    exclude = list(dict.fromkeys(exclude))
    try:
        with _quiet_ort_quantizer():
            quantize_dynamic(
                model,
                str(dst),
                op_types_to_quantize=list(op_types),
                per_channel=False,
                weight_type=_quant_type(weight_type),
                nodes_to_exclude=exclude,
                extra_options={"MatMulConstBOnly": True},
            )
    except Exception as exc:
        raise ExportError(f"dynamic quantisation failed: {exc}") from exc
    logger.info(
        "dynamic int8 (%s weights, ops %s, kept fp32: %s)", weight_type, list(op_types), exclude
    )
    return dst


def quantize_static_model(
    src: Path,
    dst: Path,
    reader: WindowCalibrationReader,
    *,
    op_types: Iterable[str] = STATIC_OP_TYPES,
    per_channel: bool = True,
    reduce_range: bool = False,
    matmul_const_b_only: bool = True,
    matmul_float_output: bool = True,
    fp32_conv_layers: int = 1,
    keep_classifier: bool = True,
    extra_exclude: Sequence[str] = (),
    calibrate_method: str = DEFAULT_CALIBRATION_METHOD,
) -> Path:
    """Static QDQ quantisation calibrated on ``reader``'s windows.

    ``matmul_float_output`` leaves MatMul outputs unquantised, so ONNX Runtime runs them as
    ``MatMulIntegerToFloat`` (int8 GEMM, float result) rather than ``QLinearMatMul``
    followed by a Dequantize for the float ops (bias, LayerNorm, GELU) that follow.

    ``fp32_conv_layers`` keeps that many leading conv feature-encoder layers in fp32: the
    default 1 is the waveform conv (one input channel: int8 gains little there), 0 quantises
    it too, and more layers agree better with fp32 on models whose class scores are close
    together, at a cost in speed and size.
    """
    if fp32_conv_layers < 0:
        raise ExportError(f"fp32_conv_layers must be >= 0, got {fp32_conv_layers}")
    if len(reader) == 0:
        raise ExportError("static quantisation needs at least one calibration window")
    model = onnx.load(str(src))
    exclude = list(extra_exclude) + leading_conv_nodes(model, fp32_conv_layers)
    if keep_classifier:
        exclude += classifier_nodes(model)
    if matmul_const_b_only:
        exclude += activation_matmul_nodes(model)
    exclude = list(dict.fromkeys(exclude))
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    if calibrate_method not in methods:
        raise ExportError(
            f"calibrate_method must be one of {sorted(methods)}, got {calibrate_method!r}"
        )
    extra: dict[str, Any] = {"MatMulConstBOnly": matmul_const_b_only}
    if matmul_float_output:
        extra["OpTypesToExcludeOutputQuantization"] = ["MatMul"]
    try:
        with _quiet_ort_quantizer():
            quantize_static(
                model,
                str(dst),
                reader,
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=list(op_types),
                per_channel=per_channel,
                reduce_range=reduce_range,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=exclude,
                calibrate_method=methods[calibrate_method],
                extra_options=extra,
            )
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(f"static quantisation failed: {exc}") from exc
    logger.info(
        "static QDQ int8 (per-channel=%s, ops %s, %d calibration windows, kept fp32: %s)",
        per_channel,
        list(op_types),
        len(reader),
        exclude,
    )
    return dst


def _quant_type(name: str) -> QuantType:
    types = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    if name not in types:
        raise ExportError(f"weight_type must be one of {sorted(types)}, got {name!r}")
    return types[name]
