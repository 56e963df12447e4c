"""Masked-prediction stage for the transformer (``python -m edge_ser_train.pretrain_context``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="pretraining needs torch (the train extra)")
pytest.importorskip("transformers", reason="pretraining needs transformers (the train extra)")

import soundfile as sf  # noqa: E402
from conftest import synth_speechlike  # noqa: E402
from edge_ser_train.pretrain import main as pretrain_main  # noqa: E402
from edge_ser_train.pretrain_context import (  # noqa: E402
    REPORT,
    ContextPretrainOptions,
    main,
    span_mask,
)

from edge_ser.errors import OptionsError  # noqa: E402


def test_span_mask_hides_whole_spans_in_every_row() -> None:
    rng = np.random.default_rng(0)
    mask = span_mask(rng, 64, 100, 0.05, 10)
    assert mask.shape == (64, 100) and mask.dtype == bool
    assert mask.any(axis=1).all()  # every row carries a loss
    # spans are whole: every run of masked frames that ends before the last frame is >= 10
    for row in mask:
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(int), [0]])))
        runs = edges[1::2] - edges[::2]
        ends = edges[1::2]
        assert all(r >= 10 for r, e in zip(runs, ends, strict=True) if e < 100)
    share = mask.mean()
    assert 0.2 < share < 0.6, share  # HuBERT-like: about 40% of frames hidden
    # a rare start probability still masks one span per row
    sparse = span_mask(rng, 8, 30, 1e-9, 4)
    assert (sparse.sum(axis=1) == 4).all()


def test_span_mask_on_rows_shorter_than_a_span_masks_them_whole() -> None:
    assert span_mask(np.random.default_rng(0), 3, 2, 0.5, 10).all()


@pytest.fixture(scope="module")
def stage1(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny stage-1 encoder and the audio it was taught on."""
    root = tmp_path_factory.mktemp("context")
    data = root / "audio"
    data.mkdir()
    for i in range(4):
        sf.write(data / f"{i}.wav", synth_speechlike(1.5, seed=i), 16000)
    encoder = root / "encoder"
    argv = ["--data", str(data), "--out", str(encoder), "--tiny", "--max-steps", "2"]
    assert pretrain_main([*argv, "--minutes", "0", "--batch-size", "2", "--crop-s", "0.5"]) == 0
    return data, encoder


def _run(data: Path, encoder: Path, out: Path, steps: int, *extra: str) -> dict[str, object]:
    argv = ["--encoder", str(encoder), "--data", str(data), "--out", str(out)]
    argv += ["--max-steps", str(steps), "--minutes", "0", "--batch-size", "4"]
    argv += ["--crop-frames", "20", "--mask-length", "4", "--mask-prob", "0.1", "--threads", "1"]
    assert main([*argv, *extra]) == 0
    report: dict[str, object] = json.loads((out / REPORT).read_text())
    return report


def test_context_stage_trains_the_transformer_and_leaves_the_conv_encoder(
    stage1: tuple[Path, Path], tmp_path: Path
) -> None:
    from transformers import HubertForSequenceClassification, HubertModel

    data, encoder = stage1
    out = tmp_path / "context"
    report = _run(data, encoder, out, 3, "--copies", "2")
    assert report["steps"] == 3 and report["n_clips"] == 4
    assert np.isfinite(float(report["final_loss"]))  # type: ignore[arg-type]
    assert (out / "edge_ser_pretrain.json").is_file()  # stage-1 provenance travels along

    before = HubertModel.from_pretrained(str(encoder)).state_dict()
    after = HubertModel.from_pretrained(str(out)).state_dict()
    conv = [k for k in before if k.startswith("feature_extractor.")]
    trained = [k for k in before if k.startswith(("encoder.", "feature_projection."))]
    assert conv and trained
    assert all(torch.equal(before[k], after[k]) for k in conv)  # frozen, as in fine-tuning
    changed = [k for k in trained if not torch.equal(before[k], after[k])]
    assert len(changed) > len(trained) // 2, changed
    # what `edge-ser train --pretrained DIR` loads: the transformer weights arrive
    clf = HubertForSequenceClassification.from_pretrained(str(out), num_labels=4)
    key = "encoder.layers.0.attention.q_proj.weight"
    assert torch.equal(clf.hubert.state_dict()[key], after[key])


def test_context_stage_learns_to_fill_in_hidden_frames(
    stage1: tuple[Path, Path], tmp_path: Path
) -> None:
    data, encoder = stage1
    report = _run(data, encoder, tmp_path / "context", 300, "--copies", "1", "--lr", "3e-3")
    first, final = float(report["first_loss"]), float(report["final_loss"])  # type: ignore[arg-type]
    # 1.0 is what predicting the mean of the standardised targets scores
    assert final < 0.9 * first and final < 1.0, (first, final)


def test_context_stage_rejects_bad_options_and_folders(
    stage1: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(OptionsError):
        ContextPretrainOptions(encoder="e", data=(), out="o")
    with pytest.raises(OptionsError):
        ContextPretrainOptions(encoder="e", data=("d",), out="o", minutes=0, max_steps=0)
    with pytest.raises(OptionsError, match="twice"):
        ContextPretrainOptions(encoder="e", data=("d",), out="o", crop_frames=10, mask_length=10)
    with pytest.raises(OptionsError, match="mask-prob"):
        ContextPretrainOptions(encoder="e", data=("d",), out="o", mask_prob=1.0)
    data, encoder = stage1
    out = str(tmp_path / "out")
    # a folder that is not a stage-1 encoder, and a missing data folder: one-line errors, exit 2
    assert main(["--encoder", str(tmp_path), "--data", str(data), "--out", out]) == 2
    assert "not a HubertModel folder" in capsys.readouterr().err
    assert main(["--encoder", str(encoder), "--data", str(tmp_path / "none"), "--out", out]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert not Path(out).exists()
