"""One exception hierarchy for the whole library.

Every error the library raises on purpose derives from :class:`EdgeSerError`, so an
application can catch one type. Messages say what was given and what is accepted.
"""

from __future__ import annotations

__all__ = [
    "AudioDecodeError",
    "AudioError",
    "AudioNotFoundError",
    "AudioReadError",
    "EdgeSerError",
    "ExportError",
    "InvalidAudioError",
    "ModelError",
    "ModelLoadError",
    "ModelMetadataError",
    "ModelNotFoundError",
    "OptionsError",
    "ParityError",
    "ToolchainMissingError",
    "TrainingError",
    "UnsupportedAudioError",
]


class EdgeSerError(Exception):
    """Base class of every error raised by edge-ser."""


class OptionsError(EdgeSerError, ValueError):
    """An option has a value outside its accepted range."""


class AudioError(EdgeSerError):
    """Base class for problems with the audio given to the library."""


class AudioNotFoundError(AudioError, FileNotFoundError):
    """The audio path does not exist (or a folder holds no audio)."""


class AudioReadError(AudioError, OSError):
    """The audio exists but cannot be read: permission denied, a name too long, a read that
    failed (an I/O error, or an exception from the caller's file object)."""


class AudioDecodeError(AudioError):
    """The file exists but cannot be decoded as audio (empty, truncated, not audio)."""


class UnsupportedAudioError(AudioError):
    """Decodable audio in a form the library does not accept (e.g. a bad sample rate)."""


class InvalidAudioError(AudioError, ValueError):
    """An in-memory array that is not usable audio (wrong shape or dtype, NaN/inf)."""


class ModelError(EdgeSerError):
    """Base class for problems with a model file or its metadata."""


class ModelNotFoundError(ModelError, FileNotFoundError):
    """The model path does not exist, or no bundled model is installed."""


class ModelLoadError(ModelError):
    """ONNX Runtime cannot load the model file (corrupt, truncated, not a model)."""


class ModelMetadataError(ModelError):
    """The metadata is missing or invalid, or disagrees with the graph."""


class ExportError(EdgeSerError):
    """The export toolchain cannot turn a checkpoint into a model."""


class ParityError(ExportError):
    """The exported model's outputs differ from the reference beyond tolerance."""


class TrainingError(EdgeSerError):
    """Training or evaluation cannot proceed (bad corpus, bad split, bad config)."""


class ToolchainMissingError(EdgeSerError):
    """An optional toolchain dependency (torch, transformers, onnx) is not installed."""
