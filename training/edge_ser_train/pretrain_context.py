"""Second distillation stage: teach DistilHuBERT's transformer to use context.

:mod:`edge_ser_train.pretrain` trains the convolutional feature encoder from an acoustic
teacher, but leaves the transformer at its random initialisation, so fine-tuning has to learn
all of the context modelling from a few thousand labelled utterances. This stage trains the
feature projection and the transformer, without labels, on masked prediction in the manner of
HuBERT: spans of encoder frames are replaced by the model's learned mask embedding, and the
transformer must reconstruct the teacher's description (log-mel, energy, zero-crossing rate,
pitch, voicing: :func:`~edge_ser_train.pretrain.teacher_features`) of the *hidden* frames
from the frames around them. Filling in pitch and spectrum from context is what tracking an
intonation contour or a speaking style needs.

The convolutional encoder stays frozen (as in fine-tuning), so its outputs are computed once
per clip: ``copies`` versions of each clip (the first clean, the others with channel, room
and noise augmentation but no speed change, so the frames still align with the clean
audio's teacher targets). The loss is the mean squared error of the standardised targets on
masked frames only: 1.0 is what predicting the mean scores.

The result is a ``save_pretrained`` folder of a ``HubertModel`` (the stage-1 encoder plus the
trained transformer) for ``edge-ser train --pretrained DIR``.

Run: ``python -m edge_ser_train.pretrain_context --encoder DIR --data DIR [DIR ...] --out DIR
--minutes 20``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge_ser.errors import OptionsError, TrainingError
from edge_ser.preprocess import peak_normalize

from .data import DEFAULT_AUGMENT, _crop, augment_waveform
from .pretrain import (
    FRAME,
    PEAK,
    TEACHER_DIM,
    _find_audio,
    _load_clips,
    add_common_arguments,
    load_encoder_model,
    teacher_features,
    train_and_save,
)
from .progress import Progress

__all__ = ["ContextPretrainOptions", "pretrain_context", "span_mask"]

log = logging.getLogger("edge_ser.train.pretrain_context")

REPORT = "edge_ser_context_pretrain.json"
MAX_CLIP_SAMPLES = 8 * 16000  # the runtime's window: longer clips are encoded from their centre
# The input augmentation of the augmented copies: no speed change (frames must stay aligned
# with the clean audio's teacher targets), every channel transform on.
CONTEXT_AUGMENT = replace(DEFAULT_AUGMENT, speed=None, probability=0.7)


@dataclass(frozen=True)
class ContextPretrainOptions:
    """Options of the transformer's masked-prediction stage."""

    encoder: str
    data: tuple[str, ...]
    out: str
    exclude: tuple[str, ...] = ()
    minutes: float = 20.0
    max_steps: int = 0  # 0: only the time budget stops training
    crop_frames: int = 100  # 2 s of 20 ms encoder frames
    batch_size: int = 16
    lr: float = 5e-4
    mask_prob: float = 0.05  # chance that a frame starts a masked span
    mask_length: int = 10  # frames per span (HuBERT's setting): about 40% of frames hidden
    copies: int = 2
    seed: int = 0
    threads: int = 0
    max_files: int = 0

    def __post_init__(self) -> None:
        if not self.data:
            raise OptionsError("pretrain_context needs at least one --data folder")
        if self.minutes <= 0 and self.max_steps <= 0:
            raise OptionsError("pretrain_context needs --minutes > 0 or --max-steps > 0")
        if self.crop_frames < 2 * self.mask_length:
            raise OptionsError(
                f"--crop-frames ({self.crop_frames}) must be at least twice --mask-length "
                f"({self.mask_length})"
            )
        if not (0.0 < self.mask_prob < 1.0):
            raise OptionsError(f"--mask-prob must be in (0, 1), got {self.mask_prob}")
        if self.mask_length < 1 or self.batch_size < 1 or self.copies < 1:
            raise OptionsError("--mask-length, --batch-size and --copies must be >= 1")


def span_mask(
    rng: np.random.Generator, batch: int, frames: int, prob: float, length: int
) -> npt.NDArray[np.bool_]:
    """``[batch, frames]`` masks: each frame starts a span of ``length`` frames with
    probability ``prob``; every row has at least one span (so every row carries a loss)."""
    starts = rng.random((batch, max(1, frames - length + 1))) < prob
    for row in starts:
        if not row.any():
            row[int(rng.integers(0, row.shape[0]))] = True
    mask = np.zeros((batch, frames), dtype=bool)
    for offset in range(length):
        mask[:, offset : offset + starts.shape[1]] |= starts
    return mask


def _encode(
    encoder: object, clips: Sequence[npt.NDArray[np.float32]], copies: int, seed: int
) -> tuple[list[npt.NDArray[np.float16]], list[npt.NDArray[np.float32]]]:
    """Frozen encoder frames of every version of every clip, and the clean clip's teacher
    targets, cut to the same number of frames."""
    import torch

    feats: list[npt.NDArray[np.float16]] = []
    targets: list[npt.NDArray[np.float32]] = []
    bar = Progress(len(clips) * copies, "encoding (frozen feature encoder)", enabled=True)
    with torch.inference_mode():
        for i, clip in enumerate(clips):
            clip = _crop(clip, MAX_CLIP_SAMPLES, None)  # the centre, as the runtime's window
            y = teacher_features(clip)
            for k in range(copies):
                x = clip
                if k > 0:
                    rng = np.random.default_rng([seed, i, k])
                    x = peak_normalize(augment_waveform(clip, CONTEXT_AUGMENT, rng), PEAK)
                f = encoder(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None])  # type: ignore[operator]
                f = f[0].transpose(0, 1).float().numpy()
                n = min(f.shape[0], y.shape[0])
                feats.append(f[:n].astype(np.float16))
                targets.append(y[:n])
                bar.update(1)
    bar.close()
    return feats, targets


def pretrain_context(opts: ContextPretrainOptions) -> Path:
    """Train the transformer of the ``opts.encoder`` model on masked prediction; returns
    the output folder."""
    import torch

    if opts.threads:
        torch.set_num_threads(opts.threads)
    torch.manual_seed(opts.seed)
    rng = np.random.default_rng(opts.seed)
    model = load_encoder_model(opts.encoder)
    files = _find_audio(opts.data, opts.exclude, opts.max_files)
    clips = _load_clips(files, FRAME * 2)
    if not clips:
        raise TrainingError("no usable audio (every file was shorter than 50 ms)")
    log.info(
        "context pretraining on %d clips (%.2f h) x %d versions",
        len(clips),
        sum(c.size for c in clips) / 16000 / 3600,
        opts.copies,
    )
    encoder = model.feature_extractor
    encoder.eval()
    for p in encoder.parameters():
        p.requires_grad_(False)
    feats, targets = _encode(encoder, clips, opts.copies, opts.seed)
    clean = np.concatenate(targets[:: opts.copies])
    mean = torch.from_numpy(clean.mean(axis=0))
    std = torch.from_numpy(clean.std(axis=0) + 1e-3)

    hidden_size = int(model.config.hidden_size)
    probe = torch.nn.Linear(hidden_size, TEACHER_DIM)
    mask_embed = getattr(model, "masked_spec_embed", None)
    if mask_embed is None:  # configs without SpecAugment have no learned mask embedding
        mask_embed = torch.nn.Parameter(torch.zeros(hidden_size))
    params = [
        *model.feature_projection.parameters(),
        *model.encoder.parameters(),
        mask_embed,
        *probe.parameters(),
    ]
    optimizer = torch.optim.AdamW(params, lr=opts.lr, weight_decay=0.01)
    lengths = np.array([f.shape[0] for f in feats])

    def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        picks = rng.integers(0, len(feats), opts.batch_size)
        length = int(min(opts.crop_frames, lengths[picks].min()))
        xs, ys = [], []
        for i in picks:
            s = int(rng.integers(0, lengths[i] - length + 1))
            xs.append(feats[i][s : s + length])
            ys.append(targets[i][s : s + length])
        mask = span_mask(rng, opts.batch_size, length, opts.mask_prob, opts.mask_length)
        x = torch.from_numpy(np.stack(xs).astype(np.float32))
        y = (torch.from_numpy(np.stack(ys)) - mean) / std
        return x, y, torch.from_numpy(mask)

    def loss_of_next_batch() -> torch.Tensor:
        x, y, mask = batch()
        hidden = model.feature_projection(x)
        hidden = torch.where(mask[..., None], mask_embed.to(hidden.dtype), hidden)
        pred = probe(model.encoder(hidden).last_hidden_state)
        return torch.nn.functional.mse_loss(pred[mask], y[mask])  # masked frames only

    start = time.monotonic()
    model.train()
    encoder.eval()
    history = train_and_save(
        model,
        loss_of_next_batch,
        optimizer,
        params,
        lr=opts.lr,
        minutes=opts.minutes,
        max_steps=opts.max_steps,
        label="context pretraining",
        out=opts.out,
    )
    out = Path(opts.out)
    stage1 = Path(opts.encoder) / "edge_ser_pretrain.json"
    if stage1.is_file() and stage1.resolve() != (out / stage1.name).resolve():
        shutil.copyfile(stage1, out / stage1.name)  # the encoder's provenance travels with it
    report = {
        "options": asdict(opts),
        "steps": len(history),
        "minutes": (time.monotonic() - start) / 60,
        "first_loss": float(np.mean(history[:10])),
        "final_loss": float(np.mean(history[-10:])),
        "loss_of_predicting_the_mean": 1.0,
        "n_clips": len(clips),
        "teacher": "40 log-mel + log energy + zcr + log-f0 + voicing, standardised, masked frames",
        "input_augmentation": asdict(CONTEXT_AUGMENT),
    }
    (out / REPORT).write_text(json.dumps(report, indent=2) + "\n")
    log.info(
        "context pretraining: %d steps, masked loss %.4f -> %.4f",
        len(history),
        report["first_loss"],
        report["final_loss"],
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m edge_ser_train.pretrain_context", description=__doc__.split("\n")[0]
    )
    d = ContextPretrainOptions(encoder="", data=("x",), out="")
    p.add_argument("--encoder", required=True, help="stage-1 output (python -m ...pretrain)")
    add_common_arguments(p, minutes=d.minutes, batch_size=d.batch_size, lr=d.lr)
    p.add_argument("--crop-frames", type=int, default=d.crop_frames)
    p.add_argument("--mask-prob", type=float, default=d.mask_prob)
    p.add_argument("--mask-length", type=int, default=d.mask_length)
    p.add_argument("--copies", type=int, default=d.copies, help="versions per clip (1: clean)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        opts = ContextPretrainOptions(
            encoder=a.encoder,
            data=tuple(a.data),
            out=a.out,
            exclude=tuple(a.exclude),
            minutes=a.minutes,
            max_steps=a.max_steps,
            crop_frames=a.crop_frames,
            batch_size=a.batch_size,
            lr=a.lr,
            mask_prob=a.mask_prob,
            mask_length=a.mask_length,
            copies=a.copies,
            seed=a.seed,
            threads=a.threads,
            max_files=a.max_files,
        )
        pretrain_context(opts)
    except (OptionsError, TrainingError) as exc:
        print(f"pretrain_context: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
