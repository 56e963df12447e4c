"""The Whisper teacher, its cache, layer-wise distillation and the Whisper backbone head.

Everything runs on tiny models built from transformers configs (random weights): a 2-layer,
64-wide Whisper encoder as teacher, the tiny DistilHuBERT as student, on synthetic voices.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="distillation needs torch (the train extra)")
pytest.importorskip("transformers", reason="distillation needs transformers (the train extra)")

import soundfile as sf  # noqa: E402
from conftest import make_voice_corpus  # noqa: E402
from edge_ser_train import distill as distill_module  # noqa: E402
from edge_ser_train.corpora import CorpusOptions  # noqa: E402
from edge_ser_train.data import AudioStore  # noqa: E402
from edge_ser_train.distill import (  # noqa: E402
    DistillOptions,
    aligned_frames,
    distill,
    distill_loss,
    student_frames,
    teacher_frames,
)
from edge_ser_train.model import distilhubert_config  # noqa: E402
from edge_ser_train.teacher import (  # noqa: E402
    WHISPER_PREPROCESSING,
    TeacherCache,
    load_teacher,
)
from edge_ser_train.train import load_sources  # noqa: E402
from edge_ser_train.whisper_backbone import (  # noqa: E402
    HeadOptions,
    fit_head,
    predict_head,
    save_whisper_classifier,
)

from edge_ser.errors import OptionsError, TrainingError  # noqa: E402

LABELS = ("anger", "sadness")


def make_tiny_whisper(folder: Path, *, n_mels: int = 80, decoder_only: bool = False) -> Path:
    """A tiny random Whisper encoder checkpoint (``WhisperForAudioClassification``) and its
    feature extractor, as a ``save_pretrained`` folder."""
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForAudioClassification,
        WhisperForCausalLM,
    )

    config = WhisperConfig(
        d_model=64,
        encoder_layers=2,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        num_mel_bins=n_mels,
        max_source_positions=1500,
        vocab_size=64,
        pad_token_id=1,
        bos_token_id=2,
        eos_token_id=3,
        decoder_start_token_id=2,
        suppress_tokens=None,
        begin_suppress_tokens=None,
    )
    torch.manual_seed(0)
    if decoder_only:
        WhisperForCausalLM(config).save_pretrained(folder)
    else:
        model = WhisperForAudioClassification(config)
        model.config.architectures = ["WhisperForAudioClassification"]
        model.save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=n_mels).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_whisper(tmp_path_factory.mktemp("tiny_whisper"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_voice_corpus(tmp_path_factory.mktemp("voices"), actors=3, per_class=2)


def _store(corpus: Path) -> AudioStore:
    records = load_sources([f"{corpus}:ravdess"], LABELS, CorpusOptions())
    return AudioStore(records, WHISPER_PREPROCESSING, workers=1)


def test_teacher_cache_is_reused_and_a_changed_file_is_recomputed(
    whisper_dir: Path, tmp_path: Path
) -> None:
    corpus = make_voice_corpus(tmp_path / "voices", actors=2, per_class=1)
    teacher = load_teacher(str(whisper_dir))
    store = _store(corpus)
    records = list(store.records)

    first = TeacherCache(teacher, tmp_path / "cache", max_samples=16000)
    first.fill(store, records)
    assert (first.computed, first.reused) == (len(records), 0)
    states = first.get(store, records[0])
    assert states.dtype == np.float16 and states.shape[0] == teacher.n_layers + 1

    again = TeacherCache(teacher, tmp_path / "cache", max_samples=16000)
    again.fill(store, records)
    assert (again.computed, again.reused) == (0, len(records))
    np.testing.assert_array_equal(again.get(store, records[0]), states)

    # rewrite one file with other audio: only its entry is computed again
    changed = Path(records[0].path)
    x, sr = sf.read(changed, dtype="float32")
    sf.write(changed, x[::-1].copy(), sr)
    store = _store(corpus)
    third = TeacherCache(teacher, tmp_path / "cache", max_samples=16000)
    third.fill(store, list(store.records))
    assert (third.computed, third.reused) == (1, len(records) - 1)
    assert not np.array_equal(third.get(store, store.records[0]), states)

    # another recipe (crop length) is another key: nothing is reused
    other = TeacherCache(teacher, tmp_path / "cache", max_samples=8000)
    other.fill(store, list(store.records))
    assert other.computed == len(records)


@pytest.mark.parametrize("n", [400, 719, 1601, 16001, 24321, 40003, 127999, 128000])
def test_teacher_and_student_frames_line_up_on_odd_lengths(whisper_dir: Path, n: int) -> None:
    from transformers import HubertModel

    teacher = load_teacher(str(whisper_dir))
    x = (0.1 * np.random.default_rng(n).standard_normal(n)).astype(np.float32)
    t = teacher.hidden_states(x)
    student = HubertModel(distilhubert_config(tiny=True)).eval()
    with torch.inference_mode():
        s = student.feature_extractor(torch.from_numpy(x)[None])
    assert t.shape[1] == teacher_frames(n)
    assert s.shape[-1] == student_frames(n)
    assert abs(teacher_frames(n) - student_frames(n)) <= 1
    assert aligned_frames(n) == min(t.shape[1], s.shape[-1])


def test_distill_loss_on_a_hand_computed_case() -> None:
    pred = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # one clip, two frames, two dims
    target = torch.tensor([[[1.0, 1.0], [0.0, -2.0]]])
    # L1: (0 + 1 + 0 + 4) / 4 = 1.25
    # cos: frame 1: 1 / sqrt(2); frame 2: -1
    cos = np.array([1 / np.sqrt(2), -1.0])
    expected = 1.25 - np.mean(np.log(1 / (1 + np.exp(-cos))))
    assert float(distill_loss(pred, target)) == pytest.approx(expected, rel=1e-6)
    assert float(distill_loss(target, target)) == pytest.approx(-np.log(1 / (1 + np.exp(-1))))


def _distill_tiny(
    whisper_dir: Path, corpus: Path, tmp_path: Path, **options: object
) -> tuple[Path, dict[str, object]]:
    """A short distillation on the synthetic voices; its loss must have fallen."""
    out = distill(
        DistillOptions(
            teacher=str(whisper_dir),
            data=(f"{corpus}:ravdess",),
            out=str(tmp_path / "student"),
            cache=str(tmp_path / "cache"),
            copies=1,
            minutes=0,
            crop_frames=40,
            batch_size=4,
            lr=3e-3,
            threads=1,
            **options,  # type: ignore[arg-type]
        )
    )
    report = json.loads((out / "edge_ser_distill.json").read_text())
    assert report["final_loss"] < 0.8 * report["first_loss"]
    return out, report


def _fine_tune_export_classify(student: Path, corpus: Path, tmp_path: Path, cache: Path) -> None:
    """``edge-ser train`` on the student, exported in fp32, classifies a file."""
    from edge_ser_export import export_model
    from edge_ser_train.options import TrainOptions
    from edge_ser_train.train import train

    from edge_ser import Classifier

    result = train(
        TrainOptions.from_dict(
            {
                "data": (f"{corpus}:ravdess",),
                "out": str(tmp_path / "fine_tuned"),
                "pretrained": str(student),
                "cache_features": True,
                "frame_cache": str(cache),
                "labels": LABELS,
                "epochs": 2,
                "batch_size": 4,
                "threads": 1,
                "progress": False,
                "plots": False,
            }
        )
    )
    export_model(result.out_dir, tmp_path / "exported", quantize="none", raw_variant=False)
    res = Classifier(tmp_path / "exported").classify(str(sorted(corpus.rglob("*.wav"))[0]))
    assert res.label in LABELS
    assert sum(res.scores.values()) == pytest.approx(1.0, abs=1e-4)


def test_tiny_distillation_lowers_the_loss_and_the_student_fine_tunes_and_classifies(
    whisper_dir: Path, corpus: Path, tmp_path: Path
) -> None:
    out, report = _distill_tiny(
        whisper_dir, corpus, tmp_path, layers=(1, 2), max_steps=80, tiny=True
    )
    assert report["teacher"]["layers"] == [1, 2]  # type: ignore[index]
    assert "/" not in report["options"]["cache"]  # type: ignore[index]  # no build-machine path

    student_cache = tmp_path / "cache" / "student"
    cached = sorted(student_cache.glob("*.npy"))
    assert cached  # the distillation step cached the student's conv frames
    _fine_tune_export_classify(out, corpus, tmp_path, student_cache)
    # fine-tuning read the same conv frames: the same encoder, recipe and audio, no new file
    assert sorted(student_cache.glob("*.npy")) == cached


def test_whisper_student_starts_as_the_teacher_learns_and_exports_a_classifier(
    whisper_dir: Path, corpus: Path, tmp_path: Path
) -> None:
    from edge_ser_train.teacher import encoder_hidden_states

    teacher = load_teacher(str(whisper_dir))
    student = distill_module.whisper_student(teacher, 1)
    # initialised from the teacher: its hidden states 0 and 1 are the teacher's
    x = (0.1 * np.random.default_rng(3).standard_normal(24000)).astype(np.float32)
    mel = teacher.log_mel(x)
    with torch.inference_mode():
        t = encoder_hidden_states(teacher.encoder, mel)
        s = encoder_hidden_states(student.encoder.eval(), mel)
        first = student.encoder.layers[0](t[0], None)
    assert len(s) == 2
    torch.testing.assert_close(s[0], t[0])
    torch.testing.assert_close(first, t[1])
    with pytest.raises(OptionsError, match="smaller than the teacher"):
        distill_module.whisper_student(teacher, 2)

    out, _ = _distill_tiny(
        whisper_dir,
        corpus,
        tmp_path,
        student="whisper",
        student_layers=1,
        layers=(2,),
        max_steps=60,
    )
    assert not (tmp_path / "cache" / "student").exists()  # the teacher cache was its input
    trained = load_teacher(str(out))  # a Whisper backbone folder, with its feature extractor
    assert trained.n_layers == 1
    torch.testing.assert_close(trained.encoder.conv1.weight, teacher.encoder.conv1.weight)
    assert not torch.equal(
        trained.encoder.layers[0].fc1.weight, teacher.encoder.layers[0].fc1.weight
    )
    _fine_tune_export_classify(out, corpus, tmp_path, tmp_path / "cache" / "fine_tune")


def test_teacher_errors_are_one_line(whisper_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="no such folder"):
        load_teacher(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingError, match=r"no config\.json"):
        load_teacher(str(tmp_path / "empty"))
    hubert = tmp_path / "hubert"
    from transformers import HubertModel

    HubertModel(distilhubert_config(tiny=True)).save_pretrained(hubert)
    with pytest.raises(TrainingError, match="must be a Whisper speech encoder"):
        load_teacher(str(hubert))
    decoder = make_tiny_whisper(tmp_path / "decoder", decoder_only=True)
    with pytest.raises(TrainingError, match="no trained Whisper encoder"):
        load_teacher(str(decoder))


def test_distill_cli_errors_exit_2_with_one_line(
    whisper_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--data", str(tmp_path), "--out", str(tmp_path / "o"), "--cache", str(tmp_path / "c")]
    assert distill_module.main(["--teacher", str(tmp_path / "nope"), *base]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("distill: error:") and "no such folder" in err[0]
    assert distill_module.main(["--teacher", str(whisper_dir), "--layers", "9", *base]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "hidden states 0..2" in err[0], err
    with pytest.raises(OptionsError):
        DistillOptions(teacher="x", data=(), out="o", cache="c")


def test_whisper_head_learns_a_class_direction_in_one_layer() -> None:
    from edge_ser_train.corpora import Record

    rng = np.random.default_rng(0)
    direction = rng.standard_normal(16).astype(np.float32)

    def clip(label: str) -> np.ndarray:
        states = rng.standard_normal((3, int(rng.integers(20, 40)), 16)).astype(np.float32)
        states[1] += (1.0 if label == "anger" else -1.0) * direction  # only layer 1 knows
        return states.astype(np.float16)

    def records(n: int, tag: str) -> list[Record]:
        return [
            Record(Path(f"{tag}{i}.wav"), LABELS[i % 2], f"s{i % 3}", f"s{i % 3}", "ravdess")
            for i in range(n)
        ]

    train, test = records(40, "train"), records(20, "test")
    versions = [[clip(r.label), clip(r.label)] for r in train]
    head = fit_head(train, versions, LABELS, HeadOptions(epochs=15, batch_size=8, lr=1e-2))
    probs = predict_head(head, [clip(r.label) for r in test])
    assert probs.shape == (20, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    predicted = [LABELS[int(i)] for i in probs.argmax(axis=1)]
    assert np.mean([p == r.label for p, r in zip(predicted, test, strict=True)]) >= 0.9
    weights = torch.softmax(head.layer_weights.detach(), dim=-1)
    assert int(weights.argmax()) == 1  # the weighted layer sum found the informative layer


def test_whisper_head_saves_as_a_transformers_classifier(
    whisper_dir: Path, corpus: Path, tmp_path: Path
) -> None:
    from edge_ser_train.teacher import encoder_hidden_states
    from transformers import WhisperForAudioClassification

    teacher = load_teacher(str(whisper_dir))
    store = _store(corpus)
    cache = TeacherCache(teacher, tmp_path / "cache", max_samples=16000)
    records = list(store.records)
    versions = [[cache.get(store, r)] for r in records]
    head = fit_head(records, versions, LABELS, HeadOptions(epochs=2, batch_size=4))

    folder = save_whisper_classifier(teacher, head, LABELS, tmp_path / "clf")
    assert (folder / "preprocessor_config.json").is_file()
    model = WhisperForAudioClassification.from_pretrained(folder).eval()
    assert model.config.use_weighted_layer_sum and model.config.id2label[0] == "anger"
    # transformers pools all 1500 frames of a 30-s padded input; on the clip-length states
    # its layer sum, projector, mean and classifier equal our head exactly
    with torch.inference_mode():
        x = store.audio(records[0])[:16000]
        stacked = torch.stack(encoder_hidden_states(model.encoder, teacher.log_mel(x)), dim=1)
        w = torch.softmax(model.layer_weights, dim=-1)
        theirs = model.classifier(
            model.projector((stacked * w[None, :, None, None]).sum(1)).mean(1)
        )
        ours = head(stacked)
        pooled = head(stacked.mean(dim=2, keepdim=True))  # what training and predict use
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(pooled, ours, rtol=1e-4, atol=1e-5)


def _whisper_train_args(whisper_dir: Path, corpus: Path, cache: Path, *, epochs: int) -> list[str]:
    """``edge-ser train`` on the tiny Whisper: fold 1 of 3 speaker folds, the shared cache."""
    return [
        *("train", "--data", f"{corpus}:ravdess", "--split", "speakers:3", "--fold", "1"),
        *("--pretrained", str(whisper_dir), "--labels", "anger,sadness"),
        *("--epochs", str(epochs), "--batch-size", "4", "--frame-cache", str(cache)),
        "--no-progress",
    ]


def test_edge_ser_train_takes_a_whisper_backbone(
    whisper_dir: Path, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transformers import WhisperForAudioClassification

    from edge_ser.cli import main

    out = tmp_path / "run"
    args = _whisper_train_args(whisper_dir, corpus, tmp_path / "cache", epochs=3)
    assert main([*args, "--train-top-layers", "1", "--out", str(out)]) == 0
    assert "speakers-1of3: UA" in capsys.readouterr().out
    report = json.loads((out / "edge_ser_train.json").read_text())
    assert report["model"]["backbone"] == "whisper"
    assert report["model"]["frozen_encoder_layers"] == 1
    assert report["preprocessing"]["pre_emphasis"] == 0.0
    assert report["metrics"]["test"]["n"] > 0
    assert set(report["split"]["train"]["speakers"]).isdisjoint(report["split"]["test"]["speakers"])
    model = WhisperForAudioClassification.from_pretrained(out)
    teacher = WhisperForAudioClassification.from_pretrained(whisper_dir)
    # the top layer was fine-tuned, the one below it was not
    top, below = model.encoder.layers[-1], model.encoder.layers[0]
    assert not torch.equal(top.fc1.weight, teacher.encoder.layers[-1].fc1.weight)
    assert torch.equal(below.fc1.weight, teacher.encoder.layers[0].fc1.weight)
    assert any((tmp_path / "cache").glob("*.npy"))  # the shared cache was used


def test_edge_ser_train_keeps_the_first_encoder_layers_of_a_whisper_backbone(
    whisper_dir: Path, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transformers import WhisperForAudioClassification

    from edge_ser.cli import main

    base = _whisper_train_args(whisper_dir, corpus, tmp_path / "cache", epochs=2)
    assert main([*base, "--encoder-layers", "1", "--out", str(tmp_path / "cut")]) == 0
    report = json.loads((tmp_path / "cut" / "edge_ser_train.json").read_text())
    assert report["model"]["encoder_layers"] == 1
    model = WhisperForAudioClassification.from_pretrained(tmp_path / "cut")
    teacher = WhisperForAudioClassification.from_pretrained(whisper_dir)
    assert model.config.encoder_layers == 1 and len(model.encoder.layers) == 1
    assert torch.equal(model.encoder.layers[0].fc1.weight, teacher.encoder.layers[0].fc1.weight)
    assert torch.equal(model.encoder.layer_norm.weight, teacher.encoder.layer_norm.weight)
    capsys.readouterr()
    assert main([*base, "--encoder-layers", "3", "--out", str(tmp_path / "too_many")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot keep 3 layers of a teacher with 2" in err[0], err


def test_recover_conv_encoder_from_a_static_int8_export(
    tiny_checkpoint: Path, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge_ser_export import export_model
    from edge_ser_train import recover
    from transformers import HubertConfig, HubertForSequenceClassification, HubertModel

    export_model(
        tiny_checkpoint,
        tmp_path / "static",
        calibration=corpus,
        quantize="static",
        raw_variant=False,
        max_calibration_windows=4,
    )
    config = HubertConfig.from_pretrained(tiny_checkpoint)
    out = recover.recover_conv_encoder(tmp_path / "static" / "model.onnx", tmp_path / "enc", config)
    original = HubertForSequenceClassification.from_pretrained(tiny_checkpoint).eval()
    recovered = HubertModel.from_pretrained(out).eval()
    a, b = original.hubert.feature_extractor, recovered.feature_extractor
    torch.testing.assert_close(a.conv_layers[0].conv.weight, b.conv_layers[0].conv.weight)
    torch.testing.assert_close(
        a.conv_layers[0].layer_norm.weight, b.conv_layers[0].layer_norm.weight
    )
    for la, lb in zip(a.conv_layers[1:], b.conv_layers[1:], strict=True):
        w, v = la.conv.weight, lb.conv.weight
        step = w.abs().amax(dim=(1, 2), keepdim=True) / 127  # the per-channel int8 grid
        assert bool(((w - v).abs() <= step * 0.51 + 1e-7).all())  # rounded to the grid
        assert not torch.equal(w, v)
    x = torch.from_numpy((0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32))[
        None
    ]
    with torch.inference_mode():
        fa, fb = a(x), b(x)
    assert float(torch.nn.functional.cosine_similarity(fa.flatten(), fb.flatten(), dim=0)) > 0.99

    capsys.readouterr()
    assert recover.main([str(tmp_path / "enc" / "config.json"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("recover: error:")


def test_reference_line_scores_probe_and_head_on_every_fold(
    whisper_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge_ser_train import reference

    corpus = make_voice_corpus(tmp_path / "voices", actors=4, per_class=2)
    out = tmp_path / "reference.json"
    args = [
        "--teacher",
        str(whisper_dir),
        "--data",
        f"{corpus}:ravdess",
        "--cache",
        str(tmp_path / "cache"),
        "--split",
        "speakers:2",
        "--split",
        "holdout:ravdess/Actor_01",
        "--head",
        '{"epochs": 2, "batch_size": 4}',
        "--probe-layer",
        "1",
        "--copies",
        "1",
        "--out",
        str(out),
    ]
    assert reference.main(args) == 0
    report = json.loads(out.read_text())
    folds = report["splits"]["speakers:2"]
    for name in ("probe", "head"):
        assert [f["name"] for f in folds[name]["folds"]] == ["speakers-1of2", "speakers-2of2"]
        assert folds[name]["summary"] is not None and folds[name]["ua_std"] is not None
        assert set(folds[name]["per_corpus_ua_mean"]) == {"ravdess"}
    holdout = report["splits"]["holdout:ravdess/Actor_01"]["head"]["folds"][0]
    assert holdout["n"] == 4  # actor 1's utterances, and nobody else's
    assert report["encoder_layers"] == 2
    assert reference.main([*args[:-2], "--head", '{"nope": 1}', "--out", str(out)]) == 2
    # on the first layer only: its own hidden states (a cut encoder has its own cache key)
    cut = tmp_path / "cut.json"
    assert reference.main([*args[:-2], "--encoder-layers", "1", "--out", str(cut)]) == 0
    assert json.loads(cut.read_text())["encoder_layers"] == 1
    # the head may fine-tune the top layer (it gets the encoder), and a bad head is one line
    top = tmp_path / "top.json"
    assert (
        reference.main(
            [*args[:-2], "--head", '{"epochs": 1, "train_top_layers": 1}', "--out", str(top)]
        )
        == 0
    )
    capsys.readouterr()
    assert reference.main([*args[:-2], "--head", '{"train_top_layers": 9}', "--out", str(top)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("reference: error:"), err


def test_runtime_folds_exports_and_scores_every_fold_through_the_runtime(
    whisper_dir: Path, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge_ser_train import runtime_folds

    from edge_ser.cli import main

    args = _whisper_train_args(whisper_dir, corpus, tmp_path / "cache", epochs=2)
    fold = args.index("--fold")
    args = [*args[:fold], *args[fold + 2 :]]  # every fold
    split = args.index("speakers:3")
    args[split] = "speakers:2"
    assert main([*args, "--no-plots", "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    out = tmp_path / "folds.json"
    base = [*("--data", f"{corpus}:ravdess", "--labels", "anger,sadness"), "--out", str(out)]
    base += ["--work", str(tmp_path / "work")]
    assert runtime_folds.main(["--run", f"speakers:2={tmp_path / 'run'}", *base]) == 0
    report = json.loads(out.read_text())["splits"]["speakers:2"]
    assert [f["name"] for f in report["folds"]] == ["speakers-1of2", "speakers-2of2"]
    assert all(f["labels"] == ["anger", "sadness"] for f in report["folds"])  # --labels
    assert all(set(f["per_corpus_ua"]) == {"ravdess"} for f in report["folds"])
    assert sum(f["n"] for f in report["folds"]) == len(list(corpus.rglob("*.wav")))
    assert report["summary"]["n_folds"] == 2 and report["ua_std"] is not None
    # each fold was calibrated on its own training side only
    from edge_ser_train.splits import make_splits

    records = load_sources([f"{corpus}:ravdess"], LABELS, CorpusOptions())
    for split in make_splits(records, "speakers:2"):
        folder = tmp_path / "work" / "speakers_2" / split.name / "calibration"
        calibrated = {p.resolve() for p in folder.iterdir()}
        assert calibrated and calibrated <= {Path(r.path).resolve() for r in split.train}
    # a run folder trained on other folds is refused in one line
    capsys.readouterr()
    assert runtime_folds.main(["--run", f"speakers:3={tmp_path / 'run'}", *base]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("runtime_folds: error:"), err


def test_runtime_folds_refuses_a_checkpoint_trained_on_another_fold(
    corpus: Path, tmp_path: Path
) -> None:
    from edge_ser_train.runtime_folds import fold_checkpoint
    from edge_ser_train.splits import make_splits

    records = load_sources([f"{corpus}:ravdess"], LABELS, CorpusOptions())
    first, second = make_splits(records, "speakers:2")
    folder = tmp_path / first.name
    folder.mkdir()
    speakers = sorted({r.speaker_key for r in second.test})
    (folder / "edge_ser_train.json").write_text(
        json.dumps({"split": {"test": {"speakers": speakers}}})
    )
    with pytest.raises(TrainingError, match="trained with other test speakers"):
        fold_checkpoint(tmp_path, first, 2)
    speakers = sorted({r.speaker_key for r in first.test})
    (folder / "edge_ser_train.json").write_text(
        json.dumps({"split": {"test": {"speakers": speakers}}})
    )
    assert fold_checkpoint(tmp_path, first, 2) == folder
