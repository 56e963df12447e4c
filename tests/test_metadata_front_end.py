"""The metadata's ``front_end`` field: additive, defaulted for older metadata, validated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_ser import Classifier
from edge_ser.errors import ModelMetadataError
from edge_ser.metadata import METADATA_FILENAME, ModelMetadata, PreprocessingConfig

LABELS = ["anger", "happiness", "neutral", "sadness"]


def test_metadata_without_front_end_is_a_waveform_model() -> None:
    md = ModelMetadata.from_dict({"labels": LABELS})
    assert md.front_end == "waveform"
    # Older metadata writes back unchanged: the default is left out.
    assert "front_end" not in md.to_dict()
    assert ModelMetadata.from_json(md.to_json()) == md


def test_a_log_mel_front_end_round_trips() -> None:
    md = ModelMetadata(
        labels=tuple(LABELS),
        front_end="log_mel",
        preprocessing=PreprocessingConfig(pre_emphasis=0.0),
    )
    data = json.loads(md.to_json())
    assert data["front_end"] == "log_mel" and data["preprocessing"]["pre_emphasis"] == 0.0
    assert ModelMetadata.from_dict(data) == md


@pytest.mark.parametrize("value", ["mfcc", "", 3, None])
def test_an_unknown_front_end_is_a_clear_error(value: object) -> None:
    with pytest.raises(ModelMetadataError, match="front_end must be one of") as info:
        ModelMetadata.from_dict({"labels": LABELS, "front_end": value})
    assert "\n" not in str(info.value)


def test_existing_exports_keep_loading(tiny_model_dir: Path) -> None:
    """A model exported before the field existed (the tiny HuBERT export writes none)."""
    raw = json.loads((tiny_model_dir / METADATA_FILENAME).read_text())
    assert "front_end" not in raw
    assert Classifier(tiny_model_dir).metadata.front_end == "waveform"
