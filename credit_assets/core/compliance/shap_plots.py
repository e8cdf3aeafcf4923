"""shap's standard pictures, drawn from the platform's own exact SHAP values.

Model-risk reviewers know SHAP through the `shap` package's plots: the beeswarm for a
model and the waterfall for one decision. Both are drawn here by `shap.plots.beeswarm` and
`shap.plots.waterfall` themselves, fed with a `shap.Explanation` built from the values the
platform computed (CatBoost's leaf-table SHAP, or a scorecard's terms against the population
mean): shap computes nothing, so a picture shows exactly the numbers the reasons come from.
`tests/core/explain/test_shap_reference.py` shows those values equal `shap.TreeExplainer`'s.

Lender-supplied text (feature names, category values) is drawn into a PNG, not HTML, but
matplotlib reads `$...$` in any text as mathematics (and fails on some), so `plot_text`
escapes dollar signs, flattens the text to one line and shortens it. Captions and alt texts
are escaped by the report renderer like every other text.

`shap` is imported when a picture is drawn (importing it takes seconds), and the waterfall
needs pyplot's current figure: drawing holds a lock, and restores pyplot's interactive state
and numpy's global random state (the beeswarm jitters with it, seeded here so a report is
reproducible).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from credit_assets.core.modeling.train import MISSING_CATEGORY
from credit_assets.core.reports.render import figure_png

if TYPE_CHECKING:
    from shap import Explanation

MAX_NAME_CHARS = 40
MAX_VALUE_CHARS = 24
MISSING = "missing"
SHAP_AXIS_LABEL = "SHAP value (log-odds of default; > 0 raises risk)"
_PYPLOT = threading.Lock()


def plot_text(text: object, limit: int = MAX_NAME_CHARS) -> str:
    """Text as matplotlib draws it literally: one line, at most `limit` characters, `$` escaped."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat.replace("$", r"\$")


def _is_missing(value: object) -> bool:
    if isinstance(value, str):
        return value == MISSING_CATEGORY
    return bool(pd.isna(value))  # type: ignore[call-overload]


def shap_explanation(
    shap_values: np.ndarray,
    expected_value: float,
    data: pd.DataFrame,
    categorical: Sequence[bool],
) -> Explanation:
    """The platform's values as the `shap.Explanation` shap's plots read.

    `values` is `shap_values` itself (rows, features) and `base_values` the expected value,
    both in log-odds of default. `data` holds each numeric feature's value (NaN when missing)
    and NaN for a categorical one, so the beeswarm colours numeric features by value and draws
    categories and missing values grey; `display_data` holds the values as a reviewer reads
    them (the category, "missing"), which the waterfall writes beside each feature. Feature
    names pass through `plot_text`.
    """
    from shap import Explanation

    values = np.asarray(shap_values, dtype=np.float64)
    if values.shape != data.shape or len(categorical) != data.shape[1]:
        raise ValueError(f"shap has shape {values.shape}; the data {data.shape}")
    numeric = np.full(values.shape, np.nan)
    display = np.empty(values.shape, dtype=object)
    for j, (name, is_category) in enumerate(zip(data.columns, categorical, strict=True)):
        column = data[name]
        if is_category:
            display[:, j] = [
                MISSING if _is_missing(v) else plot_text(v, MAX_VALUE_CHARS) for v in column
            ]
        else:
            numeric[:, j] = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
            display[:, j] = [MISSING if np.isnan(v) else float(v) for v in numeric[:, j]]
    return Explanation(
        values=values,
        base_values=np.full(values.shape[0], float(expected_value)),
        data=numeric,
        display_data=display,
        feature_names=[plot_text(n) for n in data.columns],
    )


def riskiest_row(shap_values: np.ndarray, expected_value: float) -> int:
    """Position of the row with the highest log-odds of default (the first of equals)."""
    return int(np.argmax(expected_value + np.asarray(shap_values).sum(axis=1)))


@contextmanager
def _plotting(seed: int) -> Iterator[None]:
    """The lock, numpy's global random state seeded and then restored, and numpy's warning
    about an all-NaN percentile (a feature missing in every plotted row) silenced."""
    with _PYPLOT, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        state = np.random.get_state()
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


def beeswarm_png(explanation: Explanation, max_display: int = 9, seed: int = 0) -> bytes:
    """`shap.plots.beeswarm` of a (rows, features) explanation, as PNG bytes.

    With more features than `max_display`, the last row sums the rest (shap's default).
    Drawn on its own Agg figure, no pyplot state.
    """
    import shap

    rows = min(max_display, explanation.shape[1])
    fig = Figure(figsize=(8, 0.4 * rows + 1.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    with _plotting(seed):
        shap.plots.beeswarm(explanation, max_display=max_display, ax=ax, show=False, plot_size=None)
        ax.set_xlabel(SHAP_AXIS_LABEL, fontsize=12)
        return figure_png(fig)


def waterfall_png(explanation: Explanation, max_display: int = 9) -> bytes:
    """`shap.plots.waterfall` of one row's explanation, as PNG bytes.

    shap draws the waterfall on pyplot's current figure: a new one is made current for it
    and closed afterwards; PNG bytes come from matplotlib's Agg renderer.
    """
    import matplotlib.pyplot as plt
    import shap

    with _plotting(0):
        interactive = plt.isinteractive()
        fig = plt.figure()
        try:
            shap.plots.waterfall(explanation, max_display=max_display, show=False)
            fig.axes[0].set_xlabel("log-odds of default", fontsize=12)
            return figure_png(fig)
        finally:
            plt.close(fig)
            if interactive:
                plt.ion()
