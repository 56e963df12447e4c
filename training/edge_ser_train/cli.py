"""``edge-ser train``: fine-tune DistilHuBERT on emotion corpora, speaker-independently.

Examples::

    edge-ser train --data IEMOCAP_full_release:iemocap --split loso --out runs/iemocap
    edge-ser train --data IEMOCAP_full_release:iemocap --split loso --fold 1 \\
        --cross-corpus crema-d:CREMA-D --mix-ratio 0.5 --out runs/iemocap-f1-crema
    edge-ser train --data ravdess --data tess --split cross:ravdess --out runs/cross
    edge-ser train --config train.json --resume

Options may come from a JSON file (``--config``; keys are the ``TrainOptions`` fields);
flags given on the command line override it. Importing this module is cheap: torch is
imported inside :func:`run`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from edge_ser.errors import TrainingError

from .data import DEFAULT_AUGMENT, AugmentOptions
from .options import TrainOptions

__all__ = ["add_arguments", "run"]

S = argparse.SUPPRESS


def describe_augment(a: AugmentOptions) -> str:
    """The preset in words, from its values (so --help cannot go stale again)."""
    colors = {0.0: "white", 1.0: "pink", 2.0: "brown"}
    parts = []
    if a.speed:
        parts.append(f"speed {a.speed[0]:g}-{a.speed[1]:g}")
    if a.gain_db:
        parts.append(f"gain {a.gain_db[0]:g} to {a.gain_db[1]:g} dB")
    if a.noise_snr_db:
        names = "/".join(colors.get(c, f"slope {c:g}") for c in a.noise_colors)
        parts.append(f"{names} noise at {a.noise_snr_db[0]:g}-{a.noise_snr_db[1]:g} dB SNR")
    if a.eq_db:
        band = " and a telephone-like band limit" if a.band_limit else ""
        parts.append(f"a random EQ of up to +-{a.eq_db:g} dB{band}")
    if a.reverb_rt60:
        parts.append(f"room reverb RT60 {a.reverb_rt60[0]:g}-{a.reverb_rt60[1]:g} s")
    return ", ".join(parts) + f"; each with p={a.probability:g}"


def _labels(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainOptions.__dataclass_fields__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "The output folder holds a save_pretrained model (what `edge-ser export` takes) and "
        "edge_ser_train.json; with several folds, one such folder per fold."
    )
    g = parser.add_argument_group("data")
    g.add_argument(
        "--data",
        action="append",
        metavar="DIR[:CORPUS]",
        default=S,
        help="a corpus folder (repeatable); CORPUS: iemocap, crema-d, ravdess, tess, "
        "savee, emodb, urdu, turev-db, or a .csv manifest (path,label,speaker)",
    )
    g.add_argument("--out", metavar="DIR", default=S, help="output folder")
    g.add_argument(
        "--config",
        metavar="FILE.json",
        default=S,
        help="options as JSON (TrainOptions fields); flags override it",
    )
    g.add_argument(
        "--split",
        default=S,
        metavar="SPEC",
        help="none (default: train on all), loso (IEMOCAP leave-one-session-out), "
        "speakers:K (leave-speakers-out K-fold), cross:CORPUS (test on that corpus, train "
        "on the others), holdout:CORPUS/SPEAKER[,CORPUS/SPEAKER...] (test on those speakers)",
    )
    g.add_argument(
        "--fold",
        type=int,
        default=S,
        metavar="N",
        help="run only fold N (1-based); default: every fold",
    )
    g.add_argument(
        "--cross-corpus",
        default=S,
        metavar="CORPUS:DIR",
        help="extra training corpus mixed into every epoch (e.g. crema-d:DIR)",
    )
    g.add_argument(
        "--mix-ratio",
        type=float,
        default=S,
        metavar="R",
        help=f"extra-corpus utterances per epoch, as a share of the training set "
        f"(default {d['mix_ratio'].default})",
    )
    g.add_argument(
        "--labels",
        type=_labels,
        default=S,
        metavar="A,B,...",
        help="classes in output order (default anger,happiness,neutral,sadness)",
    )
    g.add_argument(
        "--validation-speakers",
        type=int,
        default=S,
        metavar="N",
        help="hold out N training speakers to pick the best epoch (default 0)",
    )
    g.add_argument(
        "--average-from-epoch",
        type=int,
        default=S,
        metavar="E",
        help="average the weights of epochs E..last (kept unless one epoch validates higher)",
    )
    g.add_argument(
        "--validation-holdout",
        nargs="+",
        default=S,
        metavar="CORPUS/SPEAKER",
        help="hold out these training speakers to pick the best epoch (instead of N at random)",
    )
    g.add_argument("--iemocap-subset", choices=("all", "improvised", "scripted"), default=S)
    g.add_argument(
        "--calm-as-neutral",
        action="store_true",
        default=S,
        help="count RAVDESS/TurEV-DB calm as neutral (not the 4-class convention)",
    )
    g.add_argument(
        "--max-files",
        type=int,
        default=S,
        metavar="N",
        help="at most N files per corpus (a seeded sample, for smoke runs)",
    )

    m = parser.add_argument_group("model and schedule")
    m.add_argument(
        "--pretrained",
        default=S,
        metavar="ID|PATH|none",
        help=f"weights: hub id, local folder, or none (random: far lower accuracy); "
        f"default {d['pretrained'].default}",
    )
    m.add_argument(
        "--tiny",
        action="store_true",
        default=S,
        help="a tiny model of the same architecture (smoke tests)",
    )
    m.add_argument("--epochs", type=int, default=S, help=f"default {d['epochs'].default}")
    m.add_argument("--batch-size", type=int, default=S, help=f"default {d['batch_size'].default}")
    m.add_argument(
        "--lr", type=float, default=S, help=f"encoder learning rate (default {d['lr'].default})"
    )
    m.add_argument(
        "--head-lr",
        type=float,
        default=S,
        help=f"head learning rate (default {d['head_lr'].default})",
    )
    m.add_argument("--weight-decay", type=float, default=S)
    m.add_argument("--warmup-ratio", type=float, default=S)
    m.add_argument(
        "--max-seconds", type=float, default=S, help="maximum crop length in seconds (default 8)"
    )
    m.add_argument("--head-dropout", type=float, default=S)
    m.add_argument(
        "--cache-features",
        action="store_true",
        default=S,
        help="encode each utterance once with the frozen feature encoder and train on that "
        "(much faster on a CPU; waveform augmentation only through --cache-copies)",
    )
    m.add_argument(
        "--frame-cache",
        default=S,
        metavar="DIR",
        help="with --cache-features: keep encoder frames in DIR, one file per utterance "
        "version, shared across runs and with the distillation step",
    )
    m.add_argument(
        "--encoder-layers",
        type=int,
        default=S,
        metavar="N",
        help="Whisper backbones: keep only the first N encoder layers (default 0: all); the "
        "saved and exported model is that smaller network",
    )
    m.add_argument(
        "--train-top-layers",
        type=int,
        default=S,
        metavar="N",
        help="Whisper backbones: fine-tune the top N encoder layers (default 0: frozen)",
    )
    m.add_argument(
        "--cache-copies",
        type=int,
        default=S,
        metavar="K",
        help="with --cache-features and --augment: encode each utterance as it is plus K-1 "
        "augmented versions; each epoch draws one (default 1)",
    )
    m.add_argument(
        "--train-crop-seconds",
        type=float,
        default=S,
        metavar="S",
        help="longest random training crop with --cache-features (default: --max-seconds)",
    )
    m.add_argument(
        "--balance-corpora",
        action="store_true",
        default=S,
        help="sample each epoch so every (corpus, label) pair weighs the same",
    )
    m.add_argument("--gamma-min", type=float, default=S, help="adaptive focal loss: lowest gamma")
    m.add_argument("--gamma-max", type=float, default=S, help="adaptive focal loss: highest gamma")
    m.add_argument("--no-class-weights", dest="class_weights", action="store_false", default=S)
    m.add_argument(
        "--augment",
        action="store_true",
        default=S,
        help=f"the default augmentation: {describe_augment(DEFAULT_AUGMENT)}",
    )

    r = parser.add_argument_group("run")
    r.add_argument("--seed", type=int, default=S)
    r.add_argument(
        "--resume",
        action="store_true",
        default=S,
        help="continue from OUT/checkpoint.pt (per fold); finished folds are skipped",
    )
    r.add_argument("--device", default=S, help="auto (default), cpu, cuda or cuda:N")
    r.add_argument("--threads", type=int, default=S, help="torch CPU threads (0: default)")
    r.add_argument("--keep-checkpoint", action="store_true", default=S)
    r.add_argument("--no-plots", dest="plots", action="store_false", default=S)
    r.add_argument("--no-progress", dest="progress", action="store_false", default=S)


def _options(args: argparse.Namespace) -> TrainOptions:
    fields = {f.name for f in dataclasses.fields(TrainOptions)}
    given: dict[str, Any] = {k: v for k, v in vars(args).items() if k in fields}
    if given.get("augment") is True:
        given["augment"] = DEFAULT_AUGMENT
    elif "augment" in given:
        given.pop("augment")
    config = getattr(args, "config", None)
    if config is not None:
        return TrainOptions.from_json(config, **given)
    missing = [f"--{name}" for name in ("data", "out") if name not in given]
    if missing:
        raise TrainingError(
            f"edge-ser train needs {' and '.join(missing)} (e.g. --data DIR[:CORPUS] --out DIR), "
            "or --config FILE.json holding them; see edge-ser train --help"
        )
    return TrainOptions.from_dict(given)


def run(args: argparse.Namespace) -> int:
    options = _options(args)
    from .train import train

    result = train(options, command=["edge-ser", *sys.argv[1:]])
    for fold in result.folds:
        if fold.test is not None:
            t = fold.test
            print(
                f"{fold.name}: UA {t.ua:.4f}  WA {t.wa:.4f}  macro-F1 {t.macro_f1:.4f}  "
                f"(n={t.n})  -> {fold.out_dir}"
            )
        else:
            print(f"{fold.name}: trained (no test side) -> {fold.out_dir}")
    if result.summary is not None:
        mean, std = result.summary["mean"], result.summary["std"]
        print(
            f"{len(result.folds)} folds: UA {mean['ua']:.4f} ± {std['ua']:.4f}  "
            f"WA {mean['wa']:.4f} ± {std['wa']:.4f}  "
            f"macro-F1 {mean['macro_f1']:.4f} ± {std['macro_f1']:.4f}"
        )
    return 0
