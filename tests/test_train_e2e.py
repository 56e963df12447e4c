"""End to end on synthetic audio: train -> export -> evaluate through the runtime.

The corpus is a RAVDESS-layout tree of short synthetic "voices": anger is a buzzy 300 Hz
harmonic tone with breath noise, sadness a pure 110 Hz tone; speakers differ in pitch and
duration. A tiny model of the DistilHuBERT architecture learns them in a few seconds on one
CPU thread.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs torch (the train extra)")
pytest.importorskip("transformers", reason="training needs transformers (the train extra)")

import soundfile as sf  # noqa: E402
from conftest import VOICE_EMOTIONS, make_tiny_checkpoint, make_voice_corpus, voice  # noqa: E402
from edge_ser_train import train as train_module  # noqa: E402
from edge_ser_train.cli import _options  # noqa: E402
from edge_ser_train.model import PooledClassifier, build_model, check_pretrained  # noqa: E402
from edge_ser_train.options import TrainOptions  # noqa: E402
from edge_ser_train.train import train  # noqa: E402

from edge_ser.cli import build_parser, main  # noqa: E402
from edge_ser.errors import TrainingError  # noqa: E402

SR = 16_000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_voice_corpus(tmp_path_factory.mktemp("synthetic_ravdess"))


FAST = [
    "--tiny",
    "--threads",
    "1",
    "--labels",
    "anger,sadness",
    "--batch-size",
    "4",
    "--lr",
    "3e-3",
    "--head-lr",
    "1e-2",
    "--no-progress",
]


def fast_options(corpus: Path, out: Path, **kw: object) -> TrainOptions:
    base: dict[str, object] = {
        "data": (f"{corpus}:ravdess",),
        "out": str(out),
        "split": "speakers:2",
        "fold": 1,
        "epochs": 4,
        "tiny": True,
        "threads": 1,
        "labels": ("anger", "sadness"),
        "batch_size": 4,
        "lr": 3e-3,
        "head_lr": 1e-2,
        "progress": False,
        "plots": False,
    }
    return TrainOptions.from_dict({**base, **kw})


def test_train_export_evaluate(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = [
        "train",
        "--data",
        f"{corpus}:ravdess",
        "--split",
        "speakers:2",
        "--fold",
        "1",
        "--epochs",
        "10",
        *FAST,
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert "speakers-1of2: UA" in capsys.readouterr().out

    report = json.loads((out / "edge_ser_train.json").read_text())
    losses = [h["train_loss"] for h in report["history"]]
    assert len(losses) == 10
    assert losses[-1] < 0.5 * losses[0], losses  # the loss falls
    train_spk = set(report["split"]["train"]["speakers"])
    test_spk = set(report["split"]["test"]["speakers"])
    assert len(train_spk) == len(test_spk) == 2 and not train_spk & test_spk
    assert report["labels"] == ["anger", "sadness"]
    assert report["command"][0] == "edge-ser" and report["seed"] == 0
    assert report["model"]["pretrained_weights"] is False
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "anger", "1": "sadness"}
    assert (out / "confusion_matrix.png").is_file()
    assert not (out / "checkpoint.pt").exists()  # removed once the fold completed

    from edge_ser_export import export_model

    model_dir = tmp_path / "model"
    export_model(out, model_dir, quantize="none", raw_variant=False)

    from edge_ser import Classifier

    clf = Classifier(model_dir)
    assert clf.labels == ("anger", "sadness")
    one = clf.classify(next((corpus / "Actor_03").glob("*.wav")))
    assert one.label in ("anger", "sadness")

    held_out = [s.split("/", 1)[1] for s in sorted(test_spk)]
    argv = [
        "evaluate",
        "--model",
        str(model_dir),
        "--corpus",
        "ravdess",
        "--data",
        str(corpus),
        "--json",
        "--speakers",
        *held_out,
    ]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    for key in (
        "ua",
        "wa",
        "macro_f1",
        "per_class_f1",
        "confusion_matrix",
        "labels",
        "n",
        "corpus",
        "model",
    ):
        assert key in result
    assert result["n"] == 12 and result["corpus"] == "ravdess"
    assert result["no_speech"] == 0  # every file got a label from the runtime
    assert result["labels"] == ["anger", "sadness"]
    assert sum(map(sum, result["confusion_matrix"])) == 12
    assert result["ua"] >= 0.75, result  # the exported model separates the unseen speakers

    # the text report prints the same figures
    assert main([a for a in argv if a != "--json"]) == 0
    assert f"ua        {result['ua']:.4f}" in capsys.readouterr().out


def test_resume_continues_exactly(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors.torch import load_file

    full = train(fast_options(corpus, tmp_path / "full"))

    interrupted = fast_options(corpus, tmp_path / "resumed")
    real_save = train_module._save_atomic
    saves: list[int] = []

    def save_then_stop(state: dict[str, object], path: Path) -> None:
        real_save(state, path)  # type: ignore[arg-type]
        saves.append(1)
        if len(saves) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "_save_atomic", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted)
    monkeypatch.setattr(train_module, "_save_atomic", real_save)
    assert (tmp_path / "resumed" / "checkpoint.pt").is_file()
    assert not (tmp_path / "resumed" / "edge_ser_train.json").exists()

    with pytest.raises(TrainingError, match="other options"):
        train(dataclasses.replace(interrupted, resume=True, lr=1e-3))
    resumed = train(dataclasses.replace(interrupted, resume=True))

    expected = [h["train_loss"] for h in full.folds[0].history]
    assert [h["train_loss"] for h in resumed.folds[0].history] == pytest.approx(expected, rel=1e-5)
    a = load_file(str(tmp_path / "full" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_all_folds_write_a_summary(corpus: Path, tmp_path: Path) -> None:
    result = train(fast_options(corpus, tmp_path / "cv", fold=None, epochs=2, plots=True))
    assert [f.name for f in result.folds] == ["speakers-1of2", "speakers-2of2"]
    for fold in result.folds:
        assert (fold.out_dir / "config.json").is_file()
        assert fold.out_dir.parent == tmp_path / "cv"
    report = json.loads((tmp_path / "cv" / "edge_ser_train.json").read_text())
    summary = report["summary"]
    assert summary["n_folds"] == 2 and summary["n"] == 24  # every utterance tested once
    uas = [f["ua"] for f in summary["folds"]]
    assert summary["mean"]["ua"] == pytest.approx(np.mean(uas))
    assert summary["std"]["ua"] == pytest.approx(np.std(uas, ddof=1))
    assert (tmp_path / "cv" / "folds.png").is_file()
    assert (tmp_path / "cv" / "confusion_matrix.png").is_file()


def make_tess(root: Path, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    for spk in ("OAF", "YAF"):
        for emotion, code in (("angry", "05"), ("sad", "04")):
            f0, harmonics, noise = VOICE_EMOTIONS[code]
            folder = root / f"{spk}_{emotion}"
            folder.mkdir(parents=True, exist_ok=True)
            for word in ("back", "bar"):
                x = voice(f0 * rng.uniform(0.9, 1.1), harmonics, noise, 0.9, rng)
                sf.write(folder / f"{spk}_{word}_{emotion}.wav", x, SR)
    return root


def test_cross_corpus_mixing(corpus: Path, tmp_path: Path) -> None:
    tess = make_tess(tmp_path / "tess")
    opts = fast_options(
        corpus, tmp_path / "mix", epochs=1, cross_corpus=f"tess:{tess}", mix_ratio=0.5
    )
    train(opts)
    report = json.loads((tmp_path / "mix" / "edge_ser_train.json").read_text())
    mix = report["cross_corpus"]
    assert mix["records"] == 8 and mix["per_epoch"] == 6  # 0.5 x 12 training utterances
    assert report["corpora"] == ["ravdess", "tess"]
    # mixing the test corpus into training would put its speakers on both sides
    leaky = fast_options(
        corpus,
        tmp_path / "leak",
        data=(f"{corpus}:ravdess", f"{tess}:tess"),
        split="cross:tess",
        fold=None,
        cross_corpus=f"tess:{tess}",
    )
    with pytest.raises(TrainingError, match="speaker leak"):
        train(leaky)


def test_evaluate_runs_without_torch(
    tiny_model_dir: Path, corpus: Path, no_torch: None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["evaluate", "--model", str(tiny_model_dir), "--data", str(corpus), "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["corpus"] == "ravdess" and result["n"] == 24
    assert result["labels"][:4] == ["anger", "happiness", "neutral", "sadness"]
    assert sum(map(sum, result["confusion_matrix"])) + result["no_speech"] == 24
    assert "torch" not in sys.modules
    assert main(argv[:-1]) == 0  # the text report
    text = capsys.readouterr().out
    assert "ua " in text and "macro_f1" in text and "confusion matrix" in text


def test_options_from_config_file_and_flags(tmp_path: Path) -> None:
    config = tmp_path / "train.json"
    config.write_text(
        json.dumps(
            {
                "data": ["d:ravdess"],
                "out": "o",
                "epochs": 3,
                "lr": 1e-4,
                "augment": {"speed": [0.9, 1.1]},
            }
        )
    )
    args = build_parser().parse_args(["train", "--config", str(config), "--epochs", "5"])
    opts = _options(args)
    assert (opts.epochs, opts.lr, opts.data) == (5, 1e-4, ("d:ravdess",))
    assert opts.augment.speed == (0.9, 1.1)
    assert TrainOptions.from_dict(opts.to_dict()) == opts
    for bad in (
        {"epochs": 0},
        {"split": "kfold"},
        {"lr": -1.0},
        {"labels": ["anger"]},
        {"mix_ratio": 0.0},
        {"device": "tpu"},
        {"learning_rate": 1.0},
    ):
        with pytest.raises(TrainingError):
            TrainOptions.from_dict({"data": ["d"], "out": "o", **bad})


def test_train_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--out", str(tmp_path / "o")]) == 2
    assert "needs --data" in capsys.readouterr().err
    args = [
        "train",
        "--data",
        f"{tmp_path / 'none'}:ravdess",
        "--tiny",
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(args) == 2
    assert "does not exist" in capsys.readouterr().err


def test_pooled_classifier_matches_transformers_in_eval() -> None:
    model, info = build_model(("anger", "sadness"), tiny=True)
    assert info.pretrained_weights is False
    assert all(not p.requires_grad for p in model.hubert.feature_extractor.parameters())  # type: ignore[union-attr]
    net = PooledClassifier(model).eval()
    x = torch.randn(2, 8000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(net(x), model(x).logits, atol=1e-6)  # type: ignore[operator]


def test_pretrained_sources(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from edge_ser_train.model import TINY_CONFIG
    from transformers import HubertConfig, HubertModel

    base = HubertModel(HubertConfig(**TINY_CONFIG)).eval()
    base.save_pretrained(str(tmp_path / "base"))
    model, info = build_model(("anger", "sadness"), str(tmp_path / "base"))
    assert info.pretrained_weights is True
    loaded = model.hubert.encoder.layers[0].attention.q_proj.weight  # type: ignore[union-attr,index]
    assert torch.equal(loaded, base.encoder.layers[0].attention.q_proj.weight)
    check_pretrained(str(tmp_path / "base"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingError, match="--pretrained none"):
        build_model(("anger", "sadness"), str(tmp_path / "empty"))
    with pytest.raises(TrainingError, match="--pretrained none"):
        check_pretrained(str(tmp_path / "empty"))  # train() checks before loading any audio
    w2v = make_tiny_checkpoint(tmp_path / "w2v", arch="wav2vec2")
    with pytest.raises(TrainingError, match="'wav2vec2' model"):
        check_pretrained(str(w2v))
    with caplog.at_level("WARNING", logger="edge_ser.train"):
        model, info = build_model(("anger", "sadness"), "none")
    assert "RANDOM weights" in caplog.text and "far lower" in caplog.text
    assert 23e6 < info.parameters < 25e6  # DistilHuBERT's size: 2 layers, 768 wide
    assert model.config.num_hidden_layers == 2 and model.config.feat_extract_norm == "group"


def test_batches_are_equal_length_crops_preprocessed_like_the_runtime(tmp_path: Path) -> None:
    from edge_ser_train.corpora import load_corpus
    from edge_ser_train.data import AudioStore, AugmentOptions, eval_input, train_batches

    from edge_ser.metadata import PreprocessingConfig
    from edge_ser.preprocess import preprocess

    rng = np.random.default_rng(0)
    root = tmp_path / "ravdess"
    (root / "Actor_01").mkdir(parents=True)
    lengths = {"05": 10.0, "04": 1.5}  # one utterance longer than the crop, one shorter
    for code, seconds in lengths.items():
        f0, harmonics, noise = VOICE_EMOTIONS[code]
        x = voice(f0, harmonics, noise, seconds, rng)
        sf.write(root / "Actor_01" / f"03-01-{code}-01-01-01-01.flac", x, SR)
    (root / "Actor_01" / "03-01-04-01-01-02-01.wav").write_bytes(b"not audio")
    records = load_corpus("ravdess", root)
    store = AudioStore(records, PreprocessingConfig())
    assert len(store) == 2 and len(store.failed) == 1  # the broken file is skipped, not fatal
    ids = {"anger": 0, "sadness": 1}
    max_samples = 2 * SR
    augment = AugmentOptions(probability=1.0, speed=(0.9, 1.1), noise_snr_db=(20.0, 30.0))
    for aug in (None, augment):
        batches = list(train_batches(store, store.records, ids, 2, max_samples, rng, aug))
        assert len(batches) == 1
        batch = batches[0]
        assert batch.inputs.dtype == np.float32 and batch.inputs.shape[0] == 2
        assert batch.inputs.shape[1] <= 1.5 * 1.12 * SR  # cut to the shortest member
        assert np.allclose(np.abs(batch.inputs).max(axis=1), 1.0)  # peak-normalised rows
        assert sorted(batch.labels.tolist()) == [0, 1]
    long_rec = next(r for r in store.records if r.label == "anger")
    x = eval_input(store.audio(long_rec), max_samples, store.preprocessing)
    centre = store.audio(long_rec)
    start = (centre.shape[0] - max_samples) // 2
    expected = preprocess(centre[start : start + max_samples], store.preprocessing)
    assert np.array_equal(x, expected)  # the centre 8 s (here 2 s), preprocessed as at runtime


def test_cached_features_train_like_the_waveform_path(corpus: Path, tmp_path: Path) -> None:
    """--cache-features runs the same head on cached encoder frames, and the loss falls."""
    opts = fast_options(
        corpus,
        tmp_path / "cached",
        split="holdout:ravdess/Actor_04",
        fold=None,
        epochs=6,
        cache_features=True,
        train_crop_seconds=0.5,
        balance_corpora=True,
    )
    result = train(opts)
    history = result.folds[0].history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    report = json.loads((tmp_path / "cached" / "edge_ser_train.json").read_text())
    assert report["split"]["test"]["speakers"] == ["ravdess/Actor_04"]
    assert "ravdess/Actor_04" not in report["split"]["train"]["speakers"]
    assert report["options"]["cache_features"] is True
    assert report["metrics"]["test"]["n"] == 6


def test_forward_features_equals_forward_on_the_encoder_output() -> None:
    model, _ = build_model(("anger", "sadness"), "none", tiny=True)
    net = PooledClassifier(model).eval()
    x = torch.randn(2, 8000)
    with torch.no_grad():
        frames = model.hubert.feature_extractor(x).transpose(1, 2)
        assert torch.allclose(net.forward_features(frames), net(x), atol=1e-5)


def test_balanced_sample_weighs_every_corpus_label_cell_equally() -> None:
    from edge_ser_train.cached import balanced_sample
    from edge_ser_train.corpora import Record

    recs = [Record(Path(f"a{i}.wav"), "anger", "s1", "big", "big") for i in range(90)]
    recs += [Record(Path(f"b{i}.wav"), "sadness", "s2", "big", "big") for i in range(10)]
    recs += [Record(Path(f"c{i}.wav"), "anger", "s3", "small", "small") for i in range(5)]
    picked = balanced_sample(recs, 6000, np.random.default_rng(0))
    cells = {}
    for r in picked:
        cells[(r.corpus, r.label)] = cells.get((r.corpus, r.label), 0) + 1
    assert set(cells) == {("big", "anger"), ("big", "sadness"), ("small", "anger")}
    assert all(abs(n / 6000 - 1 / 3) < 0.03 for n in cells.values())


def test_holdout_split_rejects_unknown_speakers(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="unknown speaker"):
        train(fast_options(corpus, tmp_path / "x", split="holdout:ravdess/Actor_99", fold=None))


def test_feature_cache_file_is_reused_and_keyed(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stored cache is read back instead of encoding again, but only under the same key."""
    from edge_ser_train.cached import FeatureCache
    from edge_ser_train.corpora import CorpusOptions, load_ravdess
    from edge_ser_train.data import AudioStore

    from edge_ser.metadata import PreprocessingConfig

    records = load_ravdess(corpus, CorpusOptions())[:4]
    store = AudioStore(records, PreprocessingConfig(), workers=1)
    model, _ = build_model(("anger", "sadness"), "none", tiny=True)
    net = PooledClassifier(model)
    file = tmp_path / "feature_cache.npz"
    first = FeatureCache(net, store, records, 16000, torch.device("cpu"), cache_file=file, key="a")
    assert file.is_file()

    def no_encoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("encoded again although the cache file holds every record")

    encoder = model.hubert.feature_extractor
    monkeypatch.setattr(encoder, "forward", no_encoding)
    again = FeatureCache(net, store, records, 16000, torch.device("cpu"), cache_file=file, key="a")
    for r in records:
        np.testing.assert_array_equal(again.features(r), first.features(r))
    with pytest.raises(AssertionError, match="encoded again"):
        FeatureCache(net, store, records, 16000, torch.device("cpu"), cache_file=file, key="b")


def test_feature_cache_copies_are_augmented_versions(corpus: Path, tmp_path: Path) -> None:
    """Version 0 is the clean encoding; the others are seeded augmented encodings, stored
    and read back under the same key, and batches draw from all of them."""
    from edge_ser_train.cached import FeatureCache, feature_batches
    from edge_ser_train.corpora import CorpusOptions, load_ravdess
    from edge_ser_train.data import AudioStore, AugmentOptions

    from edge_ser.metadata import PreprocessingConfig

    records = load_ravdess(corpus, CorpusOptions())[:3]
    store = AudioStore(records, PreprocessingConfig(), workers=1)
    model, _ = build_model(("anger", "sadness"), "none", tiny=True)
    net = PooledClassifier(model)
    cpu = torch.device("cpu")
    LONG = 10 * SR  # whole utterances: the speed change shows in the length
    augment = AugmentOptions(probability=1.0, speed=(0.8, 0.8), noise_snr_db=(10.0, 10.0))
    with pytest.raises(ValueError, match="enabled augment"):
        FeatureCache(net, store, records, LONG, cpu, copies=2)
    clean = FeatureCache(net, store, records, LONG, cpu)
    file = tmp_path / "cache.npz"
    three = FeatureCache(
        net, store, records, LONG, cpu, copies=3, augment=augment, cache_file=file, key="k"
    )
    for r in records:
        np.testing.assert_array_equal(three.features(r, 0), clean.features(r))
        # speed 0.8 makes the augmented versions longer; noise makes them differ
        assert three.features(r, 1).shape[0] > clean.features(r).shape[0]
        assert not np.array_equal(three.features(r, 1), three.features(r, 2))
    again = FeatureCache(
        net, store, records, LONG, cpu, copies=3, augment=augment, cache_file=file, key="k"
    )
    for r in records:
        for k in range(3):
            np.testing.assert_array_equal(again.features(r, k), three.features(r, k))
    ids = {"anger": 0, "sadness": 1}
    lengths = set()
    for seed in range(12):
        rng = np.random.default_rng(seed)
        for fb in feature_batches(three, records, ids, 1, 10_000, rng):
            lengths.add(fb.features.shape[1])
    clean_lengths = {clean.features(r).shape[0] for r in records}
    assert lengths & clean_lengths and lengths - clean_lengths  # both kinds were drawn


def test_cache_copies_and_named_validation_in_a_run(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="cache_copies"):
        fast_options(corpus, tmp_path / "x", cache_features=True, cache_copies=2)
    with pytest.raises(TrainingError, match="not both"):
        fast_options(
            corpus, tmp_path / "x", validation_speakers=1, validation_holdout=["ravdess/Actor_01"]
        )
    with pytest.raises(TrainingError, match="not on the training side"):
        train(
            fast_options(
                corpus,
                tmp_path / "x",
                split="holdout:ravdess/Actor_04",
                fold=None,
                validation_holdout=["ravdess/Actor_04"],
            )
        )
    opts = fast_options(
        corpus,
        tmp_path / "copies",
        split="holdout:ravdess/Actor_04",
        fold=None,
        epochs=2,
        cache_features=True,
        cache_copies=2,
        augment={"probability": 1.0, "eq_db": 6.0, "reverb_rt60": [0.1, 0.3]},
        train_crop_seconds=0.5,
        validation_holdout=["ravdess/Actor_03"],
    )
    train(opts)
    report = json.loads((tmp_path / "copies" / "edge_ser_train.json").read_text())
    assert report["options"]["cache_copies"] == 2
    assert report["split"]["validation"]["speakers"] == ["ravdess/Actor_03"]
    assert "ravdess/Actor_03" not in report["split"]["train"]["speakers"]
    assert all("validation" in e for e in report["history"])


def test_update_average_is_the_running_mean_of_float_weights() -> None:
    from edge_ser_train.train import _update_average

    states = [
        {"w": torch.tensor([1.0, 2.0]) * i, "steps": torch.tensor(i, dtype=torch.int64)}
        for i in (1, 2, 6)
    ]
    average = None
    for state in states:
        average = _update_average(average, state)
    assert average is not None and average["epochs"] == 3
    assert torch.allclose(average["state"]["w"], torch.tensor([3.0, 6.0]))
    assert int(average["state"]["steps"]) == 6  # integer buffers: the latest
    assert torch.equal(states[0]["w"], torch.tensor([1.0, 2.0]))  # inputs untouched


def test_weight_average_is_validated_and_reported(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="average_from_epoch"):
        fast_options(corpus, tmp_path / "x", epochs=2, average_from_epoch=3)
    opts = fast_options(
        corpus,
        tmp_path / "avg",
        split="holdout:ravdess/Actor_04",
        fold=None,
        epochs=3,
        average_from_epoch=2,
        validation_holdout=["ravdess/Actor_03"],
    )
    train(opts)
    report = json.loads((tmp_path / "avg" / "edge_ser_train.json").read_text())
    averaged = report["weight_average"]
    assert averaged["epochs"] == [2, 3] and 0.0 <= averaged["validation"]["ua"] <= 1.0
    best_single = max(e["validation"]["ua"] for e in report["history"])
    assert averaged["selected"] == (averaged["validation"]["ua"] >= best_single)
    assert (report["selected_epoch"] == 0) == averaged["selected"]
    if averaged["selected"]:
        assert report["metrics"]["validation"]["ua"] == averaged["validation"]["ua"]
