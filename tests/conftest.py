"""Shared fixtures: a tiny HuBERT-shaped checkpoint and its exported model.

The tiny model is built from a transformers config class (no hub access); it has the real
architecture (conv feature encoder with group norm, positional conv, transformer layers,
pooled head), only far smaller, so export and runtime are exercised end to end in seconds.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

LABELS = ("anger", "happiness", "neutral", "sadness")
# The real corpora: $EDGE_SER_DATASETS, by default the development machine's ../shared/datasets.
SHARED_DATASETS = Path(
    os.environ.get("EDGE_SER_DATASETS")
    or Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
)


def make_tiny_checkpoint(
    path: Path, *, labels: tuple[str, ...] = LABELS, seed: int = 0, arch: str = "hubert"
) -> Path:
    """Write a tiny ``save_pretrained`` audio-classification checkpoint to ``path``."""
    import torch
    from transformers import (
        HubertConfig,
        HubertForSequenceClassification,
        Wav2Vec2Config,
        Wav2Vec2ForSequenceClassification,
        WavLMConfig,
        WavLMForSequenceClassification,
    )

    classes = {
        "hubert": (HubertConfig, HubertForSequenceClassification),
        "wav2vec2": (Wav2Vec2Config, Wav2Vec2ForSequenceClassification),
        "wavlm": (WavLMConfig, WavLMForSequenceClassification),
    }
    config_cls, model_cls = classes[arch]
    torch.manual_seed(seed)
    config = config_cls(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16, 16, 16, 16, 16, 16),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        classifier_proj_size=16,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    model = model_cls(config).eval()
    model.save_pretrained(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny_ckpt"))


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An fp32 export of the tiny checkpoint: what ``edge-ser classify --model`` takes."""
    from edge_ser_export import export_model

    out = tmp_path_factory.mktemp("tiny_model")
    export_model(tiny_checkpoint, out, quantize="none")
    return out


def synth_speechlike(seconds: float, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Voiced-speech-like audio: harmonic bursts with pitch glides, separated by pauses.

    webrtcvad reliably marks these bursts as speech; the pauses are true silence.
    """
    rng = np.random.default_rng(seed)
    n = round(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = (np.sin(2 * np.pi * 0.35 * t) > -0.3).astype(np.float64)
    x = 0.3 * voiced * envelope + 0.002 * rng.standard_normal(n)
    return x.astype(np.float32)


@pytest.fixture
def no_torch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make torch and transformers unimportable within the test."""
    import builtins
    import sys

    for name in list(sys.modules):
        if name.split(".")[0] in {"torch", "transformers"}:
            monkeypatch.delitem(sys.modules, name)
    real_import = builtins.__import__

    def guarded(name: str, *args: object, **kwargs: object) -> object:
        if name.split(".")[0] in {"torch", "transformers"}:
            raise ImportError(f"No module named {name!r} (blocked by test)")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", guarded)
    yield


def speech_bursts(
    spans: list[tuple[float, float]], seconds: float, sample_rate: int = 16000, seed: int = 0
) -> np.ndarray:
    """Voiced harmonic bursts at known times (seconds) in true silence plus faint noise.

    For tests that check timestamps map back to the original audio at any sample rate.
    """
    rng = np.random.default_rng(seed)
    n = round(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    mask = np.zeros(n, dtype=np.float64)
    for start, end in spans:
        mask[(t >= start) & (t < end)] = 1.0
    x = 0.3 * voiced * mask + 0.001 * rng.standard_normal(n)
    return x.astype(np.float32)


def run_with_sitecustomize(
    args: list[str], tmp_path: Path, sitecustomize: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in a child process whose interpreter first executes ``sitecustomize``.

    Used to install import or socket guards before any project code runs.
    """
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(sitecustomize)
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("PYTHONSTARTUP", None)
    return subprocess.run(
        args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


# Synthetic emotional 'voices' in a RAVDESS layout, for the training and baseline tests.
VOICE_RATE = 16_000
VOICE_EMOTIONS = {
    "05": (300.0, 20, 0.5),
    "04": (110.0, 1, 0.0),
}  # RAVDESS code: f0, harmonics, noise


def voice(
    f0: float, harmonics: int, noise: float, seconds: float, rng: np.random.Generator
) -> np.ndarray:
    """A vibrato tone of ``harmonics`` partials plus breath noise, faded in and out."""
    n = int(seconds * VOICE_RATE)
    t = np.arange(n) / VOICE_RATE
    phase = (
        2
        * np.pi
        * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t + rng.uniform(0, 6))))
        / VOICE_RATE
    )
    x = sum(np.sin(k * phase) / k for k in range(1, harmonics + 1))
    x = x / np.max(np.abs(x)) + noise * rng.standard_normal(n)
    envelope = np.clip(np.sin(np.pi * t / seconds) * 3, 0, 1)
    return (0.3 * x * envelope / np.max(np.abs(x))).astype(np.float32)


def make_voice_corpus(root: Path, actors: int = 4, per_class: int = 3, seed: int = 0) -> Path:
    """A RAVDESS-layout tree: Actor_NN/03-01-EE-01-01-RR-NN.wav, anger (05) and sadness (04)."""
    rng = np.random.default_rng(seed)
    for a in range(1, actors + 1):
        folder = root / f"Actor_{a:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for code, (f0, harmonics, noise) in VOICE_EMOTIONS.items():
            for rep in range(1, per_class + 1):
                x = voice(f0 * rng.uniform(0.9, 1.1), harmonics, noise, rng.uniform(0.8, 1.2), rng)
                sf.write(folder / f"03-01-{code}-01-01-{rep:02d}-{a:02d}.wav", x, VOICE_RATE)
    return root
