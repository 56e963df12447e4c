"""Corpus loaders: every supported emotion corpus into one manifest of :class:`Record`.

Each loader reads the corpus's own layout and file names, maps its emotions onto the four
target classes (anger, happiness, neutral, sadness: the IEMOCAP 4-class convention) and drops
the rest. ``.wav`` and ``.flac`` are both accepted (users have ``.wav``; the shared development
copies are ``.flac``). Hidden files (``._name`` from macOS archives) are ignored.

Mapping per corpus (everything not listed is dropped):

============  ====================================================================  ==========
corpus        labels                                                                 speaker
============  ====================================================================  ==========
iemocap       EmoEvaluation ``ang``/``hap``/``exc``/``neu``/``sad``; ``exc`` ->        ``Ses01M``
              happiness. Improvised/scripted selectable (dialog name).
crema-d       file name ``1001_DFA_ANG_XX``: ``ANG``/``HAP``/``NEU``/``SAD``            ``1001``
ravdess       file name ``03-01-EE-II-SS-RR-AA``, speech only: 01 neutral,             ``Actor_07``
              03 happy, 04 sad, 05 angry. 02 calm is dropped unless
              ``calm_as_neutral`` (not the 4-class convention; logged).
tess          folder/file suffix angry, happy, neutral, sad                           ``OAF``
savee         ``DC_a01`` (or ``DC/a01``): a, h, n, sa                                  ``DC``
emodb         ``03a01Fa``: W anger, F happiness (Freude), N neutral, T sadness         ``03``
              (Trauer)
urdu          folder Angry/Happy/Neutral/Sad                                          ``SM1``
turev-db      folder Angry/Happy/Sad (no neutral). Calm is dropped unless              ``1157``
              ``calm_as_neutral`` (logged).
============  ====================================================================  ==========

The ``group`` of a record is its IEMOCAP session (``Session1`` .. ``Session5``); corpora without
sessions use the speaker. Speaker ids are only unique within a corpus: splits use
:attr:`Record.speaker_key` (``corpus/speaker``).

This module uses the standard library only, so ``edge-ser evaluate`` stays light.
"""

from __future__ import annotations

import csv
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from edge_ser.errors import TrainingError
from edge_ser.walk import walk_files

__all__ = [
    "AUDIO_EXTENSIONS",
    "CORPORA",
    "LABELS",
    "CorpusOptions",
    "Record",
    "canonical_corpus_name",
    "detect_corpus",
    "expected_layout",
    "filter_speakers",
    "label_counts",
    "load_corpus",
    "read_manifest",
    "write_manifest",
]

logger = logging.getLogger("edge_ser.train")

LABELS: tuple[str, ...] = ("anger", "happiness", "neutral", "sadness")
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac")

IemocapSubset = Literal["all", "improvised", "scripted"]
IEMOCAP_SUBSETS: tuple[str, ...] = get_args(IemocapSubset)


@dataclass(frozen=True)
class Record:
    """One labelled utterance.

    Attributes:
        path: the audio file.
        label: one of the target classes.
        speaker: the speaker id, unique within its corpus.
        group: the session (IEMOCAP) or, for corpora without sessions, the speaker.
        corpus: the canonical corpus name (a key of :data:`CORPORA`, or ``manifest``).
    """

    path: Path
    label: str
    speaker: str
    group: str
    corpus: str

    @property
    def speaker_key(self) -> str:
        """The speaker id qualified by corpus: unique across corpora."""
        return f"{self.corpus}/{self.speaker}"

    @property
    def group_key(self) -> str:
        return f"{self.corpus}/{self.group}"

    def to_dict(self) -> dict[str, str]:
        return {
            "path": str(self.path),
            "label": self.label,
            "speaker": self.speaker,
            "group": self.group,
            "corpus": self.corpus,
        }


@dataclass(frozen=True)
class CorpusOptions:
    """Choices a loader makes.

    Attributes:
        iemocap_subset: ``all``, ``improvised`` (dialog names with ``impro``) or ``scripted``
            (``script``).
        calm_as_neutral: count RAVDESS and TurEV-DB *calm* as neutral. Off by default: calm is
            not neutral in the 4-class convention; when on, it is logged and should be stated
            with any result.
    """

    iemocap_subset: IemocapSubset = "all"
    calm_as_neutral: bool = False

    def __post_init__(self) -> None:
        if self.iemocap_subset not in IEMOCAP_SUBSETS:
            raise TrainingError(
                f"iemocap_subset must be one of {', '.join(IEMOCAP_SUBSETS)}, "
                f"got {self.iemocap_subset!r}"
            )


# -- helpers ----------------------------------------------------------------------------


def _audio_files(root: Path) -> Iterator[Path]:
    """Audio files under ``root``, recursively, in a stable order (symlinks followed)."""
    yield from walk_files(root, AUDIO_EXTENSIONS, hidden=False)


def _require_dir(root: Path, corpus: str) -> None:
    if not root.is_dir():
        raise TrainingError(f"{corpus} folder {root} does not exist or is not a folder")


class _Tally:
    """Counts dropped files per reason, for one summary log line per corpus."""

    def __init__(self) -> None:
        self.dropped: Counter[str] = Counter()

    def drop(self, reason: str) -> None:
        self.dropped[reason] += 1

    def log(self, corpus: str, root: Path, kept: int) -> None:
        if self.dropped:
            detail = ", ".join(f"{n} {r}" for r, n in sorted(self.dropped.items()))
            logger.info("%s (%s): kept %d files, dropped %s", corpus, root, kept, detail)
        else:
            logger.info("%s (%s): kept %d files", corpus, root, kept)


def _calm_notice(corpus: str) -> None:
    logger.warning(
        "%s: 'calm' is counted as neutral (calm_as_neutral=True); this is not the 4-class "
        "convention: state it with any result",
        corpus,
    )


# -- IEMOCAP ----------------------------------------------------------------------------

_IEMOCAP_LINE = re.compile(r"^\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\s+(\S+)\s+(\S+)\s+\[")
_IEMOCAP_MAP = {
    "ang": "anger",
    "hap": "happiness",
    "exc": "happiness",
    "neu": "neutral",
    "sad": "sadness",
}


def _iemocap_root(root: Path) -> Path:
    if any((root / f"Session{i}").is_dir() for i in range(1, 6)):
        return root
    nested = root / "IEMOCAP_full_release"
    if any((nested / f"Session{i}").is_dir() for i in range(1, 6)):
        return nested
    raise TrainingError(
        f"no IEMOCAP sessions under {root}: expected Session1..Session5 folders "
        "(or IEMOCAP_full_release/Session1..5)"
    )


def _find_audio(stem_path: Path) -> Path | None:
    for ext in AUDIO_EXTENSIONS:
        candidate = stem_path.with_name(stem_path.name + ext)
        if candidate.is_file():
            return candidate
    return None


def load_iemocap(root: Path, options: CorpusOptions) -> list[Record]:
    """IEMOCAP: ``SessionN/dialog/EmoEvaluation/*.txt`` labels, ``SessionN/sentences/wav``.

    A label line reads ``[start - end]<TAB>TURN<TAB>emo<TAB>[V, A, D]``; the turn's audio is
    ``SessionN/sentences/wav/<dialog>/<TURN>.wav``. The speaker is the session plus the gender
    letter of the turn id (``Ses01F_impro01_M003`` -> ``Ses01M``), the group is ``SessionN``.
    """
    _require_dir(root, "IEMOCAP")
    base = _iemocap_root(root)
    tally = _Tally()
    records: list[Record] = []
    for session in sorted(base.glob("Session[1-5]")):
        for label_file in sorted((session / "dialog" / "EmoEvaluation").glob("*.txt")):
            if label_file.name.startswith("."):
                continue
            dialog = label_file.stem
            if options.iemocap_subset == "improvised" and "impro" not in dialog:
                tally.drop("scripted")
                continue
            if options.iemocap_subset == "scripted" and "script" not in dialog:
                tally.drop("improvised")
                continue
            text = label_file.read_text(encoding="utf-8", errors="replace")
            for line in text.splitlines():
                m = _IEMOCAP_LINE.match(line)
                if m is None:
                    continue
                turn, emo = m.group(1), m.group(2).lower()
                label = _IEMOCAP_MAP.get(emo)
                if label is None:
                    tally.drop(f"'{emo}'")
                    continue
                audio = _find_audio(session / "sentences" / "wav" / dialog / turn)
                if audio is None:
                    tally.drop("missing audio")
                    continue
                gender = turn.rsplit("_", 1)[-1][:1].upper()
                records.append(
                    Record(
                        path=audio,
                        label=label,
                        speaker=f"{turn[:5]}{gender}",
                        group=f"Session{int(turn[3:5])}",
                        corpus="iemocap",
                    )
                )
    tally.log("IEMOCAP", root, len(records))
    return records


# -- file-name and folder-name corpora -----------------------------------------------------

_CREMA_MAP = {"ANG": "anger", "HAP": "happiness", "NEU": "neutral", "SAD": "sadness"}


def load_crema_d(root: Path, options: CorpusOptions) -> list[Record]:
    """CREMA-D: ``AudioWAV/1001_DFA_ANG_XX.wav`` (speaker, sentence, emotion, intensity).

    ANG, HAP, NEU and SAD are kept; DIS and FEA are dropped.
    """
    _require_dir(root, "CREMA-D")
    base = root / "AudioWAV" if (root / "AudioWAV").is_dir() else root
    tally = _Tally()
    records: list[Record] = []
    for p in _audio_files(base):
        parts = p.stem.split("_")
        if len(parts) < 3 or not parts[0].isdigit():
            tally.drop("unrecognised names")
            continue
        label = _CREMA_MAP.get(parts[2].upper())
        if label is None:
            tally.drop(parts[2].upper())
            continue
        records.append(Record(p, label, parts[0], parts[0], "crema-d"))
    tally.log("CREMA-D", root, len(records))
    return records


_RAVDESS_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_RAVDESS_MAP = {"01": "neutral", "03": "happiness", "04": "sadness", "05": "anger"}


def load_ravdess(root: Path, options: CorpusOptions) -> list[Record]:
    """RAVDESS: ``Actor_NN/03-01-EE-II-SS-RR-AA.wav``; speech only (vocal channel 01).

    Emotion EE: 01 neutral, 03 happy, 04 sad, 05 angry are kept; 02 calm only with
    ``calm_as_neutral``; fearful, disgust and surprised are dropped. The speaker is the actor.
    """
    _require_dir(root, "RAVDESS")
    mapping = dict(_RAVDESS_MAP)
    if options.calm_as_neutral:
        mapping["02"] = "neutral"
        _calm_notice("RAVDESS")
    tally = _Tally()
    records: list[Record] = []
    for p in _audio_files(root):
        m = _RAVDESS_NAME.match(p.stem)
        if m is None:
            tally.drop("unrecognised names")
            continue
        if m.group(2) != "01":
            tally.drop("song")
            continue
        label = mapping.get(m.group(3))
        if label is None:
            tally.drop("calm" if m.group(3) == "02" else "other emotions")
            continue
        speaker = f"Actor_{m.group(7)}"
        records.append(Record(p, label, speaker, speaker, "ravdess"))
    tally.log("RAVDESS", root, len(records))
    return records


_TESS_MAP = {"angry": "anger", "happy": "happiness", "neutral": "neutral", "sad": "sadness"}


def load_tess(root: Path, options: CorpusOptions) -> list[Record]:
    """TESS: ``<SPK>_<emotion>/<SPK>_<word>_<emotion>.wav``, capitalisation varies.

    The speaker (OAF, YAF) comes from the folder name, the emotion from the file name's suffix.

    angry, happy, neutral and sad are kept; disgust, fear and pleasant surprise are dropped.
    """
    _require_dir(root, "TESS")
    tally = _Tally()
    records: list[Record] = []
    for p in _audio_files(root):
        parts = p.stem.split("_")
        emotion = parts[-1].lower() if len(parts) >= 3 else p.parent.name.split("_")[-1].lower()
        label = _TESS_MAP.get(emotion)
        if label is None:
            tally.drop("other emotions")
            continue
        # The folder names the speaker reliably; one real file is named "OA_bite_neutral".
        folder = p.parent.name.split("_")
        speaker = (folder[0] if len(folder) >= 2 else parts[0]).upper()
        records.append(Record(p, label, speaker, speaker, "tess"))
    tally.log("TESS", root, len(records))
    return records


_SAVEE_NAME = re.compile(r"^(?:([A-Za-z]{2})_)?(sa|su|a|d|f|h|n)(\d+)$", re.IGNORECASE)
_SAVEE_MAP = {"a": "anger", "h": "happiness", "n": "neutral", "sa": "sadness"}


def load_savee(root: Path, options: CorpusOptions) -> list[Record]:
    """SAVEE: ``DC_a01.wav`` (flat) or ``DC/a01.wav`` (the original per-speaker folders).

    Codes: a anger, h happiness, n neutral, sa sadness kept; d, f, su dropped.
    """
    _require_dir(root, "SAVEE")
    tally = _Tally()
    records: list[Record] = []
    for p in _audio_files(root):
        m = _SAVEE_NAME.match(p.stem)
        if m is None:
            tally.drop("unrecognised names")
            continue
        label = _SAVEE_MAP.get(m.group(2).lower())
        if label is None:
            tally.drop("other emotions")
            continue
        speaker = (m.group(1) or p.parent.name).upper()
        records.append(Record(p, label, speaker, speaker, "savee"))
    tally.log("SAVEE", root, len(records))
    return records


_EMODB_NAME = re.compile(r"^(\d\d)([a-z]\d\d)([A-Z])([a-z]?)$")
_EMODB_MAP = {"W": "anger", "F": "happiness", "N": "neutral", "T": "sadness"}


def load_emodb(root: Path, options: CorpusOptions) -> list[Record]:
    """EmoDB (Berlin): ``wav/03a01Fa.wav``: speaker 03, text a01, emotion F, version a.

    W (Wut) anger, F (Freude) happiness, N neutral, T (Trauer) sadness kept; L boredom,
    E disgust, A fear dropped.
    """
    _require_dir(root, "EmoDB")
    base = root / "wav" if (root / "wav").is_dir() else root
    tally = _Tally()
    records: list[Record] = []
    for p in _audio_files(base):
        m = _EMODB_NAME.match(p.stem)
        if m is None:
            tally.drop("unrecognised names")
            continue
        label = _EMODB_MAP.get(m.group(3))
        if label is None:
            tally.drop("other emotions")
            continue
        records.append(Record(p, label, m.group(1), m.group(1), "emodb"))
    tally.log("EmoDB", root, len(records))
    return records


_FOLDER_MAP = {"angry": "anger", "happy": "happiness", "neutral": "neutral", "sad": "sadness"}


def _load_by_folder(root: Path, corpus: str, title: str, mapping: dict[str, str]) -> list[Record]:
    _require_dir(root, title)
    tally = _Tally()
    records: list[Record] = []
    for p in _audio_files(root):
        label = mapping.get(p.parent.name.lower())
        if label is None:
            tally.drop(p.parent.name)
            continue
        speaker = p.stem.split("_")[0]
        if not speaker:
            tally.drop("unrecognised names")
            continue
        records.append(Record(p, label, speaker, speaker, corpus))
    tally.log(title, root, len(records))
    return records


def load_urdu(root: Path, options: CorpusOptions) -> list[Record]:
    """URDU: ``{Angry,Happy,Neutral,Sad}/SM1_F10_A010.wav``; the speaker is the first field."""
    return _load_by_folder(root, "urdu", "URDU", _FOLDER_MAP)


def load_turev_db(root: Path, options: CorpusOptions) -> list[Record]:
    """TurEV-DB: ``Sound Source/{Angry,Calm,Happy,Sad}/1157_kz_acik.wav``.

    There is no neutral class. Calm is not neutral and is dropped unless ``calm_as_neutral``.
    The speaker is the leading number of the file name.
    """
    mapping = dict(_FOLDER_MAP)
    if options.calm_as_neutral:
        mapping["calm"] = "neutral"
        _calm_notice("TurEV-DB")
    base = root / "Sound Source" if (root / "Sound Source").is_dir() else root
    return _load_by_folder(base, "turev-db", "TurEV-DB", mapping)


# -- user manifests -------------------------------------------------------------------------

MANIFEST_COLUMNS = ("path", "label", "speaker", "group", "corpus")


def read_manifest(path: str | Path, options: CorpusOptions | None = None) -> list[Record]:
    """Read a CSV manifest with columns ``path,label,speaker`` (``group``, ``corpus`` optional).

    Relative paths are resolved against the CSV's folder. This is how users bring their own
    corpus; labels are kept as written (training keeps only its ``labels``).
    """
    p = Path(path)
    if not p.is_file():
        raise TrainingError(f"manifest {p} does not exist")
    records: list[Record] = []
    with p.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"path", "label", "speaker"} - set(reader.fieldnames or ())
        if missing:
            raise TrainingError(
                f"manifest {p} lacks column(s) {', '.join(sorted(missing))}; "
                f"expected {','.join(MANIFEST_COLUMNS)} (group, corpus optional)"
            )
        for row_number, row in enumerate(reader, start=2):
            audio = row["path"].strip()
            label, speaker = row["label"].strip(), row["speaker"].strip()
            if not audio or not label or not speaker:
                raise TrainingError(
                    f"manifest {p} line {row_number}: path, label and speaker must be non-empty"
                )
            audio_path = Path(audio) if Path(audio).is_absolute() else p.parent / audio
            records.append(
                Record(
                    path=audio_path,
                    label=label,
                    speaker=speaker,
                    group=(row.get("group") or "").strip() or speaker,
                    corpus=(row.get("corpus") or "").strip() or "manifest",
                )
            )
    return records


def write_manifest(records: Iterable[Record], path: str | Path) -> Path:
    """Write records as a CSV manifest readable by :func:`read_manifest`."""
    p = Path(path)
    with p.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        for r in records:
            writer.writerow(r.to_dict())
    return p


# -- registry ------------------------------------------------------------------------------

Loader = Callable[[Path, CorpusOptions], list[Record]]

CORPORA: dict[str, Loader] = {
    "iemocap": load_iemocap,
    "crema-d": load_crema_d,
    "ravdess": load_ravdess,
    "tess": load_tess,
    "savee": load_savee,
    "emodb": load_emodb,
    "urdu": load_urdu,
    "turev-db": load_turev_db,
}

_ALIASES = {
    "cremad": "crema-d",
    "crema": "crema-d",
    "emo-db": "emodb",
    "berlin": "emodb",
    "turev": "turev-db",
    "turevdb": "turev-db",
    "iemocap_full_release": "iemocap",
}


def canonical_corpus_name(name: str) -> str | None:
    """The registry name for ``name`` (case, ``_`` and aliases tolerated), or ``None``."""
    key = name.strip().lower().replace("_", "-")
    if key in CORPORA or key == "manifest":
        return key
    return _ALIASES.get(key) or _ALIASES.get(key.replace("-", ""))


def detect_corpus(root: str | Path) -> str:
    """Guess a folder's corpus from its name, else from its layout."""
    p = Path(root)
    if p.is_file() and p.suffix.lower() == ".csv":
        return "manifest"
    by_name = canonical_corpus_name(p.name)
    if by_name is not None and by_name != "manifest":
        return by_name
    if not p.is_dir():
        raise TrainingError(f"corpus folder {p} does not exist")
    children = {c.name.lower() for c in p.iterdir()}
    if "session1" in children or "iemocap_full_release" in children:
        return "iemocap"
    if "audiowav" in children:
        return "crema-d"
    if "sound source" in children:
        return "turev-db"
    if any(c.startswith("actor_") for c in children):
        return "ravdess"
    if {"angry", "happy", "neutral", "sad"} <= children:
        return "urdu"
    if any(re.fullmatch(r"[a-z]af_\w+", c) for c in children):
        return "tess"
    raise TrainingError(
        f"cannot tell which corpus {p} holds; name it explicitly as DIR:CORPUS with CORPUS one "
        f"of {', '.join(CORPORA)} (or a .csv manifest)"
    )


def load_corpus(
    name: str | None, root: str | Path, options: CorpusOptions | None = None
) -> list[Record]:
    """Load one corpus into records. ``name=None`` detects it from the folder."""
    opts = options or CorpusOptions()
    corpus = detect_corpus(root) if name is None else canonical_corpus_name(name)
    if corpus is None:
        raise TrainingError(
            f"unknown corpus {name!r}; accepted: {', '.join(CORPORA)} or manifest (a .csv file)"
        )
    if corpus == "manifest":
        records = read_manifest(root, opts)
    else:
        records = CORPORA[corpus](Path(root), opts)
    if not records:
        raise TrainingError(
            f"no usable {corpus} files under {root}; expected the layout {expected_layout(corpus)} "
            f"(files: {', '.join(AUDIO_EXTENSIONS)})"
        )
    return records


def expected_layout(corpus: str) -> str:
    """The folder layout a loader expects, in one line (the first line of its docstring)."""
    if corpus == "manifest":
        return "a .csv manifest with columns path,label,speaker"
    doc = (CORPORA[corpus].__doc__ or corpus).strip().splitlines()[0]
    return doc.replace("``", "").rstrip(".")


def filter_speakers(records: Sequence[Record], speakers: Iterable[str]) -> list[Record]:
    """Keep records whose speaker (``Actor_07``) or speaker key (``ravdess/Actor_07``) is listed."""
    wanted = {s.strip() for s in speakers if s.strip()}
    kept = [r for r in records if r.speaker in wanted or r.speaker_key in wanted]
    if not kept:
        known = sorted({r.speaker for r in records})
        raise TrainingError(
            f"no records for speaker(s) {', '.join(sorted(wanted))}; known: {', '.join(known)}"
        )
    return kept


def label_counts(records: Iterable[Record]) -> dict[str, int]:
    """Records per label, in label order."""
    counts = Counter(r.label for r in records)
    order = [label for label in LABELS if label in counts] + sorted(set(counts) - set(LABELS))
    return {label: counts[label] for label in order}
