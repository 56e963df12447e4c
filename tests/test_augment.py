"""Waveform augmentation: speed, random EQ and band limit, synthetic reverberation, noise."""

from __future__ import annotations

import numpy as np
import pytest
from edge_ser_train.data import (
    AugmentOptions,
    _colored_noise,
    _random_eq,
    _reverb,
    augment_waveform,
)

from edge_ser.errors import TrainingError

SR = 16000


def band_power(x: np.ndarray, lo: float, hi: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.shape[0], 1.0 / SR)
    return float(spectrum[(freqs >= lo) & (freqs < hi)].sum())


def test_options_are_validated() -> None:
    with pytest.raises(TrainingError, match="eq_db"):
        AugmentOptions(eq_db=0.0)
    with pytest.raises(TrainingError, match="eq_db"):
        AugmentOptions(eq_db=30.0)
    with pytest.raises(TrainingError, match="noise_colors"):
        AugmentOptions(noise_colors=(3.0,))
    with pytest.raises(TrainingError, match="noise_colors"):
        AugmentOptions(noise_colors=())
    with pytest.raises(TrainingError, match="reverb_rt60"):
        AugmentOptions(reverb_rt60=(0.5, 0.1))
    assert not AugmentOptions().enabled
    assert AugmentOptions(eq_db=6.0).enabled and AugmentOptions(reverb_rt60=(0.2, 0.4)).enabled
    assert not AugmentOptions(probability=0.0, eq_db=6.0).enabled


def test_noise_colours_have_their_slopes() -> None:
    rng = np.random.default_rng(0)
    ratios = []
    for slope in (0.0, 1.0, 2.0):
        n = _colored_noise(4 * SR, slope, rng)
        assert np.sqrt(np.mean(n**2)) == pytest.approx(1.0, rel=1e-6)
        # power in equal-width bands: white is flat, pink and brown fall with frequency
        ratios.append(band_power(n, 200, 400) / band_power(n, 3200, 3400))
    assert ratios[0] == pytest.approx(1.0, rel=0.3)
    assert 5.0 < ratios[1] < 20.0  # 1/f: about 3200/300 ~ 11
    assert ratios[2] > 50.0


def test_random_eq_changes_the_spectrum_within_its_range_and_band_limit_cuts() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(2 * SR).astype(np.float32)
    y = _random_eq(x, 6.0, False, rng)
    assert y.shape == x.shape and y.dtype == np.float32
    for lo, hi in ((100, 200), (1000, 1200), (5000, 5500)):
        ratio_db = 10 * np.log10(band_power(y, lo, hi) / band_power(x, lo, hi))
        assert abs(ratio_db) <= 6.5
    assert not np.allclose(x, y)
    limited = [_random_eq(x, 1.0, True, np.random.default_rng(s)) for s in range(8)]
    # about half the draws add a band limit: those lose most power above 8 kHz's edge region
    cut = [band_power(z, 7600, 8000) / band_power(x, 7600, 8000) for z in limited]
    assert min(cut) < 0.5 and max(cut) > 0.7


def test_reverb_adds_a_decaying_tail_and_keeps_length() -> None:
    x = np.zeros(SR, dtype=np.float32)
    x[1000] = 1.0
    y = _reverb(x, 0.4, np.random.default_rng(2))
    assert y.shape == x.shape
    assert y[1000] == pytest.approx(1.0, abs=1e-6)  # the direct path
    early = np.sum(y[1100:2600] ** 2)
    late = np.sum(y[5000:6500] ** 2)
    assert early > 0 and late < early  # energy after the click, decaying
    assert np.all(y[:999] == pytest.approx(0.0, abs=1e-6))  # causal


def test_augment_waveform_is_seeded_and_changes_the_audio() -> None:
    t = np.arange(SR) / SR
    x = (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
    opts = AugmentOptions(
        probability=1.0,
        speed=(0.9, 0.9),
        eq_db=6.0,
        reverb_rt60=(0.2, 0.3),
        noise_snr_db=(20.0, 20.0),
        noise_colors=(1.0,),
    )
    a = augment_waveform(x, opts, np.random.default_rng(5))
    b = augment_waveform(x, opts, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape[0] == round(SR / 0.9)  # slower: longer
    assert np.all(np.isfinite(a))
    # nothing enabled: the same samples back
    assert augment_waveform(x, AugmentOptions(), np.random.default_rng(0)) is x
