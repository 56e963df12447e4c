"""Recover a DistilHuBERT conv feature encoder from an exported static-int8 model.

The stage-1 encoder of the bundled v2 model (:mod:`edge_ser_train.pretrain`, 36 CPU minutes)
is frozen in fine-tuning, so v2's ``default.onnx`` (the default until v3, now in git history)
carries it: the waveform conv in fp32, the group norm's affine as the ``Mul``/``Add`` after
its ``InstanceNormalization``, and conv layers 1-6 as per-channel int8 weights with their scales and zero points. This module
dequantises them into a ``HubertModel`` (DistilHuBERT config; the transformer stays at its
random initialisation) so that later stages can start from that encoder without rerunning
stage 1. The dequantised weights are exactly the int8 grid values, so quantising them again
(the same per-channel symmetric scheme) gives back the same integers.

Run: ``python -m edge_ser_train.recover MODEL.onnx --out DIR``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_ser.errors import TrainingError

__all__ = ["recover_conv_encoder"]

PREFIX = "model.hubert.feature_extractor.conv_layers"
NORM = "/model/hubert/feature_extractor/conv_layers.0/layer_norm/"


def recover_conv_encoder(model_path: str | Path, out: str | Path, config: Any = None) -> Path:
    """Write a ``HubertModel`` folder (``config``, default DistilHuBERT's) whose conv feature
    encoder is the one in ``model_path`` (an ``edge-ser export`` static-int8 DistilHuBERT
    of that shape); returns ``out``."""
    import onnx
    import torch
    from onnx import numpy_helper
    from transformers import HubertModel

    from .model import distilhubert_config

    try:
        graph = onnx.load(str(model_path)).graph
    except Exception as exc:  # onnx raises DecodeError, OSError, ...
        raise TrainingError(
            f"{model_path}: not a readable ONNX model ({type(exc).__name__})"
        ) from exc
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    consts = {n.name: n for n in graph.node}

    def affine(op: str) -> np.ndarray:
        node = consts.get(f"{NORM}{op}")
        if node is not None and node.input[1] in weights:  # as torch.onnx exported it
            return np.array(weights[node.input[1]], dtype=np.float32).reshape(-1)
        # after the exporter's graph passes (edge_ser_export.graph_passes folds the norm)
        prefix = {"Mul": "edge_ser_pass/gamma", "Add": "edge_ser_pass/beta"}[op]
        found = [w for name, w in weights.items() if name.startswith(prefix)]
        if len(found) != 1:
            raise TrainingError(f"{model_path}: no group-norm {op} of conv layer 0")
        return np.array(found[0], dtype=np.float32).reshape(-1)

    net = HubertModel(config if config is not None else distilhubert_config()).eval()
    layers = net.feature_extractor.conv_layers
    try:
        w0 = weights[f"{PREFIX}.0.conv.weight"]
        dequantised = []
        for i in range(1, len(layers)):
            name = f"{PREFIX}.{i}.conv.weight"
            q = weights[f"{name}_quantized"].astype(np.float32)
            scale = weights[f"{name}_scale"].astype(np.float32)
            zero = weights[f"{name}_zero_point"].astype(np.float32)
            dequantised.append((q - zero[:, None, None]) * scale[:, None, None])
    except KeyError as exc:
        raise TrainingError(
            f"{model_path}: not a static-int8 DistilHuBERT export (missing {exc})"
        ) from exc
    shapes = [tuple(w0.shape), *(tuple(w.shape) for w in dequantised)]
    expected = [tuple(layer.conv.weight.shape) for layer in layers]
    if shapes != expected:
        raise TrainingError(
            f"{model_path}: conv weights {shapes} do not fit the config's {expected}"
        )
    with torch.no_grad():
        layers[0].conv.weight.copy_(torch.from_numpy(np.array(w0, dtype=np.float32)))
        layers[0].layer_norm.weight.copy_(torch.from_numpy(affine("Mul")))
        layers[0].layer_norm.bias.copy_(torch.from_numpy(affine("Add")))
        for layer, w in zip(layers[1:], dequantised, strict=True):
            layer.conv.weight.copy_(torch.from_numpy(w))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    net.save_pretrained(str(out))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge_ser_train.recover", description=__doc__)
    p.add_argument("model", help="a static-int8 DistilHuBERT model.onnx from edge-ser export")
    p.add_argument("--out", required=True, help="output HubertModel folder")
    a = p.parse_args(argv)
    try:
        recover_conv_encoder(a.model, a.out)
    except TrainingError as exc:
        print(f"recover: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
