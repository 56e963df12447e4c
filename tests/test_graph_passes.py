"""The exporter's graph passes: exact rewrites, on small hand-built graphs of the encoder's shape.

Each graph has the HuBERT conv encoder's structure (waveform conv -> per-channel group norm
exported as Reshape/InstanceNormalization/Reshape/Mul/Add -> GELU, then strided convs with
GELU, float or quantised) with random weights and few channels, so a test runs in well under
a second. The rewritten graph must compute the same outputs as the original on inputs of
many lengths (down to the receptive field, where most slices are empty) and batch sizes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_ser.errors import ExportError
from edge_ser.metadata import METADATA_KEY

pytest.importorskip("onnxruntime.quantization")  # the export toolchain's ORT build

from edge_ser_export.graph_passes import (
    apply_graph_passes,
    chunk_conv_encoder,
    chunk_dequantize_gelu_quantize,
    fold_group_norm_affine,
    rewrite_model_file,
)
from edge_ser_export.metadata_io import (
    rewrite_metadata_without_paths,
    strip_paths,
)

C = 8  # channels
# (kernel, stride) of the layers after the waveform conv (k=10, s=5): receptive field 50.
LAYERS = ((3, 2), (2, 2), (2, 2))
MIN_SAMPLES = 10 + (3 - 1) * 5 + (2 - 1) * 10 + (2 - 1) * 20  # one output frame


def _encoder(quantized: bool, seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    def scalar(name: str, value: float, dtype: type = np.float32) -> str:
        return const(name, np.array(value, dtype=dtype))

    nodes.append(helper.make_node("Unsqueeze", ["x", const("ax1", np.array([1]))], ["x3"]))
    w0 = rng.normal(0, 0.3, (C, 1, 10)).astype(np.float32)
    nodes.append(
        helper.make_node("Conv", ["x3", const("w0", w0)], ["c0"], strides=[5], kernel_shape=[10])
    )
    nodes.append(helper.make_node("Reshape", ["c0", const("shp", np.array([0, C, -1]))], ["r0"]))
    ones, zeros = np.ones(C, np.float32), np.zeros(C, np.float32)
    nodes.append(
        helper.make_node(
            "InstanceNormalization", ["r0", const("s1", ones), const("b0", zeros)], ["n0"]
        )
    )
    nodes.append(helper.make_node("Shape", ["c0"], ["sh0"]))
    nodes.append(helper.make_node("Reshape", ["n0", "sh0"], ["r1"]))
    gamma = rng.uniform(0.5, 2.0, (C, 1)).astype(np.float32)
    beta = rng.normal(0, 0.5, (C, 1)).astype(np.float32)
    nodes.append(helper.make_node("Mul", ["r1", const("gamma", gamma)], ["m0"]))
    nodes.append(helper.make_node("Add", ["m0", const("beta", beta)], ["a0"]))
    nodes.append(helper.make_node("Gelu", ["a0"], ["g0"], domain="com.microsoft"))
    cur = "g0"
    if quantized:
        nodes.append(
            helper.make_node(
                "QuantizeLinear", [cur, scalar("qs0", 0.02), scalar("qz0", 8, np.uint8)], ["q0"]
            )
        )
        cur, cur_s, cur_z = "q0", "qs0", "qz0"
    for i, (k, s) in enumerate(LAYERS, start=1):
        w = rng.normal(0, 0.2, (C, C, k)).astype(np.float32)
        if quantized:
            wq = np.clip(np.round(w / 0.01), -127, 127).astype(np.int8)
            out_s, out_z = scalar(f"os{i}", 0.05), scalar(f"oz{i}", 128, np.uint8)
            nodes.append(
                helper.make_node(
                    "QLinearConv",
                    [
                        cur,
                        cur_s,
                        cur_z,
                        const(f"w{i}", wq),
                        const(f"ws{i}", np.full(C, 0.01, np.float32)),
                        const(f"wz{i}", np.zeros(C, np.int8)),
                        out_s,
                        out_z,
                    ],
                    [f"qc{i}"],
                    strides=[s],
                    kernel_shape=[k],
                )
            )
            nodes.append(helper.make_node("DequantizeLinear", [f"qc{i}", out_s, out_z], [f"d{i}"]))
            nodes.append(helper.make_node("Gelu", [f"d{i}"], [f"g{i}"], domain="com.microsoft"))
            cur = f"g{i}"
            if i < len(LAYERS):
                cur_s, cur_z = scalar(f"qs{i}", 0.02), scalar(f"qz{i}", 8, np.uint8)
                nodes.append(helper.make_node("QuantizeLinear", [cur, cur_s, cur_z], [f"q{i}"]))
                cur = f"q{i}"
        else:
            nodes.append(
                helper.make_node(
                    "Conv", [cur, const(f"w{i}", w)], [f"c{i}"], strides=[s], kernel_shape=[k]
                )
            )
            nodes.append(helper.make_node("Gelu", [f"c{i}"], [f"g{i}"], domain="com.microsoft"))
            cur = f"g{i}"
    nodes.append(helper.make_node("Identity", [cur], ["y"]))
    graph = helper.make_graph(
        nodes,
        "encoder",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "samples"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", C, "frames"])],
        inits,
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )


_SESSIONS: dict[bytes, ort.InferenceSession] = {}


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    key = model.SerializeToString()  # one session per distinct graph
    if key not in _SESSIONS:
        so = ort.SessionOptions()
        so.log_severity_level = 3
        _SESSIONS[key] = ort.InferenceSession(key, so, ["CPUExecutionProvider"])
    return np.asarray(_SESSIONS[key].run(["y"], {"x": x})[0])


def _inputs(rng: np.random.Generator) -> list[np.ndarray]:
    lengths = (MIN_SAMPLES, MIN_SAMPLES + 7, 333, 1000, 4003)
    xs = [rng.normal(0, 0.1, (1, n)).astype(np.float32) for n in lengths]
    # A DC offset (mean far from 0) and a batch of two different windows.
    xs.append((rng.normal(0, 0.1, (1, 2000)) + 0.7).astype(np.float32))
    xs.append(rng.normal(0, 0.1, (2, 2000)).astype(np.float32))
    return xs


def _ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def test_fold_group_norm_affine_removes_the_affine_ops_and_keeps_the_output() -> None:
    model = _encoder(quantized=False)
    folded = onnx.ModelProto()
    folded.CopyFrom(model)
    assert fold_group_norm_affine(folded) == 1
    ops = _ops(folded)
    assert ops.count("InstanceNormalization") == 1
    assert "Mul" not in ops and "Add" not in ops and "Reshape" not in ops and "Shape" not in ops
    for x in _inputs(np.random.default_rng(1)):
        np.testing.assert_allclose(_run(folded, x), _run(model, x), rtol=1e-4, atol=1e-5)
    assert fold_group_norm_affine(folded) == 0  # nothing left to fold


@pytest.mark.parametrize(("chunks", "layers"), [(1, 0), (4, 1), (16, 3)])
def test_chunked_float_encoder_matches_the_whole_window(chunks: int, layers: int) -> None:
    model = _encoder(quantized=False)
    rewritten, report = apply_graph_passes(_encoder(quantized=False), chunks, layers)
    assert report.folded_group_norms == 1
    assert report.chunked_conv_encoders == 1
    assert "InstanceNormalization" not in _ops(rewritten)
    # The patch conv and the layers left whole stay in the graph; the waveform conv and the
    # chunked layers are in the loop body, once each.
    assert _ops(rewritten).count("Conv") == 1 + len(LAYERS) - layers
    (loop,) = [n for n in rewritten.graph.node if n.op_type == "Loop"]
    body = loop.attribute[0].g
    assert [n.op_type for n in body.node].count("Conv") == 1 + layers
    for x in _inputs(np.random.default_rng(2)):
        want, got = _run(model, x), _run(rewritten, x)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=2e-5)


def test_chunked_quantized_encoder_matches_the_whole_window() -> None:
    model = _encoder(quantized=True)
    rewritten, report = apply_graph_passes(_encoder(quantized=True), chunks=4, layers=1)
    assert report.chunked_conv_encoders == 1
    # The last two layers stay whole; their DQ -> GELU -> Q chain (one of them) runs in slices.
    assert report.chunked_gelus == 1
    for x in _inputs(np.random.default_rng(3)):
        want, got = _run(model, x), _run(rewritten, x)
        assert got.shape == want.shape
        # The norm's statistics are computed differently (float rounding), which can move a
        # value across a rounding boundary of the uint8 grid: at most one output step.
        assert np.abs(got - want).max() <= 0.05 * 1.01
        assert np.mean(got == want) > 0.95


def test_dequantize_gelu_quantize_in_slices_is_bit_exact() -> None:
    model = _encoder(quantized=True)
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    assert chunk_dequantize_gelu_quantize(rewritten, chunks=3) == len(LAYERS) - 1
    for x in _inputs(np.random.default_rng(4)):
        np.testing.assert_array_equal(_run(rewritten, x), _run(model, x))


def test_passes_leave_other_graphs_alone() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    model = helper.make_model(
        helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    before = model.SerializeToString()
    _, report = apply_graph_passes(model)
    assert report.to_dict() == {
        "folded_group_norms": 0,
        "chunked_conv_encoders": 0,
        "chunked_gelus": 0,
        "fused_attentions": 0,
    }
    assert model.SerializeToString() == before


def test_a_norm_without_constant_affine_is_not_folded() -> None:
    model = _encoder(quantized=False)
    # Make gamma a graph input: no longer a constant, so nothing may be folded.
    gamma = next(i for i in model.graph.initializer if i.name == "gamma")
    model.graph.initializer.remove(gamma)
    model.graph.input.append(helper.make_tensor_value_info("gamma", TensorProto.FLOAT, [C, 1]))
    assert fold_group_norm_affine(model) == 0
    assert chunk_conv_encoder(model) == 0


def test_invalid_arguments_raise_export_error() -> None:
    with pytest.raises(ExportError, match="chunks"):
        chunk_conv_encoder(_encoder(quantized=False), chunks=0)
    with pytest.raises(ExportError, match="chunks"):
        chunk_dequantize_gelu_quantize(_encoder(quantized=True), chunks=0)


def test_rewrite_model_file_keeps_metadata_and_is_idempotent(tmp_path: Path) -> None:
    model = _encoder(quantized=True)
    entry = model.metadata_props.add()
    entry.key, entry.value = "note", "kept"
    src, once, twice = tmp_path / "a.onnx", tmp_path / "b.onnx", tmp_path / "c.onnx"
    onnx.save(model, str(src))
    first = rewrite_model_file(src, once, chunks=4)
    assert first.chunked_conv_encoders == 1
    second = rewrite_model_file(once, twice, chunks=4)
    assert second.to_dict() == {
        "folded_group_norms": 0,
        "chunked_conv_encoders": 0,
        "chunked_gelus": 0,
        "fused_attentions": 0,
    }
    loaded = onnx.load(str(twice))
    assert {p.key: p.value for p in loaded.metadata_props} == {"note": "kept"}


def test_rewrite_model_file_rejects_a_corrupt_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ExportError, match="cannot read ONNX model"):
        rewrite_model_file(bad, tmp_path / "out.onnx")


def test_strip_paths_keeps_names_and_drops_folders() -> None:
    assert strip_paths("/home/me/corpora/ravdess:ravdess") == "ravdess:ravdess"
    assert strip_paths("/srv/shared/datasets/tess/OAF/a.flac") == "tess/OAF/a.flac"
    assert strip_paths("/srv/shared/datasets") == "datasets"
    assert strip_paths(["--out", "/tmp/run/model", "--epochs", 3]) == [
        "--out",
        "model",
        "--epochs",
        3,
    ]
    assert strip_paths({"a": {"b": "see C:\\Users\\me\\m.onnx, ok"}}) == {
        "a": {"b": "see m.onnx, ok"}
    }
    for kept in ("relative/dir/file.wav", "https://example.org/a/b", "1/2", "2026-11-29T13:05"):
        assert strip_paths(kept) == kept


def test_rewrite_metadata_without_paths(tmp_path: Path) -> None:
    from edge_ser.metadata import ModelMetadata

    md = ModelMetadata(
        labels=("anger", "happiness", "neutral", "sadness"),
        extra={
            "source_checkpoint": "/root/scratch/model",
            "training": {"command": ["edge-ser", "train", "--data", "/data/tess:tess"]},
        },
    )
    model = _encoder(quantized=False)
    for key, value in ((METADATA_KEY, md.to_json()), ("other", "built in /tmp/x/y")):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    src, dst = tmp_path / "a.onnx", tmp_path / "b.onnx"
    onnx.save(model, str(src))
    assert rewrite_metadata_without_paths(src, dst) == 2
    props = {p.key: p.value for p in onnx.load(str(dst)).metadata_props}
    assert props["other"] == "built in y"
    extra = json.loads(props[METADATA_KEY])["extra"]
    assert extra["source_checkpoint"] == "model"
    assert extra["training"]["command"][-1] == "tess:tess"
    assert ModelMetadata.from_json(props[METADATA_KEY]).labels == md.labels
    assert "/" not in json.dumps(extra)
    assert rewrite_metadata_without_paths(dst, tmp_path / "c.onnx") == 0


def test_every_export_gets_the_passes(tiny_checkpoint: Path, tiny_model_dir: Path) -> None:
    """The fp32 export of the tiny HuBERT (whose parity with torch test_export checks) has
    the encoder in a loop, the norm folded away and fused attention, in both graphs."""
    for name in ("model.onnx", "model_raw.onnx"):
        model = onnx.load(str(tiny_model_dir / name))
        ops = _ops(model)
        assert "Loop" in ops, name
        assert "InstanceNormalization" not in ops, name
        assert ops.count("MultiHeadAttention") == 2, name  # the tiny model's two layers
        assert "Softmax" in ops  # only the classifier's
        assert ops.count("Softmax") == 1, name
