"""Write the ``edge_ser`` metadata into a model file, and read it back as the runtime does."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import onnx
import onnxruntime as ort

from edge_ser.errors import ExportError
from edge_ser.metadata import METADATA_KEY, ModelMetadata

from ._toolchain import tool_versions

if TYPE_CHECKING:
    from .checkpoint import LoadedCheckpoint
    from .parity import ParityResult
    from .speech import SpeechWindows

__all__ = [
    "build_metadata",
    "embed_metadata",
    "read_embedded_metadata",
    "rewrite_metadata_without_paths",
    "strip_paths",
]

# An absolute path: POSIX (/a/b), home (~/a) or Windows (C:\a, C:/a), up to a space, quote,
# colon (the "PATH:corpus" form of --data) or comma.
_ABSOLUTE_PATH = re.compile(
    r"(?<![\w.~/-])(?:~|[A-Za-z]:)?[/\\](?:[^\s/\\:'\",]+[/\\])*([^\s/\\:'\",]+)[/\\]?"
)


def strip_paths(value: Any) -> Any:
    """``value`` (JSON-like) with every absolute path in its strings cut to the last component.

    ``/tmp/x/model`` becomes ``model``; a path through a ``datasets`` folder keeps what follows
    it, so audio stays named by corpus (``/home/me/datasets/ravdess/Actor_01/a.flac`` becomes
    ``ravdess/Actor_01/a.flac``). Provenance keeps the names and loses the build machine's
    folders. Keys and non-string values are kept.
    """
    if isinstance(value, str):
        return _ABSOLUTE_PATH.sub(_short_path, value)
    if isinstance(value, Mapping):
        return {k: strip_paths(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strip_paths(v) for v in value]
    return value


def _short_path(match: re.Match[str]) -> str:
    parts = [p for p in re.split(r"[/\\]", match.group(0)) if p and p != "~" and p[-1:] != ":"]
    if "datasets" in parts[:-1]:
        i = len(parts) - 1 - parts[::-1].index("datasets")
        return "/".join(parts[i + 1 :])
    return match.group(1)


def rewrite_metadata_without_paths(src: Path, dst: Path) -> int:
    """Copy the model ``src`` to ``dst`` with absolute paths removed from its ``metadata_props``.

    The ``edge_ser`` entry is re-validated and written as :meth:`ModelMetadata.to_json` writes
    it (so it stays identical to an ``edge_ser.json`` written from it); other entries are
    plain text. Returns the number of entries that changed.
    """
    try:
        model = onnx.load(str(src))
    except Exception as exc:  # protobuf decode errors have no shared type
        raise ExportError(f"cannot read ONNX model {src}: {exc}") from exc
    changed = 0
    for entry in model.metadata_props:
        if entry.key == METADATA_KEY:
            md = ModelMetadata.from_json(entry.value, source=f"{src}:{METADATA_KEY}")
            data = md.to_dict()
            data["extra"] = strip_paths(data.get("extra", {}))
            new = ModelMetadata.from_dict(data).to_json()
        else:
            new = strip_paths(entry.value)
        if new != entry.value:
            entry.value = new
            changed += 1
    onnx.save(model, str(dst))
    return changed


def embed_metadata(path: Path, metadata: ModelMetadata | Mapping[str, Any]) -> Path:
    """Set the ``edge_ser`` metadata_props entry of the ONNX model at ``path`` (in place).

    ``metadata`` is normally a :class:`ModelMetadata`; a plain mapping is written as is (the
    encoded-audio variant's metadata, which the runtime must refuse).
    """
    model = onnx.load(str(path))
    for entry in list(model.metadata_props):
        if entry.key == METADATA_KEY:
            model.metadata_props.remove(entry)
    entry = model.metadata_props.add()
    entry.key = METADATA_KEY
    # Same JSON text as edge_ser.json (ModelMetadata.to_json), so both copies are identical.
    if isinstance(metadata, ModelMetadata):
        entry.value = metadata.to_json()
    else:
        entry.value = json.dumps(dict(metadata), indent=2, sort_keys=True)
    onnx.save(model, str(path))
    return path


def read_embedded_metadata(path: Path) -> ModelMetadata:
    """The embedded metadata of an ``.onnx`` or ``.ort`` file, read through ONNX Runtime."""
    so = ort.SessionOptions()
    so.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types
        raise ExportError(f"ONNX Runtime cannot load {path}: {exc}") from exc
    entries = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in entries:
        raise ExportError(f"{path} has no embedded {METADATA_KEY!r} metadata")
    json.loads(entries[METADATA_KEY])  # a clear JSON error before ModelMetadata's own checks
    return ModelMetadata.from_json(entries[METADATA_KEY], source=f"{path}:{METADATA_KEY}")


def _machine() -> dict[str, Any]:
    """The CPU the export's latency figures were measured on (flags decide int8 speed)."""
    from edge_ser.benchmark import machine_info

    info = machine_info()
    return {k: info[k] for k in ("cpu", "cpu_flags", "cores", "load_average", "onnxruntime")}


def build_metadata(
    ckpt: LoadedCheckpoint,
    mode: str,
    parity: Mapping[str, ParityResult],
    par: SpeechWindows,
    graph_bytes: Mapping[str, int],
    latency: Mapping[str, Mapping[str, float]],
    *,
    input_name: str,
    sample_rate: int = 16000,
    front_end_parity: Mapping[str, Any] | None = None,
) -> ModelMetadata:
    """The metadata of ``model.onnx``: what the runtime needs, plus provenance in ``extra``."""
    return ModelMetadata(
        labels=ckpt.labels,
        sample_rate=sample_rate,
        max_window_s=ckpt.max_window_s,
        min_input_samples=ckpt.min_input_samples,
        input_name=input_name,
        preprocessing=ckpt.preprocessing,
        quantization=mode,
        front_end=ckpt.front_end,  # type: ignore[arg-type]  # checked by ModelMetadata
        extra=strip_paths(
            {
                # The in-graph front end's parameters (Whisper's log-mel), for provenance.
                **({"front_end": ckpt.log_mel.to_dict()} if ckpt.log_mel is not None else {}),
                "source_checkpoint": ckpt.source,
                "source_labels": list(ckpt.source_labels),
                "architecture": type(ckpt.model).__name__,
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
                    timespec="seconds"
                ),
                "tool_versions": tool_versions(),
                "parity": {
                    **{k: v.to_dict() for k, v in parity.items()},
                    **(
                        {"log_mel_vs_feature_extractor": dict(front_end_parity)}
                        if front_end_parity
                        else {}
                    ),
                },
                "parity_audio": par.describe(),
                # Sizes of the graphs before this metadata entry was added to them.
                "graph_bytes": dict(graph_bytes),
                "latency_s": {k: v["median_s"] for k, v in latency.items()},
                "latency_machine": _machine(),
                "training": dict(ckpt.training_info) if ckpt.training_info else None,
            }
        ),
    )
