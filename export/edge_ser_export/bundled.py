"""The bundled default model, ready for a phone: ``edge-ser export bundled --out DIR --ort``.

The package ships ``default.onnx`` (18 MB) but not its training checkpoint, so the ordinary
export path (checkpoint -> ONNX -> int8) cannot make its ONNX Runtime Mobile files. This
module starts from the bundled int8 graph itself and writes what an app needs:

* ``model.onnx`` and ``edge_ser.json``: the bundled model and its metadata, unchanged;
* ``model_raw.onnx``: the same classifier with the preprocessing in the graph (raw 16 kHz
  PCM in), as ``edge-ser export`` writes it;
* with ``ort=True``: ``model.ort``, ``model_raw.ort`` and their required-operators configs.

Each derived graph is checked against ``model.onnx`` on synthetic speech-like windows
(within ``tolerance`` in probability), so what reaches the phone computes what the desktop
runtime computes. Shipping the ``.ort`` files in the package would add 36 MB to every
install for the few who build an app, hence this one command instead.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from edge_ser.errors import ExportError
from edge_ser.metadata import METADATA_FILENAME

__all__ = ["BUNDLED", "BundledExport", "export_bundled"]

logger = logging.getLogger("edge_ser.export")

BUNDLED = "bundled"  # the CHECKPOINT argument that selects the bundled model
_WINDOW_SECONDS = (8.0, 3.0, 1.2)


@dataclass(frozen=True)
class BundledExport:
    """What :func:`export_bundled` wrote and how closely each derived graph agrees."""

    out_dir: Path
    files: tuple[str, ...]
    max_abs_diff: dict[str, float]

    def summary(self) -> str:
        sizes = ", ".join(
            f"{name} {(self.out_dir / name).stat().st_size / 1e6:.1f} MB" for name in self.files
        )
        parity = ", ".join(f"{k} max |dp| {v:.2g}" for k, v in self.max_abs_diff.items())
        return f"exported the bundled model to {self.out_dir}\n  files: {sizes}\n  parity: {parity}"


def export_bundled(
    out: str | Path, *, ort: bool = True, raw_variant: bool = True, tolerance: float = 1e-3
) -> BundledExport:
    """Write the bundled model (and its raw-PCM and ORT-format variants) to ``out``."""
    import onnx

    from .metadata_io import embed_metadata, read_embedded_metadata
    from .optimize import convert_to_ort, optimize_model
    from .parity import check_parity, compare, onnx_probabilities, open_session
    from .preprocess_graph import compose_raw_model
    from .speech import model_input, synthetic_speech

    out_dir = Path(out)
    source = resources.files("edge_ser.assets").joinpath("default.onnx")
    if not source.is_file():
        raise ExportError("this install has no bundled model (edge_ser/assets/default.onnx)")
    out_dir.mkdir(parents=True, exist_ok=True)
    with resources.as_file(source) as src, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model_path = tmp / "model.onnx"
        shutil.copyfile(src, model_path)
        md = read_embedded_metadata(model_path)
        if md.input_kind != "preprocessed":
            raise ExportError(f"the bundled model takes {md.input_kind} input, not preprocessed")
        md.write(tmp / METADATA_FILENAME)
        raw = [synthetic_speech(s, md.sample_rate, seed=i) for i, s in enumerate(_WINDOW_SECONDS)]
        pre = [model_input(w, md.preprocessing, md.min_input_samples) for w in raw]
        reference = onnx_probabilities(open_session(model_path), pre, md.input_name)
        checks: list[tuple[Path, list[Any], str]] = []
        if raw_variant:
            composed = tmp / "raw_composed.onnx"
            onnx.save(
                compose_raw_model(
                    onnx.load(str(model_path)),
                    md.preprocessing,
                    input_name=md.input_name,
                    min_samples=md.min_input_samples,
                ),
                str(composed),
            )
            raw_path = optimize_model(composed, tmp / "model_raw.onnx")
            composed.unlink()
            raw_md = dataclasses.replace(md, input_kind="raw_pcm", input_name="waveform")
            embed_metadata(raw_path, raw_md)
            checks.append((raw_path, raw, "waveform"))
        if ort:
            for path, windows, name in [(model_path, pre, md.input_name), *checks]:
                ort_path, _ = convert_to_ort(path)
                checks.append((ort_path, windows, name))
        diffs: dict[str, float] = {}
        for path, windows, input_name in checks:
            got = onnx_probabilities(open_session(path), windows, input_name)
            result = check_parity(compare(reference, got, ("model.onnx", path.name)), tolerance)
            diffs[path.name] = result.max_abs_diff
        written = sorted(p.name for p in tmp.iterdir() if p.is_file())
        for name in written:
            shutil.move(str(tmp / name), str(out_dir / name))
    report = BundledExport(out_dir=out_dir, files=tuple(written), max_abs_diff=diffs)
    logger.info("%s", report.summary())
    return report
