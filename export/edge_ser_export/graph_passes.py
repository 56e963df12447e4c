"""ONNX-in, ONNX-out rewrites of an exported graph, for speed and memory (issue 19).

They run on the graph after ONNX Runtime's extended optimisation (so GELU is one ``Gelu``
node) and change no arithmetic beyond float rounding, so they apply to every export
(``edge-ser export`` runs them in :func:`~edge_ser_export.optimize.optimize_model`) and to a
model that was exported before they existed (:func:`rewrite_model_file`, or
``python -m edge_ser_export.graph_passes IN OUT``). Each pass looks for its pattern and
leaves a graph without it untouched.

* :func:`fold_group_norm_affine`: the conv encoder's first layer normalises each of its 512
  channels over time with a ``GroupNorm(512, 512)``, exported as Reshape ->
  InstanceNormalization (scale 1, bias 0) -> Reshape -> Mul(gamma) -> Add(beta). Gamma and
  beta go into InstanceNormalization's own scale and bias, and the Reshapes (identities when
  groups == channels) and the two full-size elementwise passes disappear.
* :func:`chunk_conv_encoder`: the waveform conv, its norm and GELU (and the quantisation
  after it) make the largest tensors of the model: 512 channels x 25,600 frames x 4 bytes =
  52 MB each for an 8-s window, and the next layers' are a half, a quarter... The norm's
  per-channel mean and variance are computed first, cheaply and exactly, from the waveform
  itself: a conv output is ``w . p_t`` for the window's patches ``p_t`` (10 samples each), so
  its mean is ``w . mean(p)`` and its variance ``w^T cov(p) w``, with ``cov(p)`` a 10 x 10
  matrix. The whole conv encoder then runs in a ``Loop``, one slice of its output frames per
  iteration, each from the samples it depends on (slices overlap by the receptive field, so
  the result is exact), and only the slices' outputs are joined. The loop body holds each
  layer once, so ONNX Runtime pre-packs each weight once.
* :func:`chunk_dequantize_gelu_quantize`: between two quantised convs the graph runs
  DequantizeLinear -> Gelu -> QuantizeLinear, with two float tensors four times the size of
  the uint8 ones; on long tensors it now runs slice by slice along time (exact: the ops are
  elementwise).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge_ser.errors import EdgeSerError, ExportError

__all__ = [
    "DEFAULT_CHUNKS",
    "PassReport",
    "apply_graph_passes",
    "chunk_conv_encoder",
    "chunk_dequantize_gelu_quantize",
    "fold_group_norm_affine",
    "fuse_attention",
    "rewrite_model_file",
]

logger = logging.getLogger("edge_ser.export")

DEFAULT_CHUNKS = 8
"""Slices of the time axis: an 8-s window's 25,600 first-layer frames in slices of 3,200
(6.6 MB per float tensor). 8, 16 and 32 measured within a few percent of each other in speed
and peak memory; the loop's own overhead grows with the count."""

DEFAULT_CHUNKED_LAYERS = 64
"""Conv layers after the waveform conv that run inside the slices: by default all of them
(the encoder's output, 512 x 399 floats for 8 s, is the only tensor joined)."""

# Chunk only tensors of the conv encoder's early layers: Gelu chains whose input comes from a
# QLinearConv with a stride (the positional conv and the transformer are left alone).
_PREFIX = "edge_ser_pass/"


@dataclass(frozen=True)
class PassReport:
    """What the passes changed: the number of patterns rewritten by each."""

    folded_group_norms: int
    chunked_conv_encoders: int
    chunked_gelus: int
    fused_attentions: int

    def to_dict(self) -> dict[str, int]:
        return {
            "folded_group_norms": self.folded_group_norms,
            "chunked_conv_encoders": self.chunked_conv_encoders,
            "chunked_gelus": self.chunked_gelus,
            "fused_attentions": self.fused_attentions,
        }


class _Graph:
    """Index of a graph's producers, consumers and constants, with a builder for new nodes."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.graph = model.graph
        self.opset = next(
            (o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17
        )
        self._n = 0
        self.reindex()
        self._taken = {i.name for i in self.graph.initializer} | {
            name for n in self.graph.node for name in (n.name, *n.output)
        }

    def reindex(self) -> None:
        self.inits = {i.name: i for i in self.graph.initializer}
        self.producer: dict[str, onnx.NodeProto] = {}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in self.graph.node:
            for o in node.output:
                self.producer[o] = node
            for i in node.input:
                self.consumers.setdefault(i, []).append(node)
        self.graph_outputs = {o.name for o in self.graph.output}

    def const(self, name: str) -> np.ndarray[Any, Any] | None:
        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        node = self.producer.get(name)
        if node is not None and node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    return numpy_helper.to_array(a.t)
        return None

    def only_consumer(self, name: str) -> onnx.NodeProto | None:
        users = self.consumers.get(name, [])
        if len(users) != 1 or name in self.graph_outputs:
            return None
        return users[0]

    def fresh(self, hint: str) -> str:
        while True:
            self._n += 1
            name = f"{_PREFIX}{hint}_{self._n}"
            if name not in self._taken:
                self._taken.add(name)
                return name

    def add_const(self, hint: str, value: np.ndarray[Any, Any]) -> str:
        name = self.fresh(hint)
        self.graph.initializer.append(numpy_helper.from_array(value, name))
        return name

    def i64(self, hint: str, *values: int) -> str:
        return self.add_const(hint, np.array(values, dtype=np.int64))

    def node(
        self,
        out: list[onnx.NodeProto],
        op_type: str,
        inputs: Sequence[str],
        *,
        output: str | None = None,
        domain: str = "",
        **attrs: Any,
    ) -> str:
        result = output or self.fresh(op_type.lower())
        out.append(
            helper.make_node(
                op_type,
                list(inputs),
                [result],
                name=self.fresh(op_type),
                domain=domain,
                **attrs,
            )
        )
        return result

    def reduce(self, out: list[onnx.NodeProto], op_type: str, x: str, axes: Sequence[int]) -> str:
        """ReduceMean/ReduceSum with keepdims, in the form this opset wants."""
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.node(out, op_type, [x, self.i64("axes", *axes)], keepdims=1)
        return self.node(out, op_type, [x], axes=list(axes), keepdims=1)

    def replace(
        self, remove: Sequence[onnx.NodeProto], new: Sequence[onnx.NodeProto], at: onnx.NodeProto
    ) -> None:
        """Swap ``remove`` for ``new``, inserted where ``at`` stood (keeps a topological order
        as long as ``new`` only reads tensors produced before ``at``)."""
        nodes = list(self.graph.node)
        index = nodes.index(at)
        drop = {id(n) for n in remove}
        kept = [n for n in nodes[:index] if id(n) not in drop]
        kept += list(new)
        kept += [n for n in nodes[index:] if id(n) not in drop]
        del self.graph.node[:]
        self.graph.node.extend(kept)
        self.reindex()


def _attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _is_scalar_const(g: _Graph, name: str) -> bool:
    value = g.const(name)
    return value is not None and value.size == 1


def _group_norm_chain(
    g: _Graph, conv: onnx.NodeProto
) -> tuple[list[onnx.NodeProto], onnx.NodeProto, str] | None:
    """After a Conv: [Reshape] -> InstanceNormalization -> [Reshape] -> Mul -> Add, with constant
    per-channel operands. Returns (nodes after the conv, the InstanceNormalization, the name of
    the chain's last output)."""
    weight = g.const(conv.input[1]) if len(conv.input) > 1 else None
    if weight is None or weight.ndim != 3:
        return None
    channels = weight.shape[0]
    nodes: list[onnx.NodeProto] = []
    cur = conv.output[0]
    # The conv output also feeds the Shape that the second Reshape restores.
    users = [n for n in g.consumers.get(cur, []) if n.op_type != "Shape"]
    nxt = users[0] if len(users) == 1 and cur not in g.graph_outputs else None
    if nxt is not None and nxt.op_type == "Reshape":
        target = g.const(nxt.input[1])
        if target is None or [int(v) for v in target] != [0, channels, -1]:
            return None
        nodes.append(nxt)
        cur = nxt.output[0]
        nxt = g.only_consumer(cur)
    if nxt is None or nxt.op_type != "InstanceNormalization":
        return None
    norm = nxt
    nodes.append(norm)
    cur = norm.output[0]
    nxt = g.only_consumer(cur)
    if nxt is not None and nxt.op_type == "Reshape":
        shape_src = g.producer.get(nxt.input[1])
        if (
            shape_src is None
            or shape_src.op_type != "Shape"
            or shape_src.input[0] != conv.output[0]
            or _attr(shape_src, "start", 0) != 0
            or _attr(shape_src, "end") is not None
        ):
            return None
        nodes.append(nxt)
        cur = nxt.output[0]
        nxt = g.only_consumer(cur)
    return nodes, norm, cur


def fold_group_norm_affine(model: onnx.ModelProto) -> int:
    """Fold the Mul/Add after a per-channel group norm into InstanceNormalization (in place).

    Returns the number of norms folded. Exact up to float rounding: ``(x_hat * s + b) * g + c
    == x_hat * (s * g) + (b * g + c)``.
    """
    g = _Graph(model)
    folded = 0
    for conv in [n for n in g.graph.node if n.op_type == "Conv"]:
        chain = _group_norm_chain(g, conv)
        if chain is None:
            continue
        nodes, norm, cur = chain
        mul = g.only_consumer(cur)
        if mul is None or mul.op_type != "Mul":
            continue
        add = g.only_consumer(mul.output[0])
        if add is None or add.op_type != "Add":
            continue
        scale, bias = g.const(norm.input[1]), g.const(norm.input[2])
        gamma = g.const(next((i for i in mul.input if i != cur), ""))
        beta = g.const(next((i for i in add.input if i != mul.output[0]), ""))
        if scale is None or bias is None or gamma is None or beta is None:
            continue
        channels = scale.shape[0]
        if gamma.size != channels or beta.size != channels:
            continue
        if (gamma.ndim > 1 and gamma.shape[-1] != 1) or (beta.ndim > 1 and beta.shape[-1] != 1):
            continue  # broadcast along time, not along channels
        gamma, beta = gamma.reshape(-1), beta.reshape(-1)
        new_scale = (scale.astype(np.float64) * gamma).astype(np.float32)
        new_bias = (bias.astype(np.float64) * gamma + beta).astype(np.float32)
        new_norm = helper.make_node(
            "InstanceNormalization",
            [
                conv.output[0],
                g.add_const("gn_scale", new_scale),
                g.add_const("gn_bias", new_bias),
            ],
            [add.output[0]],
            name=norm.name,
            epsilon=float(_attr(norm, "epsilon", 1e-5)),
        )
        shape_nodes = [
            g.producer[n.input[1]]
            for n in nodes
            if n.op_type == "Reshape"
            and n.input[1] in g.producer
            and g.producer[n.input[1]].op_type == "Shape"
            and len(g.consumers.get(n.input[1], [])) == 1
        ]
        g.replace([*nodes, *shape_nodes, mul, add], [new_norm], at=norm)
        folded += 1
    _drop_unused_initializers(model)
    return folded


_POINTWISE = ("Gelu", "DequantizeLinear", "QuantizeLinear", "Relu")


def _plain_conv(g: _Graph, node: onnx.NodeProto) -> tuple[int, int] | None:
    """(kernel, stride) of a 1-D Conv/QLinearConv with constant weight, one group, no padding
    and no dilation; else None."""
    if node.op_type not in ("Conv", "QLinearConv"):
        return None
    weight = g.const(node.input[1] if node.op_type == "Conv" else node.input[3])
    if (
        weight is None
        or weight.ndim != 3
        or _attr(node, "group", 1) != 1
        or any(_attr(node, "pads", [0, 0]))
        or any(d != 1 for d in _attr(node, "dilations", [1]))
        or _attr(node, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID")
    ):
        return None
    return int(weight.shape[2]), int(_attr(node, "strides", [1])[0])


def _pointwise_tail(g: _Graph, out: str) -> list[onnx.NodeProto]:
    """The elementwise nodes (GELU, quantisation with scalar parameters) that follow ``out``."""
    tail: list[onnx.NodeProto] = []
    while True:
        nxt = g.only_consumer(out)
        if nxt is None or nxt.op_type not in _POINTWISE:
            return tail
        if nxt.op_type not in ("Gelu", "Relu") and not all(
            _is_scalar_const(g, i) for i in nxt.input[1:]
        ):
            return tail
        tail.append(nxt)
        out = nxt.output[0]


def _clone(g: _Graph, new: list[onnx.NodeProto], node: onnx.NodeProto, first_input: str) -> str:
    """A copy of single-output ``node`` that reads ``first_input`` instead of its first input."""
    out = g.fresh(node.op_type.lower())
    copy = onnx.NodeProto()
    copy.CopyFrom(node)
    copy.input[0] = first_input
    del copy.output[:]
    copy.output.append(out)
    copy.name = g.fresh(node.op_type)
    new.append(copy)
    return out


def chunk_conv_encoder(
    model: onnx.ModelProto, chunks: int = DEFAULT_CHUNKS, layers: int = DEFAULT_CHUNKED_LAYERS
) -> int:
    """Run the conv feature encoder in ``chunks`` slices of time, one after another.

    Matches the waveform Conv (one input channel, constant weight) -> InstanceNormalization
    (constant scale and bias, i.e. after :func:`fold_group_norm_affine`) -> Gelu ->
    [QuantizeLinear], followed by any number of unpadded 1-D Conv/QLinearConv layers, each
    with its GELU and quantisation. The norm's statistics come first, from the waveform's
    patches (exact); then each slice of the encoder's output is computed from the samples it
    depends on (the slices' inputs overlap by the receptive field, so the result is exact) and
    the slices are joined. Returns the number of encoders rewritten (0 or 1).
    """
    if chunks < 1 or layers < 0:
        raise ExportError(f"chunks must be >= 1 and layers >= 0, got {chunks} and {layers}")
    g = _Graph(model)
    done = 0
    for conv in [n for n in g.graph.node if n.op_type == "Conv"]:
        weight = g.const(conv.input[1]) if len(conv.input) > 1 else None
        geometry = _plain_conv(g, conv)
        if weight is None or geometry is None or weight.shape[1] != 1:
            continue
        norm = g.only_consumer(conv.output[0])
        if norm is None or norm.op_type != "InstanceNormalization":
            continue
        gamma, beta = g.const(norm.input[1]), g.const(norm.input[2])
        head_tail = _pointwise_tail(g, norm.output[0])
        if gamma is None or beta is None or not any(n.op_type == "Gelu" for n in head_tail):
            continue
        # The layers after the first: (conv, its elementwise tail, kernel, stride).
        stack: list[tuple[onnx.NodeProto, list[onnx.NodeProto], int, int]] = []
        end = head_tail[-1].output[0]
        while len(stack) < layers:
            nxt = g.only_consumer(end)
            geo = _plain_conv(g, nxt) if nxt is not None else None
            if nxt is None or geo is None:
                break
            tail = _pointwise_tail(g, nxt.output[0])
            stack.append((nxt, tail, *geo))
            end = (tail[-1] if tail else nxt).output[0]
        kernel, stride = geometry
        new: list[onnx.NodeProto] = []
        scale, shift = _norm_from_patches(g, new, conv.input[0], weight, stride, gamma, beta, norm)
        # Output length of every layer, from the sample count.
        length = g.node(
            new, "Gather", [g.node(new, "Shape", [conv.input[0]]), g.i64("axis2", 2)], axis=0
        )
        lengths = [length]
        for k, st in [(kernel, stride)] + [(k, st) for _, _, k, st in stack]:
            lengths.append(
                g.node(
                    new,
                    "Add",
                    [
                        g.node(
                            new,
                            "Div",
                            [g.node(new, "Sub", [lengths[-1], g.i64("k", k)]), g.i64("s", st)],
                        ),
                        g.i64("one", 1),
                    ],
                )
            )
        frames = lengths[-1]
        last = g.node(new, "Sub", [frames, g.i64("one", 1)])  # the last output frame
        geometry_rev = [(k, st) for _, _, k, st in reversed(stack)] + [(kernel, stride)]
        # One slice per iteration of a Loop: its nodes exist once, so ONNX Runtime pre-packs
        # each conv weight once, and the loop runs the slices one after another.
        body: list[onnx.NodeProto] = []
        step = g.fresh("slice_index")
        acc_in, acc_out, cond_in = g.fresh("joined_in"), g.fresh("joined_out"), g.fresh("cond")
        j = g.node(body, "Reshape", [step, g.i64("one", 1)])
        first = g.node(body, "Div", [g.node(body, "Mul", [frames, j]), g.i64("n", chunks)])
        after = g.node(
            body,
            "Div",
            [
                g.node(body, "Mul", [frames, g.node(body, "Add", [j, g.i64("one", 1)])]),
                g.i64("n", chunks),
            ],
        )
        # The slice's own output frames [first, after) (possibly none, for inputs shorter than
        # ``chunks`` output frames); it computes at least one frame, [lo, hi), keeps its own.
        count = g.node(body, "Sub", [after, first])
        lo = g.node(body, "Min", [first, last])
        hi = g.node(body, "Add", [lo, g.node(body, "Max", [count, g.i64("one", 1)])])
        for k, st in geometry_rev:  # frames [lo, hi) need inputs [lo*s, (hi-1)*s + k)
            lo, hi = (
                g.node(body, "Mul", [lo, g.i64("s", st)]),
                g.node(
                    body, "Add", [g.node(body, "Mul", [hi, g.i64("s", st)]), g.i64("ks", k - st)]
                ),
            )
        y = g.node(body, "Slice", [conv.input[0], lo, hi, g.i64("axis2", 2)])
        y = g.node(body, "Conv", [y, conv.input[1]], strides=[stride], kernel_shape=[kernel])
        y = g.node(body, "Add", [g.node(body, "Mul", [y, scale]), shift])
        for node in head_tail:
            y = _clone(g, body, node, y)
        for layer, tail, _, _ in stack:
            y = _clone(g, body, layer, y)
            for node in tail:
                y = _clone(g, body, node, y)
        piece = g.node(body, "Slice", [y, g.i64("zero", 0), count, g.i64("axis2", 2)])
        g.node(body, "Concat", [acc_in, piece], output=acc_out, axis=2)
        g.node(body, "Identity", [cond_in], output=g.fresh("cond_out"))
        cond_out = body[-1].output[0]
        last_node = (stack[-1][1] or [stack[-1][0]])[-1] if stack else head_tail[-1]
        dtype, channels = _output_type(g, last_node, stack[-1][0] if stack else conv)
        batch = g.node(
            new, "Gather", [g.node(new, "Shape", [conv.input[0]]), g.i64("axis0", 0)], axis=0
        )
        empty = g.node(
            new,
            "ConstantOfShape",
            [g.node(new, "Concat", [batch, g.i64("c", channels), g.i64("zero", 0)], axis=0)],
            value=helper.make_tensor("v", dtype, [1], [0]),
        )
        acc_type: list[str | int | None] = ["batch", channels, "frames"]
        loop_body = helper.make_graph(
            body,
            g.fresh("encoder_slices"),
            [
                helper.make_tensor_value_info(step, TensorProto.INT64, []),
                helper.make_tensor_value_info(cond_in, TensorProto.BOOL, []),
                helper.make_tensor_value_info(acc_in, dtype, acc_type),
            ],
            [
                helper.make_tensor_value_info(cond_out, TensorProto.BOOL, []),
                helper.make_tensor_value_info(acc_out, dtype, acc_type),
            ],
        )
        trips = g.add_const("trips", np.array(chunks, dtype=np.int64))
        true = g.add_const("true", np.array(True))
        new.append(
            helper.make_node(
                "Loop", [trips, true, empty], [end], name=g.fresh("Loop"), body=loop_body
            )
        )
        chain = [conv, norm, *head_tail]
        for layer, tail, _, _ in stack:
            chain += [layer, *tail]
        g.replace(chain, new, at=conv)
        done += 1
    if done:
        _ensure_contrib_opset(model)
    _drop_unused_initializers(model)
    return done


def _output_type(g: _Graph, last: onnx.NodeProto, last_conv: onnx.NodeProto) -> tuple[int, int]:
    """(ONNX element type, channels) of the encoder section's output."""
    weight = g.const(last_conv.input[1] if last_conv.op_type == "Conv" else last_conv.input[3])
    channels = int(weight.shape[0]) if weight is not None else -1
    if last.op_type == "QuantizeLinear":
        zero_point = g.inits.get(last.input[2]) if len(last.input) > 2 else None
        return (zero_point.data_type if zero_point is not None else TensorProto.UINT8), channels
    return TensorProto.FLOAT, channels


def _norm_from_patches(
    g: _Graph,
    new: list[onnx.NodeProto],
    x: str,
    weight: np.ndarray[Any, Any],
    stride: int,
    gamma: np.ndarray[Any, Any],
    beta: np.ndarray[Any, Any],
    norm: onnx.NodeProto,
) -> tuple[str, str]:
    """Per-channel ``gamma / std`` and ``beta - mean * gamma / std`` ([B, C, 1]) of the conv
    output ``weight * x``, from the mean and covariance of the conv's input patches."""
    kernel = int(weight.shape[2])
    eps = float(_attr(norm, "epsilon", 1e-5))
    eye = np.eye(kernel, dtype=np.float32).reshape(kernel, 1, kernel)
    patches = g.node(new, "Conv", [x, g.add_const("eye", eye)], strides=[stride])  # [B, k, T]
    mean_p = g.reduce(new, "ReduceMean", patches, [2])  # [B, k, 1]
    centred = g.node(new, "Sub", [patches, mean_p])
    centred_t = g.node(new, "Transpose", [centred], perm=[0, 2, 1])
    frames = g.node(new, "Gather", [g.node(new, "Shape", [patches]), g.i64("axis2", 2)], axis=0)
    frames_f = g.node(new, "Cast", [frames], to=TensorProto.FLOAT)
    cov = g.node(new, "Div", [g.node(new, "MatMul", [centred, centred_t]), frames_f])
    w2 = g.add_const("w2", weight.reshape(weight.shape[0], kernel).astype(np.float32))
    mean_c = g.node(new, "MatMul", [w2, mean_p])  # [B, C, 1]
    var_c = g.reduce(
        new, "ReduceSum", g.node(new, "Mul", [g.node(new, "MatMul", [w2, cov]), w2]), [2]
    )
    std = g.node(
        new,
        "Sqrt",
        [g.node(new, "Add", [var_c, g.add_const("eps", np.array(eps, dtype=np.float32))])],
    )
    scale = g.node(new, "Div", [g.add_const("gamma", gamma.reshape(-1, 1).astype(np.float32)), std])
    shift = g.node(
        new,
        "Sub",
        [
            g.add_const("beta", beta.reshape(-1, 1).astype(np.float32)),
            g.node(new, "Mul", [mean_c, scale]),
        ],
    )
    return scale, shift


def chunk_dequantize_gelu_quantize(
    model: onnx.ModelProto, chunks: int = DEFAULT_CHUNKS, min_stride: int = 2
) -> int:
    """Run DequantizeLinear -> Gelu -> QuantizeLinear after a strided QLinearConv in time slices.

    Only chains fed by a QLinearConv with a stride of at least ``min_stride`` (the conv
    encoder's layers, whose outputs are long) are rewritten. Exact: the three ops are
    elementwise with scalar scales. Returns the number of chains rewritten.
    """
    if chunks < 1:
        raise ExportError(f"chunks must be >= 1, got {chunks}")
    g = _Graph(model)
    done = 0
    for dq in [n for n in g.graph.node if n.op_type == "DequantizeLinear"]:
        src = g.producer.get(dq.input[0])
        if (
            dq.name.startswith(_PREFIX)  # already inside a chunked encoder
            or src is None
            or src.op_type != "QLinearConv"
            or int(_attr(src, "strides", [1])[0]) < min_stride
            or not all(_is_scalar_const(g, i) for i in dq.input[1:])
        ):
            continue
        gelu = g.only_consumer(dq.output[0])
        if gelu is None or gelu.op_type != "Gelu":
            continue
        quant = g.only_consumer(gelu.output[0])
        if (
            quant is None
            or quant.op_type != "QuantizeLinear"
            or not all(_is_scalar_const(g, i) for i in quant.input[1:])
        ):
            continue
        x = dq.input[0]
        new: list[onnx.NodeProto] = []
        length = g.node(new, "Gather", [g.node(new, "Shape", [x]), g.i64("axis2", 2)], axis=0)
        bounds = [
            g.node(new, "Div", [g.node(new, "Mul", [length, g.i64("k", k)]), g.i64("n", chunks)])
            for k in range(chunks + 1)
        ]
        pieces = []
        for k in range(chunks):
            piece = g.node(new, "Slice", [x, bounds[k], bounds[k + 1], g.i64("axis2", 2)])
            y = g.node(new, "DequantizeLinear", [piece, *dq.input[1:]], axis=1)
            y = g.node(new, "Gelu", [y], domain=gelu.domain)
            y = g.node(new, "QuantizeLinear", [y, *quant.input[1:]], axis=1)
            pieces.append(y)
        g.node(new, "Concat", pieces, output=quant.output[0], axis=2)
        g.replace([dq, gelu, quant], new, at=dq)
        done += 1
    _drop_unused_initializers(model)
    return done


def _reshape_heads(g: _Graph, name: str, perm: list[int]) -> tuple[str, int] | None:
    """``name`` = Transpose(perm)(Reshape(x3, [B, S, -1 or H, d])): returns (x3, d)."""
    t = g.producer.get(name)
    if t is None or t.op_type != "Transpose" or list(_attr(t, "perm", [])) != perm:
        return None
    r = g.producer.get(t.input[0])
    if r is None or r.op_type != "Reshape":
        return None
    shape = g.producer.get(r.input[1])
    dims = g.const(r.input[1])
    if dims is not None and dims.size == 4:
        head = int(dims[3])
    elif shape is not None and shape.op_type == "Concat" and len(shape.input) == 4:
        last = g.const(shape.input[3])
        if last is None or last.size != 1:
            return None
        head = int(last.reshape(-1)[0])
    else:
        return None
    return (r.input[0], head) if head > 0 else None


def _shape_is(g: _Graph, name: str, constant: list[int], dynamic: list[int | None]) -> bool:
    """A Reshape target: the constant ``constant``, or a Concat whose constant elements agree
    with ``dynamic`` (``None`` for an element computed from the input's shape, as in the
    exported ``view(batch, frames, ...)`` of the torch code)."""
    value = g.const(name)
    if value is not None:
        return [int(v) for v in value.reshape(-1)] == constant
    concat = g.producer.get(name)
    if concat is None or concat.op_type != "Concat" or len(concat.input) != len(dynamic):
        return False
    for part, want in zip(concat.input, dynamic, strict=True):
        got = g.const(part)
        if want is None:
            if got is not None:
                return False
        elif got is None or got.size != 1 or int(got.reshape(-1)[0]) not in (want, -1):
            return False
    return True


def _hidden_size(g: _Graph, x3: str) -> int | None:
    """Width of a projection output: the length of the bias added to it."""
    add = g.producer.get(x3)
    if add is None or add.op_type != "Add":
        return None
    for i in add.input:
        value = g.const(i)
        if value is not None and value.ndim == 1:
            return int(value.size)
    return None


def fuse_attention(model: onnx.ModelProto) -> int:
    """Replace the unfused self-attention of each transformer layer with ``MultiHeadAttention``.

    Matches Reshape/Transpose of the q, k and v projections into heads, FusedMatMul (scaled
    q k^T), Softmax, MatMul with v, then [QuantizeLinear], [a no-op Reshape], Transpose and
    Reshape back to ``[batch, frames, hidden]``; ONNX Runtime's contrib op does the same
    arithmetic on the projections directly, without the transposed copies and with the
    softmax in place. The quantisation (elementwise, scalar scale) moves before the head
    transposes, which commute with it. Returns the number of layers fused.
    """
    original = onnx.ModelProto()
    original.CopyFrom(model)
    g = _Graph(model)
    done = 0
    for softmax in [n for n in g.graph.node if n.op_type == "Softmax"]:
        scores = g.producer.get(softmax.input[0])
        if (
            _attr(softmax, "axis", -1) not in (-1, 3)
            or scores is None
            or scores.op_type != "FusedMatMul"
            or any(_attr(scores, a, 0) for a in ("transA", "transB", "transBatchA", "transBatchB"))
        ):
            continue
        q = _reshape_heads(g, scores.input[0], [0, 2, 1, 3])
        k = _reshape_heads(g, scores.input[1], [0, 2, 3, 1])
        ctx = _only_user(g, softmax.output[0])
        if q is None or k is None or ctx is None or ctx.op_type != "MatMul":
            continue
        v = _reshape_heads(g, ctx.input[1], [0, 2, 1, 3])
        if v is None or ctx.input[0] != softmax.output[0] or not q[1] == k[1] == v[1]:
            continue
        hidden = _hidden_size(g, q[0])
        if hidden is None or hidden % q[1]:
            continue
        heads = hidden // q[1]
        # After the context MatMul: [Q] -> [Reshape to the same 4-D shape] -> Transpose ->
        # Reshape [0, 0, -1].
        after: list[onnx.NodeProto] = []
        cur = ctx.output[0]
        quant = _only_user(g, cur)
        if quant is not None and quant.op_type == "QuantizeLinear":
            if not all(_is_scalar_const(g, i) for i in quant.input[1:]):
                continue
            after.append(quant)
            cur = quant.output[0]
        nxt = _only_user(g, cur)
        if nxt is not None and nxt.op_type == "Reshape":
            # view(batch, heads, frames, head_dim) of a tensor of that shape: a no-op.
            if not _shape_is(g, nxt.input[1], [0, -1, 0, 0], [None, heads, None, None]):
                continue
            after.append(nxt)
            cur = nxt.output[0]
            nxt = g.only_consumer(cur)
        if (
            nxt is None
            or nxt.op_type != "Transpose"
            or list(_attr(nxt, "perm", [])) != [0, 2, 1, 3]
        ):
            continue
        after.append(nxt)
        merge = _only_user(g, nxt.output[0])
        if (
            merge is None
            or merge.op_type != "Reshape"
            or not _shape_is(g, merge.input[1], [0, 0, -1], [None, None, hidden])
        ):
            continue
        after.append(merge)
        new: list[onnx.NodeProto] = []
        out = g.node(
            new,
            "MultiHeadAttention",
            [q[0], k[0], v[0]],
            domain="com.microsoft",
            num_heads=heads,
            scale=float(_attr(scores, "alpha", 1.0)),
        )
        if quant is not None and quant.op_type == "QuantizeLinear":
            g.node(new, "QuantizeLinear", [out, *quant.input[1:]], output=merge.output[0], axis=1)
        else:
            g.node(new, "Identity", [out], output=merge.output[0])
        # The heads' Reshape/Transpose of q, k and v go with the dead-node sweep below, unless
        # something else still reads them.
        g.replace([scores, softmax, ctx, *after], new, at=ctx)
        done += 1
    if done:
        _drop_dead_nodes(model)
        _ensure_contrib_opset(model)
        _drop_unused_initializers(model)
        try:  # a Shape of a removed tensor still read by a live node: leave the graph alone
            onnx.checker.check_model(model)
        except onnx.checker.ValidationError as exc:
            logger.info("attention left unfused: %s", " ".join(str(exc).split())[:200])
            model.CopyFrom(original)
            return 0
    return done


def _only_user(g: _Graph, name: str) -> onnx.NodeProto | None:
    """The one consumer of ``name`` that is not a Shape (the exported torch code reads the
    shapes of the attention's tensors to build its Reshape targets)."""
    users = [n for n in g.consumers.get(name, []) if n.op_type != "Shape"]
    return users[0] if len(users) == 1 and name not in g.graph_outputs else None


def apply_graph_passes(
    model: onnx.ModelProto, chunks: int = DEFAULT_CHUNKS, layers: int = DEFAULT_CHUNKED_LAYERS
) -> tuple[onnx.ModelProto, PassReport]:
    """All passes, in order, on ``model`` (in place); returns it and what changed."""
    folded = fold_group_norm_affine(model)
    encoders = chunk_conv_encoder(model, chunks, layers)
    gelus = chunk_dequantize_gelu_quantize(model, chunks)
    report = PassReport(
        folded_group_norms=folded,
        chunked_conv_encoders=encoders,
        chunked_gelus=gelus,
        fused_attentions=fuse_attention(model),
    )
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"graph passes produced an invalid model: {exc}") from exc
    logger.info("graph passes: %s", report.to_dict())
    return model, report


def rewrite_model_file(
    src: Path, dst: Path, chunks: int = DEFAULT_CHUNKS, layers: int = DEFAULT_CHUNKED_LAYERS
) -> PassReport:
    """Apply :func:`apply_graph_passes` to the model file ``src`` and save it as ``dst``.

    Metadata entries (``metadata_props``) are kept as they are.
    """
    try:
        model = onnx.load(str(src))
    except Exception as exc:  # protobuf decode errors have no shared type
        raise ExportError(f"cannot read ONNX model {src}: {exc}") from exc
    _, report = apply_graph_passes(model, chunks, layers)
    onnx.save(model, str(dst))
    return report


def _ensure_contrib_opset(model: onnx.ModelProto) -> None:
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))


def _drop_dead_nodes(model: onnx.ModelProto) -> None:
    """Remove nodes none of whose outputs is read (by a node, a subgraph or the graph)."""
    while True:
        used = {o.name for o in model.graph.output}
        stack = list(model.graph.node)
        while stack:
            node = stack.pop()
            used.update(node.input)
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    stack.extend(a.g.node)
        dead = [n for n in model.graph.node if not any(o in used for o in n.output)]
        if not dead:
            return
        for n in dead:
            model.graph.node.remove(n)


def _drop_unused_initializers(model: onnx.ModelProto) -> None:
    used = {o.name for o in model.graph.output}
    stack = list(model.graph.node)
    while stack:  # the nodes of subgraphs (the Loop body) read outer-scope initializers too
        node = stack.pop()
        used.update(node.input)
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                stack.extend(a.g.node)
    keep = [i for i in model.graph.initializer if i.name in used]
    if len(keep) != len(model.graph.initializer):
        del model.graph.initializer[:]
        model.graph.initializer.extend(keep)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m edge_ser_export.graph_passes SRC DST``: rewrite an exported model."""
    from .metadata_io import rewrite_metadata_without_paths

    parser = argparse.ArgumentParser(
        prog="python -m edge_ser_export.graph_passes",
        description="Apply edge-ser's graph passes to an exported .onnx model (what "
        "`edge-ser export` now does itself) and drop absolute paths from its metadata.",
    )
    parser.add_argument("src", type=Path, help="an exported .onnx model")
    parser.add_argument("dst", type=Path, help="where to write the rewritten model")
    parser.add_argument("--chunks", type=int, default=DEFAULT_CHUNKS, help="time slices")
    parser.add_argument(
        "--keep-paths", action="store_true", help="leave the metadata's paths as they are"
    )
    args = parser.parse_args(argv)
    try:
        report = rewrite_model_file(args.src, args.dst, args.chunks)
        changed = 0 if args.keep_paths else rewrite_metadata_without_paths(args.dst, args.dst)
    except EdgeSerError as exc:
        parser.exit(1, f"error: {exc}\n")
    sys.stdout.write(
        json.dumps({**report.to_dict(), "metadata_entries_without_paths": changed}) + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
