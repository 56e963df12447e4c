"""The per-state linear probe behind the model card's P1 probe figures (RAVDESS 9-12, SAVEE).

L2 logistic regression (l2=1, standardised, balanced corpus x label weights) on the time mean
of every hidden state of a Whisper-family encoder (the teacher, or a distilled student),
trained on the P1 training side (RAVDESS actors 1-8, TESS, URDU, TurEV-DB) and scored on
RAVDESS actors 9-12 and on all of SAVEE. Clean centre 8 s, states from the teacher cache.

    python training/results/default_v3/probe_layers.py ENCODER CACHE_DIR [DATASETS] > out.json
"""

import json
import sys

import numpy as np
from edge_ser_train.baseline import fit_logistic
from edge_ser_train.corpora import CorpusOptions
from edge_ser_train.data import DEFAULT_AUGMENT, AudioStore, balanced_weights
from edge_ser_train.metrics import compute_metrics
from edge_ser_train.teacher import WHISPER_PREPROCESSING, TeacherCache, load_teacher
from edge_ser_train.train import load_sources

LABELS = ("anger", "happiness", "neutral", "sadness")
HELD = ("Actor_09", "Actor_10", "Actor_11", "Actor_12")


def main(encoder: str, cache: str, datasets: str = "../shared/datasets") -> dict[str, float]:
    names = ("ravdess", "tess", "savee", "urdu", "turev-db")
    records = load_sources([f"{datasets}/{n}:{n}" for n in names], LABELS, CorpusOptions())
    store = AudioStore(records, WHISPER_PREPROCESSING)
    states = TeacherCache(
        load_teacher(encoder), cache, max_samples=128000, augment=DEFAULT_AUGMENT, seed=0
    )
    pooled = {r.path: states.get(store, r, 0).astype(np.float32).mean(1) for r in store.records}
    held = [r for r in store.records if r.corpus == "ravdess" and r.speaker in HELD]
    tests = {"ravdess_9-12": held, "savee": [r for r in store.records if r.corpus == "savee"]}
    train = [r for r in store.records if r.corpus != "savee" and r not in held]
    y = np.array([LABELS.index(r.label) for r in train])
    out = {}
    for state in range(pooled[train[0].path].shape[0]):
        x = np.stack([pooled[r.path][state] for r in train])
        mu, sd = x.mean(0), x.std(0) + 1e-6
        w, b = fit_logistic(
            (x - mu) / sd, y, balanced_weights(train), 4, l2=1.0, max_iterations=500
        )
        for name, test in tests.items():
            xt = (np.stack([pooled[r.path][state] for r in test]) - mu) / sd
            predicted = [LABELS[i] for i in (xt @ w + b).argmax(1)]
            out[f"state{state}/{name}"] = round(
                compute_metrics([r.label for r in test], predicted, LABELS).ua, 4
            )
    return out


if __name__ == "__main__":
    print(
        json.dumps(
            {"encoder": sys.argv[1].rstrip("/").split("/")[-1], "probe": main(*sys.argv[1:])},
            indent=1,
        )
    )
