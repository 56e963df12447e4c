"""Layer-wise distillation of a pretrained Whisper encoder into DistilHuBERT's transformer.

The paper's mechanism 1 (DistilHuBERT: Chang, Yang and Lee, ICASSP 2022) with Whisper in
HuBERT's place. The student is a DistilHuBERT ``HubertModel``; its output frames (one per
20 ms, like Whisper's) feed one linear *prediction head* per chosen teacher layer, and each
head regresses that layer's hidden states frame by frame. For a head's prediction ``h`` and
the teacher's (standardised) states ``t`` over frames ``f`` and dimensions ``d``:

    L = sum over chosen layers l of
        [ mean_{f,d} |h_l[f,d] - t_l[f,d]|  -  mean_f log sigmoid(cos(h_l[f], t_l[f])) ]

(L1 plus the cosine-similarity term of DistilHuBERT's loss). With ``pooled_weight`` ``a > 0``
the same loss is also applied, weighted by ``a``, to the time means of ``h_l`` and ``t_l`` over
each crop (one vector per clip): an utterance-level target, which is what a pooled emotion head
reads. Teacher states are standardised
per layer and dimension (mean and standard deviation over the training frames), so every
layer and dimension weighs alike in the L1 term. The heads are dropped after distillation.

**Staged**, as the measurements in ``training/results/whisper_distill/`` chose: the student's
convolutional feature encoder comes from ``--encoder`` and stays frozen (as it does in
fine-tuning), so its outputs are computed once per clip version and cached
(:class:`~edge_ser_train.teacher.FrameCache`), like the teacher's hidden states
(:class:`~edge_ser_train.teacher.TeacherCache`). Each epoch then trains only the feature
projection, the positional convolution, the two transformer layers and the heads.

**Alignment.** Both networks emit one frame per 320 samples; the student's frame ``i``
covers samples ``[320 i, 320 i + 400)`` and the teacher's is centred on sample ``320 i``, so
frame ``i`` of each describes the same 20 ms to within 12.5 ms. The student has
``(n - 400) // 320 + 1`` frames and the teacher ``ceil((n // 160) / 2)``: they differ by at most
one, and both are cut to the shorter (:func:`aligned_frames`).

**Augmentation.** With ``copies > 1`` each clip also has ``copies - 1`` augmented versions
(speed, EQ, room, noise); teacher and student see the *same* augmented audio (a clean-teacher
variant would need speed left out, to keep frames aligned).

The result is a ``save_pretrained`` folder of a ``HubertModel`` for ``edge-ser train
--pretrained DIR``, with ``edge_ser_distill.json`` (options, losses, teacher, timing).

Run: ``python -m edge_ser_train.distill --teacher openai/whisper-base --encoder DIR
--data DIR[:CORPUS] ... --cache DIR --out DIR --minutes 30``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_ser.errors import OptionsError, TrainingError
from edge_ser.metadata import PreprocessingConfig

from .corpora import CorpusOptions, Record
from .data import DEFAULT_AUGMENT, AudioStore
from .pretrain import load_encoder_model, train_and_save
from .teacher import (
    TeacherCache,
    WhisperTeacher,
    encoder_frame_cache,
    load_teacher,
    truncated_model,
)

__all__ = [
    "DistillOptions",
    "aligned_frames",
    "distill",
    "distill_loss",
    "student_frames",
    "teacher_frames",
    "whisper_layers",
    "whisper_student",
]

log = logging.getLogger("edge_ser.train.distill")

REPORT = "edge_ser_distill.json"
LABELS = ("anger", "happiness", "neutral", "sadness")
STUDENTS = ("distilhubert", "whisper")


@dataclass(frozen=True)
class DistillOptions:
    """Options of the layer-wise distillation step."""

    teacher: str
    data: tuple[str, ...]
    out: str
    cache: str
    encoder: str = "none"  # a HubertModel folder whose conv encoder is kept, or none
    student: str = "distilhubert"  # or "whisper": the teacher's front end and first layers
    student_layers: int = 2  # transformer layers of a "whisper" student
    layers: tuple[int, ...] = (2, 4, 6)
    exclude: tuple[str, ...] = ()
    copies: int = 2
    minutes: float = 30.0
    max_steps: int = 0
    crop_frames: int = 200
    batch_size: int = 16
    lr: float = 5e-4
    max_seconds: float = 8.0
    pooled_weight: float = 0.0  # weight of the utterance-level term (see the module)
    seed: int = 0
    threads: int = 0
    tiny: bool = False  # a tiny student (tests, smoke runs)

    def __post_init__(self) -> None:
        if not self.data:
            raise OptionsError("distill needs at least one --data source")
        if not self.layers or any(int(x) < 0 for x in self.layers):
            raise OptionsError(f"--layers must be teacher layer numbers >= 0, got {self.layers}")
        if self.minutes <= 0 and self.max_steps <= 0:
            raise OptionsError("distill needs --minutes > 0 or --max-steps > 0")
        if self.copies < 1 or self.batch_size < 1 or self.crop_frames < 2:
            raise OptionsError("--copies and --batch-size must be >= 1, --crop-frames >= 2")
        if not (0.0 <= self.pooled_weight <= 100.0):
            raise OptionsError(f"--pooled-weight must be in [0, 100], got {self.pooled_weight}")
        if self.student not in STUDENTS:
            raise OptionsError(
                f"--student must be one of {', '.join(STUDENTS)}, got {self.student!r}"
            )
        if self.student_layers < 1:
            raise OptionsError(f"--student-layers must be >= 1, got {self.student_layers}")
        if not (0.5 <= self.max_seconds <= 30.0):
            raise OptionsError(f"--max-seconds must be in [0.5, 30], got {self.max_seconds}")


def student_frames(n_samples: int) -> int:
    """DistilHuBERT's conv encoder output length for ``n_samples`` (400 receptive, 320 hop)."""
    return max(0, (n_samples - 400) // 320 + 1)


def teacher_frames(n_samples: int) -> int:
    """Whisper's encoder output length for a clip of ``n_samples`` on its own length."""
    return -(-(n_samples // 160) // 2)


def aligned_frames(n_samples: int) -> int:
    """Frames both networks have for a clip of ``n_samples`` (see the module docstring)."""
    return min(student_frames(n_samples), teacher_frames(n_samples))


def distill_loss(pred: Any, target: Any) -> Any:
    """The DistilHuBERT loss of one layer (see the module docstring): ``pred`` and
    ``target`` are ``[batch, frames, dim]`` tensors; returns a scalar tensor."""
    import torch

    l1 = (pred - target).abs().mean()
    cos = torch.nn.functional.cosine_similarity(pred, target, dim=-1)
    return l1 - torch.nn.functional.logsigmoid(cos).mean()


def _select(records: Sequence[Record], exclude: Sequence[str]) -> list[Record]:
    return [r for r in records if not any(fnmatch.fnmatch(str(r.path), p) for p in exclude)]


def _student(opts: DistillOptions) -> Any:
    from transformers import HubertModel

    from .model import distilhubert_config

    if opts.encoder.strip().lower() == "none":
        return HubertModel(distilhubert_config(tiny=opts.tiny))
    return load_encoder_model(opts.encoder)


def whisper_student(teacher: WhisperTeacher, n_layers: int) -> Any:
    """The student of ``--student whisper``: the teacher's front end (log-mel, convs,
    positions) and ``n_layers`` layers initialised from the teacher's first ones, as
    DistilHuBERT initialises its student from HuBERT (:func:`~edge_ser_train.teacher.
    truncated_model`). The front end stays the teacher's: distillation reads its output
    (hidden state 0) from the teacher cache and trains only the layers."""
    if n_layers >= teacher.n_layers:
        raise OptionsError(
            f"--student-layers {n_layers}: a student must be smaller than the teacher's "
            f"{teacher.n_layers} layers"
        )
    return truncated_model(teacher, n_layers)


def whisper_layers(encoder: Any, x: Any) -> Any:
    """A Whisper ``encoder``'s layers and final layer norm on its hidden state 0
    ``[batch, frames, d_model]`` (what :func:`~edge_ser_train.teacher.encoder_hidden_states`
    computes after the front end)."""
    for layer in encoder.layers:
        out = layer(x, None)
        x = out[0] if isinstance(out, tuple) else out
    return encoder.layer_norm(x)


def distill(opts: DistillOptions) -> Path:
    """Distil ``opts.teacher`` into a DistilHuBERT student; returns the output folder."""
    import torch

    from .train import load_sources

    if opts.threads:
        torch.set_num_threads(opts.threads)
    torch.manual_seed(opts.seed)
    rng = np.random.default_rng(opts.seed)
    started = time.monotonic()
    teacher: WhisperTeacher = load_teacher(opts.teacher)
    bad = [x for x in opts.layers if x > teacher.n_layers]
    if bad:
        raise OptionsError(
            f"--layers {bad}: the teacher has hidden states 0..{teacher.n_layers} only"
        )
    whisper = opts.student == "whisper"
    model = whisper_student(teacher, opts.student_layers) if whisper else _student(opts)
    records = _select(load_sources(opts.data, LABELS, CorpusOptions()), opts.exclude)
    if not records:
        raise TrainingError("no audio left after --exclude")
    student_pre = PreprocessingConfig()
    store = AudioStore(records, student_pre, progress=True)
    max_samples = int(opts.max_seconds * 16000)
    augment = DEFAULT_AUGMENT if opts.copies > 1 else None
    tcache = TeacherCache(
        teacher,
        Path(opts.cache) / "teacher",
        max_samples=max_samples,
        augment=augment,
        seed=opts.seed,
    )
    if whisper:
        # the student's front end is the teacher's, frozen: its output is the teacher's
        # hidden state 0, already in the teacher cache
        params = [*model.encoder.layers.parameters(), *model.encoder.layer_norm.parameters()]
        scache = None
    else:
        encoder = model.feature_extractor
        encoder.eval()
        for p in encoder.parameters():
            p.requires_grad_(False)
        scache = encoder_frame_cache(
            encoder,
            Path(opts.cache) / "student",
            max_samples=max_samples,
            preprocessing=student_pre,
            augment=augment,
            seed=opts.seed,
        )
        params = [*model.feature_projection.parameters(), *model.encoder.parameters()]
    layers = list(opts.layers)
    feats: list[npt.NDArray[np.float16]] = []
    targets: list[npt.NDArray[np.float16]] = []
    for r in store.records:
        for k in range(opts.copies):
            states = tcache.get(store, r, k)
            s = states[0] if scache is None else scache.get(store, r, k)
            t = states[layers]
            n = min(s.shape[0], t.shape[1])
            if n >= 2:
                feats.append(s[:n])
                targets.append(np.ascontiguousarray(t[:, :n]))
    log.info(
        "distilling on %d clips x %d versions (%d frames); caches: teacher %d computed / "
        "%d reused, student %d / %d",
        len(store.records),
        opts.copies,
        sum(f.shape[0] for f in feats),
        tcache.computed,
        tcache.reused,
        0 if scache is None else scache.computed,
        0 if scache is None else scache.reused,
    )
    sample = np.concatenate([t[:, :: max(1, t.shape[1] // 20)] for t in targets[:: opts.copies]], 1)
    mean = torch.from_numpy(sample.astype(np.float32).mean(axis=1))  # [layers, dim]
    std = torch.from_numpy(sample.astype(np.float32).std(axis=1) + 1e-3)
    hidden_size = int(teacher.d_model if whisper else model.config.hidden_size)
    heads = torch.nn.ModuleList(torch.nn.Linear(hidden_size, teacher.d_model) for _ in layers)
    params = [*params, *heads.parameters()]
    optimizer = torch.optim.AdamW(params, lr=opts.lr, weight_decay=0.01)

    def student_output(x: torch.Tensor) -> torch.Tensor:
        if whisper:
            out: torch.Tensor = whisper_layers(model.encoder, x)
        else:
            out = model.encoder(model.feature_projection(x)).last_hidden_state
        return out

    lengths = np.array([f.shape[0] for f in feats])

    def loss_of_next_batch() -> torch.Tensor:
        picks = rng.integers(0, len(feats), opts.batch_size)
        length = int(min(opts.crop_frames, lengths[picks].min()))
        xs, ys = [], []
        for i in picks:
            s = int(rng.integers(0, lengths[i] - length + 1))
            xs.append(feats[i][s : s + length])
            ys.append(targets[i][:, s : s + length])
        x = torch.from_numpy(np.stack(xs).astype(np.float32))
        y = (torch.from_numpy(np.stack(ys).astype(np.float32)) - mean[None, :, None]) / std[
            None, :, None
        ]
        hidden = student_output(x)
        losses = []
        for j, head in enumerate(heads):
            pred = head(hidden)
            losses.append(distill_loss(pred, y[:, j]))
            if opts.pooled_weight > 0:
                pooled = distill_loss(
                    pred.mean(dim=1, keepdim=True), y[:, j].mean(dim=1, keepdim=True)
                )
                losses.append(opts.pooled_weight * pooled)
        total: torch.Tensor = torch.stack(losses).sum()
        return total

    model.train()
    if not whisper:  # a Whisper student's front end does not run here (cached state 0)
        model.feature_extractor.eval()
    history = train_and_save(
        model,
        loss_of_next_batch,
        optimizer,
        params,
        lr=opts.lr,
        minutes=opts.minutes,
        max_steps=opts.max_steps,
        label="distillation",
        out=opts.out,
    )
    out = Path(opts.out)
    if whisper:
        teacher.feature_extractor.save_pretrained(str(out))  # the folder is a Whisper backbone
    report = {
        "options": {**asdict(opts), "cache": "(local cache folder)"},
        "teacher": {
            "source": opts.teacher,
            "fingerprint": teacher.fingerprint,
            "layers": layers,
            "hidden_states": teacher.n_layers + 1,
            "d_model": teacher.d_model,
            "input": "clip length (positional embedding sliced), no pre-emphasis",
        },
        "student": opts.student,
        "student_encoder": (
            f"the teacher's log-mel front end and convs, frozen; layers 1-{opts.student_layers} "
            "initialised from the teacher's"
            if whisper
            else "frozen, from --encoder"
            if opts.encoder != "none"
            else "random"
        ),
        "clips": len(store.records),
        "versions": opts.copies,
        "frames": int(lengths.sum()),
        "steps": len(history),
        "first_loss": float(np.mean(history[:10])),
        "final_loss": float(np.mean(history[-10:])),
        "loss_curve": [float(np.mean(history[i : i + 50])) for i in range(0, len(history), 50)],
        "minutes": (time.monotonic() - started) / 60,
    }
    (out / REPORT).write_text(json.dumps(report, indent=2) + "\n")
    log.info(
        "distillation: %d steps, loss %.4f -> %.4f",
        len(history),
        report["first_loss"],
        report["final_loss"],
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    d = DistillOptions(teacher="", data=("x",), out="", cache="")
    p = argparse.ArgumentParser(
        prog="python -m edge_ser_train.distill", description=__doc__.split("\n")[0]
    )
    p.add_argument("--teacher", required=True, help="Whisper hub id or local folder")
    p.add_argument("--encoder", default=d.encoder, help="HubertModel folder (conv encoder kept)")
    p.add_argument(
        "--student",
        choices=STUDENTS,
        default=d.student,
        help="distilhubert (default), or whisper: the teacher's front end and first layers",
    )
    p.add_argument("--student-layers", type=int, default=d.student_layers)
    p.add_argument("--data", nargs="+", required=True, help="DIR[:CORPUS] sources")
    p.add_argument("--out", required=True, help="output folder (HubertModel save_pretrained)")
    p.add_argument("--cache", required=True, help="folder for the teacher and student caches")
    p.add_argument("--layers", type=int, nargs="+", default=list(d.layers))
    p.add_argument("--exclude", nargs="*", default=[], help="glob patterns of paths to leave out")
    p.add_argument("--copies", type=int, default=d.copies, help="versions per clip (1: clean)")
    p.add_argument("--minutes", type=float, default=d.minutes)
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--crop-frames", type=int, default=d.crop_frames)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument(
        "--pooled-weight",
        type=float,
        default=d.pooled_weight,
        help="weight of the utterance-level (time-mean) term (default 0: frames only)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--tiny", action="store_true", help="a tiny student for smoke tests")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        distill(
            DistillOptions(
                teacher=a.teacher,
                data=tuple(a.data),
                out=a.out,
                cache=a.cache,
                encoder=a.encoder,
                student=a.student,
                student_layers=a.student_layers,
                layers=tuple(a.layers),
                exclude=tuple(a.exclude),
                copies=a.copies,
                minutes=a.minutes,
                max_steps=a.max_steps,
                crop_frames=a.crop_frames,
                batch_size=a.batch_size,
                lr=a.lr,
                pooled_weight=a.pooled_weight,
                seed=a.seed,
                threads=a.threads,
                tiny=a.tiny,
            )
        )
    except (OptionsError, TrainingError) as exc:
        print(f"distill: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
