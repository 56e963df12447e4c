"""Teach DistilHuBERT's convolutional feature encoder from a cheap acoustic teacher.

Offline there are no pretrained DistilHuBERT weights, and the paper's recipe freezes the
feature encoder: frozen *random* convolutions would give the classifier noise to work with.
In the spirit of the paper's layer-wise distillation, this step distils a hand-made teacher
into the encoder first: for every 20 ms encoder frame (400-sample receptive field, 320-sample
hop, exactly the encoder's own framing) the teacher computes

* 40 log-mel energies (Hann window, 512-point FFT, 50 Hz - 8 kHz),
* log energy and zero-crossing rate,
* log-f0 and voicing strength from the normalised autocorrelation (80 - 400 Hz),

and the encoder plus a linear probe learns to regress them (mean squared error on
standardised targets). No labels are used, so any speech can be used, but held-out
evaluation speakers and corpora should be excluded (``--exclude``) to keep evaluation clean.

With ``--augment`` the encoder's *input* is changed by a random speed (applied to the teacher's
input too: it is a different voice), microphone EQ, band limit, room reverberation and noise,
while the teacher still describes the clean (speed-changed) audio: the encoder learns to
report the voice, not the channel, which is what a classifier on unseen recording
conditions needs. The learning rate warms up, then follows a cosine decay over the budget.

The result is a ``save_pretrained`` folder of a ``HubertModel`` whose feature encoder is
trained (the transformer is still at its initialisation); ``edge-ser train --pretrained DIR``
fine-tunes from it with the encoder frozen, as the paper does.

Run: ``python -m edge_ser_train.pretrain --data DIR [DIR ...] --out DIR --minutes 12``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_ser.audio import AUDIO_EXTENSIONS
from edge_ser.errors import OptionsError, TrainingError
from edge_ser.metadata import PreprocessingConfig
from edge_ser.preprocess import peak_normalize

from .data import DEFAULT_AUGMENT, _augment_crop, _change_speed

__all__ = [
    "PretrainOptions",
    "load_encoder_model",
    "pretrain_encoder",
    "teacher_features",
    "train_and_save",
    "train_on_budget",
]

log = logging.getLogger("edge_ser.train.pretrain")

FRAME = 400  # HuBERT's conv receptive field, in samples at 16 kHz
HOP = 320  # its total stride
N_MELS = 40
TEACHER_DIM = N_MELS + 4


def _mel_filterbank(
    n_mels: int = N_MELS, n_fft: int = 512, sr: int = 16000
) -> npt.NDArray[np.float32]:
    def hz_to_mel(f: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = mel_to_hz(
        np.linspace(hz_to_mel(np.array(50.0)), hz_to_mel(np.array(8000.0)), n_mels + 2)
    )
    bins = np.fft.rfftfreq(n_fft, 1.0 / sr)
    fb = np.zeros((n_mels, bins.size))
    for i in range(n_mels):
        lo, mid, hi = edges[i : i + 3]
        fb[i] = np.clip(np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)), 0.0, None)
    return fb.astype(np.float32)


_FB = _mel_filterbank()
_WINDOW = np.hanning(FRAME).astype(np.float32)


PEAK = PreprocessingConfig().peak
# The encoder's input side of ``--augment``: a new voice, microphone, room and noise floor.
PRETRAIN_AUGMENT = replace(
    DEFAULT_AUGMENT,
    speed=(0.88, 1.12),
    noise_snr_db=(5.0, 35.0),
    eq_db=8.0,
    reverb_rt60=(0.15, 0.8),
)


def n_frames(n_samples: int) -> int:
    """Number of encoder frames for ``n_samples`` (the conv stack's output length)."""
    return max(0, (n_samples - FRAME) // HOP + 1)


def teacher_features(x: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """Frame-level teacher targets ``[n_frames(len(x)), TEACHER_DIM]`` for 16 kHz audio."""
    x = np.asarray(x, dtype=np.float32)
    n = n_frames(x.shape[0])
    if n == 0:
        return np.zeros((0, TEACHER_DIM), dtype=np.float32)
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(n)[:, None]
    frames = x[idx]
    power = np.abs(np.fft.rfft(frames * _WINDOW, 512)) ** 2
    mel = np.log(power @ _FB.T + 1e-6)
    energy = np.log((frames**2).mean(axis=1) + 1e-8)
    zcr = (np.abs(np.diff(np.sign(frames), axis=1)) > 0).mean(axis=1)
    centred = frames - frames.mean(axis=1, keepdims=True)
    ac = np.fft.irfft(np.abs(np.fft.rfft(centred, 1024)) ** 2, 1024)[:, :201]
    ac = ac / (ac[:, :1] + 1e-9)
    lo, hi = 40, 200  # lags for 400 Hz .. 80 Hz
    lag = lo + ac[:, lo:hi].argmax(axis=1)
    strength = ac[np.arange(n), lag]
    log_f0 = np.where(strength > 0.45, np.log(16000.0 / lag), 0.0)
    return np.concatenate(
        [mel, energy[:, None], zcr[:, None], log_f0[:, None], strength[:, None]], axis=1
    ).astype(np.float32)


@dataclass(frozen=True)
class PretrainOptions:
    """Options of the encoder distillation step."""

    data: tuple[str, ...]
    out: str
    exclude: tuple[str, ...] = ()
    minutes: float = 12.0
    max_steps: int = 0  # 0: only the time budget stops training
    crop_s: float = 2.0
    batch_size: int = 8
    lr: float = 1e-3
    seed: int = 0
    threads: int = 0
    tiny: bool = False
    max_files: int = 0
    augment: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.data:
            raise OptionsError("pretrain needs at least one --data folder")
        if self.minutes <= 0 and self.max_steps <= 0:
            raise OptionsError("pretrain needs --minutes > 0 or --max-steps > 0")
        if not (0.1 <= self.crop_s <= 8.0):
            raise OptionsError(f"--crop-s must be 0.1 to 8 seconds, got {self.crop_s}")
        if self.batch_size < 1:
            raise OptionsError(f"--batch-size must be >= 1, got {self.batch_size}")


def lr_factor(
    step: int, elapsed_s: float, minutes: float, max_steps: int, *, warmup_steps: int
) -> float:
    """The learning-rate multiplier of a budgeted run: a linear warm-up over ``warmup_steps``,
    then a cosine from 1 down to 0.05 over the budget (time or steps, whichever runs out
    first)."""
    warm = min(1.0, (step + 1) / warmup_steps)
    done = max(
        elapsed_s / (minutes * 60) if minutes > 0 else 0.0,
        step / max_steps if max_steps else 0.0,
    )
    return float(warm * (0.05 + 0.95 * 0.5 * (1.0 + np.cos(np.pi * min(1.0, done)))))


def train_on_budget(
    loss_of_next_batch: Callable[[], Any],
    optimizer: Any,
    params: Sequence[Any],
    *,
    lr: float,
    minutes: float,
    max_steps: int,
    warmup_steps: int,
    label: str,
) -> list[float]:
    """The optimisation loop of both distillation stages: until the time or step budget
    runs out, set the learning rate (:func:`lr_factor`), take the loss of the next batch,
    clip the gradients at 5 and step. Returns the loss of every step."""
    import torch

    history: list[float] = []
    start = time.monotonic()
    step = 0
    while True:
        elapsed = time.monotonic() - start
        if (max_steps and step >= max_steps) or (minutes > 0 and elapsed > minutes * 60):
            break
        factor = lr_factor(step, elapsed, minutes, max_steps, warmup_steps=warmup_steps)
        for g in optimizer.param_groups:
            g["lr"] = lr * factor
        loss = loss_of_next_batch()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        optimizer.step()
        history.append(float(loss.detach()))
        step += 1
        if step % 10 == 0:
            recent = float(np.mean(history[-10:]))
            print(
                f"\r{label} step {step} loss {recent:.4f} ({elapsed / 60:.1f} min)",
                end="",
                file=sys.stderr,
                flush=True,
            )
    print(file=sys.stderr)
    return history


def load_encoder_model(folder: str) -> Any:
    """The ``HubertModel`` saved in ``folder`` (a stage-1 or distillation output), or a
    one-line error naming ``--encoder``."""
    from transformers import HubertModel

    try:
        return HubertModel.from_pretrained(folder)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"--encoder {folder!r}: not a HubertModel folder ({exc})") from exc


def train_and_save(
    model: Any,
    loss_of_next_batch: Callable[[], Any],
    optimizer: Any,
    params: Sequence[Any],
    *,
    lr: float,
    minutes: float,
    max_steps: int,
    label: str,
    out: str | Path,
) -> list[float]:
    """The transformer stages' tail: :func:`train_on_budget` (50 warm-up steps), a one-line
    error when the budget allowed no step, then ``model.save_pretrained(out)``."""
    history = train_on_budget(
        loss_of_next_batch,
        optimizer,
        params,
        lr=lr,
        minutes=minutes,
        max_steps=max_steps,
        warmup_steps=50,
        label=label,
    )
    if not history:
        raise TrainingError(f"{label} ran no step: the time budget ran out first")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    return history


def _find_audio(folders: Sequence[str], exclude: Sequence[str], max_files: int) -> list[Path]:
    files: list[Path] = []
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            raise TrainingError(f"--data {folder!r} is not a folder")
        for p in sorted(root.rglob("*")):
            if p.suffix.lower() in AUDIO_EXTENSIONS and not any(
                fnmatch.fnmatch(str(p), pat) for pat in exclude
            ):
                files.append(p)
    if not files:
        raise TrainingError(
            f"no audio files ({', '.join(sorted(AUDIO_EXTENSIONS))}) under {list(folders)}"
        )
    if max_files:
        rng = np.random.default_rng(0)
        files = [files[i] for i in sorted(rng.permutation(len(files))[:max_files])]
    return files


def _fit(x: npt.NDArray[np.float32], length: int) -> npt.NDArray[np.float32]:
    return x[:length] if x.shape[0] >= length else np.pad(x, (0, length - x.shape[0]))


def _load_clips(files: Sequence[Path], min_samples: int) -> list[npt.NDArray[np.float32]]:
    from edge_ser.audio import load_audio
    from edge_ser.preprocess import preprocess

    config = PreprocessingConfig()
    clips = []
    for p in files:
        x = preprocess(load_audio(p, target_rate=16000), config)
        if x.shape[0] >= min_samples:
            clips.append(x)
    return clips


def pretrain_encoder(opts: PretrainOptions) -> Path:
    """Distil the teacher into a DistilHuBERT feature encoder; returns the output folder."""
    import torch
    from transformers import HubertConfig, HubertModel

    from .model import distilhubert_config  # the shared DistilHuBERT shape

    if opts.threads:
        torch.set_num_threads(opts.threads)
    torch.manual_seed(opts.seed)
    rng = np.random.default_rng(opts.seed)
    crop = int(opts.crop_s * 16000)
    files = _find_audio(opts.data, opts.exclude, opts.max_files)
    clips = _load_clips(files, FRAME)
    if not clips:
        raise TrainingError("no usable audio (every file was shorter than 25 ms)")
    log.info(
        "pretraining on %d clips (%.2f h)", len(clips), sum(c.size for c in clips) / 16000 / 3600
    )

    # Standardise the targets with statistics over (a sample of) the data.
    sample = np.concatenate([teacher_features(c) for c in clips[:: max(1, len(clips) // 400)]])
    mean, std = sample.mean(axis=0), sample.std(axis=0) + 1e-3

    augment = PRETRAIN_AUGMENT if opts.augment else None
    config: HubertConfig = distilhubert_config(tiny=opts.tiny)
    model = HubertModel(config)
    encoder = model.feature_extractor
    probe = torch.nn.Linear(config.conv_dim[-1], TEACHER_DIM)
    params = list(encoder.parameters()) + list(probe.parameters())
    for p in encoder.parameters():
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=opts.lr, weight_decay=1e-4)
    mean_t, std_t = torch.from_numpy(mean), torch.from_numpy(std)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for i in rng.integers(0, len(clips), opts.batch_size):
            c = clips[int(i)]
            if c.shape[0] > crop:
                s = int(rng.integers(0, c.shape[0] - crop + 1))
                c = c[s : s + crop]
            else:
                c = np.pad(c, (0, crop - c.shape[0]))
            gain = np.float32(10 ** rng.uniform(-0.3, 0.0))  # mild gain augmentation
            if augment is None:
                xs.append(c * gain)
                ys.append(teacher_features(c * gain))
                continue
            if rng.random() < augment.probability and augment.speed is not None:
                c = _fit(_change_speed(c, float(rng.uniform(*augment.speed))), crop)
            ys.append(teacher_features(c * gain))
            xs.append(peak_normalize(_augment_crop(c, augment, rng), PEAK) * gain)
        x = torch.from_numpy(np.stack(xs))
        y = (torch.from_numpy(np.stack(ys)) - mean_t) / std_t
        return x, y

    def loss_of_next_batch() -> torch.Tensor:
        x, y = batch()
        pred = probe(encoder(x).transpose(1, 2))  # [B, T, C] -> teacher dims
        t = min(pred.shape[1], y.shape[1])
        return torch.nn.functional.mse_loss(pred[:, :t], y[:, :t])

    start = time.monotonic()
    encoder.train()
    history = train_on_budget(
        loss_of_next_batch,
        optimizer,
        params,
        lr=opts.lr,
        minutes=opts.minutes,
        max_steps=opts.max_steps,
        warmup_steps=20,
        label="pretrain",
    )
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    report = {
        "options": asdict(opts),
        "steps": len(history),
        "minutes": (time.monotonic() - start) / 60,
        "first_loss": float(np.mean(history[:10])) if history else None,
        "final_loss": float(np.mean(history[-10:])) if history else None,
        "n_clips": len(clips),
        "teacher": "40 log-mel + log energy + zcr + log-f0 + voicing, standardised",
        "student_augmentation": asdict(augment) if augment is not None else None,
    }
    (out / "edge_ser_pretrain.json").write_text(json.dumps(report, indent=2) + "\n")
    log.info(
        "encoder pretraining: %d steps, loss %s -> %s",
        len(history),
        report["first_loss"],
        report["final_loss"],
    )
    return out


def add_common_arguments(
    p: argparse.ArgumentParser, *, minutes: float, batch_size: int, lr: float
) -> None:
    """The command-line options both distillation stages share: audio, output, exclusions,
    budget, batch size, learning rate, seed, threads and a file cap."""
    p.add_argument(
        "--data", nargs="+", required=True, help="folders of audio (searched recursively)"
    )
    p.add_argument(
        "--out", required=True, help="output folder (a HubertModel save_pretrained folder)"
    )
    p.add_argument("--exclude", nargs="*", default=[], help="glob patterns of paths to leave out")
    p.add_argument(
        "--minutes", type=float, default=minutes, help=f"time budget (default {minutes:g})"
    )
    p.add_argument("--max-steps", type=int, default=0, help="step budget (default 0: none)")
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--max-files", type=int, default=0)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m edge_ser_train.pretrain", description=__doc__.split("\n")[0]
    )
    add_common_arguments(p, minutes=12.0, batch_size=8, lr=1e-3)
    p.add_argument("--crop-s", type=float, default=2.0)
    p.add_argument("--tiny", action="store_true", help="a tiny architecture for smoke tests")
    p.add_argument(
        "--augment",
        action="store_true",
        help="augment the encoder's input (speed, EQ, reverberation, noise); the teacher "
        "describes the clean audio",
    )
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    opts = PretrainOptions(
        data=tuple(a.data),
        out=a.out,
        exclude=tuple(a.exclude),
        minutes=a.minutes,
        max_steps=a.max_steps,
        crop_s=a.crop_s,
        batch_size=a.batch_size,
        lr=a.lr,
        seed=a.seed,
        threads=a.threads,
        tiny=a.tiny,
        max_files=a.max_files,
        augment=a.augment,
    )
    pretrain_encoder(opts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
