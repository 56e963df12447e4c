"""Load an exported model with its metadata, and score windows with it.

A model is given as a folder (``model.onnx`` is preferred, else ``model.ort``), as a single
``.onnx`` / ``.ort`` file, by the name of a bundled model (:data:`BUNDLED_MODELS`: ``default``,
``whisper-base``; a path that exists wins over a name), or not at all (the bundled default in
``edge_ser.assets``). Its
metadata is read from the ``edge_ser`` entry embedded in the file, else from an
``edge_ser.json`` beside it, and is checked against the graph before anything runs: names,
shapes and types statically, then one run on a silent input of ``min_input_samples``
samples, so a model that disagrees with its metadata fails at load with
:class:`ModelMetadataError` rather than on every file.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from .errors import (
    ModelError,
    ModelLoadError,
    ModelMetadataError,
    ModelNotFoundError,
    OptionsError,
)
from .metadata import METADATA_FILENAME, METADATA_KEY, ModelMetadata
from .options import SessionOptions, coerce
from .paths import display_name, file_kind, os_reason, stat_path
from .preprocess import preprocess, trim_bounds
from .session import build_session

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = [
    "ASSETS_PACKAGE",
    "BUNDLED_MODELS",
    "BUNDLED_MODEL_NAMES",
    "MODEL_FILENAMES",
    "Model",
    "bundled_model_file",
    "load_model",
]

logger = logging.getLogger("edge_ser.model")

MODEL_FILENAMES = ("model.onnx", "model.ort")
# The models that ship inside the package, by name: the files tried, in order. Each has its
# card beside it (MODEL_CARD.md for the default, MODEL_CARD_<name>.md for the others).
BUNDLED_MODELS: dict[str, tuple[str, ...]] = {
    "default": ("default.onnx", "default.ort"),
    "whisper-base": ("whisper-base.onnx", "whisper-base.ort"),
}
BUNDLED_MODEL_NAMES = BUNDLED_MODELS["default"]
ASSETS_PACKAGE = "edge_ser.assets"
MAX_MODEL_BYTES = 2 * 1024**3  # protobuf's limit for one ONNX file


@dataclass(frozen=True)
class Model:
    """A loaded model: an ONNX Runtime session and the metadata that describes it.

    Immutable and safe to share between threads (``InferenceSession.run`` is thread-safe).
    """

    session: ort.InferenceSession
    metadata: ModelMetadata
    source: str
    max_batch: int | None = None
    # False for a raw-PCM graph that does not zero-pad after its in-graph silence trim: it
    # then rejects windows that trimming leaves shorter than min_input_samples.
    pads_trimmed_input: bool = True

    def score(
        self, windows: Sequence[npt.NDArray[np.float32]], batch_size: int, workers: int = 1
    ) -> npt.NDArray[np.float64]:
        """Class probabilities (float64, rows sum to 1) for each mono window at model rate.

        Each window is preprocessed as in training (unless the graph does it: ``raw_pcm``),
        then zero-padded at the end to ``min_input_samples`` if shorter, because the conv
        front end rejects shorter inputs. Only windows of equal length share a batch: the
        first group norm of a ``waveform`` front end, and the dynamic-range floor and the
        mean over frames of a ``log_mel`` (Whisper) one, span the whole input, so padding
        would change the result.

        With ``workers`` > 1, up to that many batches run at once, each on its own thread
        (``InferenceSession.run`` is thread-safe); the results are the same.
        """
        inputs = [self.prepare_input(w) for w in windows]
        limit = min(batch_size, self.max_batch) if self.max_batch else batch_size
        out = np.zeros((len(inputs), len(self.metadata.labels)), dtype=np.float64)
        by_length: dict[int, list[int]] = {}
        for i, x in enumerate(inputs):
            by_length.setdefault(x.shape[0], []).append(i)
        batches = [
            indices[b : b + limit]
            for indices in by_length.values()
            for b in range(0, len(indices), limit)
        ]

        def run(batch: list[int]) -> npt.NDArray[np.float64]:
            return self._run(np.stack([inputs[i] for i in batch]))

        if workers > 1 and len(batches) > 1:
            pool = ThreadPoolExecutor(min(workers, len(batches)), thread_name_prefix="edge_ser")
            try:
                for batch, probs in zip(batches, pool.map(run, batches), strict=True):
                    out[batch] = probs
            finally:  # a failure or Ctrl-C drops the windows not started yet
                pool.shutdown(wait=True, cancel_futures=True)
        else:
            for batch in batches:
                out[batch] = run(batch)
        return out

    def accepts(self, window: npt.NDArray[np.float32]) -> bool:
        """Whether the graph can score this window (the stream skips the others).

        A window needs ``min_input_samples`` samples; for a raw-PCM graph without in-graph
        padding, also after the silence trim that the graph applies.
        """
        md = self.metadata
        if window.shape[0] < md.min_input_samples:
            return False
        if md.input_kind != "raw_pcm" or self.pads_trimmed_input:
            return True
        pre = md.preprocessing
        start, end = trim_bounds(window, pre.trim_top_db, pre.trim_frame_length)
        return end - start >= md.min_input_samples

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
            (probs,) = self.session.run([md.output_name], {md.input_name: batch}, _quiet())
        except Exception as exc:  # onnxruntime's own exception types
            raise ModelError(f"inference failed on {self.source}: {_one_line(exc)}") from exc
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


def _one_line(exc: BaseException) -> str:
    # ONNX Runtime's messages can span lines (shapes); errors are reported one per line.
    return " ".join(str(exc).split())


def _quiet() -> ort.RunOptions:
    # The library reports a failed run itself (one line); ONNX Runtime would also log it.
    run_options = ort.RunOptions()
    run_options.log_severity_level = 4
    return run_options


def load_model(
    model: str | os.PathLike[str] | None = None,
    options: SessionOptions | Mapping[str, Any] | None = None,
) -> Model:
    """Load a model folder or file, or the bundled default when ``model`` is ``None``.

    Raises:
        ModelNotFoundError: the path does not exist, the folder holds no model, or no model
            was given and none is bundled.
        ModelLoadError: the file is corrupt, truncated or not a model.
        ModelMetadataError: the metadata is missing, invalid or disagrees with the graph.
    """
    options = coerce(SessionOptions, options, "SessionOptions")
    if model is None:
        return _load_bundled("default", options)
    if not isinstance(model, (str, os.PathLike)):
        raise OptionsError(
            f"model must be a path (str or os.PathLike) or None, got {model!r} "
            f"({type(model).__name__})"
        )
    path = Path(model)
    info = _stat(path, "model")
    if info is None and str(model) in BUNDLED_MODELS:
        return _load_bundled(str(model), options)
    if info is None:
        names = ", ".join(BUNDLED_MODELS)
        raise ModelNotFoundError(
            f"model not found: {display_name(path)} (bundled models by name: {names})"
        )
    file = _model_in_folder(path) if stat.S_ISDIR(info.st_mode) else path
    _check_model_file(file)
    session = build_session(file, options)
    metadata = _read_metadata(session, file.parent / METADATA_FILENAME, display_name(file))
    return _checked(session, metadata, display_name(file))


def _stat(path: Path, what: str) -> os.stat_result | None:
    try:
        return stat_path(path)
    except OSError as exc:
        raise ModelLoadError(f"cannot open {what} {display_name(path)}: {os_reason(exc)}") from exc


def _check_model_file(file: Path) -> None:
    """A model must be a regular file of sane size: a FIFO would block ONNX Runtime forever,
    a device such as /dev/zero never ends."""
    info = _stat(file, "model")
    if info is None:
        raise ModelNotFoundError(f"model not found: {display_name(file)}")
    if not stat.S_ISREG(info.st_mode):
        raise ModelLoadError(
            f"{display_name(file)} is {file_kind(info.st_mode)}, not a model file; "
            "pass a model folder or an .onnx/.ort file"
        )
    if info.st_size > MAX_MODEL_BYTES:
        raise ModelLoadError(
            f"{display_name(file)} is {info.st_size} bytes; accepted: at most {MAX_MODEL_BYTES} "
            "(a single-file ONNX model is limited to 2 GiB)"
        )
    if not os.access(file, os.R_OK):
        raise ModelLoadError(f"cannot open model {display_name(file)}: Permission denied")


def _model_in_folder(folder: Path) -> Path:
    for name in MODEL_FILENAMES:
        info = _stat(folder / name, "model")
        if info is not None and not stat.S_ISDIR(info.st_mode):
            return folder / name
    raise ModelNotFoundError(
        f"{display_name(folder)} holds no {' or '.join(MODEL_FILENAMES)}; pass a folder "
        "written by `edge-ser export` or a model file"
    )


def bundled_model_file(name: str = "default") -> tuple[Traversable, str] | None:
    """The packaged file of the bundled model ``name`` and its display name, or ``None`` when
    this copy of edge-ser does not hold it."""
    assets = resources.files(ASSETS_PACKAGE)
    # read at call time (tests stand in another name list)
    names = BUNDLED_MODEL_NAMES if name == "default" else BUNDLED_MODELS[name]
    for filename in names:
        resource = assets.joinpath(filename)
        if resource.is_file():
            return resource, f"{ASSETS_PACKAGE}/{filename}"
    return None


def _load_bundled(bundled: str, options: SessionOptions) -> Model:
    found = bundled_model_file(bundled)
    if found is not None:
        resource, source = found
        with resources.as_file(resource) as file:
            session = build_session(Path(file), options)
        sidecar = resources.files(ASSETS_PACKAGE).joinpath(METADATA_FILENAME)
        metadata = _read_metadata(session, sidecar, source)
        return _checked(session, metadata, source)
    if bundled != "default":
        raise ModelNotFoundError(
            f"the bundled model {bundled!r} is not installed in this copy of edge-ser; pass "
            "--model DIR with a folder made by `edge-ser export`"
        )
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
    if isinstance(sidecar, Path):
        if _stat(sidecar, "metadata") is not None:
            return ModelMetadata.read(sidecar)
    elif sidecar.is_file():
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
    in_type = inputs[md.input_name].type
    if in_type != "tensor(float)":
        raise ModelMetadataError(
            f"{source}: input {md.input_name!r} is {in_type}; accepted: tensor(float) "
            "(float32 audio samples)"
        )
    if isinstance(out_shape[1], int) and out_shape[1] != len(md.labels):
        raise ModelMetadataError(
            f"{source}: metadata lists {len(md.labels)} labels {list(md.labels)} but the "
            f"graph outputs {out_shape[1]} classes"
        )
    if md.logits_name is not None and md.logits_name not in outputs:
        logger.warning("%s: metadata logits_name %r is not a graph output", source, md.logits_name)
    max_batch = in_shape[0] if isinstance(in_shape[0], int) and in_shape[0] > 0 else None
    pre = md.preprocessing
    # Both front ends take PCM: the metadata's preprocessing is all the runtime applies.
    logger.debug(
        "%s: %s front end, %s input; preprocessing: trim %s dB, pre-emphasis %s, peak %s",
        source,
        md.front_end,
        md.input_kind,
        pre.trim_top_db,
        pre.pre_emphasis,
        pre.peak if pre.peak_normalize else "off",
    )
    model = Model(session=session, metadata=md, source=source, max_batch=max_batch)
    return _probed(model)


def _probed(model: Model) -> Model:
    """Run the graph once on silence of ``min_input_samples``, the shortest input the metadata
    promises, so a disagreement surfaces now; for raw-PCM graphs, also learn whether they
    pad after trimming."""
    md = model.metadata
    try:
        model._run(np.zeros((1, md.min_input_samples), dtype=np.float32))
    except ModelError as exc:
        raise ModelMetadataError(
            f"{model.source}: the graph fails on an input of min_input_samples="
            f"{md.min_input_samples} samples, the shortest its metadata accepts: {exc}"
        ) from exc
    pre = md.preprocessing
    if md.input_kind != "raw_pcm" or pre.trim_top_db <= 0:
        return model
    # Silence then one loud sample: the in-graph trim leaves a single sample.
    frames = -(-md.min_input_samples // pre.trim_frame_length)
    probe = np.zeros((1, frames * pre.trim_frame_length + 1), dtype=np.float32)
    probe[0, -1] = 0.5
    try:
        model._run(probe)
    except ModelError:
        logger.warning(
            "%s: this raw-PCM graph does not pad after its silence trim; windows that the "
            "trim leaves shorter than %d samples are skipped (re-export to fix)",
            model.source,
            md.min_input_samples,
        )
        return dataclasses.replace(model, pads_trimmed_input=False)
    return model
