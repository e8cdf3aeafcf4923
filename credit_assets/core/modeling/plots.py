"""ROC and reliability plots as PNG bytes, and as markdown images for asset metadata.

Figures are built on the Agg canvas directly (no pyplot state), so plotting is safe
inside Dagster's multiprocess executor and in threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve

from credit_assets.core.modeling.metrics import calibration_table
from credit_assets.core.reports.metadata import png_markdown
from credit_assets.core.reports.render import figure_png

Curves = Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]]
"""Model name -> (y_true, pd)."""


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    return figure_png(fig)


def roc_png(curves: Curves, title: str = "ROC curve") -> bytes:
    """ROC curves of several models on one axes, AUC in the legend."""
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    for name, (y, pd) in curves.items():
        fpr, tpr, _ = roc_curve(np.asarray(y), np.asarray(pd))
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(np.asarray(y), np.asarray(pd)):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8, label="random")
    ax.set_xlabel("False positive rate (goods flagged)")
    ax.set_ylabel("True positive rate (bads caught)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return _png(fig)


def calibration_png(
    curves: Curves, bins: int = 10, title: str = "Calibration by PD decile"
) -> bytes:
    """Reliability plot: observed bad rate against mean predicted PD per decile."""
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    upper = 0.0
    for name, (y, pd) in curves.items():
        table = calibration_table(y, pd, bins)
        predicted = [r["mean_pd"] for r in table]
        observed = [r["observed_bad_rate"] for r in table]
        upper = max(upper, *predicted, *observed)
        ax.plot(predicted, observed, marker="o", label=name)
    upper = min(1.0, upper * 1.05) or 1.0
    ax.plot([0, upper], [0, upper], linestyle="--", color="grey", linewidth=0.8, label="perfect")
    ax.set_xlabel("Mean predicted PD")
    ax.set_ylabel("Observed bad rate")
    ax.set_title(title)
    ax.legend(loc="upper left")
    return _png(fig)


def roc_markdown(curves: Curves, title: str = "ROC curve") -> str:
    return png_markdown(roc_png(curves, title), title)


def calibration_markdown(
    curves: Curves, bins: int = 10, title: str = "Calibration by PD decile"
) -> str:
    return png_markdown(calibration_png(curves, bins, title), title)


def fold_auc_png(fold_auc: Mapping[str, Sequence[float]]) -> bytes | None:
    """Per-fold AUC by family (cross-validation only): the spread a single split hides."""
    if not fold_auc:
        return None
    fig = Figure(figsize=(5.5, 3.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    names = list(fold_auc)
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        values = np.asarray(fold_auc[name], dtype=np.float64)
        ax.scatter(i + rng.uniform(-0.12, 0.12, values.size), values, s=14, alpha=0.7)
        ax.hlines(values.mean(), i - 0.3, i + 0.3, color="black", linewidth=1.2)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("AUC on the held-out fold")
    ax.set_title("Cross-validated AUC by model family (bar: mean)")
    return figure_png(fig)
