"""Frozen result dataclasses with ``to_dict()`` for JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .options import ClassifierOptions

__all__ = [
    "LOW_CONFIDENCE_MARGIN",
    "LOW_CONFIDENCE_TOP",
    "ClassificationResult",
    "SpeechRegion",
    "WindowResult",
    "is_low_confidence",
]

# A label is flagged low-confidence when its probability is below LOW_CONFIDENCE_TOP, or
# when it leads the runner-up by less than LOW_CONFIDENCE_MARGIN: a near tie, where the
# int8 model is also most likely to disagree with fp32 (see the model card).
LOW_CONFIDENCE_TOP = 0.5
LOW_CONFIDENCE_MARGIN = 0.1


def is_low_confidence(scores: Mapping[str, float]) -> bool:
    """Whether ``scores`` (label -> probability) make a low-confidence label (see above)."""
    ranked = sorted((float(v) for v in scores.values()), reverse=True)
    if not ranked:
        return False
    runner_up = ranked[1] if len(ranked) > 1 else 0.0
    return ranked[0] < LOW_CONFIDENCE_TOP or ranked[0] - runner_up < LOW_CONFIDENCE_MARGIN


@dataclass(frozen=True)
class SpeechRegion:
    """A span of speech found by VAD, in seconds of the original audio."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end}


@dataclass(frozen=True)
class WindowResult:
    """One model window on the timeline.

    Attributes:
        start, end: seconds of the original audio.
        label: the top class of this window.
        scores: label -> probability (sums to 1).
        speech_ratio: the share of the window that VAD marked as speech (0..1).
    """

    start: float
    end: float
    label: str
    scores: Mapping[str, float]
    speech_ratio: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def confidence(self) -> float:
        return float(self.scores[self.label])

    @property
    def low_confidence(self) -> bool:
        """See :func:`is_low_confidence`."""
        return is_low_confidence(self.scores)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 6),
            "end": round(self.end, 6),
            "label": self.label,
            "scores": {k: float(v) for k, v in self.scores.items()},
            "speech_ratio": round(self.speech_ratio, 6),
            "low_confidence": self.low_confidence,
        }


@dataclass(frozen=True)
class ClassificationResult:
    """The result for one input.

    When no speech is found (silence, noise, audio shorter than the model accepts),
    ``label`` is ``None``, ``scores`` is empty and ``windows`` is empty: a defined
    "no speech" result, not an error.

    Attributes:
        label: the aggregated top class, or ``None`` for no speech.
        scores: label -> aggregated probability (sums to 1), empty for no speech.
        duration: length of the input audio in seconds.
        windows: the per-window timeline, ordered by start.
        speech_regions: the VAD speech regions, ordered.
        speech_duration: seconds of speech found by VAD.
        aggregation: the aggregation method used.
        options: the options actually used.
        source: the input's path, or ``None`` for arrays and file objects.
        model: the model's name or path.
        warnings: what went wrong while decoding a file, one line each: where decoding
            stopped in a damaged or truncated file (the result covers the audio before
            it), damaged samples that were replaced. Empty for a clean input.
    """

    label: str | None
    scores: Mapping[str, float]
    duration: float
    windows: tuple[WindowResult, ...]
    speech_regions: tuple[SpeechRegion, ...]
    speech_duration: float
    aggregation: str
    options: ClassifierOptions = field(default_factory=ClassifierOptions)
    source: str | None = None
    model: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def has_speech(self) -> bool:
        return self.label is not None

    @property
    def speech_ratio(self) -> float:
        return self.speech_duration / self.duration if self.duration > 0 else 0.0

    @property
    def low_confidence(self) -> bool:
        """The top score is below ``LOW_CONFIDENCE_TOP`` or within ``LOW_CONFIDENCE_MARGIN``
        of the runner-up (False for no speech)."""
        return is_low_confidence(self.scores)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.source,
            "label": self.label,
            "scores": {k: float(v) for k, v in self.scores.items()},
            "low_confidence": self.low_confidence,
            "duration": round(self.duration, 6),
            "speech_duration": round(self.speech_duration, 6),
            "aggregation": self.aggregation,
            "windows": [w.to_dict() for w in self.windows],
            "speech_regions": [r.to_dict() for r in self.speech_regions],
            "model": self.model,
            "options": self.options.to_dict(),
            "warnings": list(self.warnings),
        }
