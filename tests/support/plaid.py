"""Plaid-shaped transaction objects made from the platform's own bank transactions.

`plaid_transactions` turns rows of the demo `bank_transactions` source into what Plaid's
/transactions/get returns per transaction (amount positive for money leaving the account,
`personal_finance_category.detailed`, merchant and location objects, no balance), plus the
`borrower_id` a lender adds. Features computed from them under
`contracts/examples/plaid/bank_transactions.yaml` must equal the features of the original rows
(but the balance ones, which Plaid cannot give).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from tests.support.paths import REPO_ROOT

PLAID_CONTRACT = REPO_ROOT / "contracts" / "examples" / "plaid" / "bank_transactions.yaml"

# A detailed Plaid category for each of the platform's categories (the contract maps back).
DETAILED: dict[str, str] = {
    "payroll": "INCOME_WAGES",
    "other_income": "TRANSFER_IN_DEPOSIT",
    "rent": "RENT_AND_UTILITIES_RENT",
    "utilities": "RENT_AND_UTILITIES_GAS_AND_ELECTRICITY",
    "groceries": "FOOD_AND_DRINK_GROCERIES",
    "gambling": "ENTERTAINMENT_CASINOS_AND_GAMBLING",
    "overdraft_fee": "BANK_FEES_OVERDRAFT_FEES",
    "returned_payment": "BANK_FEES_INSUFFICIENT_FUNDS",
    "cash_withdrawal": "TRANSFER_OUT_WITHDRAWAL",
    "transfer_out": "TRANSFER_OUT_ACCOUNT_TRANSFER",
    "shopping": "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES",
}


def plaid_transaction(row: dict[str, Any]) -> dict[str, Any]:
    """One row of `bank_transactions` as a Plaid transaction object (with `borrower_id`)."""
    detailed = DETAILED[row["category"]]
    booked = row["booked_date"]
    day = booked.isoformat() if isinstance(booked, date) else str(booked)[:10]
    return {
        "account_id": f"acc-{row['borrower_id']}",
        "borrower_id": row["borrower_id"],
        "transaction_id": row["transaction_id"],
        "amount": -float(row["amount"]),
        "iso_currency_code": "USD",
        "unofficial_currency_code": None,
        "date": day,
        "authorized_date": day,
        "name": row.get("counterparty") or "POS",
        "merchant_name": row.get("counterparty"),
        "payment_channel": "online",
        "pending": False,
        "location": {"city": None, "region": None, "postal_code": None},
        "counterparties": [{"name": row.get("counterparty"), "type": "merchant"}],
        "personal_finance_category": {
            "primary": detailed.split("_")[0] if detailed.startswith("INCOME") else detailed,
            "detailed": detailed,
            "confidence_level": "VERY_HIGH",
        },
    }


def plaid_transactions(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [plaid_transaction(row) for row in frame.iter_rows(named=True)]
