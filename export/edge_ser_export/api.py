"""Path-in, path-out export entry point (first cut: fp32 ONNX + metadata)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_ser.errors import ExportError, ToolchainMissingError
from edge_ser.metadata import METADATA_FILENAME, METADATA_KEY, ModelMetadata

MODEL_FILENAME = "model.onnx"


@dataclass(frozen=True)
class ExportReport:
    out_dir: Path
    model_path: Path
    metadata: ModelMetadata
    details: dict[str, Any] = field(default_factory=dict)


def _require_toolchain() -> None:
    try:
        import onnx  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ToolchainMissingError(
            f"the export toolchain needs torch, transformers and onnx ({exc.name} is missing); "
            "install them with: pip install 'edge-ser[export]'"
        ) from exc


def export_model(checkpoint: str | Path, out_dir: str | Path, *, quantize: str = "none") -> ExportReport:
    _require_toolchain()
    import onnx
    import torch
    from transformers import AutoModelForAudioClassification

    if quantize != "none":
        raise ExportError(f"quantize={quantize!r} not supported yet")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = AutoModelForAudioClassification.from_pretrained(str(checkpoint)).eval()
    labels = tuple(model.config.id2label[i] for i in range(model.config.num_labels))

    class _Wrapper(torch.nn.Module):
        def __init__(self, m: torch.nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            logits = self.m(input_values=x).logits
            return torch.softmax(logits, dim=-1), logits

    wrapper = _Wrapper(model).eval()
    path = out / MODEL_FILENAME
    torch.onnx.export(
        wrapper,
        (torch.zeros(1, 16000),),
        str(path),
        input_names=["input_values"],
        output_names=["probabilities", "logits"],
        dynamic_axes={
            "input_values": {0: "batch", 1: "samples"},
            "probabilities": {0: "batch"},
            "logits": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,
    )
    meta = ModelMetadata(labels=labels, quantization="none", extra={"source": str(checkpoint)})
    proto = onnx.load(str(path))
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta.to_dict())
    onnx.save(proto, str(path))
    meta.write(out / METADATA_FILENAME)
    return ExportReport(out_dir=out, model_path=path, metadata=meta)
