"""The README says what the product does: flags, examples and output are checked here."""

from __future__ import annotations

import argparse
import re
import sys
import types
from pathlib import Path

import pytest
from test_listen import DEVICES, fake_sounddevice

from edge_ser.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
USER_DOCS = [
    ROOT / "README.md",
    ROOT / "training" / "README.md",
    ROOT / "benchmarks" / "README.md",
    ROOT / "android_demo" / "README.md",
    ROOT / "edge_ser" / "assets" / "MODEL_CARD.md",
]


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def _code_blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_every_cli_flag_is_in_the_command_summary() -> None:
    summary = _code_blocks(_section("Command line"), "text")[0]
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, command in sub.choices.items():
        assert f"edge-ser {name}" in summary, name
        for action in command._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help" and flag not in summary:
                    missing.append(f"{name} {flag}")
    assert not missing, f"flags missing from the README's command summary: {missing}"


def test_no_development_paths_in_user_docs() -> None:
    for doc in USER_DOCS:
        text = doc.read_text(encoding="utf-8")
        assert "../shared" not in text, doc
        assert not re.search(r"/(work|tmp|root)/", text), doc


def test_paper_is_cited_by_title_and_id() -> None:
    assert "arXiv:2512.23435" in README
    assert "Distilled HuBERT for Mobile Speech Emotion Recognition" in README


def test_cpu_torch_install_uses_pytorchs_cpu_index() -> None:
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in README
    assert 'pip install -e ".[export]"' in README


def test_quick_start_output_is_what_the_bundled_model_prints(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    section = _section("Quick start")
    expected = _code_blocks(section, "text")[0]
    monkeypatch.chdir(ROOT)
    assert main(["classify", "--timeline", "examples/voice_note.wav"]) == 0
    assert capsys.readouterr().out == expected
    # The example's three sentences are the ones the script synthesises.
    script = (ROOT / "examples" / "make_voice_note.sh").read_text(encoding="utf-8")
    for sentence in re.findall(r'"([^"]+)" \(', section):
        assert sentence in script


def test_microphone_example_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = next(b for b in _code_blocks(_section("Python API"), "python") if "Microphone" in b)
    assert "microphone_chunks" not in README
    sd: types.ModuleType = fake_sounddevice(DEVICES)  # reads a 12-s recording, then Ctrl-C
    monkeypatch.setitem(sys.modules, "sounddevice", sd)
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    out = capsys.readouterr().out.splitlines()
    final = namespace["final"]
    assert out[-1].startswith(f"{final.label} ")  # type: ignore[attr-defined]
    windows = out[:-1]
    assert len(windows) >= 2 and all(re.fullmatch(r"\d+\.\d-\d+\.\ds \w+", w) for w in windows)
    assert sd.InputStream.opened[-1]["device"] == 1  # type: ignore[attr-defined]
