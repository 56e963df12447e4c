"""The runtime works where torch and transformers cannot be imported.

Each check runs in a fresh interpreter whose ``sitecustomize`` installs an import blocker
for torch and transformers before anything else runs, and reports at exit which of their
modules got loaded (none may).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import soundfile as sf
from conftest import run_with_sitecustomize, synth_speechlike

SITECUSTOMIZE = """
import atexit
import importlib.abc
import sys

BLOCKED = {"torch", "transformers"}


class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by test)", name=name)
        return None


sys.meta_path.insert(0, _Blocker())


@atexit.register
def _report():
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    sys.stderr.write("NO_TORCH_CHECK " + repr(loaded) + "\\n")
"""


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_with_sitecustomize(args, tmp_path, SITECUSTOMIZE)


def _assert_torch_never_loaded(proc: subprocess.CompletedProcess[str]) -> None:
    assert "NO_TORCH_CHECK []" in proc.stderr, proc.stderr


def test_the_blocker_blocks(tmp_path: Path) -> None:
    proc = _run([sys.executable, "-c", "import torch"], tmp_path)
    assert proc.returncode != 0 and "blocked by test" in proc.stderr


def test_import_edge_ser_without_torch(tmp_path: Path) -> None:
    code = "import edge_ser; print(edge_ser.Classifier.__name__, edge_ser.Stream.__name__)"
    proc = _run([sys.executable, "-c", code], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["Classifier", "Stream"]
    _assert_torch_never_loaded(proc)


def _edge_ser_command() -> list[str]:
    script = Path(sys.executable).with_name("edge-ser")
    if script.exists():
        return [str(script)]  # the installed console script itself
    return [sys.executable, "-c", "import sys; from edge_ser.cli import main; sys.exit(main())"]


def test_classify_command_without_torch(tiny_model_dir: Path, tmp_path: Path) -> None:
    wav = tmp_path / "note.wav"
    sf.write(wav, synth_speechlike(4.0, 44100), 44100)
    cmd = [*_edge_ser_command(), "classify", "--model", str(tiny_model_dir), "--json", str(wav)]
    proc = _run(cmd, tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["path"] == str(wav) and data["label"] in data["scores"]
    _assert_torch_never_loaded(proc)
