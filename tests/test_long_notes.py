"""Long-note construction and scoring (the paper's Open Question 1 study)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import make_voice_corpus
from edge_ser_train.corpora import CorpusOptions, load_corpus
from edge_ser_train.long_notes import _window_truth, make_notes, score_notes


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list:
    root = make_voice_corpus(tmp_path_factory.mktemp("voices"), actors=2, per_class=3)
    return load_corpus("ravdess", root, CorpusOptions())


def test_notes_hold_their_utterances_between_non_speech_gaps(records: list) -> None:
    notes = make_notes(records, 6, seed=1)
    assert len(notes) == 6
    for note in notes:
        labels = [lab for _, _, lab in note.spans]
        assert 3 <= len(labels) <= 6
        assert labels.count(note.label) >= len(labels) - 1  # one other emotion at most
        starts = [s for s, _, _ in note.spans]
        assert starts == sorted(starts) and starts[0] >= 0.4  # a gap comes first
        assert note.spans[-1][1] <= note.audio.size / 16000
        if not note.background:  # the note ends in one second of digital silence
            assert not np.any(note.audio[-16000:])
    assert {n.label for n in notes} == {"anger", "sadness"}  # both emotions dominate a note


def test_window_truth_is_the_utterance_overlapped_most() -> None:
    spans = [(1.0, 3.0, "anger"), (4.0, 9.0, "sadness")]
    assert _window_truth(0.0, 3.5, spans) == "anger"
    assert _window_truth(2.5, 8.0, spans) == "sadness"
    assert _window_truth(3.1, 3.9, spans) is None


def test_scoring_covers_every_setting(records: list, tiny_model_dir: Path) -> None:
    notes = make_notes(records, 2, seed=0)
    rows = score_notes(str(tiny_model_dir), notes)
    assert [(r["vad"], r["aggregation"]) for r in rows] == [
        (v, m) for v in (True, False) for m in ("duration", "confidence", "vote", "mean")
    ]
    # with VAD off, 8-s windows tile each whole note (the model's window is 8 s)
    tiled = sum(int(np.ceil(n.audio.size / 16000 / 8.0)) for n in notes)
    for r in rows:
        assert 0.0 <= r["note_ua"] <= 1.0 and r["notes"] == 2
        assert r["windows"] > 0
        for level in ("note_neutral", "window_neutral"):
            assert all(v is None or 0.0 <= v <= 1.0 for v in r[level].values())
        if not r["vad"]:
            assert r["windows"] + r["nonspeech_windows"] == tiled
