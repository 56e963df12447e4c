"""Options as frozen, validated dataclasses.

Each group can be given as an instance or as a plain ``dict`` (e.g. parsed from JSON);
:func:`coerce` turns either into the instance. Options are never mutated: use
``dataclasses.replace`` to derive a variant.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args

from .errors import OptionsError
from .fields import bounded, check_fields

__all__ = [
    "AGGREGATIONS",
    "AggregationOptions",
    "ClassifierOptions",
    "SessionOptions",
    "VadOptions",
    "WindowOptions",
    "coerce",
]

Aggregation = Literal["duration", "confidence", "vote", "mean"]
AGGREGATIONS: tuple[str, ...] = get_args(Aggregation)


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise OptionsError(message)


@dataclass(frozen=True)
class VadOptions:
    """Voice activity detection with webrtcvad, gated by an energy floor.

    Attributes:
        enabled: run VAD; when False the whole audio is one speech region.
        aggressiveness: webrtcvad mode, 0 (least aggressive) to 3 (most).
        frame_ms: webrtcvad frame length: 10, 20 or 30 ms.
        min_speech_ms: a region with less voiced audio than this is treated as noise.
        min_silence_ms: silence shorter than this does not end a region (regions are merged).
        speech_pad_ms: padding added on both sides of each region, clipped to the audio.
        energy_floor_dbfs: a frame whose RMS (after removing its mean, so a DC offset does
            not count) is below this level, in dB relative to full scale, is silence whatever
            webrtcvad says, and is not shown to webrtcvad. Once webrtcvad has adapted to a
            recording it flags runs of digital silence (exact zeros: padded, muted or gated
            audio) as speech; this gate stops that. ``None`` turns the gate off. The default,
            -70 dBFS, is far below any speech and below the noise floor of most recordings.
    """

    enabled: bool = True
    aggressiveness: int = bounded(2, choices=(0, 1, 2, 3))
    frame_ms: int = bounded(30, choices=(10, 20, 30))
    min_speech_ms: int = bounded(90, lo=0, hi=60_000)
    min_silence_ms: int = bounded(300, lo=0, hi=60_000)
    speech_pad_ms: int = bounded(150, lo=0, hi=60_000)
    energy_floor_dbfs: float | None = bounded(-70.0, lo=-120.0, hi=0.0)

    def __post_init__(self) -> None:
        check_fields(self, "VadOptions", OptionsError)


@dataclass(frozen=True)
class WindowOptions:
    """How speech regions become model windows.

    Policy (documented in the README): a region is cut into consecutive windows of
    ``window_s`` seconds with ``overlap_s`` overlap. A tail shorter than ``min_window_s``
    is not dropped: the last window is slid back so it ends at the region's end (it then
    overlaps the previous one). A whole region shorter than ``min_window_s`` is extended
    backwards into the preceding audio up to ``min_window_s`` (or to the start of the audio).

    Attributes:
        window_s: maximum window length; ``None`` takes the model's ``max_window_s``.
        overlap_s: overlap between consecutive windows of a long region.
        min_window_s: the shortest window sent to the model.
    """

    window_s: float | None = bounded(None, lo=0.5, hi=60.0)
    overlap_s: float = bounded(0.0, lo=0.0, hi=30.0)
    min_window_s: float = bounded(1.0, lo=0.0, hi=60.0, lo_open=True)

    def __post_init__(self) -> None:
        check_fields(self, "WindowOptions", OptionsError)
        limit = self.window_s if self.window_s is not None else 60.0
        _check(
            0.0 <= self.overlap_s < limit / 2,
            f"WindowOptions.overlap_s must be >= 0 and less than half the window, got {self.overlap_s!r}",
        )
        _check(
            0.0 < self.min_window_s <= limit,
            f"WindowOptions.min_window_s must be > 0 and at most the window, got {self.min_window_s!r}",
        )


@dataclass(frozen=True)
class AggregationOptions:
    """Temporal aggregation of per-window scores into one result per file.

    Attributes:
        method: ``duration`` (mean weighted by each window's speech seconds), ``confidence``
            (weighted by each window's top probability), ``vote`` (majority of window labels;
            scores are vote shares), or ``mean`` (unweighted).
        min_speech_ratio: windows whose share of VAD speech is below this are left out of
            the aggregate (they still appear in the timeline). This counters the neutral-class
            bias of long voice notes, where mostly-silent windows read as neutral. If every
            window falls below it, all windows are used.
    """

    method: Aggregation = "duration"
    min_speech_ratio: float = bounded(0.3, lo=0.0, hi=1.0)

    def __post_init__(self) -> None:
        check_fields(self, "AggregationOptions", OptionsError)


@dataclass(frozen=True)
class SessionOptions:
    """How the ONNX Runtime session is built.

    Attributes:
        intra_op_threads: threads for one operator; 0 lets ONNX Runtime decide.
        inter_op_threads: threads across operators (1 is right for this sequential graph).
        providers: execution providers in order of preference (a list or tuple of names).
        batch_size: at most this many equal-length windows go through the model at once.
            The default 1 keeps peak memory to one window's activations (about 30 MB for
            an 8-second DistilHuBERT window exported with the graph passes, 120 MB
            without); larger batches trade memory for little speed on a CPU.
        parallel_windows: windows of one file or array scored at the same time, each on
            its own thread of the one session (the weights are shared; each running window
            adds its own activations). Measured on 2 cores with ``intra_op_threads`` 1
            (benchmarks/README.md): 2 windows at once scored 1.34x more windows per second
            than the defaults on back-to-back short utterances and 1.08x on a long synthetic
            note, for up to 30 MB more peak memory, past 150 MB on an hour-long note; so the
            default stays 1. A live :class:`~edge_ser.Stream` always scores each window as
            soon as it completes.
    """

    intra_op_threads: int = bounded(0, lo=0, hi=256)
    inter_op_threads: int = bounded(1, lo=0, hi=256)
    providers: tuple[str, ...] = bounded(("CPUExecutionProvider",), length=(1, 16))
    batch_size: int = bounded(1, lo=1, hi=64)
    parallel_windows: int = bounded(1, lo=1, hi=64)

    def __post_init__(self) -> None:
        check_fields(self, "SessionOptions", OptionsError)


@dataclass(frozen=True)
class ClassifierOptions:
    """All runtime options, grouped. Returned inside every result."""

    vad: VadOptions = field(default_factory=VadOptions)
    window: WindowOptions = field(default_factory=WindowOptions)
    aggregation: AggregationOptions = field(default_factory=AggregationOptions)
    session: SessionOptions = field(default_factory=SessionOptions)

    def __post_init__(self) -> None:
        # Accept dicts for the groups, as faster-whisper accepts vad_parameters as a dict.
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            cls = _GROUPS[f.name]
            object.__setattr__(self, f.name, coerce(cls, value, f"ClassifierOptions.{f.name}"))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClassifierOptions:
        return coerce(cls, data, "ClassifierOptions")


_GROUPS: dict[str, type] = {
    "vad": VadOptions,
    "window": WindowOptions,
    "aggregation": AggregationOptions,
    "session": SessionOptions,
}

T = TypeVar("T")


def coerce(cls: type[T], value: object, what: str | None = None) -> T:
    """Return ``value`` as an instance of the options class ``cls``.

    ``None`` gives the defaults; a mapping is checked for unknown keys.
    """
    what = what or cls.__name__
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        bad_keys = [k for k in value if not isinstance(k, str)]
        if bad_keys:
            raise OptionsError(f"{what}: option names must be strings, got {bad_keys[0]!r}")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(value) - names)
        if unknown:
            raise OptionsError(
                f"{what}: unknown option(s) {', '.join(map(str, unknown))}; "
                f"accepted: {', '.join(sorted(names))}"
            )
        try:
            return cls(**dict(value))
        except TypeError as exc:  # pragma: no cover - guarded by the unknown-key check
            raise OptionsError(f"{what}: {exc}") from exc
    raise OptionsError(f"{what} must be a {cls.__name__} or a dict, got {type(value).__name__}")
