"""``export_model``: a checkpoint in, a model folder out.

The pipeline (each step a path-in, path-out function in its own module):

1. load and validate the checkpoint (:mod:`.checkpoint`);
2. export the fp32 graph (:mod:`.onnx_export`; Whisper: :mod:`.whisper`, log-mel in-graph)
   and check it against torch on speech windows (:mod:`.parity`; Whisper: transformers'
   ``WhisperFeatureExtractor`` + model, and the in-graph log-mel against the extractor;
   :class:`~edge_ser.errors.ParityError` above ``tolerance``);
3. quantise (:mod:`.quantize`): ``dynamic``, ``static`` (calibrated) or ``none``;
4. optimise offline with ONNX Runtime (:mod:`.optimize`);
5. build the raw-PCM variant (:mod:`.preprocess_graph`) and check it against numpy
   preprocessing + the model;
6. embed the metadata, write ``edge_ser.json``, the ORT-format files and the report.

Everything is built in a temporary folder and moved into ``out_dir`` at the end, so a
failed export leaves no half-written model behind.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from edge_ser.errors import ExportError
from edge_ser.metadata import METADATA_FILENAME, ModelMetadata, PreprocessingConfig

from ._toolchain import require_toolchain
from .report import REPORT_FILENAME, ExportReport

if TYPE_CHECKING:
    from .checkpoint import LoadedCheckpoint
    from .parity import ParityResult
    from .speech import SpeechWindows

__all__ = [
    "ARTIFACT_NAMES",
    "DEFAULT_MAX_CALIBRATION_WINDOWS",
    "DEFAULT_MAX_PARITY_WINDOWS",
    "ExportReport",
    "ProgressCallback",
    "export_model",
    "resolve_quantize_mode",
]

logger = logging.getLogger("edge_ser.export")

MODEL_FILENAME = "model.onnx"
RAW_MODEL_FILENAME = "model_raw.onnx"
ENCODED_MODEL_FILENAME = "model_encoded.onnx"
ARTIFACT_NAMES = (
    MODEL_FILENAME,
    RAW_MODEL_FILENAME,
    ENCODED_MODEL_FILENAME,
    "model.ort",
    "model_raw.ort",
    "model.required_operators.config",
    "model_raw.required_operators.config",
    METADATA_FILENAME,
    REPORT_FILENAME,
)
DEFAULT_MAX_CALIBRATION_WINDOWS = 16
DEFAULT_MAX_PARITY_WINDOWS = 16
LATENCY_RUNS = 5
LATENCY_THREADS = 2
SAMPLE_RATE = 16000

ProgressCallback = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: stages are ``load``, ``export``, ``calibrate`` (per
window), ``quantize``, ``optimize``, ``parity``, ``ort`` and ``done``."""

FloatArray = npt.NDArray[np.float32]


def resolve_quantize_mode(quantize: str | None, calibration: str | Path | None) -> str:
    """The quantisation mode to use: ``None`` means static with calibration audio, else dynamic."""
    from .quantize import QUANTIZE_MODES

    if quantize is None:
        return "static" if calibration is not None else "dynamic"
    if quantize not in QUANTIZE_MODES:
        raise ExportError(f"quantize must be one of {list(QUANTIZE_MODES)}, got {quantize!r}")
    if quantize == "static" and calibration is None:
        raise ExportError(
            "static quantisation needs calibration audio: pass a folder of speech recordings "
            "(calibration=..., or --calibration AUDIO_DIR), or use quantize='dynamic'"
        )
    return quantize


def export_model(
    checkpoint: str | Path,
    out_dir: str | Path,
    *,
    quantize: str | None = None,
    calibration: str | Path | None = None,
    ort: bool = False,
    raw_variant: bool = True,
    encoded_variant: bool = False,
    parity_audio: str | Path | None = None,
    tolerance: float | None = None,
    max_calibration_windows: int = DEFAULT_MAX_CALIBRATION_WINDOWS,
    max_parity_windows: int = DEFAULT_MAX_PARITY_WINDOWS,
    progress: ProgressCallback | None = None,
    fp32_conv_layers: int = 1,
    calibration_method: str = "percentile",
    keep_fp32: Sequence[str] = (),
    quantize_attention: bool = False,
) -> ExportReport:
    """Export a fine-tuned checkpoint to a model folder the runtime loads.

    Args:
        checkpoint: a ``save_pretrained`` folder or hub id of a HuBERT/DistilHuBERT, wav2vec2
            or WavLM ``*ForSequenceClassification`` model or a Whisper
            ``WhisperForAudioClassification`` (or an ``edge-ser train`` output).
        out_dir: the model folder to write (created if missing; earlier artifacts replaced).
        quantize: ``"static"`` (QDQ int8 calibrated on ``calibration``), ``"dynamic"``
            (int8 weights), ``"none"`` (fp32), or ``None``: static when ``calibration`` is
            given, else dynamic.
        calibration: a folder (or file) of speech recordings for static calibration; files
            held out from calibration are used for the parity checks.
        ort: also write ``.ort`` files and the required-operators config for ONNX Runtime
            Mobile.
        raw_variant: also write ``model_raw.onnx``, which takes raw 16 kHz PCM.
        encoded_variant: also write ``model_encoded.onnx``, which takes a whole encoded
            audio file (WAV/FLAC/MP3 bytes) and needs onnxruntime-extensions to run (see
            :mod:`edge_ser_export.encoded_graph`); implies the raw variant's graph.
        parity_audio: speech used for the parity checks (default: held-out calibration
            files, else synthetic speech-like audio; the report says which).
        tolerance: the largest accepted probability difference between torch and the fp32
            graph (default :data:`~edge_ser_export.parity.DEFAULT_TOLERANCE`).
        max_calibration_windows: calibration windows to use at most: the calibration speech,
            preprocessed and joined, cut into windows of ``max_window_s`` (8 s).
        max_parity_windows: parity windows to use at most.
        progress: called as ``progress(stage, done, total)``.
        fp32_conv_layers: static int8 only: leading conv feature-encoder layers kept in
            fp32 (default 1, the waveform conv). More agree better with fp32 when the
            model's class scores are close together, at a cost in speed and size. For
            Whisper (static and dynamic) the log-mel front end is always fp32 and this
            counts the encoder's two convs (default 1: ``conv1``, which reads the log-mel).
        calibration_method: static int8: ``percentile`` (99.999%, the default), ``minmax``
            or ``entropy``.
        keep_fp32: Conv, MatMul and Gemm nodes whose names contain one of these strings stay
            fp32 (static and dynamic), e.g. ``fc2`` for a Whisper or HuBERT FFN's output
            projection, whose input comes from the GELU.
        quantize_attention: static int8: also quantise the MatMuls between two activations
            (the attention scores and context, as ``QLinearMatMul``); off by default.

    Raises:
        ToolchainMissingError: torch, transformers, onnx or onnxruntime is missing.
        ExportError: the checkpoint is unusable or a step fails.
        ParityError: the fp32 graph disagrees with torch beyond ``tolerance``.
    """
    require_toolchain()
    mode = resolve_quantize_mode(quantize, calibration)
    if fp32_conv_layers < 0:
        raise ExportError(f"fp32_conv_layers must be >= 0, got {fp32_conv_layers}")
    from .quantize import CALIBRATION_METHODS

    if calibration_method not in CALIBRATION_METHODS:
        raise ExportError(
            f"calibration_method must be one of {', '.join(CALIBRATION_METHODS)}, "
            f"got {calibration_method!r}"
        )
    if any(not str(k).strip() for k in keep_fp32):
        raise ExportError("keep_fp32 entries must be non-empty node-name parts")
    if max_calibration_windows < 1 or max_parity_windows < 1:
        raise ExportError(
            "max_calibration_windows and max_parity_windows must be >= 1, got "
            f"{max_calibration_windows} and {max_parity_windows}"
        )
    from .parity import DEFAULT_TOLERANCE

    tol = DEFAULT_TOLERANCE if tolerance is None else float(tolerance)
    if not tol > 0:
        raise ExportError(f"tolerance must be > 0, got {tolerance!r}")
    if encoded_variant:
        from .encoded_graph import extensions_library

        extensions_library()  # fail before the long work if the extensions are missing
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ExportError(f"output path {out} exists and is not a folder")

    job = _Export(
        mode=mode,
        tolerance=tol,
        progress=progress or (lambda stage, done, total: None),
        max_calibration_windows=max_calibration_windows,
        fp32_conv_layers=fp32_conv_layers,
        calibration_method=calibration_method,
        keep_fp32=tuple(str(k) for k in keep_fp32),
        quantize_attention=quantize_attention,
    )
    with tempfile.TemporaryDirectory(prefix="edge_ser_export_") as tmp:
        return job.run(
            checkpoint,
            out,
            Path(tmp),
            calibration=calibration,
            parity_audio=parity_audio,
            ort=ort,
            raw_variant=raw_variant,
            encoded_variant=encoded_variant,
            max_calibration_windows=max_calibration_windows,
            max_parity_windows=max_parity_windows,
        )


@dataclasses.dataclass
class _Export:
    mode: str
    tolerance: float
    progress: ProgressCallback
    max_calibration_windows: int = DEFAULT_MAX_CALIBRATION_WINDOWS
    fp32_conv_layers: int = 1
    calibration_method: str = "percentile"
    keep_fp32: tuple[str, ...] = ()
    quantize_attention: bool = False
    calibration_info: dict[str, Any] = dataclasses.field(default_factory=dict)
    front_end_parity: dict[str, Any] = dataclasses.field(default_factory=dict)

    def run(
        self,
        checkpoint: str | Path,
        out: Path,
        tmp: Path,
        *,
        calibration: str | Path | None,
        parity_audio: str | Path | None,
        ort: bool,
        raw_variant: bool,
        encoded_variant: bool,
        max_calibration_windows: int,
        max_parity_windows: int,
    ) -> ExportReport:
        from .checkpoint import load_checkpoint
        from .metadata_io import build_metadata, embed_metadata
        from .onnx_export import INPUT_NAME, export_onnx
        from .optimize import optimize_model
        from .parity import (
            check_parity,
            compare,
            full_window_latency,
            onnx_probabilities,
            open_session,
            torch_probabilities,
        )
        from .speech import model_input, select_windows

        self.progress("load", 0, 1)
        ckpt = load_checkpoint(checkpoint)
        self.progress("load", 1, 1)
        cal, par = select_windows(
            calibration,
            parity_audio,
            calibrate=self.mode == "static",
            max_calibration_windows=max_calibration_windows,
            max_parity_windows=max_parity_windows,
            max_window_s=ckpt.max_window_s,
            min_samples=ckpt.min_input_samples,
            sample_rate=SAMPLE_RATE,
        )
        pre_cfg = ckpt.preprocessing
        par_pre = [model_input(w, pre_cfg, ckpt.min_input_samples) for w in par.windows]

        self.progress("export", 0, 1)
        fp32 = export_onnx(ckpt.model, tmp / "fp32.onnx", wrapper=_wrapper(ckpt))
        fp32_opt = optimize_model(fp32, tmp / "fp32_opt.onnx")
        self.progress("export", 1, 1)

        self.progress("parity", 0, 1)
        fp32_session = open_session(fp32_opt, LATENCY_THREADS)
        fp32_probs = onnx_probabilities(fp32_session, par_pre, INPUT_NAME)
        if ckpt.front_end == "log_mel":
            from .whisper import check_front_end, reference_probabilities

            self.front_end_parity = check_front_end(fp32, ckpt.feature_extractor, par_pre)
            reference = reference_probabilities(ckpt.model, ckpt.feature_extractor, par_pre)
            names = ("transformers WhisperFeatureExtractor + model", "onnx fp32")
        else:
            reference = torch_probabilities(ckpt.model, par_pre)
            names = ("torch fp32", "onnx fp32")
        parity = {
            "torch_vs_onnx_fp32": check_parity(
                compare(reference, fp32_probs, names), self.tolerance
            )
        }

        graph = fp32 if self.mode == "none" else self._quantize(fp32, tmp, cal, pre_cfg, ckpt)
        self.progress("optimize", 0, 1)
        model_tmp = fp32_opt if self.mode == "none" else optimize_model(graph, tmp / "model_q.onnx")
        self.progress("optimize", 1, 1)
        session = fp32_session if self.mode == "none" else open_session(model_tmp)
        probs = fp32_probs
        if self.mode != "none":
            probs = onnx_probabilities(session, par_pre, INPUT_NAME)
            parity["quantized_vs_fp32"] = quant = compare(
                fp32_probs, probs, ("onnx fp32", f"onnx {self.mode} int8")
            )
            if quant.top1_agreement < 0.99:
                hint = (
                    "measured on synthetic audio, which says little: pass real speech with "
                    "--parity-audio or --calibration"
                    if par.source == "synthetic"
                    else "int8 flips labels where fp32 is near a tie; try --fp32-conv-layers 3 "
                    "(see the README)"
                )
                logger.warning(
                    "%s int8 agrees with fp32 on the top label of %.1f%% of %d %s windows "
                    "(target: 99%%); %s",
                    self.mode,
                    100 * quant.top1_agreement,
                    quant.windows,
                    par.source,
                    hint,
                )

        raw_tmp: Path | None = None
        if raw_variant or encoded_variant:
            raw_tmp = self._raw_variant(graph, tmp, ckpt)
            raw_session = open_session(raw_tmp)
            raw_probs = onnx_probabilities(raw_session, list(par.windows), "waveform")
            # Same classifier, preprocessing moved into the graph: differences come from
            # float rounding only, so hold it to the fp32 tolerance.
            parity["raw_vs_model"] = check_parity(
                compare(probs, raw_probs, ("numpy preprocess + model.onnx", "model_raw.onnx")),
                self.tolerance,
            )
        self.progress("parity", 1, 1)

        timed = {"fp32": fp32_session}
        if self.mode != "none":
            timed[self.mode] = session
        latency = full_window_latency(
            timed,
            par.windows,
            pre_cfg,
            min_samples=ckpt.min_input_samples,
            window_s=ckpt.max_window_s,
            input_name=INPUT_NAME,
            sample_rate=SAMPLE_RATE,
            runs=LATENCY_RUNS,
        )
        sizes_before_metadata = {
            MODEL_FILENAME: model_tmp.stat().st_size,
            "fp32 (reference)": fp32_opt.stat().st_size,
        }
        if raw_tmp is not None:
            sizes_before_metadata[RAW_MODEL_FILENAME] = raw_tmp.stat().st_size
        audio = {"parity": par.describe()}
        if self.calibration_info:
            audio["calibration"] = dict(self.calibration_info)

        metadata = build_metadata(
            ckpt,
            self.mode,
            parity,
            par,
            sizes_before_metadata,
            latency,
            input_name=INPUT_NAME,
            sample_rate=SAMPLE_RATE,
            front_end_parity=self.front_end_parity,
        )

        stage = tmp / "out"
        stage.mkdir()
        model_path = stage / MODEL_FILENAME
        shutil.copyfile(model_tmp, model_path)
        embed_metadata(model_path, metadata)
        metadata.write(stage / METADATA_FILENAME)
        raw_path: Path | None = None
        if raw_tmp is not None:
            raw_path = stage / RAW_MODEL_FILENAME
            shutil.copyfile(raw_tmp, raw_path)
            raw_meta = dataclasses.replace(metadata, input_kind="raw_pcm", input_name="waveform")
            embed_metadata(raw_path, raw_meta)
            if encoded_variant:
                self._encoded(raw_tmp, stage, raw_meta, list(par.windows), parity)
            if not raw_variant:
                raw_path.unlink()
                raw_path = None
        if ort:
            self._ort(model_path, raw_path, par_pre, list(par.windows), parity)

        report = self._finish(stage, out, metadata, parity, latency, audio)
        self.progress("done", 1, 1)
        return report

    def _quantize(
        self,
        fp32: Path,
        tmp: Path,
        cal: SpeechWindows | None,
        pre_cfg: PreprocessingConfig,
        ckpt: LoadedCheckpoint,
    ) -> Path:
        import onnx

        from .onnx_export import INPUT_NAME
        from .quantize import (
            WindowCalibrationReader,
            front_end_nodes,
            leading_conv_nodes,
            named_nodes,
            prepare_for_quantization,
            quantize_dynamic_model,
            quantize_static_model,
        )
        from .speech import fixed_length_windows, model_input

        self.progress("quantize", 0, 1)
        prepared = prepare_for_quantization(fp32, tmp / "prepared.onnx")
        out = tmp / f"{self.mode}.onnx"
        keep: list[str] = []
        fp32_convs = self.fp32_conv_layers
        model = onnx.load(str(prepared)) if ckpt.front_end == "log_mel" or self.keep_fp32 else None
        if model is not None and ckpt.front_end == "log_mel":
            # The whole log-mel (its DFT conv is the first Conv) and the leading encoder convs.
            keep = front_end_nodes(model) + leading_conv_nodes(model, 1 + fp32_convs)
            fp32_convs = 0
        if model is not None and self.keep_fp32:
            named = named_nodes(model, self.keep_fp32)
            if not named:
                raise ExportError(
                    f"--keep-fp32 {' '.join(self.keep_fp32)}: no Conv, MatMul or Gemm node "
                    "has such a name"
                )
            keep += named
        if self.mode == "dynamic":
            quantize_dynamic_model(prepared, out, extra_exclude=keep)
        else:
            if cal is None:  # resolve_quantize_mode guarantees calibration audio for static
                raise ExportError("static quantisation needs calibration audio")
            # Equal-length windows of preprocessed speech: what the histogram calibrator
            # needs, and the longest input the runtime feeds.
            windows = fixed_length_windows(
                [model_input(w, pre_cfg, ckpt.min_input_samples) for w in cal.windows],
                round(ckpt.max_window_s * SAMPLE_RATE),
                self.max_calibration_windows,
            )
            if len(windows) < self.max_calibration_windows:
                found = cal.describe()
                logger.warning(
                    "calibration: %d of the %d windows asked for (%.1f s each): the "
                    "calibration audio held %.1f s of speech in %s file(s) (others are kept "
                    "for the parity checks); static int8 is calibrated on that alone: give "
                    "more speech (longer or more recordings), or --quantize dynamic",
                    len(windows),
                    self.max_calibration_windows,
                    windows[0].shape[0] / SAMPLE_RATE if windows else 0.0,
                    float(found.get("seconds") or 0.0),  # type: ignore[arg-type]
                    found.get("files"),
                )
            self.calibration_info = {
                **cal.describe(),
                "windows": len(windows),
                "window_s": round(windows[0].shape[0] / SAMPLE_RATE, 3),
                "method": self.calibration_method,
                "fp32_conv_layers": self.fp32_conv_layers,
                "keep_fp32": list(self.keep_fp32),
                "quantize_attention": self.quantize_attention,
            }
            reader = WindowCalibrationReader(windows, INPUT_NAME, self.progress)
            quantize_static_model(
                prepared,
                out,
                reader,
                fp32_conv_layers=fp32_convs,
                extra_exclude=keep,
                calibrate_method=self.calibration_method,
                matmul_const_b_only=not self.quantize_attention,
            )
        self.progress("quantize", 1, 1)
        return out

    def _raw_variant(self, graph: Path, tmp: Path, ckpt: LoadedCheckpoint) -> Path:
        import onnx

        from .onnx_export import INPUT_NAME
        from .optimize import optimize_model
        from .preprocess_graph import compose_raw_model

        raw = compose_raw_model(
            onnx.load(str(graph)),
            ckpt.preprocessing,
            input_name=INPUT_NAME,
            min_samples=ckpt.min_input_samples,
        )
        composed = tmp / "raw.onnx"
        onnx.save(raw, str(composed))
        return optimize_model(composed, tmp / "raw_opt.onnx")

    def _encoded(
        self,
        raw_graph: Path,
        stage: Path,
        raw_meta: ModelMetadata,
        windows: Sequence[FloatArray],
        parity: dict[str, ParityResult],
    ) -> Path:
        import io

        import onnx
        import soundfile as sf

        from .encoded_graph import compose_encoded_model, encoded_metadata, extensions_library
        from .metadata_io import embed_metadata
        from .parity import check_parity, compare, onnx_probabilities, open_session

        model = compose_encoded_model(
            onnx.load(str(raw_graph)), sample_rate=SAMPLE_RATE, raw_input_name="waveform"
        )
        path = stage / ENCODED_MODEL_FILENAME
        onnx.save(model, str(path))
        embed_metadata(path, encoded_metadata(raw_meta.to_dict()))
        # Parity: 16-bit WAV bytes through the in-graph decoder vs the same PCM decoded by
        # soundfile through the raw-PCM graph.
        session = _extensions_session(path, extensions_library())
        rows, decoded = [], []
        for w in windows:
            buf = io.BytesIO()
            sf.write(buf, w, SAMPLE_RATE, format="WAV", subtype="PCM_16")
            data = np.frombuffer(buf.getvalue(), dtype=np.uint8)[None, :]
            rows.append(session.run(["probabilities"], {"audio_stream": data})[0][0])
            buf.seek(0)
            decoded.append(np.asarray(sf.read(buf, dtype="float32")[0], dtype=np.float32))
        got = np.asarray(rows, dtype=np.float64)
        ref = onnx_probabilities(open_session(stage / RAW_MODEL_FILENAME), decoded, "waveform")
        parity["encoded_vs_raw"] = check_parity(
            compare(ref, got, ("model_raw.onnx (soundfile-decoded)", ENCODED_MODEL_FILENAME)),
            self.tolerance,
        )
        return path

    def _ort(
        self,
        model_path: Path,
        raw_path: Path | None,
        pre_windows: Sequence[FloatArray],
        raw_windows: Sequence[FloatArray],
        parity: dict[str, ParityResult],
    ) -> None:
        from .optimize import convert_to_ort
        from .parity import check_parity, compare, onnx_probabilities, open_session

        self.progress("ort", 0, 1)
        pairs = [(model_path, pre_windows, "input_values", "ort_vs_onnx")]
        if raw_path is not None:
            pairs.append((raw_path, raw_windows, "waveform", "raw_ort_vs_raw"))
        for path, windows, input_name, key in pairs:
            ort_path, _ = convert_to_ort(path)
            ref = onnx_probabilities(open_session(path), windows, input_name)
            got = onnx_probabilities(open_session(ort_path), windows, input_name)
            parity[key] = check_parity(
                compare(ref, got, (path.name, ort_path.name)), self.tolerance
            )
        self.progress("ort", 1, 1)

    def _finish(
        self,
        stage: Path,
        out: Path,
        metadata: ModelMetadata,
        parity: dict[str, ParityResult],
        latency: dict[str, dict[str, float]],
        audio: dict[str, Any],
    ) -> ExportReport:
        out.mkdir(parents=True, exist_ok=True)
        for name in ARTIFACT_NAMES:  # a re-export must not leave stale files behind
            (out / name).unlink(missing_ok=True)
        written = sorted(p.name for p in stage.iterdir())
        for name in written:
            shutil.move(str(stage / name), str(out / name))

        def present(name: str) -> Path | None:
            return out / name if name in written else None

        sizes = {name: (out / name).stat().st_size for name in written}
        fp32_size = metadata.extra["graph_bytes"]["fp32 (reference)"]
        sizes["fp32 (reference)"] = int(fp32_size)
        report = ExportReport(
            out_dir=out,
            model_path=out / MODEL_FILENAME,
            metadata=metadata,
            quantization=self.mode,
            report_path=out / REPORT_FILENAME,
            raw_model_path=present(RAW_MODEL_FILENAME),
            encoded_model_path=present(ENCODED_MODEL_FILENAME),
            ort_path=present("model.ort"),
            raw_ort_path=present("model_raw.ort"),
            operators_config_path=present("model.required_operators.config"),
            sizes=sizes,
            parity=parity,
            latency=latency,
            audio=audio,
            front_end_parity=self.front_end_parity,
        )
        report.write()
        logger.info("%s", report.summary())
        return report


def _wrapper(ckpt: LoadedCheckpoint) -> Any:
    """The module to export: None (the default waveform wrapper) or Whisper's."""
    if ckpt.front_end != "log_mel":
        return None
    from .whisper import WhisperClassifierWrapper

    return WhisperClassifierWrapper.for_checkpoint(ckpt)


def _extensions_session(path: Path, library: str) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.register_custom_ops_library(library)
    so.intra_op_num_threads = LATENCY_THREADS
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types
        raise ExportError(f"ONNX Runtime cannot load {path.name}: {exc}") from exc
