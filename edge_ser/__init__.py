"""edge-ser: on-device speech emotion recognition on ONNX Runtime.

The runtime stands on numpy, onnxruntime, soundfile, soxr and webrtcvad; it never imports
torch or transformers.
"""

from __future__ import annotations

from .audio import load_audio
from .classifier import Classifier
from .errors import (
    AudioDecodeError,
    AudioError,
    AudioNotFoundError,
    EdgeSerError,
    InvalidAudioError,
    ModelError,
    ModelLoadError,
    ModelMetadataError,
    ModelNotFoundError,
    OptionsError,
    UnsupportedAudioError,
)
from .metadata import ModelMetadata, PreprocessingConfig
from .model import load_model
from .options import (
    AggregationOptions,
    ClassifierOptions,
    SessionOptions,
    VadOptions,
    WindowOptions,
)
from .results import ClassificationResult, SpeechRegion, WindowResult
from .stream import Stream

__version__ = "0.1.0"

__all__ = [
    "AggregationOptions",
    "AudioDecodeError",
    "AudioError",
    "AudioNotFoundError",
    "ClassificationResult",
    "Classifier",
    "ClassifierOptions",
    "EdgeSerError",
    "InvalidAudioError",
    "ModelError",
    "ModelLoadError",
    "ModelMetadata",
    "ModelMetadataError",
    "ModelNotFoundError",
    "OptionsError",
    "PreprocessingConfig",
    "SessionOptions",
    "SpeechRegion",
    "Stream",
    "UnsupportedAudioError",
    "VadOptions",
    "WindowOptions",
    "WindowResult",
    "__version__",
    "load_audio",
    "load_model",
]
