"""Scores from probabilities of default (points to double the odds) and A-E risk bands.

`ScoreScale()` is the textbook scale: 600 points at good:bad odds of 30:1, 20 points to
double the odds. The platform scores on the scale its settings configure (`score_scale` in
defs/common/loaders.py: CREDIT_SCORE_BASE 650 at CREDIT_SCORE_BASE_ODDS 20:1,
CREDIT_SCORE_PDO 40 by default), clipped to 300-850. In PD terms, with the default bands:

| band | score      | PD at the lower cut-off: platform default | textbook `ScoreScale()` |
|------|------------|-------------------------------------------|-------------------------|
| A    | >= 720     | <= 1.5 %                                  | <= 0.05 %               |
| B    | 660 - 719  | <= 4.0 %                                  | <= 0.41 %               |
| C    | 600 - 659  | <= 10.6 %                                 | <= 3.2 %                |
| D    | 540 - 599  | <= 25 %                                   | <= 21 %                 |
| E    | < 540      | above 25 %                                | above 21 %              |
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, overload

import numpy as np
import numpy.typing as npt

_PD_FLOOR = 1e-15


@dataclass(frozen=True)
class ScoreScale:
    """Points to double the odds: `score = offset + factor * ln(good:bad odds)`.

    `factor = pdo / ln 2` and `offset = base_score - factor * ln(base_odds)`, so a
    borrower at `base_odds` (good:bad) scores `base_score`, and every `pdo` points
    double the odds of being good. Scores are rounded to whole points and clipped
    to `[min_score, max_score]`. Defaults: 600 at 30:1, pdo 20, range 300-850.
    """

    base_score: float = 600.0
    base_odds: float = 30.0
    pdo: float = 20.0
    min_score: int = 300
    max_score: int = 850

    def __post_init__(self) -> None:
        if self.pdo <= 0 or self.base_odds <= 0:
            raise ValueError("pdo and base_odds must be positive")
        if not self.min_score < self.max_score:
            raise ValueError("min_score must be below max_score")

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    @overload
    def raw_score_from_pd(self, pd: float) -> float: ...
    @overload
    def raw_score_from_pd(self, pd: npt.ArrayLike) -> np.ndarray: ...
    def raw_score_from_pd(self, pd: Any) -> Any:
        """Unrounded, unclipped score: what points tables add up to."""
        p = np.clip(np.asarray(pd, dtype=np.float64), _PD_FLOOR, 1.0 - _PD_FLOOR)
        raw = self.offset + self.factor * (np.log1p(-p) - np.log(p))
        return float(raw) if raw.ndim == 0 else raw

    @overload
    def score_from_pd(self, pd: float) -> int: ...
    @overload
    def score_from_pd(self, pd: npt.ArrayLike) -> np.ndarray: ...
    def score_from_pd(self, pd: Any) -> Any:
        """Whole-point score in `[min_score, max_score]`; a lower PD gives a higher score."""
        raw = np.asarray(self.raw_score_from_pd(pd))
        score = np.clip(np.rint(raw), self.min_score, self.max_score).astype(np.int64)
        return int(score) if score.ndim == 0 else score

    @overload
    def pd_from_score(self, score: float) -> float: ...
    @overload
    def pd_from_score(self, score: npt.ArrayLike) -> np.ndarray: ...
    def pd_from_score(self, score: Any) -> Any:
        """Probability of default a score stands for (scores outside the range are clipped first)."""
        s = np.clip(np.asarray(score, dtype=np.float64), self.min_score, self.max_score)
        pd = 1.0 / (1.0 + np.exp((s - self.offset) / self.factor))
        return float(pd) if pd.ndim == 0 else pd

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoreScale:
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ScoreScale:
        return cls.from_dict(json.loads(text))


DEFAULT_CUTOFFS: tuple[tuple[str, float], ...] = (("A", 720), ("B", 660), ("C", 600), ("D", 540))


@dataclass(frozen=True)
class RiskBands:
    """Risk bands by score cut-off, best first.

    `cutoffs` pairs a band with the lowest score it admits; a score below the last
    cut-off falls in `floor_band`. Defaults: A >= 720, B >= 660, C >= 600,
    D >= 540, E below 540 (see the module docstring for the PDs these imply).
    """

    cutoffs: tuple[tuple[str, float], ...] = DEFAULT_CUTOFFS
    floor_band: str = "E"

    def __post_init__(self) -> None:
        # Coerce lists (e.g. from JSON) to tuples so the dataclass stays hashable.
        object.__setattr__(self, "cutoffs", tuple((str(b), float(c)) for b, c in self.cutoffs))
        scores = [c for _, c in self.cutoffs]
        if any(a <= b for a, b in zip(scores, scores[1:], strict=False)):
            raise ValueError(
                f"band cut-offs must strictly decrease from best band to worst: {scores}"
            )
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"band names must be unique: {self.names}")

    @property
    def names(self) -> list[str]:
        """Band names best to worst."""
        return [b for b, _ in self.cutoffs] + [self.floor_band]

    def band_for_score(self, score: float) -> str:
        for band, cutoff in self.cutoffs:
            if score >= cutoff:
                return band
        return self.floor_band

    def bands_for_scores(self, scores: npt.ArrayLike) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        thresholds = np.array([c for _, c in self.cutoffs])
        # Count of cut-offs a score fails to reach = its band's position, best first.
        position = (s[:, None] < thresholds[None, :]).sum(axis=1)
        return np.array(self.names, dtype=object)[position]

    def score_range(self, band: str) -> tuple[float | None, float | None]:
        """`[lower, upper)` score bounds of a band; None where it is open."""
        names = self.names
        i = names.index(band)
        lower = self.cutoffs[i][1] if i < len(self.cutoffs) else None
        upper = self.cutoffs[i - 1][1] if i > 0 else None
        return lower, upper

    def to_dict(self) -> dict[str, Any]:
        return {"cutoffs": [[b, c] for b, c in self.cutoffs], "floor_band": self.floor_band}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RiskBands:
        return cls(cutoffs=tuple((b, c) for b, c in data["cutoffs"]), floor_band=data["floor_band"])


def _stat(values: np.ndarray, fn: Any) -> float | None:
    return float(fn(values)) if values.size else None


def band_table(
    scores: npt.ArrayLike,
    pd: npt.ArrayLike,
    y: npt.ArrayLike | None = None,
    bands: RiskBands | None = None,
) -> list[dict[str, Any]]:
    """One row per band, best first: score range, count and share, PD range and mean,
    and (when outcomes `y` are given, 1 = bad) the observed bad rate. Empty bands are kept."""
    bands = bands or RiskBands()
    s = np.asarray(scores, dtype=np.float64)
    p = np.asarray(pd, dtype=np.float64)
    outcome = None if y is None else np.asarray(y, dtype=np.float64)
    if p.shape != s.shape or (outcome is not None and outcome.shape != s.shape):
        raise ValueError("scores, pd and y must have the same length")
    assigned = bands.bands_for_scores(s) if s.size else np.array([], dtype=object)
    rows: list[dict[str, Any]] = []
    for band in bands.names:
        mask = assigned == band
        lower, upper = bands.score_range(band)
        row: dict[str, Any] = {
            "band": band,
            "score_min": lower,
            "score_max_exclusive": upper,
            "n": int(mask.sum()),
            "share": float(mask.mean()) if s.size else 0.0,
            "pd_min": _stat(p[mask], np.min),
            "pd_max": _stat(p[mask], np.max),
            "mean_pd": _stat(p[mask], np.mean),
        }
        if outcome is not None:
            row["n_bad"] = int(outcome[mask].sum())
            row["observed_bad_rate"] = _stat(outcome[mask], np.mean)
        rows.append(row)
    return rows


def band_table_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """`band_table` output as a markdown table for asset metadata."""

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float) and v.is_integer() and abs(v) >= 1:
            return str(int(v))
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    columns = list(rows[0].keys()) if rows else []
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
