"""BISG proxies with surgeo: the method each applicant's inputs allow, and what was found."""

from __future__ import annotations

import polars as pl
import pytest

from credit_assets.core.compliance.bisg import (
    PROBABILITY_COLUMNS,
    ProxyInputs,
    bisg_proxies,
    probability_column,
    proxy_inputs,
)
from credit_assets.core.contracts import Contract, ContractError, Role, fairness_only_columns
from credit_assets.core.promotion import protected_gate


def _inputs(**columns: list) -> ProxyInputs:
    n = len(next(iter(columns.values())))
    return ProxyInputs(pl.DataFrame({"application_id": [f"A{i}" for i in range(n)], **columns}))


def test_garcia_in_chicago_60623_is_hispanic_as_surgeo_documents() -> None:
    result = bisg_proxies(_inputs(surname=["GARCIA"], zcta=["60623"]))
    row = result.frame.row(0, named=True)
    assert row["bisg_method"] == "bisg_zcta"
    assert row[probability_column("hispanic")] == pytest.approx(0.9955, abs=1e-3)
    assert sum(row[c] for c in PROBABILITY_COLUMNS) == pytest.approx(1.0)


def test_each_applicant_gets_the_best_method_its_inputs_allow_and_the_fallbacks_are_counted() -> (
    None
):
    result = bisg_proxies(
        _inputs(
            surname=["Garcia", "Smith", "Xqzvtrk", None, "Washington", "Nguyen"],
            first_name=["Maria", None, "John", None, None, "Qqqzz"],
            zcta=["60623", "10001", "30310", "30310", None, "95112-1234"],
        )
    )
    methods = result.frame["bisg_method"].to_list()
    assert methods == ["bifsg", "bisg_zcta", "zcta", "zcta", "surname", "bisg_zcta"]
    coverage = result.coverage
    assert coverage["methods"]["bifsg"] == 1 and coverage["methods"]["none"] == 0
    assert coverage["found_in_tables"]["surname"] == pytest.approx(4 / 6)
    assert coverage["found_in_tables"]["zcta"] == pytest.approx(5 / 6)  # ZIP+4 reads as its ZIP
    assert coverage["primary_method"] == "bifsg"
    assert coverage["fallbacks"] == {"bisg_zcta": 2, "zcta": 2, "surname": 1}
    assert "2010 Census" in coverage["vintage"] and coverage["surgeo"] == "1.1.2"


def test_an_applicant_found_nowhere_has_no_proxy_rather_than_a_guess() -> None:
    result = bisg_proxies(_inputs(surname=["Xqzvtrk"], zcta=["00000"]))
    assert result.frame["bisg_method"].to_list() == ["none"]
    assert result.frame.select(PROBABILITY_COLUMNS).null_count().row(0) == (1,) * 6
    assert result.coverage["share_with_proxy"] == 0.0


def test_a_census_tract_geoid_is_split_into_state_county_and_tract() -> None:
    result = bisg_proxies(
        _inputs(surname=["Smith", "Xqzvtrk"], tract=["01001020100", "01001020200"])
    )
    assert result.frame["bisg_method"].to_list() == ["bisg_tract", "tract"]
    assert result.coverage["found_in_tables"]["tract"] == 1.0


def test_proxy_inputs_are_read_from_the_roles_the_contract_declares() -> None:
    contract = Contract.model_validate(
        {
            "name": "apps",
            "kind": "applications",
            "keys": ["app_no"],
            "columns": {
                "app_no": {"type": "string", "role": "id"},
                "LastName": {"type": "string", "role": "proxy_surname"},
                "Zip": {"type": "string", "role": "proxy_zip"},
                "income": {"type": "float", "role": "feature"},
            },
        }
    )
    source = pl.LazyFrame(
        {"app_no": ["1"], "LastName": ["Garcia"], "Zip": ["60623"], "income": [1.0]}
    )
    inputs = proxy_inputs({"apps": source}, {"apps": contract})
    assert inputs is not None
    assert inputs.frame.columns == ["application_id", "surname", "zcta"]
    assert contract.proxy_columns == {Role.PROXY_SURNAME: "LastName", Role.PROXY_ZIP: "Zip"}
    assert fairness_only_columns({"apps": contract}) == ["LastName", "Zip"]


def test_a_contract_may_declare_one_column_per_proxy_role() -> None:
    with pytest.raises(ValueError, match="at most one proxy_surname column"):
        Contract.model_validate(
            {
                "name": "apps",
                "kind": "applications",
                "columns": {
                    "a": {"type": "string", "role": "proxy_surname"},
                    "b": {"type": "string", "role": "proxy_surname"},
                    "x": {"type": "float", "role": "feature"},
                },
            }
        )
    assert ContractError  # the loader wraps the same message with the file name


def test_the_promotion_gate_refuses_a_proxy_input_or_a_proxy_probability() -> None:
    assert not protected_gate(["income", "LastName"], ["LastName", "Zip"]).passed
    assert not protected_gate(["income", "bisg_black"], []).passed
    assert protected_gate(["income"], ["LastName", "Zip"]).passed


def test_proxy_inputs_never_become_features_online_or_in_a_scored_payload() -> None:
    from credit_assets.core.features import feature_catalogue
    from credit_assets.core.features.payload import features_for_payload
    from tests.support.scoring import AS_OF, application, contracts

    declared = contracts()
    proxies = {"surname", "first_name", "zip_code"}
    assert proxies <= set(fairness_only_columns(declared))
    names = set(feature_catalogue(declared).names)
    assert not names & proxies and not any(n.startswith("bisg_") for n in names)
    with_names = application("B1", surname="Garcia", first_name="Maria", zip_code="60623")
    features = features_for_payload(with_names, {}, AS_OF, declared)
    assert features == features_for_payload(application("B1"), {}, AS_OF, declared)
    assert not set(features) & proxies  # what the decision log and online store hold
