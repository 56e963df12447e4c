"""Long voice notes from held-out utterances: does silence, noise or non-speech bias the label?

The paper's Open Question 1 asks whether temporal aggregation over long voice notes drifts
towards *neutral* when most of a note is not emotional speech. This builds notes the runtime
has never heard and measures it, through the runtime (no torch):

* each note is one speaker's utterances of one *dominant* emotion (3-5 of them), with one
  utterance of another emotion put in at random half of the time (notes mix emotions);
* between utterances, gaps of 0.4-3 s, each drawn from: digital silence (exact zeros, as
  padded, muted or gated recordings have), a low noise floor (pink noise at -50 dBFS), or
  non-speech (a 1-s harmonic tone, or a burst of clatter-like noise);
* half of the notes also carry background noise at 25 dB SNR throughout.

Each note is scored with VAD on and off and with every aggregation method. Reported: note
UA (the dominant emotion is the note's label), window UA (a window's true label is that of
the utterance it overlaps most), neutral precision and recall at both levels, and the
windows that overlap no utterance at all, with the share of them labelled neutral.

Run: ``python -m edge_ser_train.long_notes --model DIR --data DIR:CORPUS ... [--speakers ...]
--notes 40 --json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_ser.errors import EdgeSerError

from .corpora import CorpusOptions, Record, load_corpus
from .metrics import compute_metrics
from .options import parse_data_spec

__all__ = ["Note", "make_notes", "score_notes"]

SR = 16_000
LABELS = ("anger", "happiness", "neutral", "sadness")
AGGREGATIONS = ("duration", "confidence", "vote", "mean")


@dataclass(frozen=True)
class Note:
    """A synthetic long note: audio, its dominant label, and the labelled utterance spans."""

    audio: npt.NDArray[np.float32]
    label: str
    spans: tuple[tuple[float, float, str], ...]  # start s, end s, label
    background: bool


def _pink(n: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    x: npt.NDArray[np.float64] = np.fft.irfft(spectrum / np.sqrt(f), n)
    out: npt.NDArray[np.float64] = x / (np.sqrt(np.mean(x**2)) + 1e-12)
    return out


def _gap(kind: str, seconds: float, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    n = int(seconds * SR)
    if kind == "zeros":
        return np.zeros(n, dtype=np.float32)
    if kind == "floor":
        return (10 ** (-50 / 20) * _pink(n, rng)).astype(np.float32)
    if kind == "tone":
        t = np.arange(n) / SR
        f0 = rng.uniform(300, 900)
        tone = np.zeros(n)
        for k in range(1, 5):
            tone += np.sin(2 * np.pi * k * f0 * t) / k
        faded: npt.NDArray[np.float32] = (
            0.2 * tone * np.clip(np.sin(np.pi * t / seconds) * 4, 0, 1)
        ).astype(np.float32)
        return faded
    # clatter: short decaying noise bursts
    x = np.zeros(n)
    for start in rng.integers(0, max(1, n - 800), size=int(rng.integers(2, 6))):
        m = min(n - int(start), int(rng.integers(400, 4000)))
        x[start : start + m] += (
            rng.standard_normal(m) * np.exp(-np.arange(m) / (m / 4)) * rng.uniform(0.05, 0.3)
        )
    return x.astype(np.float32)


def make_notes(records: Sequence[Record], n_notes: int, seed: int = 0) -> list[Note]:
    """``n_notes`` notes (see the module docstring) from the utterances in ``records``."""
    from edge_ser.audio import load_audio

    rng = np.random.default_rng(seed)
    by_speaker: dict[str, dict[str, list[Record]]] = {}
    for r in records:
        by_speaker.setdefault(r.speaker_key, {}).setdefault(r.label, []).append(r)
    speakers = sorted(s for s, d in by_speaker.items() if len(d) >= 2)
    if not speakers:
        raise EdgeSerError("long notes need speakers with at least two emotions")
    notes = []
    for i in range(n_notes):
        cells = by_speaker[speakers[i % len(speakers)]]
        present = sorted(cells)
        label = present[(i // len(speakers)) % len(present)]
        chosen = [
            cells[label][int(k)] for k in rng.integers(0, len(cells[label]), rng.integers(3, 6))
        ]
        others = [c for c in present if c != label]
        if others and rng.random() < 0.5:
            other = others[int(rng.integers(0, len(others)))]
            chosen.insert(int(rng.integers(0, len(chosen) + 1)), cells[other][0])
        parts: list[npt.NDArray[np.float32]] = []
        spans = []
        t = 0.0
        for r in chosen:
            gap = _gap(
                str(rng.choice(["zeros", "zeros", "floor", "tone", "clatter"])),
                float(rng.uniform(0.4, 3.0)),
                rng,
            )
            parts.append(gap)
            t += gap.size / SR
            x = load_audio(r.path, target_rate=SR).astype(np.float32)
            x = 0.5 * x / (np.abs(x).max() + 1e-9)
            parts.append(x)
            spans.append((t, t + x.size / SR, r.label))
            t += x.size / SR
        parts.append(_gap("zeros", 1.0, rng))
        audio = np.concatenate(parts)
        background = bool(rng.random() < 0.5)
        if background:
            speech_rms = float(np.sqrt(np.mean(audio[np.abs(audio) > 1e-4] ** 2)))
            audio = audio + (speech_rms * 10 ** (-25 / 20) * _pink(audio.size, rng)).astype(
                np.float32
            )
        notes.append(Note(audio.astype(np.float32), label, tuple(spans), background))
    return notes


def _window_truth(
    start: float, end: float, spans: Sequence[tuple[float, float, str]]
) -> str | None:
    best, label = 0.0, None
    for s, e, lab in spans:
        overlap = min(end, e) - max(start, s)
        if overlap > best:
            best, label = overlap, lab
    return label


def _neutral(truth: Sequence[str], predicted: Sequence[str | None]) -> dict[str, float | None]:
    tp = sum(t == "neutral" and p == "neutral" for t, p in zip(truth, predicted, strict=True))
    n_pred = sum(p == "neutral" for p in predicted)
    n_true = sum(t == "neutral" for t in truth)
    return {
        "precision": tp / n_pred if n_pred else None,
        "recall": tp / n_true if n_true else None,
        "predicted_share": n_pred / len(predicted) if predicted else None,
    }


def score_notes(model: str | None, notes: Sequence[Note]) -> list[dict[str, Any]]:
    """Every (VAD on/off, aggregation) setting on ``notes``, through the runtime."""
    from edge_ser import Classifier

    rows = []
    for vad in (True, False):
        for method in AGGREGATIONS:
            clf = Classifier(
                model, options={"vad": {"enabled": vad}, "aggregation": {"method": method}}
            )
            truth, predicted = [], []
            w_truth, w_pred = [], []
            nonspeech: list[str] = []
            for note in notes:
                result = clf.classify(note.audio, sample_rate=SR)
                truth.append(note.label)
                predicted.append(result.label)
                for w in result.windows:
                    lab = _window_truth(w.start, w.end, note.spans)
                    if lab is None:
                        nonspeech.append(w.label)
                    else:
                        w_truth.append(lab)
                        w_pred.append(w.label)
            labels = tuple(sorted(set(truth) | set(w_truth)))
            note_m = compute_metrics(truth, predicted, labels)
            win_m = compute_metrics(w_truth, w_pred, labels)
            rows.append(
                {
                    "vad": vad,
                    "aggregation": method,
                    "notes": len(notes),
                    "note_ua": round(note_m.ua, 4),
                    "note_wa": round(note_m.wa, 4),
                    "note_neutral": _neutral(truth, predicted),
                    "windows": len(w_truth),
                    "window_ua": round(win_m.ua, 4),
                    "window_neutral": _neutral(w_truth, w_pred),
                    "nonspeech_windows": len(nonspeech),
                    "nonspeech_windows_neutral_share": (
                        round(sum(p == "neutral" for p in nonspeech) / len(nonspeech), 4)
                        if nonspeech
                        else None
                    ),
                    "no_label_notes": sum(p is None for p in predicted),
                }
            )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge_ser_train.long_notes", description=__doc__)
    p.add_argument("--model", default=None, help="exported model folder (default: bundled)")
    p.add_argument("--data", nargs="+", required=True, help="DIR:CORPUS sources of held-out audio")
    p.add_argument("--speakers", nargs="*", default=[], help="keep only these CORPUS/SPEAKER keys")
    p.add_argument("--notes", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    try:
        records: list[Record] = []
        for spec in a.data:
            src = parse_data_spec(spec)
            records += [
                r
                for r in load_corpus(src.corpus, src.path, CorpusOptions())
                if r.label in LABELS and (not a.speakers or r.speaker_key in a.speakers)
            ]
        rows = score_notes(a.model, make_notes(records, a.notes, a.seed))
    except EdgeSerError as exc:
        print(f"long_notes: error: {exc}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps({"notes": a.notes, "seed": a.seed, "rows": rows}, indent=1))
    else:
        for r in rows:
            print(
                f"vad={'on ' if r['vad'] else 'off'} {r['aggregation']:10s} note UA "
                f"{r['note_ua']:.3f}  window UA {r['window_ua']:.3f}  neutral P/R (notes) "
                f"{r['note_neutral']['precision']}/{r['note_neutral']['recall']}  "
                f"non-speech windows {r['nonspeech_windows']} "
                f"({r['nonspeech_windows_neutral_share']} neutral)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
