"""Audio in: decoding, downmix, dtype conversion, resampling, errors."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from edge_ser.audio import (
    AudioFile,
    Resampler,
    check_sample_rate,
    load_audio,
    to_mono_float32,
)
from edge_ser.errors import (
    AudioDecodeError,
    AudioNotFoundError,
    InvalidAudioError,
    UnsupportedAudioError,
)


def _tone(seconds: float, rate: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# -- conversion ----------------------------------------------------------------------------


def test_int16_is_scaled_to_unit_range() -> None:
    x = np.array([-32768, 0, 16384, 32767], dtype=np.int16)
    y = to_mono_float32(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [-1.0, 0.0, 0.5, 32767 / 32768])


def test_int32_and_uint8_are_scaled() -> None:
    np.testing.assert_allclose(to_mono_float32(np.array([2**30], dtype=np.int32)), [0.5])
    np.testing.assert_allclose(
        to_mono_float32(np.array([0, 128, 192], dtype=np.uint8)), [-1, 0, 0.5]
    )


def test_float64_is_converted_without_clipping() -> None:
    y = to_mono_float32(np.array([0.25, -1.5], dtype=np.float64))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [0.25, -1.5])


def test_multichannel_is_downmixed_by_mean() -> None:
    left = _tone(0.1, 16000)
    stereo = np.stack([left, np.zeros_like(left), 2 * left], axis=1)  # (frames, 3)
    np.testing.assert_allclose(to_mono_float32(stereo), left, rtol=1e-6, atol=1e-7)


def test_channels_first_array_is_refused_with_a_hint() -> None:
    with pytest.raises(InvalidAudioError, match=r"audio\.T"):
        to_mono_float32(np.zeros((2, 16000), dtype=np.float32))


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 2, 2), np.float32), np.array([True, False]), np.array(["a"])]
)
def test_bad_arrays_are_refused(bad: np.ndarray) -> None:
    with pytest.raises(InvalidAudioError):
        to_mono_float32(bad)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_array_raises(value: float) -> None:
    x = np.zeros(100, dtype=np.float32)
    x[10] = value
    with pytest.raises(InvalidAudioError, match="NaN or infinite"):
        to_mono_float32(x)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000, 22050.0, np.int64(16000)])
def test_sample_rate_accepted(rate: object) -> None:
    assert check_sample_rate(rate) == int(rate)  # type: ignore[call-overload]


@pytest.mark.parametrize("rate", [0, -16000, 100, 10**6, True, 16000.5, "16000", None])
def test_sample_rate_refused_with_range(rate: object) -> None:
    with pytest.raises(UnsupportedAudioError, match="4000 to 384000 Hz"):
        check_sample_rate(rate)


# -- resampling ----------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_stream_resampling_does_not_depend_on_chunking(rate: int) -> None:
    # Measured: soxr's stream output is bit-identical for any chunking (so the tolerance is 0).
    x = np.random.default_rng(0).standard_normal(rate * 2).astype(np.float32) * 0.3
    outputs = []
    for chunk in (1, 7, 160, 4096, x.shape[0]):
        r = Resampler(rate, 16000)
        parts = [r.process(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)]
        outputs.append(np.concatenate([*parts, r.flush()]))
    for y in outputs[1:]:
        np.testing.assert_array_equal(y, outputs[0])
    np.testing.assert_array_equal(outputs[0], soxr.resample(x, rate, 16000))


def test_same_rate_is_identity() -> None:
    x = _tone(0.5, 16000)
    r = Resampler(16000, 16000)
    np.testing.assert_array_equal(np.concatenate([r.process(x), r.flush()]), x)


def test_resampling_keeps_duration_and_pitch() -> None:
    x = _tone(2.0, 44100, freq=440.0)
    y = load_audio(x, 44100, target_rate=16000)
    assert abs(y.shape[0] - 32000) <= 1
    spectrum = np.abs(np.fft.rfft(y))
    peak_hz = np.argmax(spectrum) * 16000 / y.shape[0]
    assert abs(peak_hz - 440.0) < 1.0


# -- files ---------------------------------------------------------------------------------


def test_stereo_int16_wav_loads_like_its_mono_mix(tmp_path: Path) -> None:
    left, right = _tone(1.0, 22050, 300.0), _tone(1.0, 22050, 500.0)
    stereo = np.stack([left, right], axis=1)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 22050, subtype="PCM_16")
    y = load_audio(path, target_rate=16000)
    expected = load_audio((left + right) / 2, 22050, target_rate=16000)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, atol=2e-4)  # 16-bit quantisation of the file


def test_flac_and_file_object_load(tmp_path: Path) -> None:
    x = _tone(0.5, 16000)
    path = tmp_path / "a.flac"
    sf.write(path, x, 16000)
    from_path = load_audio(path)
    with path.open("rb") as f:
        from_file = load_audio(f)
    np.testing.assert_array_equal(from_path, from_file)
    np.testing.assert_allclose(from_path, x, atol=1e-4)


def test_file_is_read_in_blocks(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    sf.write(path, _tone(3.0, 8000), 8000)
    with AudioFile(path) as f:
        sizes = [b.shape[0] for b in f.blocks(seconds=1.0)]
    assert sizes == [8000, 8000, 8000]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioNotFoundError, match="not found"):
        load_audio(tmp_path / "nope.wav")


def test_folder_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(AudioNotFoundError, match="folder"):
        load_audio(tmp_path)


@pytest.mark.parametrize(
    "content", [b"", b"this is not audio at all" * 10, b"RIFF\x24\x00\x00\x00WAVEfmt "]
)
def test_undecodable_files_name_the_path_and_formats(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(AudioDecodeError) as info:
        load_audio(path)
    assert str(path) in str(info.value)
    assert "FLAC" in str(info.value) and "WAV" in str(info.value)


def test_garbage_file_object_raises_decode_error() -> None:
    with pytest.raises(AudioDecodeError):
        load_audio(io.BytesIO(b"garbage" * 50))


def test_non_finite_samples_in_a_file_become_zero_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    x = _tone(0.2, 16000)
    x[100:105] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    with caplog.at_level(logging.WARNING, logger="edge_ser"):
        y = load_audio(path)
    assert np.all(np.isfinite(y)) and np.all(y[100:105] == 0)
    assert "5 NaN or infinite" in caplog.text


def test_sample_rate_argument_must_match_a_file(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, _tone(0.2, 16000), 16000)
    assert load_audio(path, sample_rate=16000).shape[0] == 3200
    with pytest.raises(UnsupportedAudioError, match="only with arrays"):
        load_audio(path, sample_rate=8000)


def test_array_needs_a_sample_rate() -> None:
    with pytest.raises(UnsupportedAudioError, match="sample_rate is required"):
        load_audio(_tone(0.1, 16000))


def test_unsupported_source_type() -> None:
    with pytest.raises(InvalidAudioError, match="path, a binary file object or a numpy array"):
        load_audio(12345)  # type: ignore[arg-type]
