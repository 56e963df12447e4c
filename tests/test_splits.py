"""Split invariants: no speaker on two sides, folds cover everything, LOSO is by session."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from edge_ser_train.corpora import LABELS, Record
from edge_ser_train.splits import (
    Split,
    assert_no_speaker_leak,
    cross_corpus_split,
    hold_out_validation,
    leave_one_group_out,
    make_splits,
    speaker_folds,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_ser.errors import TrainingError


def rec(
    corpus: str, speaker: str, i: int, group: str | None = None, label: str = "anger"
) -> Record:
    return Record(Path(f"/{corpus}/{speaker}/{i}.wav"), label, speaker, group or speaker, corpus)


def iemocap_records() -> list[Record]:
    out = []
    for s in range(1, 6):
        for gender in "FM":
            for i in range(4 + s):  # sessions of different sizes
                out.append(
                    rec("iemocap", f"Ses0{s}{gender}", i, f"Session{s}", LABELS[i % len(LABELS)])
                )
    return out


def corpus_records(corpus: str, speakers: dict[str, int]) -> list[Record]:
    return [rec(corpus, s, i, label=LABELS[i % 4]) for s, n in speakers.items() for i in range(n)]


def speakers(records: tuple[Record, ...] | list[Record]) -> set[str]:
    return {r.speaker_key for r in records}


def check_folds(records: list[Record], folds: list[Split]) -> None:
    """Every record is tested exactly once and trained on in every other fold; no leaks."""
    tested = Counter(r.path for f in folds for r in f.test)
    assert tested == Counter(r.path for r in records)
    for f in folds:
        assert not speakers(f.train) & speakers(f.test)
        assert len(f.train) + len(f.test) == len(records)
        assert {r.path for r in f.train} | {r.path for r in f.test} == {r.path for r in records}


def test_loso_gives_five_session_folds() -> None:
    records = iemocap_records()
    folds = leave_one_group_out(records)
    assert [f.name for f in folds] == [f"loso-Session{s}" for s in range(1, 6)]
    check_folds(records, folds)
    for s, f in enumerate(folds, start=1):
        assert {r.group for r in f.test} == {f"Session{s}"}
        assert speakers(f.test) == {f"iemocap/Ses0{s}F", f"iemocap/Ses0{s}M"}
        assert f"Session{s}" not in {r.group for r in f.train}
    assert [len(f.test) for f in folds] == [2 * (4 + s) for s in range(1, 6)]


def test_loso_needs_two_groups() -> None:
    with pytest.raises(TrainingError, match="at least 2"):
        leave_one_group_out([rec("iemocap", "Ses01F", 0, "Session1")])


def test_speaker_folds_are_balanced_and_deterministic() -> None:
    records = corpus_records("ravdess", {f"Actor_{a:02d}": 10 + a for a in range(1, 13)})
    folds = speaker_folds(records, 4, seed=7)
    check_folds(records, folds)
    sizes = [len(f.test) for f in folds]
    assert max(sizes) - min(sizes) <= max(10 + a for a in range(1, 13))
    assert all(len(speakers(f.test)) == 3 for f in folds)
    again = speaker_folds(records, 4, seed=7)
    assert [speakers(f.test) for f in folds] == [speakers(f.test) for f in again]


def test_speaker_folds_reject_more_folds_than_speakers() -> None:
    records = corpus_records("savee", {"DC": 5, "JE": 5, "JK": 5})
    with pytest.raises(TrainingError, match="number of speakers"):
        speaker_folds(records, 4)
    with pytest.raises(TrainingError):
        speaker_folds(records, 1)


def test_same_id_in_two_corpora_is_two_speakers() -> None:
    records = corpus_records("crema-d", {"1001": 3, "1002": 3}) + corpus_records(
        "turev-db", {"1001": 3, "1157": 3}
    )
    folds = speaker_folds(records, 4, seed=0)
    check_folds(records, folds)
    assert all(len(speakers(f.test)) == 1 for f in folds)


def test_cross_corpus_split() -> None:
    records = corpus_records("ravdess", {"Actor_01": 4, "Actor_02": 4}) + corpus_records(
        "tess", {"OAF": 5, "YAF": 5}
    )
    split = cross_corpus_split(records, "TESS")
    assert {r.corpus for r in split.test} == {"tess"}
    assert {r.corpus for r in split.train} == {"ravdess"}
    assert len(split.test) == 10 and len(split.train) == 8
    with pytest.raises(TrainingError, match="no records of that corpus"):
        cross_corpus_split(records, "savee")
    with pytest.raises(TrainingError, match="nothing left to train on"):
        cross_corpus_split(corpus_records("tess", {"OAF": 2}), "tess")


def test_a_leaking_split_is_refused() -> None:
    a = rec("savee", "DC", 0)
    b = rec("savee", "DC", 1)
    with pytest.raises(TrainingError, match=r"speaker leak.*savee/DC"):
        Split("bad", train=(a,), test=(b,))
    with pytest.raises(TrainingError, match="validation"):
        Split("bad", train=(a,), validation=(b,), test=(rec("savee", "JE", 0),))
    with pytest.raises(TrainingError, match="extra"):
        assert_no_speaker_leak(extra=[a], test=[b])
    # the same id in another corpus is another person
    Split("ok", train=(a,), test=(rec("urdu", "DC", 0),))


def test_hold_out_validation_keeps_three_sides_apart() -> None:
    records = corpus_records("ravdess", {f"Actor_{a:02d}": 6 for a in range(1, 9)})
    split = hold_out_validation(speaker_folds(records, 4, seed=1)[0], 2, seed=3)
    assert len(speakers(split.validation)) == 2
    assert not speakers(split.train) & speakers(split.validation)
    assert not speakers(split.test) & speakers(split.validation)
    assert len(split.train) + len(split.validation) + len(split.test) == len(records)
    with pytest.raises(TrainingError, match="leaves no training speaker"):
        hold_out_validation(split, 10)


@pytest.mark.parametrize(
    ("spec", "n_folds"), [("none", 1), ("loso", 5), ("speakers:3", 3), ("cross:iemocap", 1)]
)
def test_make_splits(spec: str, n_folds: int) -> None:
    records = iemocap_records() + corpus_records("ravdess", {"Actor_01": 2})
    if spec == "loso":
        records = iemocap_records()
    folds = make_splits(records, spec, seed=0)
    assert len(folds) == n_folds
    for f in folds:
        assert not speakers(f.train) & speakers(f.test)


@pytest.mark.parametrize("spec", ["speakers", "speakers:1", "speakers:x", "cross", "kfold:5", ""])
def test_bad_split_specs(spec: str) -> None:
    with pytest.raises(TrainingError, match="split"):
        make_splits(iemocap_records(), spec)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=9), min_size=2, max_size=14),
    k=st.integers(min_value=2, max_value=6),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_speaker_fold_invariants(sizes: list[int], k: int, seed: int) -> None:
    records = corpus_records("urdu", {f"S{i}": n for i, n in enumerate(sizes)})
    if k > len(sizes):
        with pytest.raises(TrainingError):
            speaker_folds(records, k, seed)
        return
    folds = speaker_folds(records, k, seed)
    assert len(folds) == k
    check_folds(records, folds)
    assert all(f.test for f in folds)
    # greedy balancing: no fold exceeds the smallest by more than the largest speaker
    test_sizes = [len(f.test) for f in folds]
    assert max(test_sizes) - min(test_sizes) <= max(sizes)
