"""Option errors in the words of the command line: ``--window``, not ``WindowOptions.window_s``.

The option dataclasses name their fields in messages (right for the API). On the command
line, :func:`name_flags` rewrites each ``SomeOptions.field`` (and a bare field that a flag
sets) to the flag that sets it, using the subcommand's parser and its ``OPTION_FLAGS``
(field -> flag, for flags whose destination differs from the field name).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from pathlib import Path

__all__ = ["add_model_argument", "flag_map", "name_flags"]

# ``VadOptions.aggressiveness``, ``TrainOptions.mix_ratio``, ``AugmentOptions.speed``.
_QUALIFIED = re.compile(r"\b[A-Z][A-Za-z]*Options\.([a-z_][a-z0-9_]*)\b")


MODEL_HELP = "model folder or .onnx/.ort file (default: the bundled model)"


def add_model_argument(parser: argparse.ArgumentParser, help: str = MODEL_HELP) -> None:
    """``--model``, the same on every command that runs a model."""
    parser.add_argument("--model", type=Path, default=None, help=help)


def flag_map(
    parser: argparse.ArgumentParser, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """field -> flag for every optional argument of ``parser``, then ``overrides``."""
    flags: dict[str, str] = {}
    for action in parser._actions:  # argparse has no public accessor for these
        longs = [s for s in action.option_strings if s.startswith("--")]
        if longs and action.dest not in ("help", "version"):
            flags.setdefault(action.dest, longs[0])
    flags.update(overrides or {})
    return flags


def name_flags(message: str, flags: Mapping[str, str]) -> str:
    """``message`` with each qualified option field that a flag sets replaced by the flag."""

    def replace(match: re.Match[str]) -> str:
        qualified, field = match.group(0), match.group(1)
        return flags.get(qualified) or flags.get(field) or qualified

    return _QUALIFIED.sub(replace, message)
