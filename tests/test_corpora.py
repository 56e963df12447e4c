"""Corpus loaders on fixture trees that copy each corpus's real layout, and real counts.

The loaders read names and label files only, so most fixture files are empty. The real-count
tests read ../shared/datasets (file names only) and skip when it is absent.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from conftest import SHARED_DATASETS
from edge_ser_train.corpora import (
    CorpusOptions,
    Record,
    detect_corpus,
    filter_speakers,
    label_counts,
    load_corpus,
    read_manifest,
    write_manifest,
)
from edge_ser_train.options import parse_data_spec

from edge_ser.errors import TrainingError


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def by_name(records: list[Record]) -> dict[str, Record]:
    return {r.path.stem: r for r in records}


# -- IEMOCAP ---------------------------------------------------------------------------------

IEMOCAP_TURNS = [  # (turn suffix, emotion)
    ("F000", "ang"),
    ("M001", "exc"),
    ("F002", "fru"),
    ("M003", "sad"),
    ("F004", "hap"),
    ("M005", "neu"),
    ("F006", "xxx"),
]


def make_iemocap(root: Path) -> Path:
    """IEMOCAP_full_release/Session1..5 with one improvised and one scripted dialog each."""
    base = root / "IEMOCAP_full_release"
    for s in range(1, 6):
        session = base / f"Session{s}"
        for dialog in (f"Ses0{s}F_impro01", f"Ses0{s}M_script01_1"):
            lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
            for i, (suffix, emo) in enumerate(IEMOCAP_TURNS):
                turn = f"{dialog}_{suffix}"
                lines.append(
                    f"[{i * 3}.0100 - {i * 3 + 2}.5000]\t{turn}\t{emo}\t[2.5000, 3.0000, 2.0000]"
                )
                lines.append("C-E2:\tNeutral;\t()")
                touch(session / "sentences" / "wav" / dialog / f"{turn}.wav")
                lines.append("")
            eval_dir = session / "dialog" / "EmoEvaluation"
            eval_dir.mkdir(parents=True, exist_ok=True)
            (eval_dir / f"{dialog}.txt").write_text("\n".join(lines), encoding="utf-8")
            # Real releases also carry per-annotator files in subfolders and macOS ._ files.
            touch(eval_dir / "Categorical" / f"{dialog}_e1_cat.txt")
            (eval_dir / f"._{dialog}.txt").write_bytes(b"\x00\x05")
    return base


def test_iemocap_layout(tmp_path: Path) -> None:
    make_iemocap(tmp_path)
    records = load_corpus("iemocap", tmp_path)  # the parent of IEMOCAP_full_release works too
    # 5 sessions x 2 dialogs x 5 kept turns (fru and xxx dropped)
    assert len(records) == 50
    assert label_counts(records) == {"anger": 10, "happiness": 20, "neutral": 10, "sadness": 10}
    rec = by_name(records)
    assert rec["Ses01F_impro01_M001"].label == "happiness"  # exc merged into happiness
    assert rec["Ses01F_impro01_M001"].speaker == "Ses01M"  # gender letter of the turn id
    assert rec["Ses03M_script01_1_F004"].speaker == "Ses03F"
    assert rec["Ses03M_script01_1_F004"].group == "Session3"
    assert {r.group for r in records} == {f"Session{i}" for i in range(1, 6)}
    assert len({r.speaker for r in records}) == 10
    assert all(r.corpus == "iemocap" for r in records)
    assert all(r.path.is_file() for r in records)


def test_iemocap_improvised_scripted_and_missing_audio(tmp_path: Path) -> None:
    base = make_iemocap(tmp_path)
    impro = load_corpus("iemocap", base, CorpusOptions(iemocap_subset="improvised"))
    script = load_corpus("iemocap", base, CorpusOptions(iemocap_subset="scripted"))
    assert len(impro) == len(script) == 25
    assert all("impro" in r.path.parent.name for r in impro)
    assert all("script" in r.path.parent.name for r in script)
    # A label line without audio is skipped; .flac is accepted in place of .wav.
    wav_dir = base / "Session2" / "sentences" / "wav" / "Ses02F_impro01"
    (wav_dir / "Ses02F_impro01_F000.wav").unlink()
    (wav_dir / "Ses02F_impro01_M003.wav").rename(wav_dir / "Ses02F_impro01_M003.flac")
    records = by_name(load_corpus("iemocap", base))
    assert "Ses02F_impro01_F000" not in records
    assert records["Ses02F_impro01_M003"].path.suffix == ".flac"
    assert len(records) == 49


def test_iemocap_without_sessions_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingError, match="Session1"):
        load_corpus("iemocap", tmp_path / "empty")


# -- CREMA-D, RAVDESS, TESS, SAVEE, EmoDB, URDU, TurEV-DB ------------------------------------


def test_crema_d_layout(tmp_path: Path) -> None:
    for name in [
        "1001_DFA_ANG_XX.wav",
        "1001_IEO_HAP_HI.wav",
        "1001_DFA_DIS_XX.wav",
        "1001_DFA_FEA_XX.wav",
        "1002_ITS_NEU_XX.flac",
        "1002_TIE_SAD_LO.wav",
        "1091_WSI_SAD_XX.wav",
    ]:
        touch(tmp_path / "CREMA-D" / "AudioWAV" / name)
    records = load_corpus("crema-d", tmp_path / "CREMA-D")
    assert len(records) == 5
    assert label_counts(records) == {"anger": 1, "happiness": 1, "neutral": 1, "sadness": 2}
    assert {r.speaker for r in records} == {"1001", "1002", "1091"}
    assert by_name(records)["1002_ITS_NEU_XX"].path.suffix == ".flac"
    assert detect_corpus(tmp_path / "CREMA-D") == "crema-d"


def make_ravdess(root: Path, actors: int = 2) -> Path:
    for a in range(1, actors + 1):
        for emotion in range(1, 9):
            intensities = (1,) if emotion == 1 else (1, 2)  # neutral has normal intensity only
            for intensity in intensities:
                for statement in (1, 2):
                    name = f"03-01-{emotion:02d}-{intensity:02d}-{statement:02d}-01-{a:02d}.wav"
                    touch(root / f"Actor_{a:02d}" / name)
        touch(root / f"Actor_{a:02d}" / f"03-02-03-01-01-01-{a:02d}.wav")  # song: dropped
    return root


def test_ravdess_layout_and_calm(tmp_path: Path) -> None:
    root = make_ravdess(tmp_path / "ravdess_copy")
    records = load_corpus("ravdess", root)
    # per actor: neutral 2, happy/sad/angry 4 each; calm, fear, disgust, surprise and song dropped
    assert len(records) == 2 * 14
    assert label_counts(records) == {"anger": 8, "happiness": 8, "neutral": 4, "sadness": 8}
    assert {r.speaker for r in records} == {"Actor_01", "Actor_02"}
    rec = by_name(records)
    assert rec["03-01-05-02-01-01-02"].label == "anger"
    assert rec["03-01-05-02-01-01-02"].speaker == "Actor_02"
    assert "03-01-02-01-01-01-01" not in rec  # calm is not neutral by default
    with_calm = load_corpus("ravdess", root, CorpusOptions(calm_as_neutral=True))
    assert label_counts(with_calm)["neutral"] == 4 + 2 * 4
    assert detect_corpus(root) == "ravdess"


def test_tess_layout(tmp_path: Path) -> None:
    root = tmp_path / "TESS Toronto emotional speech set data"
    for rel in [
        "OAF_angry/OAF_back_angry.wav",
        "OAF_Sad/OAF_back_sad.wav",
        "OAF_neutral/OAF_back_neutral.wav",
        "OAF_neutral/OA_bite_neutral.wav",
        "OAF_Pleasant_surprise/OAF_back_ps.wav",
        "YAF_happy/YAF_back_happy.flac",
        "YAF_disgust/YAF_back_disgust.wav",
        "YAF_sad/YAF_back_sad.wav",
        "YAF_fear/YAF_back_fear.wav",
    ]:
        touch(root / rel)
    records = load_corpus("tess", root)
    assert len(records) == 6
    assert label_counts(records) == {"anger": 1, "happiness": 1, "neutral": 2, "sadness": 2}
    rec = by_name(records)
    assert rec["OA_bite_neutral"].speaker == "OAF"  # the real corpus's misnamed file
    assert rec["OAF_back_sad"].label == "sadness"  # "OAF_Sad": capitalisation varies
    assert Counter(r.speaker for r in records) == {"OAF": 4, "YAF": 2}
    assert detect_corpus(root) == "tess"


def test_savee_flat_and_per_speaker_layouts(tmp_path: Path) -> None:
    root = tmp_path / "savee"
    for name in [
        "DC_a01",
        "DC_sa01",
        "DC_su01",
        "DC_n01",
        "DC_n30",
        "JE_h01",
        "JE_d01",
        "JE_f01",
        "JK_sa15",
    ]:
        touch(root / f"{name}.wav")
    touch(root / "AudioData" / "KL" / "h03.wav")  # the original per-speaker folders
    touch(root / "AudioData" / "KL" / "su03.wav")
    records = load_corpus("savee", root)
    assert len(records) == 7
    rec = by_name(records)
    assert rec["DC_sa01"].label == "sadness" and rec["DC_a01"].label == "anger"
    assert rec["h03"].speaker == "KL" and rec["h03"].label == "happiness"
    assert Counter(r.speaker for r in records) == {"DC": 4, "JE": 1, "JK": 1, "KL": 1}


def test_emodb_layout(tmp_path: Path) -> None:
    root = tmp_path / "emodb"
    for name in [
        "03a01Wa",
        "03a01Fa",
        "08b02Nb",
        "08b02Tc",
        "09a04La",
        "10a04Ea",
        "11a04Ab",
        "16b10Td",
    ]:
        touch(root / "wav" / f"{name}.wav")
    records = load_corpus("emo-db", root)
    assert len(records) == 5
    assert label_counts(records) == {"anger": 1, "happiness": 1, "neutral": 1, "sadness": 2}
    rec = by_name(records)
    assert rec["03a01Fa"].label == "happiness"  # F = Freude
    assert rec["08b02Tc"].label == "sadness"  # T = Trauer
    assert rec["03a01Wa"].label == "anger"  # W = Wut
    assert {r.speaker for r in records} == {"03", "08", "16"}


def test_urdu_layout(tmp_path: Path) -> None:
    root = tmp_path / "urdu"
    for rel in [
        "Angry/SM1_F10_A010.wav",
        "Angry/SM1_F11_A011.wav",
        "Happy/SF1_F10_H010.wav",
        "Neutral/SF9_F1_N01.wav",
        "Sad/SF10_F1_S01.flac",
        "Sad/SF1_F3_S03.wav",
    ]:
        touch(root / rel)
    records = load_corpus(None, root)  # detected from the name
    assert records[0].corpus == "urdu"
    assert label_counts(records) == {"anger": 2, "happiness": 1, "neutral": 1, "sadness": 2}
    assert Counter(r.speaker for r in records) == {"SM1": 2, "SF1": 2, "SF9": 1, "SF10": 1}


def test_turev_layout_has_no_neutral_and_calm_is_dropped(tmp_path: Path) -> None:
    root = tmp_path / "TurEV"
    for rel in [
        "Angry/1157_kz_acik.wav",
        "Calm/1234_sk_ordek.wav",
        "Calm/1358_sk_pamuk.flac",
        "Happy/1358_kz_elma.wav",
        "Sad/1984_sk_pihti.flac",
    ]:
        touch(root / "Sound Source" / rel)
    records = load_corpus("turev-db", root)
    assert label_counts(records) == {"anger": 1, "happiness": 1, "sadness": 1}
    assert {r.speaker for r in records} == {"1157", "1358", "1984"}
    calm = load_corpus("turev", root, CorpusOptions(calm_as_neutral=True))
    assert label_counts(calm)["neutral"] == 2
    assert detect_corpus(root) == "turev-db"


# -- manifests, detection, errors -----------------------------------------------------------


def test_manifest_round_trip_with_relative_paths(tmp_path: Path) -> None:
    a = touch(tmp_path / "audio" / "a.wav")
    records = [
        Record(a, "anger", "spk1", "spk1", "mine"),
        Record(tmp_path / "audio" / "b.flac", "sadness", "spk2", "s2", "mine"),
    ]
    path = write_manifest(records, tmp_path / "manifest.csv")
    assert read_manifest(path) == records
    (tmp_path / "rel.csv").write_text(
        "path,label,speaker\naudio/a.wav,neutral,x\n", encoding="utf-8"
    )
    loaded = load_corpus(None, tmp_path / "rel.csv")
    assert loaded == [Record(a, "neutral", "x", "x", "manifest")]
    (tmp_path / "bad.csv").write_text("file,label\n", encoding="utf-8")
    with pytest.raises(TrainingError, match="lacks column"):
        read_manifest(tmp_path / "bad.csv")


def test_errors_name_what_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="does not exist"):
        load_corpus("ravdess", tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingError, match="no usable ravdess files"):
        load_corpus("ravdess", tmp_path / "empty")
    with pytest.raises(TrainingError, match="unknown corpus 'voxceleb'"):
        load_corpus("voxceleb", tmp_path / "empty")
    with pytest.raises(TrainingError, match="DIR:CORPUS"):
        detect_corpus(tmp_path / "empty")


def test_filter_speakers(tmp_path: Path) -> None:
    records = load_corpus("ravdess", make_ravdess(tmp_path / "r", actors=3))
    kept = filter_speakers(records, ["Actor_01", "ravdess/Actor_03"])
    assert {r.speaker for r in kept} == {"Actor_01", "Actor_03"}
    with pytest.raises(TrainingError, match="known: Actor_01"):
        filter_speakers(records, ["Actor_99"])


@pytest.mark.parametrize(
    ("spec", "path", "corpus"),
    [
        ("data/ravdess", "data/ravdess", None),
        ("data/x:ravdess", "data/x", "ravdess"),
        ("crema-d:/data/CREMA-D", "/data/CREMA-D", "crema-d"),
        ("/data/IEMOCAP:IEMOCAP", "/data/IEMOCAP", "iemocap"),
        ("C:/corpora/tess", "C:/corpora/tess", None),  # a drive letter is not a corpus
    ],
)
def test_parse_data_spec(spec: str, path: str, corpus: str | None) -> None:
    src = parse_data_spec(spec)
    assert (src.path, src.corpus) == (path, corpus)


# -- the real corpora in ../shared/datasets ------------------------------------------------

REAL = [
    # folder, corpus, files, labels, speakers
    ("ravdess", "ravdess", 336, {"anger": 96, "happiness": 96, "neutral": 48, "sadness": 96}, 12),
    ("tess", "tess", 1600, {"anger": 400, "happiness": 400, "neutral": 400, "sadness": 400}, 2),
    ("savee", "savee", 300, {"anger": 60, "happiness": 60, "neutral": 120, "sadness": 60}, 4),
    ("urdu", "urdu", 400, {"anger": 100, "happiness": 100, "neutral": 100, "sadness": 100}, 29),
    ("turev-db", "turev-db", 1327, {"anger": 487, "happiness": 357, "sadness": 483}, 6),
]


@pytest.mark.corpus
@pytest.mark.parametrize(("folder", "corpus", "files", "labels", "speakers"), REAL)
def test_real_corpus_counts(
    folder: str, corpus: str, files: int, labels: dict[str, int], speakers: int
) -> None:
    root = SHARED_DATASETS / folder
    if not root.is_dir():
        pytest.skip(f"real corpus not available: {root} is absent")
    records = load_corpus(None, root)  # also checks detection from the folder
    assert records[0].corpus == corpus
    assert len(records) == files
    assert label_counts(records) == labels
    assert len({r.speaker for r in records}) == speakers
    assert all(r.path.suffix == ".flac" for r in records)


@pytest.mark.corpus
def test_real_calm_as_neutral_counts() -> None:
    if not (SHARED_DATASETS / "ravdess").is_dir() or not (SHARED_DATASETS / "turev-db").is_dir():
        pytest.skip(f"real corpora not available under {SHARED_DATASETS}")
    opts = CorpusOptions(calm_as_neutral=True)
    ravdess = load_corpus("ravdess", SHARED_DATASETS / "ravdess", opts)
    turev = load_corpus("turev-db", SHARED_DATASETS / "turev-db", opts)
    assert label_counts(ravdess)["neutral"] == 48 + 96  # + 8 calm per actor
    assert label_counts(turev)["neutral"] == 408
