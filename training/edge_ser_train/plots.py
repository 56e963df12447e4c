"""PNG plots of evaluation results: confusion matrices and per-fold bars.

Uses matplotlib's object API with the Agg canvas (no pyplot state, no display needed).
matplotlib is imported inside the functions: it is part of the ``train`` extra only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_ser.errors import ToolchainMissingError

from .metrics import Metrics

__all__ = ["plot_confusion_matrix", "plot_folds", "plot_metrics_confusion"]

_NAMES = {"ua": "UA", "wa": "WA", "macro_f1": "macro-F1"}


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - matplotlib is in the train extra
        raise ToolchainMissingError(
            "plots need matplotlib; install it with: pip install 'edge-ser[train]'"
        ) from exc
    fig = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(fig)
    return fig


def plot_confusion_matrix(
    confusion: Sequence[Sequence[int]],
    labels: Sequence[str],
    path: str | Path,
    title: str = "Confusion matrix",
) -> Path:
    """Row-normalised confusion matrix (recall per true class), with counts in each cell."""
    cm = np.asarray(confusion, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    fig = _figure(1.2 + 1.1 * len(labels), 1.0 + 1.0 * len(labels))
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(share, vmin=0.0, vmax=1.0, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    ax.set_xticks(range(len(labels)), labels=list(labels), rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            color = "white" if share[i, j] > 0.5 else "black"
            ax.text(
                j,
                i,
                f"{share[i, j]:.2f}\n({int(cm[i, j])})",
                ha="center",
                va="center",
                color=color,
                fontsize=8,
            )
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    return out


def plot_metrics_confusion(metrics: Metrics, path: str | Path, title: str) -> Path:
    """:func:`plot_confusion_matrix` for a :class:`Metrics`."""
    return plot_confusion_matrix(metrics.confusion_matrix, metrics.labels, path, title)


def plot_folds(
    folds: Sequence[Metrics], names: Sequence[str], path: str | Path, title: str = "Per-fold"
) -> Path:
    """Grouped bars of UA, WA and macro-F1 per fold, with the mean as dashed lines."""
    keys = ("ua", "wa", "macro_f1")
    values = np.array([[getattr(m, k) for k in keys] for m in folds], dtype=np.float64)
    fig = _figure(2.0 + 1.0 * len(folds), 3.5)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(folds))
    width = 0.8 / len(keys)
    for j, key in enumerate(keys):
        bars = ax.bar(x + (j - 1) * width, values[:, j], width, label=_NAMES[key])
        ax.axhline(
            float(values[:, j].mean()),
            linestyle="--",
            linewidth=0.8,
            color=bars.patches[0].get_facecolor(),
        )
    ax.set_xticks(x, labels=list(names), rotation=30, ha="right")
    ax.set_ylim(0.0, 1.15)
    ax.set_yticks([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_ylabel("score")
    ax.set_title(title)
    ax.legend(loc="upper center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    return out
