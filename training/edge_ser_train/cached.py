"""Training on cached feature-encoder outputs.

The paper's recipe freezes DistilHuBERT's convolutional feature encoder, and that encoder is
about three quarters of the model's multiply-adds. With it frozen, its output for an
utterance never changes, so it is computed once (:class:`FeatureCache`) and every epoch
runs only the feature projection, the transformer and the head on those frames. On a
2-core CPU this turns an epoch from hours into minutes.

Waveform augmentation (speed, EQ, reverberation, noise) cannot be applied after the
encoder, so it is applied before: with ``copies > 1`` each utterance is encoded once as it
is and ``copies - 1`` times augmented (each version drawn once, with a seed), and every epoch
draws one version per utterance. Time masking (SpecAugment) still applies after the
projection. Each version is encoded whole (its centre ``max_seconds``, preprocessed as in the
runtime), as the runtime encodes a whole window.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt
import torch

from .corpora import Record
from .data import AudioStore, AugmentOptions, augment_waveform, balanced_weights, eval_input
from .model import PooledClassifier
from .progress import Progress

__all__ = ["FeatureBatch", "FeatureCache", "balanced_sample", "feature_batches"]

logger = logging.getLogger("edge_ser.train")


class FeatureCache:
    """Frozen-encoder outputs ``[frames, channels]`` (float16) of each version of each record."""

    def __init__(
        self,
        net: PooledClassifier,
        store: AudioStore,
        records: Sequence[Record],
        max_samples: int,
        device: torch.device,
        *,
        progress: bool = False,
        cache_file: Path | None = None,
        key: str = "",
        copies: int = 1,
        augment: AugmentOptions | None = None,
        seed: int = 0,
        frame_dir: Path | None = None,
    ) -> None:
        """Encode ``records`` (``copies`` versions each: see the module); with
        ``cache_file``, reuse (or write) the frames stored there under ``key`` (a
        fingerprint of the encoder, preprocessing and augmentation), so a crashed or resumed
        run does not encode again. With ``frame_dir``, frames come from (and go to) the
        shared per-file cache of :func:`~edge_ser_train.teacher.encoder_frame_cache` instead,
        which the distillation step fills with the same encoder's frames."""
        if copies > 1 and (augment is None or not augment.enabled):
            raise ValueError("FeatureCache: copies > 1 needs an enabled augment")
        self.copies = copies
        unique = list(dict.fromkeys(r.path for r in records))
        by_path = {r.path: r for r in records}
        wanted = [(path, k) for path in unique for k in range(copies)]
        self._features: dict[tuple[object, int], npt.NDArray[np.float16]] = {}
        if frame_dir is not None:
            from .teacher import encoder_frame_cache

            shared = encoder_frame_cache(
                net.model.hubert.feature_extractor,  # type: ignore[union-attr]
                frame_dir,
                max_samples=max_samples,
                preprocessing=store.preprocessing,
                augment=augment if copies > 1 else None,
                seed=seed,
            )
            bar = Progress(len(wanted), "encoder frames (shared cache)", enabled=progress)
            for path, k in wanted:
                self._features[(path, k)] = shared.get(store, by_path[path], k)
                bar.update(1)
            bar.close()
            logger.info(
                "frame cache %s: %d computed, %d reused", frame_dir, shared.computed, shared.reused
            )
            return
        if cache_file is not None and cache_file.is_file():
            with np.load(cache_file) as stored:
                names = stored["paths"].tolist()
                if stored["key"].item() == key and set(names) >= {_name(*w) for w in wanted}:
                    offsets = stored["offsets"]
                    frames = stored["frames"]
                    index = {p: i for i, p in enumerate(names)}
                    for w in wanted:
                        i = index[_name(*w)]
                        self._features[w] = frames[offsets[i] : offsets[i + 1]]
                    logger.info("reused the feature cache %s", cache_file)
                    return
        encoder = cast(torch.nn.Module, net.model.hubert.feature_extractor)  # type: ignore[union-attr]
        was_training = encoder.training
        encoder.eval()
        bar = Progress(len(wanted), "encoding (frozen feature encoder)", enabled=progress)
        with torch.inference_mode():
            for n, (path, k) in enumerate(wanted):
                x = store.audio(by_path[path])
                if k > 0 and augment is not None:
                    x = augment_waveform(x, augment, np.random.default_rng([seed, n]))
                x = eval_input(x, max_samples, store.preprocessing)
                feats = encoder(torch.from_numpy(x)[None].to(device))  # [1, C, T]
                self._features[(path, k)] = (
                    feats[0].transpose(0, 1).float().cpu().numpy().astype(np.float16)
                )
                bar.update(1)
        bar.close()
        encoder.train(was_training)
        n_frames = sum(f.shape[0] for f in self._features.values())
        logger.info(
            "cached %d utterances x %d versions (%d encoder frames)", len(unique), copies, n_frames
        )
        if cache_file is not None:
            keys = list(self._features)
            lengths = [self._features[w].shape[0] for w in keys]
            np.savez(
                cache_file,
                key=np.array(key),
                paths=np.array([_name(*w) for w in keys]),
                offsets=np.concatenate([[0], np.cumsum(lengths)]),
                frames=np.concatenate([self._features[w] for w in keys]),
            )

    def features(self, record: Record, copy: int = 0) -> npt.NDArray[np.float16]:
        """The frames of version ``copy`` of ``record`` (0: not augmented)."""
        return self._features[(record.path, copy)]


def _name(path: object, copy: int) -> str:
    return str(path) if copy == 0 else f"{path}#aug{copy}"


@dataclass(frozen=True)
class FeatureBatch:
    """Encoder frames ``[batch, frames, channels]`` (float32) and label ids ``[batch]``."""

    features: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]


def feature_batches(
    cache: FeatureCache,
    records: Sequence[Record],
    label_ids: dict[str, int],
    batch_size: int,
    max_frames: int,
    rng: np.random.Generator,
) -> Iterator[FeatureBatch]:
    """One epoch of batches of similar-length utterances, each cropped to the batch's shortest.

    Crops are random within each utterance, so the model sees different stretches of long
    utterances from epoch to epoch; no padding is needed. Each record's version (see
    :class:`FeatureCache`) is drawn at random.
    """
    chosen = [
        cache.features(r, int(c))
        for r, c in zip(records, rng.integers(0, cache.copies, size=len(records)), strict=True)
    ]
    lengths = np.array([min(f.shape[0], max_frames) for f in chosen], dtype=np.float64)
    order = np.argsort(lengths * rng.uniform(0.85, 1.15, size=len(records)), kind="stable")
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    for j in rng.permutation(len(chunks)):
        batch = [records[int(i)] for i in chunks[j]]
        feats = [chosen[int(i)] for i in chunks[j]]
        length = max(1, int(min(min(f.shape[0], max_frames) for f in feats)))
        rows = []
        for f in feats:
            start = int(rng.integers(0, f.shape[0] - length + 1))
            rows.append(f[start : start + length])
        yield FeatureBatch(
            features=np.stack(rows).astype(np.float32),
            labels=np.array([label_ids[r.label] for r in batch], dtype=np.int64),
        )


def balanced_sample(records: Sequence[Record], n: int, rng: np.random.Generator) -> list[Record]:
    """``n`` records drawn with replacement so every (corpus, label) cell weighs the same
    (with the probabilities of :func:`~edge_ser_train.data.balanced_weights`)."""
    p = balanced_weights(records)
    return [records[int(i)] for i in rng.choice(len(records), size=n, replace=True, p=p)]
