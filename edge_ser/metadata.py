"""Model metadata: written by the exporter, read by the runtime.

The metadata travels twice with every exported model, and both copies are identical:

* inside the model file, as the ONNX ``metadata_props`` entry ``edge_ser`` (a JSON string;
  ONNX Runtime exposes it for ``.onnx`` and ``.ort`` files through
  ``session.get_modelmeta().custom_metadata_map``);
* beside it, as ``edge_ser.json`` in the model folder, for tools that do not open the model.

Nothing here is hard-coded twice: labels, sample rate, window length and preprocessing all
come from this record.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import ModelMetadataError
from .fields import bounded, check_fields
from .paths import read_small_text

__all__ = [
    "FRONT_ENDS",
    "METADATA_FILENAME",
    "METADATA_KEY",
    "METADATA_VERSION",
    "ModelMetadata",
    "PreprocessingConfig",
]

METADATA_KEY = "edge_ser"
METADATA_FILENAME = "edge_ser.json"
METADATA_VERSION = 1
MAX_LABELS = 1024
MAX_NAME = 256  # characters in a label, a graph input/output name or a quantisation name
MAX_METADATA_BYTES = (
    16 * 1024 * 1024
)  # an edge_ser.json (or embedded entry) larger than this is refused

InputKind = Literal["preprocessed", "raw_pcm"]
# What the graph does first with its input samples (both take PCM; neither needs DSP in
# the runtime): ``waveform``, a conv stack on the samples (HuBERT, wav2vec2, WavLM);
# ``log_mel``, Whisper's log-mel spectrogram computed in the graph, then its encoder.
FrontEnd = Literal["waveform", "log_mel"]
FRONT_ENDS: tuple[str, ...] = ("waveform", "log_mel")


@dataclass(frozen=True)
class PreprocessingConfig:
    """The preprocessing the model was trained with (the paper's recipe).

    Applied to every window, in this order:

    1. silence trim: the window is cut into non-overlapping frames of ``trim_frame_length``
       samples (a partial last frame counts); frames whose RMS is more than ``trim_top_db``
       below the loudest frame's RMS are silent; leading and trailing silent frames are cut.
       ``trim_top_db <= 0`` disables trimming.
    2. pre-emphasis: ``y[0] = x[0]``, ``y[n] = x[n] - pre_emphasis * x[n-1]``
       (``pre_emphasis == 0`` disables it).
    3. peak normalisation: ``y * (peak / max|y|)`` when ``max|y| > 1e-8`` (``peak_normalize``).
    """

    trim_top_db: float = bounded(20.0, lo=-200.0, hi=200.0)
    # Bounded: the trim pads each window to whole frames, so this sizes an allocation.
    trim_frame_length: int = bounded(512, lo=1, hi=65_536)
    pre_emphasis: float = bounded(0.97, lo=0.0, hi=1.0, hi_open=True)
    peak_normalize: bool = True
    peak: float = bounded(1.0, lo=0.0, hi=1.0, lo_open=True)

    def __post_init__(self) -> None:
        check_fields(self, "metadata preprocessing", ModelMetadataError)


@dataclass(frozen=True)
class ModelMetadata:
    """Everything the runtime needs to know about a model.

    Attributes:
        labels: class names in output order.
        sample_rate: the rate the model takes, in Hz.
        max_window_s: the longest window the model was trained on.
        min_input_samples: the shortest input the graph accepts (the conv receptive field).
        input_name: the graph input (float32 ``[batch, samples]``).
        output_name: the probabilities output (float32 ``[batch, labels]``, rows sum to 1).
        logits_name: the logits output, if any.
        input_kind: ``preprocessed`` (the runtime preprocesses) or ``raw_pcm`` (the graph
            does the preprocessing itself: the app-friendly variant).
        preprocessing: see :class:`PreprocessingConfig` (what the runtime applies before
            the graph; a Whisper model's has no pre-emphasis).
        front_end: ``waveform`` (the graph's first layer is a conv on the samples) or
            ``log_mel`` (it computes Whisper's log-mel spectrogram itself). Metadata without
            it is ``waveform``, and ``to_dict`` leaves the default out, so older metadata
            reads and writes back unchanged.
        quantization: ``none``, ``dynamic`` or ``static``.
        extra: free-form provenance: parity figures, tool versions, source checkpoint.
    """

    labels: tuple[str, ...] = bounded(length=(2, MAX_LABELS))
    sample_rate: int = bounded(16_000, choices=(8000, 16000, 32000, 48000))
    max_window_s: float = bounded(8.0, lo=0.5, hi=60.0)
    min_input_samples: int = bounded(400, lo=1, hi=60 * 48_000)
    input_name: str = bounded("input_values", length=(1, MAX_NAME))
    output_name: str = bounded("probabilities", length=(1, MAX_NAME))
    logits_name: str | None = bounded("logits", length=(1, MAX_NAME))
    input_kind: InputKind = "preprocessed"
    preprocessing: PreprocessingConfig = field(default_factory=PreprocessingConfig)
    quantization: str = bounded("none", length=(1, MAX_NAME))
    format_version: int = bounded(METADATA_VERSION, lo=0, hi=METADATA_VERSION)
    # Left out of repr(): the training record alone is ~8 KB. str() gives a summary.
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    front_end: FrontEnd = "waveform"

    def __post_init__(self) -> None:
        if isinstance(self.labels, str):
            raise ModelMetadataError(f"metadata labels must be a list, got {self.labels!r}")
        if _is_int(self.format_version) and self.format_version > METADATA_VERSION:
            raise ModelMetadataError(
                f"metadata format_version {self.format_version} is newer than this edge-ser "
                f"understands ({METADATA_VERSION}); upgrade edge-ser"
            )
        if self.front_end not in FRONT_ENDS:
            raise ModelMetadataError(
                f"metadata front_end must be one of {', '.join(map(repr, FRONT_ENDS))}, got "
                f"{self.front_end!r} (a model for a newer edge-ser? upgrade edge-ser)"
            )
        check_fields(self, "metadata", ModelMetadataError)
        labels = self.labels
        if len(set(labels)) != len(labels) or not all(0 < len(x) <= MAX_NAME for x in labels):
            raise ModelMetadataError(
                f"metadata labels must be at least 2 distinct non-empty strings of at most "
                f"{MAX_NAME} characters, got {list(labels)!r}"
            )
        if not (self.min_input_samples <= self.max_window_s * self.sample_rate):
            raise ModelMetadataError(
                f"metadata min_input_samples must be an integer from 1 to one window "
                f"(max_window_s * sample_rate), got {self.min_input_samples!r}"
            )
        if not isinstance(self.preprocessing, PreprocessingConfig):
            raise ModelMetadataError(
                f"metadata preprocessing must be an object, got {self.preprocessing!r}"
            )

    def __str__(self) -> str:
        """A short summary: what ``print(clf.metadata)`` shows (the full record: to_json())."""
        lines = [
            f"labels: {', '.join(self.labels)}",
            f"input: {self.input_kind} audio at {self.sample_rate} Hz, windows up to "
            f"{self.max_window_s:g} s",
            f"quantization: {self.quantization}",
        ]
        if self.front_end != "waveform":
            lines.append(f"front end: {self.front_end} (inside the model)")
        arch = self.extra.get("architecture")
        if arch:
            lines.append(f"architecture: {arch}")
        source = self.extra.get("source_checkpoint")
        if source:
            lines.append(f"exported from: {source}")
        if self.extra:
            lines.append(f"extra: {', '.join(sorted(self.extra))} (see to_dict())")
        return "\n".join(lines)

    # -- serialisation -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["labels"] = list(self.labels)
        data["extra"] = dict(self.extra)
        if self.front_end == "waveform":
            del data["front_end"]  # the default: metadata of waveform models stays as it was
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelMetadata:
        if not isinstance(data, Mapping):
            raise ModelMetadataError(f"metadata must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if "labels" not in kwargs:
            raise ModelMetadataError("metadata has no 'labels'")
        pre = kwargs.get("preprocessing", {})
        try:
            if isinstance(pre, Mapping):
                pre_known = {f.name for f in dataclasses.fields(PreprocessingConfig)}
                kwargs["preprocessing"] = PreprocessingConfig(
                    **{k: v for k, v in pre.items() if k in pre_known}
                )
            else:
                raise ModelMetadataError("metadata 'preprocessing' must be an object")
            return cls(**kwargs)
        except TypeError as exc:
            raise ModelMetadataError(f"invalid metadata: {exc}") from exc

    @classmethod
    def from_json(cls, text: str, source: str = "metadata") -> ModelMetadata:
        if not isinstance(text, str):
            raise ModelMetadataError(f"{source} must be JSON text, got {type(text).__name__}")
        if len(text) > MAX_METADATA_BYTES:
            raise ModelMetadataError(
                f"{source} is {len(text)} characters long; accepted: at most "
                f"{MAX_METADATA_BYTES} (model metadata is a few kilobytes)"
            )
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            why = exc if isinstance(exc, ValueError) else "nested too deeply"
            raise ModelMetadataError(f"{source} is not valid JSON: {why}") from exc
        return cls.from_dict(data)

    @classmethod
    def read(cls, path: str | Path) -> ModelMetadata:
        """Read an ``edge_ser.json`` file."""
        if not isinstance(path, (str, os.PathLike)):
            raise ModelMetadataError(f"metadata path must be a path, got {type(path).__name__}")
        p = Path(path)
        try:
            text = read_small_text(p, MAX_METADATA_BYTES)
        except (OSError, ValueError) as exc:
            raise ModelMetadataError(f"cannot read model metadata {p}: {exc}") from exc
        return cls.from_json(text, source=str(p))

    def write(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(self.to_json() + "\n", encoding="utf-8")
        return p


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
