"""A pretrained Whisper encoder as teacher (and frozen backbone), with an on-disk cache.

The teacher is the encoder of a Whisper checkpoint (a hub id such as ``openai/whisper-base``,
or a local ``save_pretrained`` folder holding a Whisper encoder, a whole Whisper model or a
``WhisperForAudioClassification``). It runs only in the toolchain, never in the runtime.

**Clip length, not 30 s.** Whisper is trained on 30-s inputs (3000 log-mel frames, 1500
positions). :func:`encoder_hidden_states` runs it on the clip's own length instead: the
log-mel of the clip alone (``WhisperFeatureExtractor`` with ``padding="longest"``), the two
convs, the first ``T`` rows of the positional embedding, then the layers. That is what a
runtime on windows of at most 8 s computes, and it is 4-15x cheaper than padding.

**Hidden states** follow transformers' convention: entry 0 is the embedding (convs plus
positions), entries 1..L-1 the outputs of layers 1..L-1, and entry L the last layer's output
after the final layer norm (this is what ``WhisperForAudioClassification``'s weighted layer
sum combines). One frame per 20 ms, like DistilHuBERT's.

**Cache.** :class:`TeacherCache` stores each version (clean, or augmented copy ``k``) of each
utterance as one float16 ``.npy`` file ``[L+1, frames, d_model]`` under a content key: the
sha256 of the audio file's bytes, the teacher's fingerprint (its config and a digest of its
weights), the preprocessing, the crop length, the copy index and the augmentation. A changed
audio file, teacher or recipe gets a new key, so stale entries are never read; entries are
written atomically one by one, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from edge_ser.errors import TrainingError
from edge_ser.metadata import PreprocessingConfig

from .corpora import Record
from .data import AudioStore, AugmentOptions, augment_waveform, eval_input
from .progress import Progress

__all__ = [
    "WHISPER_PREPROCESSING",
    "FrameCache",
    "TeacherCache",
    "WhisperTeacher",
    "encoder_frame_cache",
    "encoder_hidden_states",
    "load_teacher",
    "module_fingerprint",
    "truncated_model",
    "truncated_teacher",
    "version_audio",
]

logger = logging.getLogger("edge_ser.train")

# The runtime preprocessing for Whisper-family inputs: the paper's trim and peak
# normalisation, but no pre-emphasis (Whisper's log-mel was trained on plain audio).
WHISPER_PREPROCESSING = PreprocessingConfig(pre_emphasis=0.0)


def encoder_hidden_states(encoder: Any, input_features: torch.Tensor) -> list[torch.Tensor]:
    """All hidden states of a Whisper ``encoder`` on log-mel ``input_features``
    ``[batch, n_mels, frames]`` of any length up to 30 s (see the module docstring)."""
    n_positions = int(encoder.embed_positions.weight.shape[0])
    h = torch.nn.functional.gelu(encoder.conv1(input_features))
    h = torch.nn.functional.gelu(encoder.conv2(h)).permute(0, 2, 1)
    if h.shape[1] > n_positions:
        raise TrainingError(
            f"input of {h.shape[1]} encoder frames is longer than Whisper's {n_positions} positions"
        )
    h = h + encoder.embed_positions.weight[: h.shape[1]]
    states = [h]
    for layer in encoder.layers:
        out = layer(h, None)
        h = out[0] if isinstance(out, tuple) else out
        states.append(h)
    states[-1] = encoder.layer_norm(h)
    return states


class WhisperTeacher:
    """A frozen Whisper encoder and its feature extractor (fp32, eval mode, CPU or ``device``)."""

    def __init__(
        self, encoder: Any, feature_extractor: Any, source: str, *, padded: bool = False
    ) -> None:
        self.padded = padded  # run on 30-s padded input (Whisper's training length) instead
        self.encoder = encoder.float().eval()
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.feature_extractor = feature_extractor
        self.source = source
        config = encoder.config
        self.n_layers = int(config.encoder_layers)
        self.d_model = int(config.d_model)
        self.n_mels = int(config.num_mel_bins)
        digest = hashlib.sha256()
        for name, tensor in sorted(self.encoder.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().numpy().tobytes()[:4096])
        config_text = json.dumps(config.to_dict(), sort_keys=True, default=str)
        digest.update(config_text.encode())
        if padded:
            digest.update(b"padded to 30 s")
        self.fingerprint = digest.hexdigest()[:16]

    def log_mel(self, x: npt.NDArray[np.float32]) -> torch.Tensor:
        """Whisper's log-mel of a 16 kHz clip on its own length (or padded to 30 s):
        ``[1, n_mels, frames]``."""
        padding = "max_length" if self.padded else "longest"
        feats = self.feature_extractor(
            x, sampling_rate=16_000, return_tensors="pt", padding=padding
        ).input_features
        return torch.as_tensor(feats, dtype=torch.float32)

    @torch.inference_mode()
    def hidden_states(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float16]:
        """``[n_layers + 1, frames, d_model]`` float16 for one preprocessed 16 kHz clip (with
        ``padded``, the frames of the clip itself out of the 30-s padded input's 1500)."""
        states = torch.stack([s[0] for s in encoder_hidden_states(self.encoder, self.log_mel(x))])
        if self.padded:
            states = states[:, : max(1, -(-(x.shape[0] // 160) // 2))]
        out: npt.NDArray[np.float16] = states.numpy().astype(np.float16)
        return out


def truncated_model(teacher: WhisperTeacher, n_layers: int) -> Any:
    """A ``WhisperForAudioClassification`` (head untrained) with the teacher's front end,
    its first ``n_layers`` layers and its final layer norm: the emotion-rich middle of
    Whisper at a fraction of its cost, or the starting point of a distilled student."""
    import copy

    from transformers import WhisperForAudioClassification

    if not 1 <= n_layers <= teacher.n_layers:
        raise TrainingError(
            f"cannot keep {n_layers} layers of a teacher with {teacher.n_layers} (1 to "
            f"{teacher.n_layers})"
        )
    config = copy.deepcopy(teacher.encoder.config)
    config.encoder_layers = n_layers
    config.architectures = ["WhisperForAudioClassification"]
    config.use_weighted_layer_sum = False
    model = WhisperForAudioClassification(config).float()
    result = model.encoder.load_state_dict(teacher.encoder.state_dict(), strict=False)
    if result.missing_keys:
        raise TrainingError(f"cannot keep the teacher's layers: {result.missing_keys[0]} missing")
    return model


def truncated_teacher(teacher: WhisperTeacher, n_layers: int) -> WhisperTeacher:
    """``teacher`` cut to its first ``n_layers`` layers (:func:`truncated_model`): a new
    fingerprint, so its cache entries are its own."""
    if n_layers == teacher.n_layers:
        return teacher
    encoder = truncated_model(teacher, n_layers).encoder
    source = f"{teacher.source} (first {n_layers} layers)"
    return WhisperTeacher(encoder, teacher.feature_extractor, source, padded=teacher.padded)


def _whisper_config(config: Any) -> Any:
    """The Whisper config inside ``config``, or a one-line error saying what it is instead."""
    if getattr(config, "model_type", None) != "whisper":
        kind = getattr(config, "model_type", None) or type(config).__name__
        raise TrainingError(f"the teacher must be a Whisper speech encoder, got a {kind!r} model")
    if int(getattr(config, "encoder_layers", 0) or 0) < 1:
        raise TrainingError("the teacher checkpoint has no encoder layers (a decoder only?)")
    return config


def _whisper_class(config: Any) -> Any:
    """The transformers class whose weight names match the checkpoint's architecture."""
    import transformers

    for name in getattr(config, "architectures", None) or ():
        if name in ("WhisperForConditionalGeneration", "WhisperModel"):
            return getattr(transformers, name)
    return transformers.WhisperForAudioClassification


def load_teacher(source: str | Path, *, padded: bool = False) -> WhisperTeacher:
    """The Whisper encoder of ``source`` (hub id or local folder), frozen, with its features
    (``padded``: see :class:`WhisperTeacher`)."""
    from transformers import AutoConfig, WhisperFeatureExtractor

    text = str(source)
    local = Path(text).expanduser()
    looks_local = text.startswith((".", "/", "~")) or local.exists()
    if looks_local and not local.is_dir():
        raise TrainingError(f"teacher {text}: no such folder")
    if looks_local and not (local / "config.json").is_file():
        raise TrainingError(f"teacher {text}: not a model folder (no config.json)")
    try:
        config = AutoConfig.from_pretrained(text)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"teacher {text}: cannot load its config ({exc})") from exc
    config = _whisper_config(config)
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # the head's "newly initialised" report is expected here
    hf_logging.disable_progress_bar()
    try:
        model, info = _whisper_class(config).from_pretrained(
            text, config=config, output_loading_info=True
        )
        feature_extractor = WhisperFeatureExtractor.from_pretrained(text)
    except (OSError, ValueError, RuntimeError) as exc:
        raise TrainingError(f"teacher {text}: cannot load the encoder ({exc})") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    missing = [k for k in info.get("missing_keys", ()) if ".encoder." in f".{k}"]
    if missing:
        raise TrainingError(
            f"teacher {text}: the checkpoint holds no trained Whisper encoder "
            f"({len(missing)} encoder weights missing, e.g. {missing[0]}): a decoder only?"
        )
    encoder = model.get_encoder() if hasattr(model, "get_encoder") else model.encoder
    if int(feature_extractor.feature_size) != int(config.num_mel_bins):
        raise TrainingError(
            f"teacher {text}: its feature extractor gives {feature_extractor.feature_size} mel "
            f"bins but the encoder expects {config.num_mel_bins}"
        )
    return WhisperTeacher(encoder, feature_extractor, text, padded=padded)


def _version_seed(record: Record, copy: int, seed: int) -> list[int]:
    return [seed, zlib.crc32(str(record.path).encode()), copy]


def version_audio(
    store: AudioStore,
    record: Record,
    copy: int,
    max_samples: int,
    preprocessing: PreprocessingConfig,
    augment: AugmentOptions | None,
    seed: int,
) -> npt.NDArray[np.float32]:
    """Version ``copy`` of ``record`` (0: as it is; ``k > 0``: augmented with a seed drawn
    from the file name and ``k``), centre-cropped to ``max_samples`` and preprocessed.

    The same (record, copy, seed) gives the same samples whatever the preprocessing, so a
    teacher and a student fed through this see the same audio, frame for frame.
    """
    x = store.audio(record)
    if copy > 0:
        if augment is None or not augment.enabled:
            raise TrainingError("augmented copies need an enabled augment")
        x = augment_waveform(x, augment, np.random.default_rng(_version_seed(record, copy, seed)))
    return eval_input(x, max_samples, preprocessing)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FrameCache:
    """Frame-level outputs of a frozen network per (record, version), float16, one ``.npy``
    file each in ``folder`` (see the module docstring for the key).

    ``compute`` maps one preprocessed 16 kHz clip to its frames; ``fingerprint`` names the
    network (a changed network must give a new fingerprint).
    """

    def __init__(
        self,
        compute: Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float16]],
        fingerprint: str,
        folder: str | Path,
        *,
        max_samples: int,
        preprocessing: PreprocessingConfig,
        augment: AugmentOptions | None = None,
        seed: int = 0,
    ) -> None:
        self.compute = compute
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_samples = max_samples
        self.preprocessing = preprocessing
        self.augment = augment
        self.seed = seed
        recipe = {
            "teacher": fingerprint,
            "preprocessing": asdict(preprocessing),
            "max_samples": max_samples,
            "seed": seed,
        }
        # the clean version does not depend on the augmentation: runs with and without
        # augmented copies share it
        self._clean_recipe = json.dumps(recipe, sort_keys=True, default=str)
        recipe["augment"] = asdict(augment) if augment is not None else None
        self._recipe = json.dumps(recipe, sort_keys=True, default=str)
        self._digests: dict[Path, str] = {}
        self.computed = 0
        self.reused = 0

    def key(self, record: Record, copy: int) -> str:
        """The content key of one version: changes with the file's bytes and the recipe."""
        path = Path(record.path)
        if path not in self._digests:
            self._digests[path] = _file_digest(path)
        recipe = self._recipe if copy > 0 else self._clean_recipe
        text = f"{self._digests[path]}|{copy}|{recipe}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def _file(self, record: Record, copy: int) -> Path:
        return self.folder / f"{self.key(record, copy)}.npy"

    def get(self, store: AudioStore, record: Record, copy: int = 0) -> npt.NDArray[np.float16]:
        """The hidden states of one version, from the cache or computed (and stored)."""
        target = self._file(record, copy)
        if target.is_file():
            try:
                cached = np.load(target)
                self.reused += 1
                return np.asarray(cached, dtype=np.float16)
            except (OSError, ValueError):
                logger.warning("teacher cache entry %s is unreadable: recomputing", target.name)
        x = version_audio(
            store, record, copy, self.max_samples, self.preprocessing, self.augment, self.seed
        )
        states = self.compute(x)
        tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp.npy")
        np.save(tmp, states)
        os.replace(tmp, target)
        self.computed += 1
        return states

    def fill(
        self,
        store: AudioStore,
        records: Sequence[Record],
        copies: int = 1,
        *,
        progress: bool = False,
    ) -> None:
        """Compute every missing version of ``records`` (resumable: done ones are skipped)."""
        bar = Progress(len(records) * copies, "frame cache", enabled=progress)
        for r in records:
            for k in range(copies):
                if not self._file(r, k).is_file():
                    self.get(store, r, k)
                else:
                    self.reused += 1
                bar.update(1)
        bar.close()
        logger.info("frame cache: %d computed, %d reused", self.computed, self.reused)


class TeacherCache(FrameCache):
    """:class:`FrameCache` of a Whisper teacher's hidden states ``[L+1, frames, d_model]``."""

    def __init__(
        self,
        teacher: WhisperTeacher,
        folder: str | Path,
        *,
        max_samples: int,
        preprocessing: PreprocessingConfig = WHISPER_PREPROCESSING,
        augment: AugmentOptions | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(
            teacher.hidden_states,
            teacher.fingerprint,
            folder,
            max_samples=max_samples,
            preprocessing=preprocessing,
            augment=augment,
            seed=seed,
        )
        self.teacher = teacher


def module_fingerprint(module: Any) -> str:
    """A digest of a module's weights (every byte): a retrained network gets a new one."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def encoder_frame_cache(
    encoder: Any,
    folder: str | Path,
    *,
    max_samples: int,
    preprocessing: PreprocessingConfig,
    augment: AugmentOptions | None = None,
    seed: int = 0,
) -> FrameCache:
    """A :class:`FrameCache` of a frozen conv feature ``encoder``'s frames ``[frames, C]``
    (DistilHuBERT's), shared by the distillation step and ``edge-ser train
    --frame-cache``: the same encoder, recipe and audio give the same files."""

    def encode(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float16]:
        with torch.inference_mode():
            frames = encoder(torch.from_numpy(np.ascontiguousarray(x))[None])[0].transpose(0, 1)
        out: npt.NDArray[np.float16] = frames.float().cpu().numpy().astype(np.float16)
        return out

    return FrameCache(
        encode,
        module_fingerprint(encoder),
        folder,
        max_samples=max_samples,
        preprocessing=preprocessing,
        augment=augment,
        seed=seed,
    )
