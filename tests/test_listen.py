"""``edge-ser listen`` and :class:`edge_ser.listen.Microphone`, without a device.

CI has no microphone and no PortAudio, so the CLI is driven with an injected audio source,
and the sounddevice adapter with a fake ``sounddevice`` module that behaves as the real one
does (device list, default device, blocking ``InputStream.read``, ``PortAudioError``).
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from conftest import speech_bursts

import edge_ser.cli_listen
from edge_ser import Classifier
from edge_ser.cli import main
from edge_ser.listen import Microphone, MicrophoneError, list_input_devices, listen

RATE = 44_100
AUDIO = speech_bursts([(0.4, 3.0), (3.6, 9.5), (10.2, 11.0)], 12.0, RATE, seed=4)


class InjectedSource:
    """Chunks of uneven size from an array, then Ctrl-C (as a user stops listening)."""

    def __init__(self, audio: np.ndarray, sample_rate: int, interrupt: bool = True) -> None:
        self.audio, self.sample_rate, self.interrupt = audio, sample_rate, interrupt
        self.entered = self.exited = False

    def __enter__(self) -> InjectedSource:
        self.entered = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.exited = True

    def __iter__(self) -> Iterator[np.ndarray]:
        rng = np.random.default_rng(0)
        i = 0
        while i < len(self.audio):
            n = int(rng.integers(100, 9000))
            yield self.audio[i : i + n]
            i += n
        if self.interrupt:
            raise KeyboardInterrupt


@pytest.fixture
def injected(monkeypatch: pytest.MonkeyPatch) -> InjectedSource:
    source = InjectedSource(AUDIO, RATE)
    monkeypatch.setattr(edge_ser.cli_listen, "open_source", lambda args: source)
    return source


def test_listen_json_equals_file_mode(
    tiny_model_dir: Path, injected: InjectedSource, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["listen", "--model", str(tiny_model_dir), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [x["event"] for x in lines[:-1]] == ["window"] * (len(lines) - 1)
    final = lines[-1]
    assert final["event"] == "result"
    expected = Classifier(tiny_model_dir).classify(AUDIO, RATE).to_dict()
    assert final["scores"] == expected["scores"] and final["label"] == expected["label"]
    assert final["windows"] == expected["windows"]
    # Every window was printed as it completed, once each, and in the same order.
    printed = [{k: v for k, v in x.items() if k != "event"} for x in lines[:-1]]
    assert sorted(printed, key=lambda w: (w["start"], w["end"])) == expected["windows"]
    assert len(printed) >= 2 and injected.entered and injected.exited


def test_listen_table_prints_windows_then_the_result(
    tiny_model_dir: Path, injected: InjectedSource, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["listen", "--model", str(tiny_model_dir)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    expected = Classifier(tiny_model_dir).classify(AUDIO, RATE)
    assert len(lines) == len(expected.windows) + 1
    for line, w in zip(lines, expected.windows, strict=False):
        assert f"{w.start:8.2f} - {w.end:8.2f} s  {w.label}" in line
        assert all(f"{k} {v:.2f}" in line for k, v in w.scores.items())
        assert f"{w.confidence:.3f}" in line
    assert lines[-1].startswith(f"result: {expected.label} ")
    assert f"{RATE} Hz" in err and "Ctrl-C" in err


def test_listen_stops_after_seconds(tiny_model_dir: Path) -> None:
    clf = Classifier(tiny_model_dir)
    endless = InjectedSource(np.tile(AUDIO, 5), RATE, interrupt=False)
    seen: list[Any] = []
    outcome = listen(clf.stream, endless, seen.append, max_seconds=7.5)
    assert not outcome.interrupted
    assert outcome.result.duration == pytest.approx(7.5, abs=1e-9)
    assert outcome.result == clf.classify(AUDIO[: int(7.5 * RATE)], RATE)
    assert tuple(sorted(seen, key=lambda w: (w.start, w.end))) == outcome.result.windows


# -- the sounddevice adapter, with a fake sounddevice ---------------------------------------------


def fake_sounddevice(devices: list[dict[str, Any]], default_in: int = 1) -> types.ModuleType:
    sd = types.ModuleType("sounddevice")

    class PortAudioError(Exception):
        pass

    class InputStream:
        opened: ClassVar[list[dict[str, Any]]] = []

        def __init__(self, **kwargs: Any) -> None:
            if kwargs["samplerate"] > 96_000:
                raise PortAudioError("Invalid sample rate [PaErrorCode -9997]")
            InputStream.opened.append(kwargs)
            self.n = 0
            self.closed = False

        def start(self) -> None: ...

        def stop(self) -> None: ...

        def close(self) -> None:
            self.closed = True

        def read(self, frames: int) -> tuple[np.ndarray, bool]:
            chunk = AUDIO[self.n : self.n + frames]
            if len(chunk) < frames:
                raise KeyboardInterrupt  # the user stops, as after Ctrl-C
            self.n += frames
            return chunk[:, None].copy(), False

    sd.PortAudioError = PortAudioError  # type: ignore[attr-defined]
    sd.InputStream = InputStream  # type: ignore[attr-defined]
    sd.query_devices = lambda: devices  # type: ignore[attr-defined]
    sd.default = types.SimpleNamespace(device=(default_in, 3))  # type: ignore[attr-defined]
    return sd


DEVICES = [
    {"name": "HDMI out", "max_input_channels": 0, "default_samplerate": 48000.0},
    {"name": "Built-in Microphone", "max_input_channels": 2, "default_samplerate": 44100.0},
    {"name": "USB Headset Mic", "max_input_channels": 1, "default_samplerate": 48000.0},
    {"name": "USB Headset Mic (2)", "max_input_channels": 1, "default_samplerate": 16000.0},
]


@pytest.fixture
def sd(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = fake_sounddevice(DEVICES)
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    return module


def test_list_and_select_devices(sd: types.ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    devices = list_input_devices()
    assert [d.index for d in devices] == [1, 2, 3]  # output-only devices are left out
    assert [d.is_default for d in devices] == [True, False, False]
    assert main(["listen", "--list-devices"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "*   1  Built-in Microphone  (2 ch, 44100 Hz)"
    assert len(out) == 3
    assert Microphone().device.index == 1  # the system default
    assert Microphone(device=3).sample_rate == 16_000  # the device's own rate
    assert Microphone(device="built-in").device.index == 1
    with pytest.raises(MicrophoneError, match=r"ambiguous: 2: USB Headset Mic; 3: USB"):
        Microphone(device="usb")
    with pytest.raises(MicrophoneError, match=r"no input device 'webcam'; input devices: 1: Built"):
        Microphone(device="webcam")
    with pytest.raises(MicrophoneError, match=r"no input device 0; "):
        Microphone(device=0)  # an output-only device


def test_microphone_feeds_the_stream(
    sd: types.ModuleType, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["listen", "--model", str(tiny_model_dir), "--json", "--device", "built-in"])
    out, err = capsys.readouterr()
    assert code == 0, err
    final = json.loads(out.splitlines()[-1])
    opened = sd.InputStream.opened[-1]
    assert opened["samplerate"] == RATE and opened["channels"] == 1 and opened["device"] == 1
    assert opened["dtype"] == "float32"
    heard = final["duration"]
    assert heard == pytest.approx(len(AUDIO) / RATE, abs=0.11)  # up to one 0.1-s chunk short
    expected = Classifier(tiny_model_dir).classify(AUDIO[: round(heard * RATE)], RATE)
    assert final["scores"] == expected.to_dict()["scores"]


def test_device_errors_are_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(DEVICES[:1]))
    assert main(["listen"]) == 2
    assert capsys.readouterr().err.strip() == (
        "edge-ser listen: error: no audio input device found (is a microphone connected?)"
    )
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(DEVICES))
    with pytest.raises(MicrophoneError, match=r"cannot record from Built-in Microphone at 192000"):
        Microphone(sample_rate=192_000).__enter__()
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # not installed
    assert main(["listen", "--list-devices"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install sounddevice" in err and '".[mic]"' in err
    real_import = __import__

    def importer(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "sounddevice")
    monkeypatch.setattr("builtins.__import__", importer)
    assert main(["listen"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "PortAudio library" in err and "libportaudio2" in err
