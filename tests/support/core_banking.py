"""The platform's own bank transactions as a German core-banking system exports them.

`write_core_banking_export` writes rows of the demo `bank_transactions` source the way a
German bank's core system hands them over: Windows-1252, `;` between fields, one banner
line above the header, CRLF line endings, German column names, the booking day as a YYMMDD
integer (`240105`), the amount unsigned with a decimal comma and thousands dots
(`2.354,51`) and its direction in `Art` (`Gutschrift` credit, `Lastschrift` debit,
`Barabhebung` cash withdrawal), the bank's own category codes (`LOHN`, `MIETE`, ...), the
balance written like the amount with a leading minus when overdrawn.
`contracts/examples/core_banking/bank_transactions.yaml` reads it back into the platform's
shape; `expected_transactions` is what that reading must give.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tests.support.export_files import csv_text, encoded, format_number
from tests.support.paths import REPO_ROOT

CORE_BANKING_CONTRACT = (
    REPO_ROOT / "contracts" / "examples" / "core_banking" / "bank_transactions.yaml"
)
ENCODING, DELIMITER, DECIMAL, THOUSANDS = "cp1252", ";", ",", "."
BANNER = "Umsatzexport Girokonten;Zeitraum bis 30.09.2026;erstellt 05.12.2026 – KernBank 7.1"
HEADER = (
    "Buchungs-ID", "Kunde", "Buchungstag", "Betrag", "Art", "Kategorie", "Saldo", "Gegenpartei",
)  # fmt: skip
# The export's column for each column of the platform's bank_transactions source.
PLATFORM_COLUMNS = {
    "Buchungs-ID": "transaction_id",
    "Kunde": "borrower_id",
    "Buchungstag": "booked_date",
    "Betrag": "amount",
    "Kategorie": "category",
    "Saldo": "balance",
    "Gegenpartei": "counterparty",
}
CREDIT, DEBIT, CASH_WITHDRAWAL = "Gutschrift", "Lastschrift", "Barabhebung"
NEGATIVE_KINDS = (DEBIT, CASH_WITHDRAWAL)  # an `Art` that makes the amount an outflow
# The bank's category code for each of the platform's eleven categories.
CATEGORY_CODES = {
    "payroll": "LOHN",
    "other_income": "SONST_EINK",
    "rent": "MIETE",
    "utilities": "NEBENKOSTEN",
    "groceries": "LEBENSMITTEL",
    "gambling": "GLUECKSSPIEL",
    "overdraft_fee": "UEBERZIEHUNG",
    "returned_payment": "RUECKLASTSCHRIFT",
    "cash_withdrawal": "BARGELD",
    "transfer_out": "UEBERWEISUNG",
    "shopping": "EINKAUF",
}
# The bank names its own counterparties in German (the only text beyond ASCII in the rows).
COUNTERPARTIES_DE = {
    "Bank fee": "Entgelt Kontoführung",
    "Unpaid item charge": "Gebühr Rücklastschrift",
    "ATM": "Geldautomat Hauptstraße",
}


def expected_transactions(transactions: pl.DataFrame) -> pl.DataFrame:
    """The platform rows the export reads back to: the same, with the bank's counterparty names."""
    return transactions.with_columns(pl.col("counterparty").replace(COUNTERPARTIES_DE))


def core_banking_rows(transactions: pl.DataFrame) -> pl.DataFrame:
    """The export's rows, under its German header, every field as the text the file holds."""
    amount = pl.col("amount")
    kind = (
        pl.when(amount > 0)
        .then(pl.lit(CREDIT))
        .when(pl.col("category") == "cash_withdrawal")
        .then(pl.lit(CASH_WITHDRAWAL))
        .otherwise(pl.lit(DEBIT))
    )
    money = pl.Float64

    def decimal_comma(expr: pl.Expr) -> pl.Expr:
        return expr.map_elements(
            lambda v: format_number(v, decimal=DECIMAL, thousands=THOUSANDS, decimals=2),
            return_dtype=pl.String,
        )

    return expected_transactions(transactions).select(
        pl.col("transaction_id").alias("Buchungs-ID"),
        pl.col("borrower_id").alias("Kunde"),
        pl.col("booked_date").dt.strftime("%y%m%d").alias("Buchungstag"),
        decimal_comma(amount.abs().cast(money)).alias("Betrag"),
        kind.alias("Art"),
        pl.col("category").replace_strict(CATEGORY_CODES).alias("Kategorie"),
        decimal_comma(pl.col("balance").cast(money)).alias("Saldo"),
        pl.col("counterparty").fill_null("").alias("Gegenpartei"),
    )


def core_banking_text(transactions: pl.DataFrame) -> str:
    """The export as text: the banner line, the header and one line per transaction."""
    rows = core_banking_rows(transactions)
    return csv_text(
        HEADER, rows.iter_rows(), delimiter=DELIMITER, line_terminator="\r\n", banner=[BANNER]
    )


def write_core_banking_export(transactions: pl.DataFrame, path: Path) -> Path:
    """Write `transactions` (rows of the platform's bank_transactions) as the bank exports them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encoded(core_banking_text(transactions), ENCODING))
    return path
