"""Encoder distillation (``python -m edge_ser_train.pretrain``) on synthetic audio."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="pretraining needs torch (the train extra)")
pytest.importorskip("transformers", reason="pretraining needs transformers (the train extra)")

import soundfile as sf  # noqa: E402
from conftest import synth_speechlike  # noqa: E402
from edge_ser_train.pretrain import (  # noqa: E402
    TEACHER_DIM,
    PretrainOptions,
    _find_audio,
    main,
    n_frames,
    teacher_features,
)

from edge_ser.errors import OptionsError, TrainingError  # noqa: E402


def test_teacher_frames_align_with_the_conv_encoder() -> None:
    from edge_ser_train.model import distilhubert_config
    from transformers import HubertModel

    model = HubertModel(distilhubert_config(tiny=True)).eval()
    assert n_frames(399) == 0 and teacher_features(np.zeros(399)).shape == (0, TEACHER_DIM)
    for n in (400, 719, 720, 16000, 16321):
        x = synth_speechlike(n / 16000, seed=n)[:n]
        with torch.no_grad():
            frames = model.feature_extractor(torch.from_numpy(x)[None]).shape[-1]
        assert n_frames(n) == frames
        assert teacher_features(x).shape == (frames, TEACHER_DIM)


def test_teacher_pitch_tracks_a_tone() -> None:
    t = np.arange(16000) / 16000
    feats = teacher_features((0.5 * np.sin(2 * np.pi * 200.0 * t)).astype(np.float32))
    f0 = np.exp(feats[:, -2])
    assert np.median(f0) == pytest.approx(200.0, rel=0.03)
    assert np.all(feats[:, -1] > 0.45)  # voiced by the teacher's own threshold


def test_pretrain_run_writes_a_loadable_encoder(tmp_path: Path) -> None:
    data = tmp_path / "audio"
    (data / "keep").mkdir(parents=True)
    (data / "held_out").mkdir()
    for i in range(3):
        sf.write(data / "keep" / f"{i}.wav", synth_speechlike(1.5, seed=i), 16000)
    sf.write(data / "held_out" / "x.wav", synth_speechlike(1.5, seed=9), 16000)
    assert [p.name for p in _find_audio([str(data)], ["*/held_out/*"], 0)] == [
        "0.wav",
        "1.wav",
        "2.wav",
    ]
    out = tmp_path / "encoder"
    argv = ["--data", str(data), "--out", str(out), "--tiny", "--max-steps", "4"]
    argv += ["--minutes", "0", "--batch-size", "2", "--crop-s", "0.5", "--threads", "1"]
    assert main([*argv, "--exclude", "*/held_out/*"]) == 0
    report = json.loads((out / "edge_ser_pretrain.json").read_text())
    assert report["steps"] == 4 and report["n_clips"] == 3
    assert np.isfinite(report["final_loss"])

    from transformers import HubertModel

    HubertModel.from_pretrained(str(out))  # what `edge-ser train --pretrained DIR` loads


def test_pretrain_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(OptionsError):
        PretrainOptions(data=(), out=str(tmp_path))
    with pytest.raises(OptionsError):
        PretrainOptions(data=(str(tmp_path),), out=str(tmp_path), minutes=0, max_steps=0)
    with pytest.raises(TrainingError, match="no audio files"):
        _find_audio([str(tmp_path)], [], 0)
    with pytest.raises(TrainingError, match="not a folder"):
        _find_audio([str(tmp_path / "missing")], [], 0)


def test_pretrain_with_augmented_input_runs_and_reports_it(tmp_path: Path) -> None:
    data = tmp_path / "audio"
    data.mkdir()
    for i in range(2):
        sf.write(data / f"{i}.wav", synth_speechlike(1.5, seed=i), 16000)
    out = tmp_path / "encoder"
    argv = ["--data", str(data), "--out", str(out), "--tiny", "--max-steps", "3", "--minutes", "0"]
    assert main([*argv, "--batch-size", "2", "--crop-s", "0.5", "--threads", "1", "--augment"]) == 0
    report = json.loads((out / "edge_ser_pretrain.json").read_text())
    assert report["options"]["augment"] is True and np.isfinite(report["final_loss"])
    assert report["student_augmentation"]["reverb_rt60"] is not None


def test_lr_factor_warms_up_then_decays_over_the_first_budget_to_run_out() -> None:
    from edge_ser_train.pretrain import lr_factor

    assert lr_factor(0, 0.0, 10.0, 0, warmup_steps=20) == pytest.approx(1 / 20)
    assert lr_factor(19, 0.0, 10.0, 0, warmup_steps=20) == pytest.approx(1.0)
    # half the time budget: the cosine's midpoint
    assert lr_factor(100, 300.0, 10.0, 0, warmup_steps=20) == pytest.approx(0.525)
    # the step budget runs out first: the floor, 5% of the peak
    assert lr_factor(1000, 60.0, 10.0, 1000, warmup_steps=20) == pytest.approx(0.05)
    assert lr_factor(5000, 0.0, 0.0, 1000, warmup_steps=20) == pytest.approx(0.05)
    steps = [lr_factor(s, 0.0, 0.0, 100, warmup_steps=10) for s in range(9, 100)]
    assert all(a >= b for a, b in itertools.pairwise(steps))  # never rises again
