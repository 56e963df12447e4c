"""Torch to ONNX: the classifier graph with probabilities and logits outputs."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import torch

from edge_ser.errors import ExportError

__all__ = [
    "INPUT_NAME",
    "LOGITS_NAME",
    "OPSET",
    "PROBABILITIES_NAME",
    "ClassifierWrapper",
    "export_onnx",
]

logger = logging.getLogger("edge_ser.export")

OPSET = 17
INPUT_NAME = "input_values"
PROBABILITIES_NAME = "probabilities"
LOGITS_NAME = "logits"


class ClassifierWrapper(torch.nn.Module):
    """``input_values [batch, samples] -> (softmax probabilities, logits)``.

    No attention mask: every row is one whole (unpadded) window, which is how the runtime
    feeds the model and how a group-norm feature encoder must be fed.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(input_values=input_values).logits
        return torch.softmax(logits, dim=-1), logits


def export_onnx(
    model: Any,
    path: Path,
    *,
    opset: int = OPSET,
    example_samples: int = 16000,
    wrapper: torch.nn.Module | None = None,
) -> Path:
    """Export ``model`` (a ``*ForSequenceClassification``) to ``path`` as fp32 ONNX.

    ``wrapper`` replaces :class:`ClassifierWrapper` for models that take something other
    than samples (Whisper: :class:`~.whisper.WhisperClassifierWrapper`, log-mel in-graph);
    it must map ``input_values [batch, samples]`` to ``(probabilities, logits)``.

    Batch and sample axes are dynamic. ``dynamo=False`` uses the TorchScript exporter, which
    handles these models in this torch release; the wrapper is put in eval mode because the
    exporter restores (and exports with) the module's own train flag.
    """
    wrapper = (wrapper or ClassifierWrapper(model)).eval()
    example = torch.zeros(1, example_samples, dtype=torch.float32)
    # Non-silent example input: some exporters constant-fold on all-zero inputs.
    example[0, ::7] = 0.1
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", category=torch.jit.TracerWarning)  # type: ignore[attr-defined]
            warnings.simplefilter("ignore", category=UserWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)
            torch.onnx.export(
                wrapper,
                (example,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=[PROBABILITIES_NAME, LOGITS_NAME],
                dynamic_axes={
                    INPUT_NAME: {0: "batch", 1: "samples"},
                    PROBABILITIES_NAME: {0: "batch"},
                    LOGITS_NAME: {0: "batch"},
                },
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
    except Exception as exc:  # the exporter raises many unrelated types
        raise ExportError(f"torch.onnx.export failed for {type(model).__name__}: {exc}") from exc
    logger.info("exported fp32 ONNX graph to %s (opset %d)", path, opset)
    return path
