"""The training loop: the paper's recipe, speaker-independent, resumable.

:func:`train` loads the corpora, builds the split's folds, and for each fold fine-tunes the
classifier (:mod:`.model`) with AdamW, a linear warm-up then linear decay schedule, the
Adaptive Focal Loss with class weights (:mod:`.loss`) and, optionally, a share of an extra
corpus mixed into every epoch (the paper's CREMA-D regularisation). It uses CUDA when
available, else the CPU; every random choice is seeded.

Output of one fold (``out/``, or ``out/<fold>/`` when several folds run):

* ``config.json`` + ``model.safetensors``: the ``save_pretrained`` model that
  ``edge-ser export`` takes;
* ``edge_ser_train.json``: labels, options, command, seed, times, data split (speakers per
  side), per-epoch history, test (and validation) metrics;
* ``confusion_matrix.png`` when there is a test side;
* ``checkpoint.pt`` while training (model, optimizer, scheduler, loss state, epoch, history);
  removed when the fold completes unless ``keep_checkpoint``. ``resume`` continues from it.

With several folds, ``out/edge_ser_train.json`` also holds the mean and standard deviation
across folds, with ``folds.png`` and the summed ``confusion_matrix.png``.

The test metrics here are those of the torch model on the centre 8 s of each test
utterance; ``edge-ser evaluate`` measures the exported model through the runtime (VAD,
windows, aggregation).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from edge_ser.errors import TrainingError
from edge_ser.metadata import PreprocessingConfig

from .cached import FeatureCache, balanced_sample, feature_batches
from .corpora import CorpusOptions, Record, label_counts, load_corpus
from .data import AudioStore, eval_input, n_batches, train_batches
from .loss import AdaptiveFocalLoss, inverse_frequency_weights
from .metrics import Metrics, compute_metrics, summarize_folds, write_json
from .model import PooledClassifier, build_model, check_pretrained
from .options import TrainOptions, parse_data_spec
from .pretrain import n_frames
from .progress import Progress
from .splits import Split, assert_no_speaker_leak, hold_out_validation, make_splits

__all__ = ["FoldResult", "TrainResult", "load_sources", "train"]

logger = logging.getLogger("edge_ser.train")

REPORT_FILENAME = "edge_ser_train.json"
CHECKPOINT_FILENAME = "checkpoint.pt"
REPORT_FORMAT = "edge_ser_train/1"
SAMPLE_RATE = 16_000
LICENSE_NOTE = (
    "Weights trained on these corpora inherit their licence terms (RAVDESS CC BY-NC-SA, "
    "TESS and TurEV-DB CC BY-NC-ND, CREMA-D ODbL, IEMOCAP, SAVEE, URDU and EmoDB research "
    "use): non-commercial. State this in the model card of anything shipped."
)
# Options that do not change the result: a checkpoint written under other values resumes.
_NOT_FINGERPRINTED = {
    "frame_cache",
    "resume",
    "progress",
    "keep_checkpoint",
    "plots",
    "device",
    "out",
    "threads",
}


@dataclass(frozen=True)
class FoldResult:
    """One trained fold: its model folder, test metrics (if any) and loss history."""

    name: str
    out_dir: Path
    test: Metrics | None
    history: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class TrainResult:
    """All folds of a run, and the cross-fold summary when there are several."""

    out_dir: Path
    folds: tuple[FoldResult, ...]
    summary: dict[str, Any] | None


# -- data ------------------------------------------------------------------------------------


def _subsample(records: list[Record], max_files: int | None, seed: int) -> list[Record]:
    if max_files is None or len(records) <= max_files:
        return records
    keep = np.random.default_rng(seed).choice(len(records), size=max_files, replace=False)
    return [records[int(i)] for i in sorted(keep)]


def load_sources(
    specs: Sequence[str],
    labels: Sequence[str],
    corpus_options: CorpusOptions,
    *,
    max_files: int | None = None,
    seed: int = 0,
) -> list[Record]:
    """The records of every ``DIR[:CORPUS]`` source with a label in ``labels`` (at most
    ``max_files`` per source, a seeded sample); a file listed twice is an error."""
    records: list[Record] = []
    for spec in specs:
        src = parse_data_spec(spec)
        loaded = load_corpus(src.corpus, src.path, corpus_options)
        kept = [r for r in loaded if r.label in labels]
        if len(kept) < len(loaded):
            logger.info(
                "%s: %d records with labels outside %s dropped",
                src.path,
                len(loaded) - len(kept),
                ", ".join(labels),
            )
        records.extend(_subsample(kept, max_files, seed))
    keys = [r.path for r in records]
    if len(set(keys)) != len(keys):
        raise TrainingError("the same audio file is listed twice; give each corpus once")
    if not records:
        raise TrainingError(f"no records with labels {', '.join(labels)}")
    return records


def _select_folds(splits: list[Split], fold: int | None) -> list[tuple[int, Split]]:
    if fold is None:
        return list(enumerate(splits, start=1))
    if fold > len(splits):
        raise TrainingError(f"fold {fold} does not exist: the split has {len(splits)} fold(s)")
    return [(fold, splits[fold - 1])]


# -- torch helpers ---------------------------------------------------------------------------


def _device(name: str) -> torch.device:
    name = name.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


def _seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def _fingerprint(options: TrainOptions, split: Split) -> str:
    data = {k: v for k, v in options.to_dict().items() if k not in _NOT_FINGERPRINTED}
    data["split_name"] = split.name
    data["train"] = sorted(str(r.path) for r in split.train)
    data["test"] = sorted(str(r.path) for r in split.test)
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@torch.inference_mode()
def _predict(
    net: PooledClassifier,
    store: AudioStore,
    records: Sequence[Record],
    labels: tuple[str, ...],
    max_samples: int,
    device: torch.device,
) -> list[str]:
    net.eval()
    out = []
    for r in records:
        x = eval_input(store.audio(r), max_samples, store.preprocessing)
        logits = net(torch.from_numpy(x)[None].to(device))
        out.append(labels[int(logits.argmax(dim=-1).item())])
    return out


def _evaluate(
    net: PooledClassifier,
    store: AudioStore,
    records: Sequence[Record],
    labels: tuple[str, ...],
    max_samples: int,
    device: torch.device,
) -> Metrics:
    predictions = _predict(net, store, records, labels, max_samples, device)
    return compute_metrics([r.label for r in records], predictions, labels)


def _headline(m: Metrics) -> dict[str, float]:
    return {"ua": m.ua, "wa": m.wa, "macro_f1": m.macro_f1}


def _cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def _update_average(
    average: dict[str, Any] | None, state: dict[str, torch.Tensor]
) -> dict[str, Any]:
    """Fold ``state`` into the running mean of weights (integer buffers: the latest)."""
    current = _cpu_copy(state)
    if average is None:
        return {"epochs": 1, "state": current}
    n = int(average["epochs"]) + 1
    merged = average["state"]
    for k, v in current.items():
        if v.is_floating_point():
            merged[k] += (v - merged[k]) / n
        else:
            merged[k] = v
    return {"epochs": n, "state": merged}


def _save_atomic(state: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _versions() -> dict[str, str]:
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# -- one fold ------------------------------------------------------------------------------


def _mix_sample(extra: Sequence[Record], n: int, rng: np.random.Generator) -> list[Record]:
    if not extra or n <= 0:
        return []
    idx = rng.choice(len(extra), size=n, replace=n > len(extra))
    return [extra[int(i)] for i in idx]


def _epoch_batches(
    options: TrainOptions,
    store: AudioStore,
    cache: FeatureCache | None,
    records: Sequence[Record],
    label_ids: dict[str, int],
    max_samples: int,
    rng: np.random.Generator,
    net: PooledClassifier,
    device: torch.device,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]]:
    """One epoch of (inputs, labels, forward): waveforms, or cached encoder frames."""
    if cache is None:
        for batch in train_batches(
            store, records, label_ids, options.batch_size, max_samples, rng, options.augment
        ):
            yield (
                torch.from_numpy(batch.inputs).to(device),
                torch.from_numpy(batch.labels).to(device),
                net,
            )
        return
    crop_s = options.train_crop_seconds or options.max_seconds
    max_frames = max(1, n_frames(round(crop_s * SAMPLE_RATE)))
    for fb in feature_batches(cache, records, label_ids, options.batch_size, max_frames, rng):
        yield (
            torch.from_numpy(fb.features).to(device),
            torch.from_numpy(fb.labels).to(device),
            net.forward_features,
        )


def _train_fold(
    options: TrainOptions,
    split: Split,
    fold_index: int,
    store: AudioStore,
    extra: Sequence[Record],
    out_dir: Path,
    command: Sequence[str],
) -> FoldResult:
    started, t0 = _now(), time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = options.labels
    label_ids = {label: i for i, label in enumerate(labels)}
    max_samples = round(options.max_seconds * SAMPLE_RATE)
    device = _device(options.device)
    fingerprint = _fingerprint(options, split)
    _seed_everything(options.seed)

    model, info = build_model(
        labels,
        options.pretrained,
        tiny=options.tiny,
        overrides=options.model_config,
        head_dropout=options.head_dropout,
        freeze_feature_encoder=options.freeze_feature_encoder,
    )
    net = PooledClassifier(model).to(device)

    n_extra = round(options.mix_ratio * len(split.train)) if extra else 0
    counts = np.array([sum(r.label == c for r in split.train) for c in labels], dtype=np.float64)
    if extra:
        extra_counts = np.array(
            [sum(r.label == c for r in extra) for c in labels], dtype=np.float64
        )
        counts = counts + extra_counts * (n_extra / len(extra))
    absent = [c for c, n in zip(labels, counts, strict=True) if n == 0]
    if absent:
        logger.warning("%s: no training examples of %s (weight 0)", split.name, ", ".join(absent))
    weights = (
        inverse_frequency_weights(counts.tolist())
        if options.class_weights
        else (counts > 0).astype(np.float64)
    )
    loss_fn = AdaptiveFocalLoss(
        len(labels),
        weights.tolist(),
        options.gamma_min,
        options.gamma_max,
        options.focal_momentum,
    ).to(device)

    optimizer = torch.optim.AdamW(
        [
            {"params": net.encoder_parameters(), "lr": options.lr},
            {"params": net.head_parameters(), "lr": options.head_lr},
        ],
        weight_decay=options.weight_decay,
    )
    steps_per_epoch = n_batches(len(split.train) + n_extra, options.batch_size)
    total_steps = options.epochs * steps_per_epoch
    warmup = int(options.warmup_ratio * total_steps)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    history: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None  # {"epoch", "ua", "state"}
    average: dict[str, Any] | None = None  # {"epochs", "state"}: running weight average
    start_epoch = 0
    checkpoint_path = out_dir / CHECKPOINT_FILENAME
    if options.resume and checkpoint_path.is_file():
        ckpt = torch.load(checkpoint_path, map_location=device, weights_only=False)
        if ckpt.get("fingerprint") != fingerprint:
            raise TrainingError(
                f"{checkpoint_path} was written with other options or data; resume needs the "
                "same options (epochs, data, split, model, loss ...) or a fresh --out folder"
            )
        net.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        loss_fn.load_state_dict(ckpt["loss"])
        torch.set_rng_state(ckpt["torch_rng"])
        if torch.cuda.is_available() and ckpt.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(ckpt["cuda_rng"])
        history, best, start_epoch = ckpt["history"], ckpt["best"], ckpt["epoch"]
        average = ckpt.get("average")
        started = ckpt.get("started", started)
        logger.info("%s: resumed after epoch %d from %s", split.name, start_epoch, checkpoint_path)
    elif options.resume:
        logger.warning(
            "%s: --resume given but %s does not exist; starting afresh", split.name, checkpoint_path
        )

    cache = (
        FeatureCache(
            net,
            store,
            [*split.train, *extra],
            max_samples,
            device,
            progress=options.progress,
            cache_file=out_dir / "feature_cache.npz",
            key=f"{options.pretrained}|{options.max_seconds}|{options.tiny}|{options.seed}"
            f"|{options.cache_copies}|{options.augment}",
            copies=options.cache_copies,
            augment=options.augment,
            seed=options.seed,
            frame_dir=Path(options.frame_cache) if options.frame_cache else None,
        )
        if options.cache_features
        else None
    )
    amp = options.amp and device.type == "cuda" and torch.cuda.is_bf16_supported()
    for epoch in range(start_epoch, options.epochs):
        e0 = time.monotonic()
        rng = np.random.default_rng([options.seed, fold_index, epoch])
        records = list(split.train) + _mix_sample(extra, n_extra, rng)
        net.train()
        loss_fn.train()
        bar = Progress(
            steps_per_epoch,
            f"{split.name} epoch {epoch + 1}/{options.epochs}",
            enabled=options.progress,
        )
        loss_sum, seen = 0.0, 0
        if options.balance_corpora:
            records = balanced_sample(records, len(records), rng)
        for x, y, forward in _epoch_batches(
            options, store, cache, records, label_ids, max_samples, rng, net, device
        ):
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
                logits = forward(x)
            loss = loss_fn(logits.float(), y)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"{split.name}: the loss became {loss.item()} in epoch "
                    f"{epoch + 1}; lower the learning rate"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            if options.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), options.grad_clip)
            optimizer.step()
            scheduler.step()
            loss_sum += float(loss.item()) * len(y)
            seen += len(y)
            bar.update(1, loss=loss_sum / seen)
        bar.close()
        entry: dict[str, Any] = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / max(1, seen),
            "lr": [group["lr"] for group in optimizer.param_groups],
            "gammas": [round(float(g), 4) for g in loss_fn.gammas()],
            "seconds": round(time.monotonic() - e0, 2),
        }
        if split.validation:
            epoch_val = _evaluate(net, store, split.validation, labels, max_samples, device)
            entry["validation"] = _headline(epoch_val)
            if best is None or epoch_val.ua > best["ua"]:
                state = _cpu_copy(net.model.state_dict())
                best = {"epoch": epoch + 1, "ua": epoch_val.ua, "state": state}
        if options.average_from_epoch and epoch + 1 >= options.average_from_epoch:
            average = _update_average(average, net.model.state_dict())
        history.append(entry)
        logger.info(
            "%s epoch %d/%d: loss %.4f%s (%.1f s)",
            split.name,
            epoch + 1,
            options.epochs,
            entry["train_loss"],
            f", validation UA {entry['validation']['ua']:.3f}" if split.validation else "",
            entry["seconds"],
        )
        _save_atomic(
            {
                "fingerprint": fingerprint,
                "epoch": epoch + 1,
                "model": net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "loss": loss_fn.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "history": history,
                "best": best,
                "average": average,
                "started": started,
            },
            checkpoint_path,
        )

    selected = options.epochs
    averaged: dict[str, Any] | None = None
    if average is not None:
        net.model.load_state_dict(average["state"])
        first = options.epochs - int(average["epochs"]) + 1
        averaged = {"epochs": [first, options.epochs], "selected": True}
        if split.validation:
            avg_val = _evaluate(net, store, split.validation, labels, max_samples, device)
            averaged["validation"] = _headline(avg_val)
            averaged["selected"] = best is None or avg_val.ua >= best["ua"]
        logger.info(
            "%s: weight average of epochs %d-%d%s: %s",
            split.name,
            first,
            options.epochs,
            f" (validation UA {averaged['validation']['ua']:.3f})" if split.validation else "",
            "kept" if averaged["selected"] else "not kept (a single epoch scored higher)",
        )
    if averaged is not None and averaged["selected"]:
        selected = 0
    elif best is not None:
        net.model.load_state_dict(best["state"])
        selected = int(best["epoch"])
    test = _evaluate(net, store, split.test, labels, max_samples, device) if split.test else None
    val = (
        _evaluate(net, store, split.validation, labels, max_samples, device)
        if split.validation
        else None
    )
    cast(Any, net.model).save_pretrained(str(out_dir))
    report = {
        "format": REPORT_FORMAT,
        "status": "complete",
        "fingerprint": fingerprint,
        "labels": list(labels),
        "options": options.to_dict(),
        "command": list(command),
        "seed": options.seed,
        "started": started,
        "finished": _now(),
        "seconds": round(time.monotonic() - t0, 2),
        "device": str(device),
        "versions": _versions(),
        "model": info.to_dict(),
        "preprocessing": dataclasses.asdict(store.preprocessing),
        "max_window_s": options.max_seconds,
        "sample_rate": SAMPLE_RATE,
        "split": split.summary(),
        "cross_corpus": (
            {
                "source": options.cross_corpus,
                "mix_ratio": options.mix_ratio,
                "per_epoch": n_extra,
                "records": len(extra),
                "labels": label_counts(extra),
            }
            if extra
            else None
        ),
        "loss": {
            "name": "adaptive_focal",
            "class_weights": weights.tolist(),
            "gamma_min": options.gamma_min,
            "gamma_max": options.gamma_max,
            "momentum": options.focal_momentum,
            "final_gammas": [float(g) for g in loss_fn.gammas()],
        },
        "history": history,
        "selected_epoch": selected,  # 0: the weight average below
        "weight_average": averaged,
        "metrics": {
            "test": test.to_dict() if test is not None else None,
            "validation": val.to_dict() if val is not None else None,
            "note": "torch model on the centre max_window_s of each utterance; `edge-ser "
            "evaluate` measures the exported model through the runtime",
        },
        "corpora": sorted({r.corpus for r in (*split.train, *split.test, *extra)}),
        "license_note": LICENSE_NOTE,
    }
    write_json(out_dir / REPORT_FILENAME, report)
    if test is not None and options.plots:
        from .plots import plot_metrics_confusion

        plot_metrics_confusion(
            test,
            out_dir / "confusion_matrix.png",
            f"{split.name}: UA {test.ua:.3f}, WA {test.wa:.3f}",
        )
    if not options.keep_checkpoint:
        checkpoint_path.unlink(missing_ok=True)
        (out_dir / "feature_cache.npz").unlink(missing_ok=True)
    if test is not None:
        logger.info(
            "%s: test UA %.4f WA %.4f macro-F1 %.4f (n=%d)",
            split.name,
            test.ua,
            test.wa,
            test.macro_f1,
            test.n,
        )
    return FoldResult(split.name, out_dir, test, tuple(history))


def _finished_fold(out_dir: Path, split: Split, options: TrainOptions) -> FoldResult | None:
    """A fold already completed under the same options (skipped on --resume)."""
    path = out_dir / REPORT_FILENAME
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if report.get("status") != "complete":
        return None
    if report.get("fingerprint") != _fingerprint(options, split):
        return None
    test_dict = report["metrics"]["test"]
    test = None
    if test_dict is not None:
        test = Metrics(
            labels=tuple(test_dict["labels"]),
            confusion_matrix=tuple(tuple(row) for row in test_dict["confusion_matrix"]),
            no_prediction=tuple(test_dict["no_prediction_per_class"].values()),
            n=test_dict["n"],
            ua=test_dict["ua"],
            wa=test_dict["wa"],
            macro_f1=test_dict["macro_f1"],
            per_class_f1=test_dict["per_class_f1"],
            per_class_recall=test_dict["per_class_recall"],
        )
    logger.info("%s: already complete in %s, skipped", split.name, out_dir)
    return FoldResult(split.name, out_dir, test, tuple(report["history"]))


# -- entry point -----------------------------------------------------------------------------


def train(options: TrainOptions, command: Sequence[str] | None = None) -> TrainResult:
    """Run the training described by ``options``; see the module docstring for the output."""
    threads = torch.get_num_threads()
    if options.threads > 0:
        torch.set_num_threads(options.threads)
    try:
        return _train(options, command)
    finally:
        torch.set_num_threads(threads)


def _train(options: TrainOptions, command: Sequence[str] | None) -> TrainResult:
    command = list(command) if command is not None else list(sys.argv)
    out = Path(options.out)
    corpus_options = CorpusOptions(
        iemocap_subset=options.iemocap_subset,  # type: ignore[arg-type]
        calm_as_neutral=options.calm_as_neutral,
    )

    def sources(specs: Sequence[str]) -> list[Record]:
        return load_sources(
            specs, options.labels, corpus_options, max_files=options.max_files, seed=options.seed
        )

    records = sources(options.data)
    extra = sources([options.cross_corpus]) if options.cross_corpus is not None else []
    splits = make_splits(records, options.split, options.seed)
    selected = _select_folds(splits, options.fold)
    folds = [
        (
            i,
            hold_out_validation(
                s, options.validation_speakers, options.seed, options.validation_holdout
            ),
        )
        for i, s in selected
    ]
    for _, split in folds:
        assert_no_speaker_leak(extra=extra, test=split.test)
        assert_no_speaker_leak(extra=extra, validation=split.validation)
        if not split.test:
            logger.warning(
                "%s: no test side; the model is not evaluated (split=%s)", split.name, options.split
            )
    multi = len(folds) > 1
    from .whisper_backbone import is_whisper, train_whisper_fold

    whisper = not options.tiny and is_whisper(str(Path(options.pretrained).expanduser()))
    if not whisper:
        check_pretrained(options.pretrained, options.tiny)  # before the (slow) audio loading
        if options.frame_cache and not options.cache_features:
            raise TrainingError("--frame-cache needs --cache-features on a DistilHuBERT backbone")
        if options.train_top_layers or options.encoder_layers:
            raise TrainingError("--train-top-layers and --encoder-layers are for Whisper backbones")
    needed = {r.path: r for _, s in folds for r in (*s.train, *s.validation, *s.test)}
    needed.update({r.path: r for r in extra})
    from .teacher import WHISPER_PREPROCESSING

    preprocessing = WHISPER_PREPROCESSING if whisper else PreprocessingConfig()
    store = AudioStore(list(needed.values()), preprocessing, progress=options.progress)
    usable = {r.path for r in store.records}
    logger.info("audio: %d files, %.1f minutes", len(store), store.seconds() / 60)

    def keep(recs: Sequence[Record]) -> tuple[Record, ...]:
        return tuple(r for r in recs if r.path in usable)

    results: list[FoldResult] = []
    for index, split in folds:
        fold_split = Split(split.name, keep(split.train), keep(split.test), keep(split.validation))
        fold_dir = out / split.name if multi else out
        done = _finished_fold(fold_dir, fold_split, options) if options.resume else None
        if done is None and whisper:
            cache_dir = Path(options.frame_cache) if options.frame_cache else out / "teacher_cache"
            done = train_whisper_fold(options, fold_split, store, fold_dir, command, cache_dir)
        results.append(
            done or _train_fold(options, fold_split, index, store, keep(extra), fold_dir, command)
        )

    summary = None
    tested = [f for f in results if f.test is not None]
    if multi and tested:
        summary = summarize_folds(
            [f.test for f in tested if f.test is not None], [f.name for f in tested]
        )
        write_json(
            out / REPORT_FILENAME,
            {
                "format": REPORT_FORMAT,
                "status": "complete",
                "split": options.split,
                "folds": [{"name": f.name, "dir": str(f.out_dir)} for f in results],
                "summary": summary,
                "options": options.to_dict(),
                "command": command,
                "seed": options.seed,
                "finished": _now(),
                "license_note": LICENSE_NOTE,
            },
        )
        if options.plots:
            from .plots import plot_confusion_matrix, plot_folds

            plot_folds(
                [f.test for f in tested if f.test is not None],
                [f.name for f in tested],
                out / "folds.png",
                f"{options.split}: UA {summary['mean']['ua']:.3f} ± {summary['std']['ua']:.3f}",
            )
            plot_confusion_matrix(
                summary["confusion_matrix"],
                summary["labels"],
                out / "confusion_matrix.png",
                f"{options.split}: all folds",
            )
    return TrainResult(out, tuple(results), summary)
