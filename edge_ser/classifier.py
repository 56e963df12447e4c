"""The entry point: :class:`Classifier`."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .audio import BLOCK_SECONDS, AudioSource, check_sample_rate, open_audio, to_mono_float32
from .errors import OptionsError, UnsupportedAudioError
from .metadata import ModelMetadata
from .model import Model, load_model
from .options import ClassifierOptions, coerce
from .results import ClassificationResult
from .stream import Stream
from .windowing import WindowPlan

__all__ = ["Classifier", "ProgressCallback"]

# Called after each block with (seconds processed, total seconds).
ProgressCallback = Callable[[float, float], None]


class Classifier:
    """Speech emotion classifier on ONNX Runtime.

    Args:
        model: a model folder (``model.onnx`` or ``model.ort`` with its metadata), a single
            ``.onnx`` / ``.ort`` file, or ``None`` for the bundled default model.
        options: :class:`ClassifierOptions`, or a dict of option groups
            (``{"vad": {...}, "window": {...}, "aggregation": {...}, "session": {...}}``).

    A classifier holds no per-call state: one instance can serve many threads at once.

    Example::

        clf = Classifier("models/edge-ser")
        result = clf.classify("voice_note.wav")
        print(result.label, result.scores)
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        options: ClassifierOptions | Mapping[str, Any] | None = None,
    ) -> None:
        if model is not None and not isinstance(model, (str, os.PathLike)):
            raise OptionsError(
                f"Classifier model must be a path (str or os.PathLike) to a model folder or "
                f".onnx/.ort file, or None for the bundled model; got {model!r} "
                f"({type(model).__name__})"
            )
        self._options = coerce(ClassifierOptions, options, "options")
        self._model: Model = load_model(
            None if model is None else Path(model), self._options.session
        )
        md = self._model.metadata
        self._plan = WindowPlan.from_options(self._options.window, md.max_window_s, md.sample_rate)

    @property
    def metadata(self) -> ModelMetadata:
        return self._model.metadata

    @property
    def labels(self) -> tuple[str, ...]:
        return self._model.metadata.labels

    @property
    def options(self) -> ClassifierOptions:
        return self._options

    @property
    def model_source(self) -> str:
        """The loaded model's path (or its name inside the package, when bundled)."""
        return self._model.source

    def stream(self, sample_rate: int, *, source: str | None = None) -> Stream:
        """Start a stream for live audio at ``sample_rate`` (see :class:`Stream`)."""
        return Stream(self._model, self._options, self._plan, sample_rate, source=source)

    def _file_stream(self, sample_rate: int, source: str | None = None) -> Stream:
        """A stream for a whole recording: with ``session.parallel_windows`` > 1 its windows
        queue up and run that many at once (see :class:`SessionOptions`)."""
        return Stream(
            self._model,
            self._options,
            self._plan,
            sample_rate,
            source=source,
            parallel_windows=self._options.session.parallel_windows,
        )

    def classify(
        self,
        audio: AudioSource,
        sample_rate: int | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> ClassificationResult:
        """Classify a whole recording.

        Args:
            audio: a path (anything libsndfile reads: WAV, FLAC, OGG, ...), a binary file
                object, or a numpy array (``(frames,)`` or ``(frames, channels)``, integer or
                float PCM).
            sample_rate: the array's rate in Hz; required for arrays, and for files only
                allowed when it equals the file's own rate.
            progress: optional callback ``(seconds_done, seconds_total)`` after each block.

        Returns:
            the result; with no speech found, ``label`` is ``None`` and ``windows`` is empty.
        """
        if progress is not None and not callable(progress):
            raise OptionsError(
                f"progress must be a callable (seconds_done, seconds_total), got {progress!r}"
            )
        if isinstance(audio, np.ndarray):
            if sample_rate is None:
                raise UnsupportedAudioError("sample_rate is required when audio is a numpy array")
            rate = check_sample_rate(sample_rate)
            samples = to_mono_float32(audio)
            stream = self._file_stream(rate)
            total = samples.shape[0] / rate
            step = int(BLOCK_SECONDS * rate)
            for i in range(0, samples.shape[0], step):
                stream.accept_waveform(samples[i : i + step])
                if progress is not None:
                    progress(stream.duration, total)
            return stream.finish()
        source = str(audio) if isinstance(audio, (str, os.PathLike)) else None
        with open_audio(audio, sample_rate) as f:
            stream = self._file_stream(f.sample_rate, source=source)
            for block in f.blocks():
                stream.accept_waveform(block)
                if progress is not None:
                    progress(stream.duration, f.duration)
            result = stream.finish()
            warnings = (*f.warnings, *f.repair_warnings())
        return dataclasses.replace(result, warnings=warnings) if warnings else result
