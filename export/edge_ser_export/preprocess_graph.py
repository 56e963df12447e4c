"""The app-friendly raw-PCM variant: preprocessing as ONNX ops in front of the classifier.

:func:`build_preprocess_model` writes :func:`edge_ser.preprocess.preprocess` as an ONNX graph,
op for op (silence trim on non-overlapping frames with float64 frame power, pre-emphasis
and peak normalisation in float32 with the scale computed in float64), followed by the
runtime's zero-padding to the model's minimum input length. A phone app then feeds raw
16 kHz PCM and needs no DSP code. The graph takes one window, ``waveform [1, samples]``
with ``samples >= 1``.
"""

from __future__ import annotations

from typing import Any

import onnx
from onnx import TensorProto, helper

from edge_ser.metadata import PreprocessingConfig

__all__ = ["RAW_INPUT_NAME", "build_preprocess_model", "compose_raw_model"]

RAW_INPUT_NAME = "waveform"
_P = "edge_ser_pre/"  # prefix for every name in the preprocessing graph
_OUT = _P + "preprocessed"


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, hint: str) -> str:
        self._n += 1
        return f"{_P}{hint}_{self._n}"

    def const(self, hint: str, dtype: int, dims: list[int], values: list[float] | list[int]) -> str:
        name = self.name(hint)
        self.inits.append(helper.make_tensor(name, dtype, dims, values))
        return name

    def i64(self, hint: str, *values: int) -> str:
        return self.const(hint, TensorProto.INT64, [len(values)], list(values))

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs: Any) -> str:
        output = out or self.name(op_type.lower())
        self.nodes.append(
            helper.make_node(op_type, list(inputs), [output], name=self.name(op_type), **attrs)
        )
        return output


def _trim(b: _Builder, x: str, n: str, config: PreprocessingConfig) -> str:
    """Cut leading/trailing frames more than ``top_db`` below the loudest frame (RMS)."""
    frame = config.trim_frame_length
    f = b.i64("frame", frame)
    n_frames = b.op("Div", b.op("Add", n, b.i64("frame_m1", frame - 1)), f)  # ceil(n / frame)
    pad = b.op("Sub", b.op("Mul", n_frames, f), n)
    padded = b.op("Pad", x, b.op("Concat", b.i64("zero", 0), pad, axis=0))
    frames = b.op(
        "Reshape", b.op("Cast", padded, to=TensorProto.DOUBLE), b.op("Concat", n_frames, f, axis=0)
    )
    sums = b.op("ReduceSum", b.op("Mul", frames, frames), b.i64("axis1", 1), keepdims=0)
    # Mean over the real samples only: the last frame may be partial.
    index = b.op(
        "Range",
        b.const("r0", TensorProto.INT64, [], [0]),
        b.op("Reshape", n_frames, b.const("scalar", TensorProto.INT64, [0], [])),
        b.const("r1", TensorProto.INT64, [], [1]),
    )
    counts = b.op("Min", b.op("Sub", n, b.op("Mul", index, f)), f)
    power = b.op("Div", sums, b.op("Cast", counts, to=TensorProto.DOUBLE))
    peak = b.op("ReduceMax", power, keepdims=1)
    threshold = b.op(
        "Mul", peak, b.const("db", TensorProto.DOUBLE, [1], [10.0 ** (-config.trim_top_db / 10.0)])
    )
    # All-zero input keeps its full extent: every frame counts as loud.
    silent = b.op("LessOrEqual", peak, b.const("dzero", TensorProto.DOUBLE, [1], [0.0]))
    loud = b.op("Or", b.op("Greater", power, threshold), silent)
    first = b.op("ReduceMin", b.op("Where", loud, index, n_frames), keepdims=1)
    last = b.op("ReduceMax", b.op("Where", loud, index, b.i64("minus1", -1)), keepdims=1)
    start = b.op("Mul", first, f)
    end = b.op("Min", n, b.op("Mul", b.op("Add", last, b.i64("one", 1)), f))
    return b.op("Slice", x, start, end, b.i64("axis0", 0))


def _pre_emphasis(b: _Builder, x: str, coef: float) -> str:
    """``y[0] = x[0]``, ``y[n] = x[n] - coef * x[n-1]`` in float32."""
    head = b.op("Slice", x, b.i64("s0", 0), b.i64("sm1", -1), b.i64("axis0", 0))
    prev = b.op("Concat", b.const("fzero", TensorProto.FLOAT, [1], [0.0]), head, axis=0)
    scaled = b.op("Mul", prev, b.const("coef", TensorProto.FLOAT, [1], [coef]))
    return b.op("Sub", x, scaled)


def _peak_normalize(b: _Builder, x: str, peak: float) -> str:
    """``x * float32(peak / max|x|)`` when ``max|x| > 1e-8`` (scale computed in float64)."""
    m = b.op("Cast", b.op("ReduceMax", b.op("Abs", x), keepdims=1), to=TensorProto.DOUBLE)
    scale = b.op("Div", b.const("peak", TensorProto.DOUBLE, [1], [peak]), m)
    loud = b.op("Greater", m, b.const("eps", TensorProto.DOUBLE, [1], [1e-8]))
    scale = b.op(
        "Where",
        loud,
        b.op("Cast", scale, to=TensorProto.FLOAT),
        b.const("fone", TensorProto.FLOAT, [1], [1.0]),
    )
    return b.op("Mul", x, scale)


def build_preprocess_model(
    config: PreprocessingConfig,
    *,
    min_samples: int,
    opset: int = 17,
    ir_version: int = onnx.IR_VERSION,
) -> onnx.ModelProto:
    """An ONNX model ``waveform [1, samples] -> preprocessed [1, samples']``.

    ``samples'`` is the trimmed length, zero-padded at the end to ``min_samples``.
    """
    b = _Builder()
    x = b.op("Reshape", RAW_INPUT_NAME, b.i64("flat", -1))
    n = b.op("Shape", x)
    if config.trim_top_db > 0:
        x = _trim(b, x, n, config)
    if config.pre_emphasis != 0.0:
        x = _pre_emphasis(b, x, config.pre_emphasis)
    if config.peak_normalize:
        x = _peak_normalize(b, x, config.peak)
    short = b.op("Sub", b.i64("min_samples", min_samples), b.op("Shape", x))
    pad = b.op("Max", short, b.i64("zero", 0))
    x = b.op("Pad", x, b.op("Concat", b.i64("zero", 0), pad, axis=0))
    b.op("Unsqueeze", x, b.i64("axis0", 0), out=_OUT)
    graph = helper.make_graph(
        b.nodes,
        "edge_ser_preprocess",
        [helper.make_tensor_value_info(RAW_INPUT_NAME, TensorProto.FLOAT, [1, "samples"])],
        [helper.make_tensor_value_info(_OUT, TensorProto.FLOAT, [1, "preprocessed_samples"])],
        initializer=b.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    onnx.checker.check_model(model)
    return model


def compose_raw_model(
    classifier: onnx.ModelProto,
    config: PreprocessingConfig,
    *,
    input_name: str,
    min_samples: int,
) -> onnx.ModelProto:
    """The classifier with the preprocessing graph in front of its ``input_name`` input."""
    opset = next(o.version for o in classifier.opset_import if o.domain in ("", "ai.onnx"))
    pre = build_preprocess_model(
        config, min_samples=min_samples, opset=opset, ir_version=classifier.ir_version
    )
    merged = onnx.compose.merge_models(
        pre,
        classifier,
        io_map=[(_OUT, input_name)],
        producer_name="edge_ser_export",
        producer_version="1",
    )
    return tidy_merged(merged)


def tidy_merged(merged: onnx.ModelProto) -> onnx.ModelProto:
    """Clean up after ``onnx.compose.merge_models``: one opset import per domain (it
    concatenates them) and no metadata (the caller writes the merged model's own)."""
    seen: dict[str, int] = {}
    for entry in merged.opset_import:
        seen[entry.domain] = max(seen.get(entry.domain, 0), entry.version)
    del merged.opset_import[:]
    merged.opset_import.extend(helper.make_opsetid(d, v) for d, v in seen.items())
    del merged.metadata_props[:]
    return merged
