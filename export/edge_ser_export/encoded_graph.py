"""Optional variant taking encoded audio bytes, built on onnxruntime-extensions' AudioDecoder.

``model_encoded.onnx`` = ``AudioDecoder`` (WAV, FLAC or MP3 bytes -> mono float PCM at the
model rate) in front of the raw-PCM graph. An app hands it a whole short clip (up to
``max_window_s``) as ``audio_stream uint8 [1, bytes]`` and gets one prediction: no decoding,
resampling or preprocessing code in the app. It needs the onnxruntime-extensions custom-op
library registered in the session (``SessionOptions.register_custom_ops_library``), which
the edge-ser runtime does not do: the runtime refuses this file (its metadata says
``input_kind: "encoded_audio"``), and it does not replace VAD and windowing for long audio.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import onnx
from onnx import TensorProto, helper

from edge_ser.errors import ToolchainMissingError

from ._toolchain import INSTALL_HINT
from .preprocess_graph import tidy_merged

__all__ = [
    "CONTRIB_DOMAIN",
    "ENCODED_INPUT_NAME",
    "compose_encoded_model",
    "encoded_metadata",
    "extensions_library",
]

ENCODED_INPUT_NAME = "audio_stream"
CONTRIB_DOMAIN = "ai.onnx.contrib"
_PCM = "edge_ser_decode/pcm"


def extensions_library() -> str:
    """Path of the onnxruntime-extensions custom-op library (to register in a session)."""
    try:
        import onnxruntime_extensions
    except ImportError as exc:
        raise ToolchainMissingError(
            f"the encoded-audio variant needs onnxruntime-extensions; install it with: "
            f"{INSTALL_HINT}"
        ) from exc
    return str(onnxruntime_extensions.get_library_path())


def compose_encoded_model(
    raw_model: onnx.ModelProto, *, sample_rate: int, raw_input_name: str
) -> onnx.ModelProto:
    """The raw-PCM model with an ``AudioDecoder`` in front of its waveform input."""
    opset = next(o.version for o in raw_model.opset_import if o.domain in ("", "ai.onnx"))
    decoder = helper.make_node(
        "AudioDecoder",
        [ENCODED_INPUT_NAME],
        [_PCM],
        name="edge_ser_decode/AudioDecoder",
        domain=CONTRIB_DOMAIN,
        downsampling_rate=sample_rate,
        stereo_to_mono=1,
    )
    graph = helper.make_graph(
        [decoder],
        "edge_ser_decode",
        [helper.make_tensor_value_info(ENCODED_INPUT_NAME, TensorProto.UINT8, [1, "bytes"])],
        [helper.make_tensor_value_info(_PCM, TensorProto.FLOAT, [1, "samples"])],
    )
    front = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(CONTRIB_DOMAIN, 1)],
    )
    front.ir_version = raw_model.ir_version
    merged = onnx.compose.merge_models(
        front, raw_model, io_map=[(_PCM, raw_input_name)], producer_name="edge_ser_export"
    )
    return tidy_merged(merged)


def encoded_metadata(raw_metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The raw variant's metadata, marked as taking encoded audio bytes.

    ``input_kind: "encoded_audio"`` is deliberately outside what
    :class:`edge_ser.metadata.ModelMetadata` accepts, so the runtime rejects the file
    with a clear message instead of feeding it PCM.
    """
    data = dict(raw_metadata)
    data["input_kind"] = "encoded_audio"
    data["input_name"] = ENCODED_INPUT_NAME
    extra = dict(data.get("extra", {}))
    extra["input_format"] = (
        "uint8 [1, bytes]: one whole WAV, FLAC or MP3 file (decoded, downmixed and resampled "
        "in-graph); needs the onnxruntime-extensions custom-op library"
    )
    data["extra"] = extra
    return data
