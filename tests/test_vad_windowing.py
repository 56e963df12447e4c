"""VAD regions and the windowing policy, including their online (streaming) behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import speech_bursts
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_ser.errors import OptionsError, UnsupportedAudioError
from edge_ser.options import VadOptions, WindowOptions
from edge_ser.vad import Region, SpeechDetector
from edge_ser.windowing import (
    RollingBuffer,
    WindowPlan,
    closing_windows,
    full_windows,
    speech_fraction,
)

SR = 16000


def _regions(x: np.ndarray, options: VadOptions, chunk: int | None = None) -> list[Region]:
    det = SpeechDetector(options, SR)
    chunk = chunk or x.shape[0] or 1
    found: list[Region] = []
    for i in range(0, x.shape[0], chunk):
        found += det.push(x[i : i + chunk])[1]
    return found + det.finish(x.shape[0])[1]


def _seconds(regions: list[Region]) -> list[tuple[float, float]]:
    return [(r.start / SR, r.end / SR) for r in regions]


# -- VAD -----------------------------------------------------------------------------------


def test_silence_has_no_regions() -> None:
    x = (0.001 * np.random.default_rng(0).standard_normal(3 * SR)).astype(np.float32)
    assert _regions(x, VadOptions()) == []
    assert _regions(np.zeros(0, np.float32), VadOptions()) == []


def test_audio_shorter_than_the_vad_warm_up_is_still_classified() -> None:
    x = speech_bursts([(0.0, 0.15)], 0.15)
    regions = _regions(x, VadOptions(min_speech_ms=30, speech_pad_ms=0))
    assert [(r.start, r.end) for r in regions] == [(0, 2400)]


def test_a_burst_gives_one_padded_region_at_its_time() -> None:
    x = speech_bursts([(1.0, 2.5)], 4.0)
    opts = VadOptions(speech_pad_ms=150)
    ((start, end),) = _seconds(_regions(x, opts))
    assert start == pytest.approx(1.0 - 0.15, abs=0.04)
    # webrtcvad's hangover marks a few frames after the burst as speech.
    assert 2.5 + 0.15 - 0.04 <= end <= 2.5 + 0.15 + 0.15


def test_padding_is_clipped_to_the_audio() -> None:
    x = speech_bursts([(0.0, 1.0), (1.9, 2.0)], 2.0)
    regions = _regions(x, VadOptions(speech_pad_ms=300, min_speech_ms=30))
    assert regions[0].start == 0 and regions[-1].end == x.shape[0]


def test_short_gaps_merge_and_long_gaps_split() -> None:
    # A 400 ms gap (webrtcvad's hangover flags about 100 ms of it as speech).
    x = speech_bursts([(0.5, 1.5), (1.9, 2.5), (4.0, 5.0)], 6.0)
    assert len(_regions(x, VadOptions(min_silence_ms=500, speech_pad_ms=0))) == 2
    assert len(_regions(x, VadOptions(min_silence_ms=100, speech_pad_ms=0))) == 3


def test_overlapping_padding_merges_regions() -> None:
    x = speech_bursts([(0.5, 1.5), (2.0, 3.0)], 4.0)
    opts = VadOptions(min_silence_ms=200, speech_pad_ms=0)
    assert len(_regions(x, opts)) == 2
    assert len(_regions(x, VadOptions(min_silence_ms=200, speech_pad_ms=400))) == 1


def test_short_noise_bursts_are_dropped() -> None:
    x = speech_bursts([(1.0, 1.06), (2.0, 3.0)], 4.0)
    opts = VadOptions(min_speech_ms=300, speech_pad_ms=0, min_silence_ms=100)
    ((start, _),) = _seconds(_regions(x, opts))
    assert start == pytest.approx(2.0, abs=0.04)


def test_disabled_vad_is_one_region_of_the_whole_audio() -> None:
    x = np.zeros(12345, np.float32)
    (region,) = _regions(x, VadOptions(enabled=False))
    assert (region.start, region.end) == (0, 12345)


@pytest.mark.parametrize("chunk", [1, 37, 480, 4096])
def test_vad_does_not_depend_on_chunking(chunk: int) -> None:
    x = speech_bursts([(0.3, 1.2), (1.5, 1.6), (2.0, 4.1)], 5.0, seed=3)
    opts = VadOptions(min_silence_ms=150)
    assert _regions(x, opts, chunk) == _regions(x, opts)


def test_active_region_start_is_final_and_end_only_grows() -> None:
    x = speech_bursts([(0.5, 1.5), (1.8, 3.0)], 4.0)
    det = SpeechDetector(VadOptions(min_silence_ms=500), SR)
    seen: dict[int, int] = {}
    finals: list[Region] = []
    for i in range(0, x.shape[0], 160):
        finals += det.push(x[i : i + 160])[1]
        if det.active is not None:
            assert det.active.end >= seen.get(det.active.start, 0)
            seen[det.active.start] = det.active.end
    finals += det.finish(x.shape[0])[1]
    (final,) = finals
    assert final.start in seen and final.end >= seen[final.start]


def test_unsupported_vad_rate() -> None:
    with pytest.raises(UnsupportedAudioError, match="8000, 16000, 32000 or 48000"):
        SpeechDetector(VadOptions(), 22050)


# -- windowing policy ----------------------------------------------------------------------

PLAN = WindowPlan(window=8 * SR, hop=8 * SR, min_window=1 * SR)


def _s(spans: list[tuple[int, int]]) -> list[tuple[float, float]]:
    return [(a / SR, b / SR) for a, b in spans]


def test_tail_shorter_than_min_window_slides_the_last_window_back() -> None:
    assert _s(closing_windows(0, int(8.5 * SR), PLAN, 0)) == [(0.0, 8.0), (0.5, 8.5)]


def test_tail_of_min_window_or_more_is_its_own_window() -> None:
    assert _s(closing_windows(0, int(9.5 * SR), PLAN, 0)) == [(0.0, 8.0), (8.0, 9.5)]


def test_region_between_min_and_max_is_one_window() -> None:
    assert _s(closing_windows(SR, 4 * SR, PLAN, 0)) == [(1.0, 4.0)]


def test_short_region_extends_backwards_and_stops_at_audio_start() -> None:
    assert _s(closing_windows(5 * SR, int(5.4 * SR), PLAN, 0)) == [(4.4, 5.4)]
    assert _s(closing_windows(int(0.2 * SR), int(0.5 * SR), PLAN, 0)) == [(0.0, 0.5)]


def test_overlap_sets_the_hop() -> None:
    plan = WindowPlan.from_options(WindowOptions(overlap_s=2.0), 8.0, SR)
    assert _s(full_windows(0, 20 * SR, plan, 0)) == [(0.0, 8.0), (6.0, 14.0), (12.0, 20.0)]


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(0, 20 * SR),
    length=st.integers(1, 40 * SR),
    window_s=st.sampled_from([2.0, 4.0, 8.0]),
    overlap_frac=st.floats(0.0, 0.45),
    min_frac=st.floats(0.05, 1.0),
    known_frac=st.floats(0.0, 1.0),
)
def test_window_invariants(
    start: int,
    length: int,
    window_s: float,
    overlap_frac: float,
    min_frac: float,
    known_frac: float,
) -> None:
    opts = WindowOptions(
        window_s=window_s, overlap_s=overlap_frac * window_s, min_window_s=min_frac * window_s
    )
    plan = WindowPlan.from_options(opts, 8.0, SR)
    end = start + length
    spans = closing_windows(start, end, plan, 0)
    assert spans, "a region never loses all its windows"
    assert spans == sorted(spans)
    for a, b in spans:
        assert 0 <= a < b <= end
        assert b - a <= plan.window
        assert b - a >= min(plan.min_window, b)  # only the audio start can shorten a window
    # Every sample of the region is in some window.
    covered = np.zeros(length, dtype=bool)
    for a, b in spans:
        covered[max(a, start) - start : b - start] = True
    assert covered.all()
    # Online: emitting the full windows known early, then the rest, gives the same windows.
    known_end = start + int(known_frac * length)
    early = full_windows(start, known_end, plan, 0)
    assert early + closing_windows(start, end, plan, len(early)) == spans


def test_window_options_are_checked_against_the_model() -> None:
    with pytest.raises(OptionsError, match="max_window_s"):
        WindowPlan.from_options(WindowOptions(window_s=10.0), 8.0, SR)
    with pytest.raises(OptionsError, match="min_window_s"):
        WindowPlan.from_options(WindowOptions(min_window_s=5.0), 4.0, SR)
    with pytest.raises(OptionsError, match="overlap_s"):
        WindowPlan.from_options(WindowOptions(overlap_s=3.0), 4.0, SR)


def test_speech_fraction_counts_partial_frames() -> None:
    flags = np.array([1, 0, 1, 1], dtype=bool)  # frames of 10 samples from frame 2
    assert speech_fraction(flags, 2, 10, (20, 60)) == pytest.approx(30 / 40)
    assert speech_fraction(flags, 2, 10, (25, 35)) == pytest.approx(5 / 10)
    assert speech_fraction(flags, 2, 10, (0, 20)) == 0.0  # frames not held count as silence


def test_rolling_buffer_keeps_absolute_positions() -> None:
    buf: RollingBuffer[np.float32] = RollingBuffer(np.float32)
    data = np.arange(10_000, dtype=np.float32)
    for i in range(0, 10_000, 333):
        buf.append(data[i : i + 333])
        buf.discard_before(max(0, i - 1000))
    assert buf.end == 10_000
    np.testing.assert_array_equal(buf.get(9_000, 9_500), data[9_000:9_500])
    assert buf.offset > 0
    with pytest.raises(IndexError):
        buf.get(0, 10)
