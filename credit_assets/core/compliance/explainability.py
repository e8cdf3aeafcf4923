"""The explainability report of a model: what drives its scores, globally and per feature.

Built from exact SHAP values (`LeafShapExplainer`) of a population, in log-odds of
default relative to the model's expected value, so a positive value means the
feature raised the applicant's risk. Contents: global importance (mean |SHAP|)
with each feature's reason code and consumer text, shap's beeswarm of the model
and its waterfall of one decision (drawn by the `shap` package from these values,
see `shap_plots`), dependence plots (feature value against SHAP) for the top
features, and the monotonicity evidence recorded at training.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl
from matplotlib.figure import Figure

from credit_assets.core.compliance.shap_plots import (
    beeswarm_png,
    plot_text,
    riskiest_row,
    shap_explanation,
    waterfall_png,
)
from credit_assets.core.features.specs import FeatureCatalogue
from credit_assets.core.reports.render import (
    Block,
    Image,
    KeyValues,
    Paragraph,
    Section,
    Table,
    figure_png,
    render_html,
    render_markdown,
)

if TYPE_CHECKING:
    from shap import Explanation

MAX_PLOT_POINTS = 2000
MAX_CATEGORIES = 12
MAX_LABEL_CHARS = 24


@dataclass
class ExplainabilityReport:
    importance: list[dict[str, Any]]
    expected_value: float
    n_rows: int
    top_n: int
    monotonicity: dict[str, Any] | None
    beeswarm_png: bytes | None = field(repr=False)
    """`shap.plots.beeswarm` of the explained rows (None when it could not be drawn)."""
    beeswarm_caption: str
    """What the beeswarm shows and of how many rows, or why it is missing."""
    waterfall_png: bytes | None = field(repr=False)
    """`shap.plots.waterfall` of one decision: the row with the highest predicted risk."""
    waterfall_caption: str
    dependence_pngs: dict[str, bytes] = field(repr=False)
    points_table: list[dict[str, Any]] | None = None
    """A scorecard's points per bin of every characteristic (None for CatBoost)."""
    points_png: bytes | None = field(default=None, repr=False)

    @property
    def top_features(self) -> list[str]:
        return [row["feature"] for row in self.importance[: self.top_n]]

    @property
    def expected_pd(self) -> float:
        return 1.0 / (1.0 + math.exp(-self.expected_value))

    def monotonicity_rows(self) -> list[dict[str, Any]]:
        return monotonicity_rows(self.monotonicity)

    @property
    def plots(self) -> dict[str, bytes]:
        """shap's pictures by the model card's plot names."""
        pictures = {"shap_beeswarm": self.beeswarm_png, "shap_waterfall": self.waterfall_png}
        return {name: png for name, png in pictures.items() if png}

    @property
    def plot_captions(self) -> dict[str, str]:
        return {"shap_beeswarm": self.beeswarm_caption, "shap_waterfall": self.waterfall_caption}

    def sections(self) -> list[Section]:
        sections = [
            self._overview_section(),
            self._importance_section(),
            self._decision_section(),
            self._dependence_section(),
        ]
        if self.points_table:
            sections.append(self._points_section(self.points_table))
        sections.append(self._monotonicity_section())
        return sections

    def _overview_section(self) -> Section:
        """How to read SHAP values, and the headline figures of the explained rows."""
        return Section(
            "overview",
            "Overview",
            [
                Paragraph(
                    "SHAP values are exact contributions in log-odds of default, relative to the "
                    "model's expected value; a positive value raised the applicant's risk. A "
                    "declined applicant's principal reasons are the reason codes whose features "
                    "add the most risk."
                ),
                KeyValues(
                    {
                        "rows explained": self.n_rows,
                        "expected value (log-odds)": self.expected_value,
                        "expected PD": self.expected_pd,
                        "top features": self.top_features,
                    }
                ),
            ],
        )

    def _importance_section(self) -> Section:
        """The importance table and shap's beeswarm."""
        return Section(
            "importance",
            "Global importance",
            [
                Table(
                    self.importance,
                    [
                        "feature",
                        "mean_abs_shap",
                        "share",
                        "mean_shap",
                        "reason_code",
                        "reason_text",
                        "direction",
                    ],
                ),
                *_figure(self.beeswarm_png, "SHAP beeswarm (shap.plots.beeswarm)"),
                Paragraph(self.beeswarm_caption),
            ],
        )

    def _decision_section(self) -> Section:
        """shap's waterfall of one decision."""
        return Section(
            "decision",
            "One decision: SHAP waterfall",
            [
                *_figure(self.waterfall_png, "SHAP waterfall of one decision"),
                Paragraph(self.waterfall_caption),
            ],
        )

    def _dependence_section(self) -> Section:
        return Section(
            "dependence",
            "Dependence of SHAP on feature value",
            [Image(png, f"dependence: {name}") for name, png in self.dependence_pngs.items()],
        )

    def _points_section(self, points_table: list[dict[str, Any]]) -> Section:
        """A scorecard's points per bin, as a picture and a table, and how they give reasons."""
        return Section(
            "points",
            "Scorecard points table",
            [
                Paragraph(
                    "The model is a weight-of-evidence scorecard: an applicant's score is "
                    "the sum of the points of the bin each characteristic falls in. A "
                    "decision's reasons are the characteristics where the applicant "
                    "lost the most points against the most the characteristic can give "
                    "(the points method); the SHAP values above are the same terms "
                    "measured against the explained population's mean."
                ),
                *([Image(self.points_png, "points by bin")] if self.points_png else []),
                Table(points_table, ["feature", "bin", "points", "woe", "count", "bad_rate"]),
            ],
        )

    def _monotonicity_section(self) -> Section:
        """The monotonicity evidence recorded at training, or that there is none."""
        rows = self.monotonicity_rows()
        monotone_blocks: list[Block] = (
            [Paragraph(monotonicity_statement(self.monotonicity)), Table(rows)]
            if rows
            else [Paragraph("No monotonicity evidence recorded with this model.")]
        )
        return Section("monotonicity", "Monotone constraints: evidence", monotone_blocks)

    def to_html(self, title: str = "Explainability report") -> str:
        return render_html(title, self.sections(), subtitle=f"{self.n_rows} rows explained")

    def to_markdown(self, embed_images: bool = True) -> str:
        return render_markdown("Explainability report", self.sections(), embed_images=embed_images)

    def to_dict(self) -> dict[str, Any]:
        return {
            "importance": self.importance,
            "top_features": self.top_features,
            "expected_value": self.expected_value,
            "expected_pd": self.expected_pd,
            "n_rows": self.n_rows,
            "top_n": self.top_n,
            "monotonicity": self.monotonicity,
            **({"points_table": self.points_table} if self.points_table else {}),
            # The model card shows the same pictures (it reads this record, not the model).
            "plots": {k: base64.b64encode(v).decode("ascii") for k, v in self.plots.items()},
            "plot_captions": self.plot_captions,
        }


def _figure(png: bytes | None, alt: str) -> list[Block]:
    return [Image(png, alt)] if png else []


def monotonicity_rows(monotonicity: dict[str, Any] | None) -> list[dict[str, Any]]:
    """`MonotonicityReport.to_dict()` as table rows."""
    return [
        {
            "feature": f["feature"],
            "direction": f["direction"],
            "status": f["status"],
            "rows violating": f"{f['rows_violating']}/{f['rows_checked']}",
            "max violation (log-odds)": f["max_violation"],
            "grid points": len(f.get("grid", [])),
            "note": f.get("note", ""),
        }
        for f in (monotonicity or {}).get("features", [])
    ]


def monotonicity_statement(monotonicity: dict[str, Any] | None) -> str:
    if not monotonicity:
        return "No monotonicity evidence recorded."
    verdict = "hold" if monotonicity.get("passed") else "DO NOT hold"
    return (
        f"Declared directions {verdict}: each feature was swept over {monotonicity.get('grid_size')} "
        f"quantiles of its observed values for {monotonicity.get('n_rows')} training rows, all else "
        f"fixed; a row violates when its log-odds move against the direction by more than "
        f"{monotonicity.get('tolerance')}."
    )


def _to_pandas(frame: pd.DataFrame | pl.DataFrame, feature_names: Sequence[str]) -> pd.DataFrame:
    data = frame.to_pandas() if isinstance(frame, pl.DataFrame) else frame
    return data[list(feature_names)].reset_index(drop=True)


def _is_categorical(name: str, column: pd.Series, catalogue: FeatureCatalogue) -> bool:
    if name in catalogue:
        return catalogue[name].is_categorical
    return not pd.api.types.is_numeric_dtype(column)


def _importance(
    shap: np.ndarray, feature_names: Sequence[str], catalogue: FeatureCatalogue
) -> list[dict[str, Any]]:
    mean_abs = np.abs(shap).mean(axis=0)
    total = float(mean_abs.sum()) or 1.0
    specs = {f.name: f for f in catalogue.features}
    rows = []
    for i, name in enumerate(feature_names):
        spec = specs.get(name)
        rows.append(
            {
                "feature": name,
                "mean_abs_shap": float(mean_abs[i]),
                "share": float(mean_abs[i] / total),
                "mean_shap": float(shap[:, i].mean()),
                "reason_code": spec.reason_code if spec else None,
                "reason_text": spec.reason_text if spec else None,
                "direction": spec.monotone if spec else None,
                "source": spec.source if spec else None,
                "description": spec.description if spec else None,
            }
        )
    return sorted(rows, key=lambda r: (-r["mean_abs_shap"], r["feature"]))


def _dependence_png(
    name: str,
    values: pd.Series,
    shap_values: np.ndarray,
    categorical: bool,
    rng: np.random.Generator,
) -> bytes:
    fig = Figure(figsize=(4.6, 3.4), layout="constrained")
    ax = fig.add_subplot()
    if categorical:
        labels = values.astype(str).to_numpy()
        frame = pd.DataFrame({"value": labels, "shap": shap_values})
        keep = frame["value"].value_counts().index[:MAX_CATEGORIES]
        order = frame[frame["value"].isin(keep)].groupby("value")["shap"].mean().sort_values().index
        for position, category in enumerate(order):
            points = frame.loc[frame["value"] == category, "shap"].to_numpy()
            ax.scatter(
                position + rng.uniform(-0.25, 0.25, points.size),
                points,
                s=6,
                alpha=0.5,
                color="#4263eb",
                linewidths=0,
            )
            ax.plot([position - 0.3, position + 0.3], [points.mean()] * 2, color="#d9480f")
        ax.set_xticks(
            range(len(order)),
            [plot_text(c, MAX_LABEL_CHARS) for c in order],
            rotation=30,
            ha="right",
            fontsize=8,
        )
        title = plot_text(name)
    else:
        x = values.to_numpy(dtype=np.float64)
        missing = np.isnan(x)
        ax.scatter(
            x[~missing], shap_values[~missing], s=6, alpha=0.5, color="#4263eb", linewidths=0
        )
        title = plot_text(name)
        title += f" ({int(missing.sum())} missing not shown)" if missing.any() else ""
    ax.axhline(0, color="#495057", linewidth=0.8)
    ax.set_xlabel(plot_text(name))
    ax.set_ylabel("SHAP (log-odds)")
    ax.set_title(title, fontsize=9, loc="left")
    return figure_png(fig, dpi=80)


def explainability_report(
    shap: np.ndarray,
    frame: pd.DataFrame | pl.DataFrame,
    feature_names: list[str],
    catalogue: FeatureCatalogue,
    *,
    monotonicity: dict[str, Any] | None,
    expected_value: float,
    top_n: int = 8,
    seed: int = 0,
    points_table: list[dict[str, Any]] | None = None,
) -> ExplainabilityReport:
    """Importance, shap's beeswarm and waterfall, and dependence plots of `shap` (rows,
    features) over `frame`.

    `frame` holds the model inputs of the same rows in the same order (e.g. the
    output of `to_catboost_frame`); plots use at most `MAX_PLOT_POINTS` rows,
    sampled with `seed`, while the importance table uses every row and the waterfall
    explains the row of highest predicted risk among them all. A scorecard passes its
    `points_table()`: it is shown as a picture and a table.
    """
    shap = np.asarray(shap, dtype=np.float64)
    data = _to_pandas(frame, feature_names)
    if shap.shape != (len(data), len(feature_names)):
        raise ValueError(f"shap has shape {shap.shape}; expected {(len(data), len(feature_names))}")
    if shap.shape[0] == 0:
        raise ValueError("cannot explain zero rows")
    importance = _importance(shap, feature_names, catalogue)
    top = [row["feature"] for row in importance[:top_n]]
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(len(data), size=min(MAX_PLOT_POINTS, len(data)), replace=False))
    plot_shap, plot_data = shap[sample], data.iloc[sample].reset_index(drop=True)
    index = {name: i for i, name in enumerate(feature_names)}
    categorical = {name: _is_categorical(name, data[name], catalogue) for name in feature_names}
    return ExplainabilityReport(
        importance=importance,
        expected_value=float(expected_value),
        n_rows=int(shap.shape[0]),
        top_n=top_n,
        monotonicity=monotonicity,
        **_shap_pictures(
            shap,
            data,
            [categorical[name] for name in feature_names],
            float(expected_value),
            sample,
            max_display=top_n + 1,
            seed=seed,
            scorecard=points_table is not None,
        ),
        dependence_pngs={
            name: _dependence_png(
                name, plot_data[name], plot_shap[:, index[name]], categorical[name], rng
            )
            for name in top
        },
        points_table=points_table,
        points_png=_points_png(points_table) if points_table else None,
    )


def _drawn(draw: Callable[[], bytes], what: str) -> tuple[bytes | None, str]:
    """A picture, or None and the reason: a plot never stops the report, it says why it is missing."""
    try:
        return draw(), ""
    except Exception as error:
        return None, f"The {what} could not be drawn ({type(error).__name__}: {error}). "


@dataclass(frozen=True)
class _Explained:
    """The explained rows as shap's plots draw them: SHAP values, inputs, the expected value."""

    shap: np.ndarray
    data: pd.DataFrame
    categorical: list[bool]
    expected_value: float

    def explanation(self, rows: np.ndarray | list[int]) -> Explanation:
        return shap_explanation(
            self.shap[rows], self.expected_value, self.data.iloc[rows], self.categorical
        )


def _shap_pictures(
    shap: np.ndarray,
    data: pd.DataFrame,
    categorical: list[bool],
    expected_value: float,
    sample: np.ndarray,
    *,
    max_display: int,
    seed: int,
    scorecard: bool,
) -> dict[str, Any]:
    """shap's beeswarm of the sampled rows and waterfall of the riskiest row, with captions."""
    explained = _Explained(shap, data, categorical, expected_value)
    source = _values_source(scorecard)
    beeswarm, beeswarm_caption = _beeswarm(
        explained, sample, max_display=max_display, seed=seed, source=source
    )
    waterfall, waterfall_caption = _waterfall(explained, max_display=max_display, source=source)
    return {
        "beeswarm_png": beeswarm,
        "beeswarm_caption": beeswarm_caption,
        "waterfall_png": waterfall,
        "waterfall_caption": waterfall_caption,
    }


def _values_source(scorecard: bool) -> str:
    """Where the plotted values come from, which the captions end with."""
    if scorecard:
        return (
            "Values are the scorecard's exact SHAP values (each term against the explained rows' "
            "mean) in log-odds of default; its principal reasons use the points method (see the "
            "points table)."
        )
    return (
        "Values are the platform's exact SHAP values from the model's leaf tables, in "
        "log-odds of default: the values a decision's principal reasons are summed from."
    )


def _beeswarm(
    explained: _Explained, sample: np.ndarray, *, max_display: int, seed: int, source: str
) -> tuple[bytes | None, str]:
    """shap's beeswarm of the sampled rows, and its caption (which says why it is missing)."""
    n_rows, n_features = explained.shap.shape
    beeswarm, failure = _drawn(
        lambda: beeswarm_png(explained.explanation(sample), max_display=max_display, seed=seed),
        "beeswarm",
    )
    rows = (
        f"all {n_rows:,} explained rows"
        if sample.size == n_rows
        else f"{sample.size:,} of the {n_rows:,} explained rows (a random sample, seed {seed})"
    )
    shown = (
        f", the {max_display - 1} largest shown and the other {n_features - max_display + 1} "
        "summed in the last row"
        if n_features > max_display
        else ""
    )
    caption = (
        f"{failure}shap.plots.beeswarm of {rows}: one dot per applicant and feature at its "
        f"SHAP value (> 0 raised the applicant's risk), features in order of mean |SHAP|{shown}. "
        "Colour is the applicant's value of a numeric feature (red high, blue low); grey is a "
        f"missing value or a categorical feature. {source}"
    )
    return beeswarm, caption


def _waterfall(explained: _Explained, *, max_display: int, source: str) -> tuple[bytes | None, str]:
    """shap's waterfall of the riskiest row, and its caption (which says why it is missing)."""
    shap, expected_value = explained.shap, explained.expected_value
    row = riskiest_row(shap, expected_value)
    waterfall, failure = _drawn(
        lambda: waterfall_png(explained.explanation([row])[0], max_display=max_display),
        "waterfall",
    )
    log_odds = expected_value + float(shap[row].sum())
    worst = int(np.argmax(shap[row]))
    raised = (
        f" Its largest risk-raising contribution is {explained.data.columns[worst]} "
        f"(+{shap[row, worst]:.3f})."
        if shap[row, worst] > 0
        else ""
    )
    caption = (
        f"{failure}shap.plots.waterfall of one decision: the explained applicant with the "
        f"highest predicted risk (row {row} of {shap.shape[0]:,}, counted from 0; PD "
        f"{float(1.0 / (1.0 + np.exp(-log_odds))):.1%}). From the model's expected value "
        f"E[f(X)] = {expected_value:.3f} each bar adds one feature's SHAP value, ending at this "
        f"applicant's log-odds f(x) = {log_odds:.3f}; beside each feature is the applicant's "
        f"value.{raised} {source}"
    )
    return waterfall, caption


def _points_png(points_table: list[dict[str, Any]], max_bars: int = 60) -> bytes:
    """Points of every bin, grouped by characteristic (the widest spreads first)."""
    by_feature: dict[str, list[dict[str, Any]]] = {}
    for row in points_table:
        if row.get("count") or row["bin"] not in ("Missing", "Unseen category"):
            by_feature.setdefault(row["feature"], []).append(row)
    order = sorted(
        by_feature,
        key=lambda f: (
            -(max(r["points"] for r in by_feature[f]) - min(r["points"] for r in by_feature[f]))
        ),
    )
    labels: list[str] = []
    values: list[float] = []
    colors: list[int] = []
    for i, feature in enumerate(order):
        for row in by_feature[feature]:
            if len(values) >= max_bars:
                break
            labels.append(f"{plot_text(feature)}: {plot_text(row['bin'], 28)}")
            values.append(float(row["points"]))
            colors.append(i)
    fig = Figure(figsize=(8, max(2.5, 0.22 * len(values) + 1)))
    ax = fig.subplots()
    palette = ["#1f4e79", "#5b9bd5"]
    ax.barh(range(len(values)), values, color=[palette[c % 2] for c in colors])
    ax.set_yticks(range(len(values)), labels, fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("points")
    ax.set_title("Scorecard points by bin", fontsize=10)
    fig.tight_layout()
    return figure_png(fig)
