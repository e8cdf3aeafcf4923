"""Generated training sets for the less-discriminatory-alternative search.

Two populations of applicants with one protected attribute, `protected_sex` (female, male,
about half each), used for training only, never as a model input:

- `planted_proxy_disparity`: the label follows three payment features that do not depend on
  sex, plus a small effect of `shopping_index`, a numeric feature that is a strong proxy for
  sex (AUC above 0.9 alone). At a 40 % approval rate a CatBoost model that uses it has a
  worst AIR of about 0.69 (seed 0); without it, about 0.98 for an AUC loss under 0.01. A fix
  exists.
- `inherent_disparity`: the strongest signal, `income_stability`, itself differs by sex and
  carries most of the risk; the other features are weak. Any model about as good as the
  challenger must rank on it (worst AIR about 0.39 at 40 %; without it the AUC falls by
  0.3), so the disparity cannot be removed within 0.01 AUC.

Both carry a categorical `housing` with no signal, so every family sees a categorical input,
and a `split` column (train 50 %, validation 20 %, test 30 %).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
import polars as pl

from credit_assets.core.compliance.lda_discovery import _FitData
from credit_assets.core.features.specs import FeatureSpec

SPLITS = ("train", "validation", "test")
SPLIT_SHARES = (0.5, 0.2, 0.3)


def _spec(name: str, dtype: str = "float", monotone: str = "none") -> FeatureSpec:
    return FeatureSpec(name, f"{name} (generated)", "generated", dtype, monotone, "R01", "reason")  # type: ignore[arg-type]


PLANTED_FEATURES = [
    _spec("on_time_ratio", monotone="decreasing"),
    _spec("utilisation", monotone="increasing"),
    _spec("months_of_history", monotone="decreasing"),
    _spec("shopping_index"),
    _spec("housing", "category"),
]
INHERENT_FEATURES = [
    _spec("income_stability", monotone="decreasing"),
    _spec("utilisation", monotone="increasing"),
    _spec("night_spend_share"),
    _spec("housing", "category"),
]


def _frame(
    rng: np.random.Generator, sex: np.ndarray, logit: np.ndarray, columns: dict[str, np.ndarray]
) -> pl.DataFrame:
    n = sex.size
    default = rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-logit))
    return pl.DataFrame(
        {
            **columns,
            "housing": rng.choice(["own", "rent", "family"], n),
            "protected_sex": sex,
            "default_flag": default.astype(np.int8),
            "split": rng.choice(SPLITS, n, p=SPLIT_SHARES),
        }
    )


def planted_proxy_disparity(n: int = 5000, seed: int = 0) -> pl.DataFrame:
    """A proxy for sex with a small real effect on risk: dropping it is a fix."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n)
    female = (sex == "female").astype(np.float64)
    on_time = rng.normal(size=n)
    utilisation = rng.normal(size=n)
    history = rng.normal(size=n)
    shopping = 2.5 * female + rng.normal(size=n)
    logit = -1.5 - 1.4 * on_time + 1.0 * utilisation - 0.8 * history + 0.2 * shopping
    return _frame(
        rng,
        sex,
        logit,
        {
            "on_time_ratio": on_time,
            "utilisation": utilisation,
            "months_of_history": history,
            "shopping_index": shopping,
        },
    )


def inherent_disparity(n: int = 5000, seed: int = 0) -> pl.DataFrame:
    """The main signal differs by sex: no comparable model can close the gap."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n)
    female = (sex == "female").astype(np.float64)
    stability = -1.0 * female + rng.normal(size=n)
    utilisation = rng.normal(size=n)
    night = rng.normal(size=n)
    logit = -1.0 - 1.8 * stability + 0.5 * utilisation + 0.2 * night
    return _frame(
        rng,
        sex,
        logit,
        {"income_stability": stability, "utilisation": utilisation, "night_spend_share": night},
    )


class FitDataThatKillsWorkers(_FitData):
    """The LDA search's fit data, except that a worker process it is sent to dies unpickling
    it (as the out-of-memory killer ends a worker); put in place of `lda_discovery._FitData`
    with monkeypatch. In the process that made it, it is ordinary fit data."""

    def __reduce__(self) -> tuple[Any, ...]:
        values = tuple(getattr(self, f.name) for f in dataclasses.fields(self))
        return (_rebuilt_here_or_dead, (os.getpid(), values))


def _rebuilt_here_or_dead(parent: int, values: tuple[Any, ...]) -> FitDataThatKillsWorkers:
    if os.getpid() != parent:
        os._exit(137)
    return FitDataThatKillsWorkers(*values)
