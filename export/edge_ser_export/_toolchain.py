"""Checks for the optional export toolchain, and the versions it records."""

from __future__ import annotations

import importlib

from edge_ser.errors import ToolchainMissingError

__all__ = ["INSTALL_HINT", "require_toolchain", "tool_versions"]

INSTALL_HINT = "pip install 'edge-ser[export]'"

# What an export needs, importable under these names.
_REQUIRED = ("torch", "transformers", "onnx", "onnxruntime")
# Recorded in the metadata when present; never required.
_OPTIONAL = ("onnxruntime_extensions",)


def require_toolchain() -> None:
    """Raise :class:`ToolchainMissingError` unless torch, transformers and onnx import."""
    for name in _REQUIRED:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ToolchainMissingError(
                f"the export toolchain needs torch, transformers, onnx and onnxruntime "
                f"({name} cannot be imported: {exc}); install them with: {INSTALL_HINT}"
            ) from exc


def tool_versions() -> dict[str, str]:
    """Versions of the tools that shaped an artifact (recorded for provenance)."""
    versions: dict[str, str] = {}
    for name in (*_REQUIRED, *_OPTIONAL):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        versions[name] = str(getattr(module, "__version__", "unknown"))
    return versions
