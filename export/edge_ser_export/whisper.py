"""Whisper encoders: validation, the exported graph, and transformers' own reference.

A ``WhisperForAudioClassification`` checkpoint is exported as one graph that takes 16 kHz
PCM (``input_values [batch, samples]``, after the runtime's trim and peak normalisation)
and computes, in order:

1. the log-mel spectrogram of :class:`transformers.WhisperFeatureExtractor`: centred
   frames (reflect padding of ``n_fft // 2``), a periodic Hann window of ``n_fft`` (400)
   samples, hop ``hop_length`` (160), power spectrum, the extractor's own slaney mel filter
   bank, ``log10(max(mel, 1e-10))``, the last frame dropped, values floored at the window's
   maximum minus 8 (80 dB), then ``(x + 4) / 4``. The STFT is a strided ``Conv`` whose
   kernels are the windowed DFT basis (real and imaginary parts), so every ONNX Runtime
   build, Mobile included, runs it; the filter bank is one ``MatMul``;
2. the encoder on the window's own length: ``conv1``, ``conv2`` (stride 2) and the first
   ``ceil(frames / 2)`` rows of the positional embedding, never padded to 30 s
   (transformers' ``WhisperEncoder.forward`` insists on 3000 frames; the wrapper runs its
   modules itself);
3. the head of ``WhisperForAudioClassification``: the optional softmax-weighted sum of the
   hidden states, the projector, the mean over the window's frames and the classifier.

The reference for parity is transformers' own code on the same window:
``WhisperFeatureExtractor`` (no padding) and ``WhisperForAudioClassification.forward`` with
its positional table cut to the window's frames (:func:`reference_probabilities`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import torch

from edge_ser.errors import ExportError, ParityError

__all__ = [
    "LOG_MEL_SCOPE",
    "LOG_MEL_TOLERANCE",
    "LogMel",
    "LogMelConfig",
    "WhisperClassifierWrapper",
    "check_front_end",
    "check_whisper_checkpoint",
    "clip_length",
    "front_end_output",
    "in_graph_log_mel",
    "log_mel_config",
    "reference_log_mel",
    "reference_probabilities",
]

logger = logging.getLogger("edge_ser.export")

# Module name of the front end inside the exported graph: its nodes are named
# "/log_mel/...", which is how quantisation finds (and keeps in fp32) every one of them.
LOG_MEL_SCOPE = "log_mel"
# WhisperFeatureExtractor's constants (not configurable there either).
_LOG_FLOOR = 1e-10
_DYNAMIC_RANGE = 8.0  # log10 units: 80 dB below the window's loudest bin


@dataclass(frozen=True)
class LogMelConfig:
    """The front end's parameters, as recorded in the metadata."""

    n_mels: int
    n_fft: int = 400
    hop_length: int = 160
    sampling_rate: int = 16000

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "whisper_log_mel",
            "n_mels": self.n_mels,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "window": "hann (periodic)",
            "log": "log10, floor 1e-10, max - 8 dynamic range, (x + 4) / 4",
            "sampling_rate": self.sampling_rate,
        }


def log_mel_config(config: Any, feature_extractor: Any, source: str) -> LogMelConfig:
    """The front end of a Whisper checkpoint, checked against its encoder.

    Raises:
        ExportError: the feature extractor's mel count differs from the encoder's
            ``num_mel_bins``, or its rate is not 16 kHz.
    """
    n_mels = int(config.num_mel_bins)
    fe_mels = int(getattr(feature_extractor, "feature_size", n_mels))
    if fe_mels != n_mels:
        raise ExportError(
            f"{source}: preprocessor_config.json has feature_size {fe_mels} mel bins but the "
            f"encoder's num_mel_bins is {n_mels}; the two must be equal (wrong "
            "preprocessor_config.json for this checkpoint?)"
        )
    rate = int(getattr(feature_extractor, "sampling_rate", 16000))
    if rate != 16000:
        raise ExportError(
            f"{source}: the feature extractor's sampling_rate is {rate} Hz; edge-ser models "
            "take 16000 Hz"
        )
    if float(getattr(feature_extractor, "dither", 0.0) or 0.0) != 0.0:
        logger.warning(
            "%s: the feature extractor dithers (dither=%s); the exported front end does not",
            source,
            feature_extractor.dither,
        )
    return LogMelConfig(
        n_mels=n_mels,
        n_fft=int(getattr(feature_extractor, "n_fft", 400)),
        hop_length=int(getattr(feature_extractor, "hop_length", 160)),
        sampling_rate=rate,
    )


def check_whisper_checkpoint(
    config: Any, loading_info: Mapping[str, Any] | None, source: str, max_window_s: float
) -> None:
    """Refuse Whisper checkpoints without a usable encoder (decoder-only, no weights).

    ``loading_info`` is what ``from_pretrained(..., output_loading_info=True)`` returns:
    encoder weights missing from the files mean there is no trained encoder to export.
    """
    if int(getattr(config, "encoder_layers", 0) or 0) < 1:
        raise ExportError(
            f"{source}: the Whisper config has encoder_layers={config.encoder_layers!r}: a "
            "decoder-only checkpoint; edge-ser exports Whisper encoders "
            "(WhisperForAudioClassification)"
        )
    missing = list((loading_info or {}).get("missing_keys", []) or [])
    encoder_missing = [k for k in missing if k.startswith("encoder.")]
    if encoder_missing:
        raise ExportError(
            f"{source}: the checkpoint holds no weights for {len(encoder_missing)} encoder "
            f"tensors (e.g. {encoder_missing[0]}): a decoder-only or incomplete Whisper "
            "checkpoint; edge-ser exports Whisper encoders (WhisperForAudioClassification)"
        )
    head_missing = [k for k in missing if k.startswith(("projector.", "classifier."))]
    if head_missing:
        raise ExportError(
            f"{source}: the checkpoint has no trained classification head (missing "
            f"{', '.join(sorted(head_missing))}); fine-tune it first, e.g. with `edge-ser train`"
        )
    frames = 2 * int(config.max_source_positions)
    longest = frames * 160 / 16000
    if max_window_s > longest:
        raise ExportError(
            f"{source}: max_window_s {max_window_s} s is longer than the encoder's "
            f"{config.max_source_positions} positions ({longest:g} s)"
        )


def _dft_kernels(n_fft: int) -> torch.Tensor:
    """``[2 * bins, 1, n_fft]``: periodic-Hann-windowed cos and -sin DFT rows (float64 made)."""
    n = np.arange(n_fft, dtype=np.float64)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)  # periodic Hann = torch.hann_window
    k = np.arange(n_fft // 2 + 1, dtype=np.float64)[:, None]
    angle = 2.0 * np.pi * k * n[None, :] / n_fft
    basis = np.concatenate([np.cos(angle) * window, -np.sin(angle) * window], axis=0)
    return torch.from_numpy(basis.astype(np.float32))[:, None, :]


class LogMel(torch.nn.Module):
    """``waveform [batch, samples] -> log-mel [batch, n_mels, samples // hop]``.

    Exactly WhisperFeatureExtractor's features of an unpadded window (see the module
    docstring). Each row's dynamic-range floor uses its own maximum.
    """

    def __init__(self, cfg: LogMelConfig, mel_filters: npt.NDArray[np.floating]) -> None:
        super().__init__()
        bins = cfg.n_fft // 2 + 1
        filters = np.asarray(mel_filters, dtype=np.float64)
        if filters.shape != (bins, cfg.n_mels):
            raise ExportError(
                f"mel filter bank has shape {filters.shape}, expected {(bins, cfg.n_mels)}"
            )
        self.n_fft = cfg.n_fft
        self.hop = cfg.hop_length
        self.bins = bins
        self.dft: torch.Tensor
        self.mel: torch.Tensor
        self.register_buffer("dft", _dft_kernels(cfg.n_fft))
        self.register_buffer("mel", torch.from_numpy(filters.T.astype(np.float32)))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        pad = self.n_fft // 2
        x = torch.nn.functional.pad(waveform[:, None, :], (pad, pad), mode="reflect")
        spec = torch.nn.functional.conv1d(x, self.dft, stride=self.hop)[:, :, :-1]
        real, imag = spec[:, : self.bins], spec[:, self.bins :]
        power = real * real + imag * imag
        mel = torch.matmul(self.mel, power)
        log = torch.log10(torch.clamp(mel, min=_LOG_FLOOR))
        peak = torch.amax(log, dim=(1, 2), keepdim=True)
        log = torch.maximum(log, peak - _DYNAMIC_RANGE)
        return (log + 4.0) / 4.0


class WhisperClassifierWrapper(torch.nn.Module):
    """``input_values [batch, samples] -> (softmax probabilities, logits)`` for a
    ``WhisperForAudioClassification``, on the window's own length (see module docstring)."""

    def __init__(self, model: Any, cfg: LogMelConfig, mel_filters: npt.NDArray[np.floating]):
        super().__init__()
        setattr(self, LOG_MEL_SCOPE, LogMel(cfg, mel_filters))
        self.encoder = model.encoder
        self.projector = model.projector
        self.classifier = model.classifier
        self.weighted = bool(model.config.use_weighted_layer_sum)
        if self.weighted:
            self.layer_weights = model.layer_weights

    @classmethod
    def for_checkpoint(cls, ckpt: Any) -> WhisperClassifierWrapper:
        """The wrapper of a Whisper checkpoint from ``load_checkpoint``, in eval mode."""
        return cls(ckpt.model, ckpt.log_mel, ckpt.feature_extractor.mel_filters).eval()

    def forward(self, input_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.classifier(self.pooled(input_values))
        return torch.softmax(logits, dim=-1), logits

    def pooled(self, input_values: torch.Tensor) -> torch.Tensor:
        """The classifier's input: the projector's output averaged over the frames."""
        enc = self.encoder
        features = getattr(self, LOG_MEL_SCOPE)(input_values)
        h = torch.nn.functional.gelu(enc.conv1(features))
        h = torch.nn.functional.gelu(enc.conv2(h)).permute(0, 2, 1)
        h = h + enc.embed_positions.weight[: h.shape[1]]
        states = [h]
        for layer in enc.layers:
            h = layer(h, None)
            h = h[0] if isinstance(h, tuple) else h
            states.append(h)
        h = enc.layer_norm(h)
        if self.weighted:
            # transformers' hidden_states: the embeddings, each layer's output, with the
            # last one replaced by the layer-normed final output.
            states[-1] = h
            weights = torch.softmax(self.layer_weights, dim=-1)
            h = (torch.stack(states, dim=1) * weights.view(-1, 1, 1)).sum(dim=1)
        pooled: torch.Tensor = self.projector(h).mean(dim=1)
        return pooled


@contextlib.contextmanager
def clip_length(model: Any, frames: int) -> Iterator[None]:
    """Let transformers' own ``WhisperEncoder.forward`` run on ``frames`` mel frames.

    Its positional table is cut to the first ``ceil(frames / 2)`` rows (conv2's output
    length), and the length it checks against (``max_source_positions * 2``) is set to
    ``frames``: ``frames / 2``, a float when ``frames`` is odd, only feeds that check.
    Both are restored afterwards.
    """
    enc = model.encoder
    positions = -(-frames // 2)
    table, max_pos = enc.embed_positions, enc.config.max_source_positions
    cut = torch.nn.Embedding(positions, table.embedding_dim)
    cut.weight = torch.nn.Parameter(table.weight[:positions].detach().clone(), requires_grad=False)
    enc.embed_positions = cut
    # object.__setattr__: the config's own setter accepts only integers.
    object.__setattr__(enc.config, "max_source_positions", frames / 2)
    try:
        yield
    finally:
        enc.embed_positions = table
        object.__setattr__(enc.config, "max_source_positions", max_pos)


def reference_log_mel(feature_extractor: Any, window: npt.NDArray[np.float32]) -> np.ndarray:
    """WhisperFeatureExtractor's features of one unpadded window: ``[n_mels, frames]``."""
    out = feature_extractor(
        np.asarray(window, dtype=np.float32),
        sampling_rate=int(feature_extractor.sampling_rate),
        padding="longest",
        return_tensors="np",
    )
    return np.asarray(out["input_features"][0], dtype=np.float32)


def reference_probabilities(
    model: Any, feature_extractor: Any, windows: Sequence[npt.NDArray[np.float32]]
) -> np.ndarray:
    """Probabilities from transformers' own extractor and model, one window at a time."""
    rows = []
    with torch.inference_mode():
        for w in windows:
            features = torch.from_numpy(reference_log_mel(feature_extractor, w))[None]
            with clip_length(model, int(features.shape[-1])):
                logits = model(input_features=features).logits
            rows.append(torch.softmax(logits, dim=-1)[0].numpy().astype(np.float64))
    return np.stack(rows)


# Largest accepted |in-graph log-mel - WhisperFeatureExtractor| over a parity window, in the
# extractor's units ((log10 + 4) / 4; a window's values span 2). fp32 ONNX Runtime and the
# extractor agree to about 1e-5 on speech; 1e-3 (0.04 dB) leaves room for other kernels
# without hiding a wrong front end.
LOG_MEL_TOLERANCE = 1e-3


def front_end_output(model: onnx.ModelProto) -> str:
    """Name of the tensor the in-graph log-mel hands to the encoder."""
    scoped = [n for n in model.graph.node if n.name.startswith(f"/{LOG_MEL_SCOPE}/")]
    produced = {o for n in scoped for o in n.output}
    consumers = [
        i for n in model.graph.node if not n.name.startswith(f"/{LOG_MEL_SCOPE}/") for i in n.input
    ]
    boundary = [name for name in dict.fromkeys(consumers) if name in produced]
    if len(boundary) != 1:
        raise ExportError(
            f"internal: expected one tensor from the log-mel front end, found {boundary!r}"
        )
    return str(boundary[0])


def in_graph_log_mel(
    model_path: Path, windows: Sequence[npt.NDArray[np.float32]], input_name: str
) -> list[np.ndarray]:
    """The log-mel that the exported graph at ``model_path`` computes for each window."""
    import onnxruntime as ort

    model = onnx.load(str(model_path))
    name = front_end_output(model)
    # Only the front end's subgraph: the encoder behind it need not run.
    model = onnx.shape_inference.infer_shapes(model)  # the extractor needs value_info
    model = onnx.utils.Extractor(model).extract_model([input_name], [name])
    so = ort.SessionOptions()
    so.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), so, providers=["CPUExecutionProvider"]
    )
    return [
        np.asarray(session.run([name], {input_name: np.ascontiguousarray(w)[None]})[0][0])
        for w in windows
    ]


def check_front_end(
    model_path: Path,
    feature_extractor: Any,
    windows: Sequence[npt.NDArray[np.float32]],
    *,
    input_name: str = "input_values",
    tolerance: float = LOG_MEL_TOLERANCE,
) -> dict[str, Any]:
    """Compare the graph's log-mel with WhisperFeatureExtractor's on ``windows``.

    Raises:
        ParityError: a window's features differ by more than ``tolerance``, or their shapes
            differ.
    """
    got = in_graph_log_mel(model_path, windows, input_name)
    worst, total, count = 0.0, 0.0, 0
    for w, g in zip(windows, got, strict=True):
        ref = reference_log_mel(feature_extractor, w)
        if ref.shape != g.shape:
            raise ParityError(
                f"in-graph log-mel has shape {g.shape}, WhisperFeatureExtractor {ref.shape} "
                f"for a window of {w.shape[0]} samples"
            )
        diff = np.abs(ref.astype(np.float64) - g)
        worst = max(worst, float(diff.max()))
        total += float(diff.sum())
        count += diff.size
    result = {
        "reference": "WhisperFeatureExtractor (unpadded window)",
        "candidate": "in-graph log-mel (onnx fp32)",
        "windows": len(windows),
        "max_abs_diff": worst,
        "mean_abs_diff": total / max(1, count),
        "tolerance": tolerance,
    }
    if not np.isfinite(worst) or worst > tolerance:
        raise ParityError(
            f"the in-graph log-mel differs from WhisperFeatureExtractor by up to {worst:.3g} "
            f"over {len(windows)} windows (tolerance {tolerance:.3g}); the exported front end "
            "is not faithful to the checkpoint's"
        )
    logger.info("in-graph log-mel vs WhisperFeatureExtractor: max |d| %.2g", worst)
    return result
