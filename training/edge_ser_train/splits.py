"""Speaker-independent splits: no speaker is ever on two sides of a split.

* ``loso``: leave one group out. IEMOCAP's group is its session, so IEMOCAP gives the paper's
  5-fold leave-one-session-out protocol (each session has its own two speakers). For corpora
  without sessions the group is the speaker (leave one speaker out).
* ``speakers:K``: K folds grouped by speaker, balanced by utterance count.
* ``cross:CORPUS``: train on every other corpus, test on CORPUS.
* ``none``: one "split" that trains on everything (no test side): the production model.

Every :class:`Split` checks itself on construction and raises
:class:`~edge_ser.errors.TrainingError` if a speaker would leak. Speakers are compared by
:attr:`Record.speaker_key` (``corpus/speaker``), since ids repeat across corpora.
Standard library only.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from edge_ser.errors import TrainingError

from .corpora import Record, canonical_corpus_name, label_counts

__all__ = [
    "Split",
    "assert_no_speaker_leak",
    "cross_corpus_split",
    "hold_out_validation",
    "leave_one_group_out",
    "make_splits",
    "parse_split_spec",
    "speaker_folds",
]


def _speakers(records: Iterable[Record]) -> set[str]:
    return {r.speaker_key for r in records}


def assert_no_speaker_leak(**sides: Sequence[Record]) -> None:
    """Raise :class:`TrainingError` if any speaker appears on two of the named sides."""
    names = list(sides)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = _speakers(sides[a]) & _speakers(sides[b])
            if shared:
                listed = ", ".join(sorted(shared)[:10])
                raise TrainingError(
                    f"speaker leak: {len(shared)} speaker(s) on both the {a} and the {b} side "
                    f"({listed}); splits must be speaker-independent"
                )


@dataclass(frozen=True)
class Split:
    """One fold: train, optional validation (for model selection) and test records."""

    name: str
    train: tuple[Record, ...]
    test: tuple[Record, ...] = ()
    validation: tuple[Record, ...] = ()

    def __post_init__(self) -> None:
        if not self.train:
            raise TrainingError(f"split {self.name}: the training side is empty")
        assert_no_speaker_leak(train=self.train, validation=self.validation, test=self.test)

    def summary(self) -> dict[str, Any]:
        """Counts and speakers per side, for the training report."""
        out: dict[str, Any] = {"name": self.name}
        for side in ("train", "validation", "test"):
            recs: tuple[Record, ...] = getattr(self, side)
            out[side] = {
                "n": len(recs),
                "labels": label_counts(recs),
                "speakers": sorted(_speakers(recs)),
            }
        return out


def leave_one_group_out(records: Sequence[Record]) -> list[Split]:
    """One fold per group (IEMOCAP session; otherwise speaker), in sorted group order."""
    groups = sorted({r.group_key for r in records})
    if len(groups) < 2:
        raise TrainingError(
            f"leave-one-session-out needs at least 2 sessions/groups, found {len(groups)}"
        )
    # A speaker in two groups would make LOSO leak; Split checks it, this says why.
    splits = []
    for g in groups:
        test = tuple(r for r in records if r.group_key == g)
        train = tuple(r for r in records if r.group_key != g)
        splits.append(Split(name=f"loso-{g.split('/', 1)[1]}", train=train, test=test))
    return splits


def speaker_folds(records: Sequence[Record], k: int, seed: int = 0) -> list[Split]:
    """K folds grouped by speaker, balanced by utterance count (deterministic for a seed).

    Speakers are shuffled with ``seed``, sorted by utterance count (largest first; the sort is
    stable so ties keep the shuffled order) and each goes to the fold with fewest utterances.
    """
    by_speaker: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_speaker[r.speaker_key].append(r)
    speakers = sorted(by_speaker)
    if k < 2 or k > len(speakers):
        raise TrainingError(
            f"speakers:K needs 2 <= K <= the number of speakers ({len(speakers)}), got K={k}"
        )
    random.Random(seed).shuffle(speakers)
    speakers.sort(key=lambda s: len(by_speaker[s]), reverse=True)
    folds: list[list[str]] = [[] for _ in range(k)]
    sizes = [0] * k
    for s in speakers:
        i = min(range(k), key=lambda j: (sizes[j], j))
        folds[i].append(s)
        sizes[i] += len(by_speaker[s])
    splits = []
    for i, fold in enumerate(folds):
        held = set(fold)
        test = tuple(r for r in records if r.speaker_key in held)
        train = tuple(r for r in records if r.speaker_key not in held)
        splits.append(Split(name=f"speakers-{i + 1}of{k}", train=train, test=test))
    return splits


def cross_corpus_split(records: Sequence[Record], test_corpus: str) -> Split:
    """Train on every corpus but ``test_corpus``; test on ``test_corpus``."""
    name = canonical_corpus_name(test_corpus) or test_corpus
    test = tuple(r for r in records if r.corpus == name)
    train = tuple(r for r in records if r.corpus != name)
    present = sorted({r.corpus for r in records})
    if not test:
        raise TrainingError(
            f"cross:{test_corpus}: no records of that corpus; loaded: {', '.join(present)}"
        )
    if not train:
        raise TrainingError(
            f"cross:{test_corpus}: nothing left to train on; load at least one other corpus"
        )
    return Split(name=f"cross-{name}", train=train, test=test)


def hold_out_validation(
    split: Split, n_speakers: int, seed: int = 0, named: Sequence[str] = ()
) -> Split:
    """Move ``n_speakers`` training speakers (chosen with ``seed``), or the ``named``
    speakers (``corpus/speaker`` keys), to a validation side."""
    if n_speakers <= 0 and not named:
        return split
    speakers = sorted(_speakers(split.train))
    if named:
        missing = sorted(set(named) - set(speakers))
        if missing:
            raise TrainingError(
                f"validation speaker(s) {', '.join(missing)} are not on the training side of "
                f"{split.name}; keys look like {', '.join(speakers[:3])}"
            )
        n_speakers = len(set(named))
    if n_speakers >= len(speakers):
        raise TrainingError(
            f"validation_speakers={n_speakers} leaves no training speaker "
            f"({len(speakers)} in {split.name})"
        )
    held = set(named) if named else set(random.Random(seed).sample(speakers, n_speakers))
    return Split(
        name=split.name,
        train=tuple(r for r in split.train if r.speaker_key not in held),
        validation=tuple(r for r in split.train if r.speaker_key in held),
        test=split.test,
    )


def held_out_speakers_split(records: Sequence[Record], speakers: Sequence[str]) -> Split:
    """Test on the named speakers (``corpus/speaker`` keys), train on everyone else."""
    wanted = set(speakers)
    known = {r.speaker_key for r in records}
    missing = sorted(wanted - known)
    if missing:
        raise TrainingError(
            f"holdout: unknown speaker(s) {', '.join(missing)}; keys look like "
            f"{', '.join(sorted(known)[:3])}"
        )
    test = tuple(r for r in records if r.speaker_key in wanted)
    train = tuple(r for r in records if r.speaker_key not in wanted)
    return Split(name="holdout", train=train, test=test)


def parse_split_spec(spec: str) -> tuple[str, str | int | None]:
    """Parse ``none``, ``loso``, ``speakers:K``, ``cross:CORPUS`` or ``holdout:SPK,SPK``."""
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind in ("none", "loso") and not arg:
        return kind, None
    if kind == "speakers":
        try:
            k = int(arg)
        except ValueError:
            k = -1
        if k < 2:
            raise TrainingError(f"split 'speakers:K' needs an integer K >= 2, got {spec!r}")
        return kind, k
    if kind in ("cross", "holdout") and arg:
        return kind, arg
    raise TrainingError(
        f"unknown split {spec!r}; accepted: none, loso, speakers:K, cross:CORPUS, "
        "holdout:CORPUS/SPEAKER[,CORPUS/SPEAKER...]"
    )


def make_splits(records: Sequence[Record], spec: str, seed: int = 0) -> list[Split]:
    """All folds of the split ``spec`` (see :func:`parse_split_spec`)."""
    kind, arg = parse_split_spec(spec)
    if kind == "none":
        return [Split(name="all", train=tuple(records))]
    if kind == "loso":
        return leave_one_group_out(records)
    if kind == "speakers":
        return speaker_folds(records, int(arg or 0), seed)
    if kind == "holdout":
        return [held_out_speakers_split(records, str(arg).split(","))]
    return [cross_corpus_split(records, str(arg))]
