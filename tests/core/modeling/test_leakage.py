"""The leakage screen: a column that alone separates the outcome, or a common value seen with
one outcome only, is found; ordinary credit attributes are not."""

from pathlib import Path

import numpy as np
import polars as pl
import yaml

from credit_assets.core.modeling.leakage import screen_leakage
from credit_assets.core.onboarding.check import WARNING, check_contract
from tests.support.paths import GERMAN_CREDIT_CSV, LENDING_CLUB_CSV, REPO_ROOT


def card_file(rows: int = 1000, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    bad = (rng.random(rows) < 0.25).astype(int)
    return pl.DataFrame(
        {
            "bad": bad,
            # Spending on the card, recorded after the decision: zero for every bad account.
            "card_spend": np.where(bad == 1, 0.0, rng.gamma(2.0, 300.0, rows)),
            "status": np.where(bad == 1, "closed", rng.choice(["open", "dormant"], rows)),
            "income": rng.normal(3000 - 400 * bad, 900, rows),
            "region": rng.choice(["north", "south", "east"], rows),
        }
    )


def test_a_column_that_separates_the_outcome_is_found_with_its_auc():
    screen = screen_leakage(card_file(), "bad", ["card_spend", "status", "income", "region"])
    found = {(f.feature, f.kind) for f in screen.findings}
    assert ("card_spend", "separates") in found
    assert ("status", "separates") in found and ("status", "one_label") in found
    assert screen.single_auc["card_spend"] >= 0.95
    assert screen.single_auc["income"] < 0.8 and screen.single_auc["region"] < 0.6
    assert not {f for f, _ in found} & {"income", "region"}


def test_the_german_credit_attributes_are_not_leakage():
    frame = pl.read_csv(GERMAN_CREDIT_CSV).with_columns((1 - pl.col("risk")).alias("bad"))
    features = [c for c in frame.columns if c not in ("risk", "bad")]
    screen = screen_leakage(frame, "bad", features)
    assert screen.findings == []
    assert max(v for v in screen.single_auc.values() if v is not None) < 0.75


def test_a_rare_category_cannot_separate_by_memorising_its_rows():
    rng = np.random.default_rng(9)
    bad = (rng.random(2000) < 0.2).astype(int)
    frame = pl.DataFrame({"bad": bad, "merchant": [f"m{i}" for i in range(2000)]})
    assert screen_leakage(frame, "bad", ["merchant"]).findings == []


def contract_for(tmp_path: Path, known: bool) -> Path:
    spec = {
        "name": "cards",
        "kind": "applications",
        "columns": {
            "bad": {
                "type": "int",
                "role": "label",
                "allowed": [0, 1],
                "labels": {"bad": 1, "good": 0},
            },
            "card_spend": {
                "type": "float",
                "role": "feature",
                "reason_code": "C1",
                "reason_text": "Card spending",
                **({"known_at_decision": True} if known else {}),
            },
            "income": {
                "type": "float",
                "role": "feature",
                "reason_code": "C2",
                "reason_text": "Income",
            },
        },
    }
    path = tmp_path / "cards.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_contract_check_reports_the_leak_the_gate_would_hold_back(tmp_path: Path):
    sample = tmp_path / "cards.csv"
    card_file().select("bad", "card_spend", "income").write_csv(sample)
    problems = [
        p
        for p in check_contract(contract_for(tmp_path, False), sample)
        if not p.startswith(WARNING)
    ]
    assert len(problems) == 1
    assert problems[0].startswith("sample cards.csv: target leakage suspected: card_spend alone")
    assert "known_at_decision: true" in problems[0]
    cleared = check_contract(contract_for(tmp_path, True), sample)
    assert not [p for p in cleared if "leakage" in p]


def test_the_shipped_example_contracts_pass_the_screen_on_their_real_files():
    lending = REPO_ROOT / "contracts/examples/lending_club/lending_club.yaml"
    assert check_contract(lending, LENDING_CLUB_CSV) == []


def test_a_common_value_of_an_imbalanced_file_is_not_flagged_by_chance():
    # 5 % bad: 60 rows all good happen by chance (0.95^60 = 4.6 %); 400 do not (1e-9).
    rng = np.random.default_rng(4)
    bad = (rng.random(3000) < 0.05).astype(int)
    tier = np.where(np.arange(3000) < 60, "gold", "standard")
    bad[:60] = 0
    frame = pl.DataFrame({"bad": bad, "tier": tier})
    assert screen_leakage(frame, "bad", ["tier"]).findings == []
    bad[:400] = 0
    frame = pl.DataFrame({"bad": bad, "tier": np.where(np.arange(3000) < 400, "gold", "standard")})
    [finding] = [
        f for f in screen_leakage(frame, "bad", ["tier"]).findings if f.kind == "one_label"
    ]
    assert finding.detail == "tier = 'gold' (400 rows) occurs only with good outcomes"
