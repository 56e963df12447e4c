"""Training on cached feature-encoder outputs.

The paper's recipe freezes DistilHuBERT's convolutional feature encoder, and that encoder is
about three quarters of the model's multiply-adds. With it frozen, its output for an
utterance never changes, so it is computed once (:class:`FeatureCache`) and every epoch
runs only the feature projection, the transformer and the head on those frames. On a
2-core CPU this turns an epoch from hours into minutes.

What is given up: waveform augmentation (gain, noise, speed) cannot be applied after the
encoder, so ``--cache-features`` trains on clean utterances; time masking (SpecAugment)
still applies after the projection. Each utterance is encoded whole (its first or centre
``max_seconds``, preprocessed as in the runtime), as the runtime encodes a whole window.
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
from .data import AudioStore, eval_input
from .model import PooledClassifier
from .progress import Progress

__all__ = ["FeatureBatch", "FeatureCache", "balanced_sample", "feature_batches"]

logger = logging.getLogger("edge_ser.train")


class FeatureCache:
    """Frozen-encoder outputs ``[frames, channels]`` (float16) of each record."""

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
    ) -> None:
        """Encode ``records``; with ``cache_file``, reuse (or write) the frames stored there
        under ``key`` (a fingerprint of the encoder and preprocessing), so a crashed or
        resumed run does not encode again."""
        unique = list(dict.fromkeys(r.path for r in records))
        by_path = {r.path: r for r in records}
        self._features: dict[object, npt.NDArray[np.float16]] = {}
        if cache_file is not None and cache_file.is_file():
            with np.load(cache_file) as stored:
                if stored["key"].item() == key and set(stored["paths"].tolist()) >= set(
                    map(str, unique)
                ):
                    offsets = stored["offsets"]
                    frames = stored["frames"]
                    index = {p: i for i, p in enumerate(stored["paths"].tolist())}
                    for path in unique:
                        i = index[str(path)]
                        self._features[path] = frames[offsets[i] : offsets[i + 1]]
                    logger.info("reused the feature cache %s", cache_file)
                    return
        encoder = cast(torch.nn.Module, net.model.hubert.feature_extractor)  # type: ignore[union-attr]
        was_training = encoder.training
        encoder.eval()
        bar = Progress(len(unique), "encoding (frozen feature encoder)", enabled=progress)
        with torch.inference_mode():
            for path in unique:
                x = eval_input(store.audio(by_path[path]), max_samples, store.preprocessing)
                feats = encoder(torch.from_numpy(x)[None].to(device))  # [1, C, T]
                self._features[path] = (
                    feats[0].transpose(0, 1).float().cpu().numpy().astype(np.float16)
                )
                bar.update(1)
        bar.close()
        encoder.train(was_training)
        n_frames = sum(f.shape[0] for f in self._features.values())
        logger.info("cached %d utterances (%d encoder frames)", len(self._features), n_frames)
        if cache_file is not None:
            paths = list(self._features)
            lengths = [self._features[p].shape[0] for p in paths]
            np.savez(
                cache_file,
                key=np.array(key),
                paths=np.array([str(p) for p in paths]),
                offsets=np.concatenate([[0], np.cumsum(lengths)]),
                frames=np.concatenate([self._features[p] for p in paths]),
            )

    def features(self, record: Record) -> npt.NDArray[np.float16]:
        return self._features[record.path]


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
    utterances from epoch to epoch; no padding is needed.
    """
    lengths = np.array(
        [min(cache.features(r).shape[0], max_frames) for r in records], dtype=np.float64
    )
    order = np.argsort(lengths * rng.uniform(0.85, 1.15, size=len(records)), kind="stable")
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    for j in rng.permutation(len(chunks)):
        batch = [records[int(i)] for i in chunks[j]]
        length = max(1, int(min(min(cache.features(r).shape[0], max_frames) for r in batch)))
        rows = []
        for r in batch:
            f = cache.features(r)
            start = int(rng.integers(0, f.shape[0] - length + 1))
            rows.append(f[start : start + length])
        yield FeatureBatch(
            features=np.stack(rows).astype(np.float32),
            labels=np.array([label_ids[r.label] for r in batch], dtype=np.int64),
        )


def balanced_sample(records: Sequence[Record], n: int, rng: np.random.Generator) -> list[Record]:
    """``n`` records drawn with replacement so every (corpus, label) cell weighs the same.

    Without it a corpus with many utterances from few speakers (TESS: 1,600 from 2 women)
    would dominate training, and the model would learn its speakers instead of emotion.
    """
    cells: dict[tuple[str, str], int] = {}
    for r in records:
        cells[(r.corpus, r.label)] = cells.get((r.corpus, r.label), 0) + 1
    p = np.array([1.0 / cells[(r.corpus, r.label)] for r in records], dtype=np.float64)
    p /= p.sum()
    return [records[int(i)] for i in rng.choice(len(records), size=n, replace=True, p=p)]
