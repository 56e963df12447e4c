"""Load an exported model with its metadata, and score windows with it.

A model is given as a folder (``model.onnx`` is preferred, else ``model.ort``), as a single
``.onnx`` / ``.ort`` file, or not at all (the bundled default in ``edge_ser.assets``). Its
metadata is read from the ``edge_ser`` entry embedded in the file, else from an
``edge_ser.json`` beside it, and is checked against the graph before anything runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from .errors import ModelError, ModelMetadataError, ModelNotFoundError
from .metadata import METADATA_FILENAME, METADATA_KEY, ModelMetadata
from .options import SessionOptions
from .preprocess import preprocess
from .session import build_session

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["ASSETS_PACKAGE", "BUNDLED_MODEL_NAMES", "MODEL_FILENAMES", "Model", "load_model"]

logger = logging.getLogger("edge_ser.model")

MODEL_FILENAMES = ("model.onnx", "model.ort")
BUNDLED_MODEL_NAMES = ("default.onnx", "default.ort")
ASSETS_PACKAGE = "edge_ser.assets"


@dataclass(frozen=True)
class Model:
    """A loaded model: an ONNX Runtime session and the metadata that describes it.

    Immutable and safe to share between threads (``InferenceSession.run`` is thread-safe).
    """

    session: ort.InferenceSession
    metadata: ModelMetadata
    source: str
    max_batch: int | None = None

    def score(
        self, windows: Sequence[npt.NDArray[np.float32]], batch_size: int
    ) -> npt.NDArray[np.float64]:
        """Class probabilities (float64, rows sum to 1) for each mono window at model rate.

        Each window is preprocessed as in training (unless the graph does it: ``raw_pcm``),
        then zero-padded at the end to ``min_input_samples`` if shorter, because the conv
        front end rejects shorter inputs. Only windows of equal length share a batch: the
        first group norm spans the whole input, so padding would change the result.
        """
        inputs = [self.prepare_input(w) for w in windows]
        limit = min(batch_size, self.max_batch) if self.max_batch else batch_size
        out = np.zeros((len(inputs), len(self.metadata.labels)), dtype=np.float64)
        by_length: dict[int, list[int]] = {}
        for i, x in enumerate(inputs):
            by_length.setdefault(x.shape[0], []).append(i)
        for indices in by_length.values():
            for b in range(0, len(indices), limit):
                batch = indices[b : b + limit]
                out[batch] = self._run(np.stack([inputs[i] for i in batch]))
        return out

    def prepare_input(self, window: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The model input for one window: preprocessed (unless ``raw_pcm``), padded."""
        md = self.metadata
        x = window if md.input_kind == "raw_pcm" else preprocess(window, md.preprocessing)
        if x.shape[0] < md.min_input_samples:
            x = np.pad(x, (0, md.min_input_samples - x.shape[0]))
        return np.ascontiguousarray(x, dtype=np.float32)

    def _run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        md = self.metadata
        try:
            (probs,) = self.session.run([md.output_name], {md.input_name: batch})
        except Exception as exc:  # onnxruntime's own exception types
            raise ModelError(f"inference failed on {self.source}: {str(exc).strip()}") from exc
        p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, None)
        total = p.sum(axis=1, keepdims=True)
        if p.shape != (batch.shape[0], len(md.labels)) or not np.all(
            np.isfinite(total) & (total > 0)
        ):
            raise ModelError(
                f"{self.source} returned invalid probabilities (shape {p.shape}, "
                f"row sums {total.ravel().tolist()})"
            )
        # Renormalise: a quantised softmax can be off by a few ulps.
        return np.asarray(p / total, dtype=np.float64)


def load_model(model: str | Path | None = None, options: SessionOptions | None = None) -> Model:
    """Load a model folder or file, or the bundled default when ``model`` is ``None``.

    Raises:
        ModelNotFoundError: the path does not exist, the folder holds no model, or no model
            was given and none is bundled.
        ModelLoadError: the file is corrupt, truncated or not a model.
        ModelMetadataError: the metadata is missing, invalid or disagrees with the graph.
    """
    options = options or SessionOptions()
    if model is None:
        return _load_bundled(options)
    path = Path(model)
    if not path.exists():
        raise ModelNotFoundError(f"model not found: {path}")
    file = _model_in_folder(path) if path.is_dir() else path
    session = build_session(file, options)
    metadata = _read_metadata(session, file.parent / METADATA_FILENAME, str(file))
    return _checked(session, metadata, str(file))


def _model_in_folder(folder: Path) -> Path:
    for name in MODEL_FILENAMES:
        if (folder / name).is_file():
            return folder / name
    raise ModelNotFoundError(
        f"{folder} holds no {' or '.join(MODEL_FILENAMES)}; pass a folder written by "
        "`edge-ser export` or a model file"
    )


def _load_bundled(options: SessionOptions) -> Model:
    assets = resources.files(ASSETS_PACKAGE)
    for name in BUNDLED_MODEL_NAMES:
        resource = assets.joinpath(name)
        if resource.is_file():
            with resources.as_file(resource) as file:
                session = build_session(Path(file), options)
            sidecar = assets.joinpath(METADATA_FILENAME)
            metadata = _read_metadata(session, sidecar, f"{ASSETS_PACKAGE}/{name}")
            return _checked(session, metadata, f"{ASSETS_PACKAGE}/{name}")
    raise ModelNotFoundError(
        "no model given and no bundled default model is installed: pass --model DIR "
        "(or Classifier(model=DIR)) with a folder made by "
        "`edge-ser export CHECKPOINT DIR` from a fine-tuned checkpoint"
    )


def _read_metadata(
    session: ort.InferenceSession, sidecar: Path | Traversable, source: str
) -> ModelMetadata:
    embedded = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if embedded:
        return ModelMetadata.from_json(embedded, source=f"{source} (embedded metadata)")
    if sidecar.is_file():
        return ModelMetadata.from_json(sidecar.read_text(encoding="utf-8"), source=str(sidecar))
    raise ModelMetadataError(
        f"{source} has no embedded '{METADATA_KEY}' metadata and no {METADATA_FILENAME} "
        "beside it; export models with `edge-ser export`"
    )


def _checked(session: ort.InferenceSession, md: ModelMetadata, source: str) -> Model:
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    if md.input_name not in inputs:
        raise ModelMetadataError(
            f"{source}: metadata input_name {md.input_name!r} is not a graph input "
            f"(graph inputs: {', '.join(inputs)})"
        )
    if md.output_name not in outputs:
        raise ModelMetadataError(
            f"{source}: metadata output_name {md.output_name!r} is not a graph output "
            f"(graph outputs: {', '.join(outputs)})"
        )
    in_shape = list(inputs[md.input_name].shape)
    out_shape = list(outputs[md.output_name].shape)
    if len(in_shape) != 2 or len(out_shape) != 2:
        raise ModelMetadataError(
            f"{source}: expected input [batch, samples] and output [batch, labels], "
            f"got {in_shape} and {out_shape}"
        )
    if isinstance(out_shape[1], int) and out_shape[1] != len(md.labels):
        raise ModelMetadataError(
            f"{source}: metadata lists {len(md.labels)} labels {list(md.labels)} but the "
            f"graph outputs {out_shape[1]} classes"
        )
    if md.logits_name is not None and md.logits_name not in outputs:
        logger.warning("%s: metadata logits_name %r is not a graph output", source, md.logits_name)
    max_batch = in_shape[0] if isinstance(in_shape[0], int) and in_shape[0] > 0 else None
    return Model(session=session, metadata=md, source=source, max_batch=max_batch)
