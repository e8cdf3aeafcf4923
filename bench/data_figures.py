"""The figures of the synthetic population that docs/DATA.md quotes, from one generation.

    .venv/bin/python bench/data_figures.py                     # 50 000 borrowers, seed 42
    .venv/bin/python bench/data_figures.py --borrowers 200000

Generates the clean frames in memory (`generate_frames`, no dirt, nothing written) with the
seed and end date given, and prints a Markdown table of what the population looks like:
rows per source, coverage, the default rate and the Bayes-optimal AUC, bill and bank
behaviour. Generation is deterministic, so the same arguments print the same table.
"""

from __future__ import annotations

import argparse
from datetime import date

import polars as pl
from sklearn.metrics import roc_auc_score

from credit_assets.core.tools.synthetic import generate_frames

BILLS = ("utility_payments", "telecom_payments", "rent_payments")
COVERED = (*BILLS, "bank_transactions", "bureau")


def _share(part: int | float, whole: int | float, digits: int = 1) -> str:
    return f"{100 * part / whole:.{digits}f} %"


def figures(frames: dict[str, pl.DataFrame]) -> list[tuple[str, str]]:
    """(figure, value) rows for one generated population."""
    apps, truth, outcomes = frames["applications"], frames["ground_truth"], frames["outcomes"]
    n = apps.height
    rows = [
        (f"rows: {name}", f"{frames[name].height:,}") for name in frames if name != "ground_truth"
    ]

    matured = outcomes.join(truth.select("application_id", "true_pd"), on="application_id")
    rows += [
        ("matured applications", _share(outcomes.height, n)),
        ("default rate (matured)", _share(outcomes["default_12m"].sum(), outcomes.height, 2)),
        (
            "thin-file share (no bureau record)",
            _share(n - frames["bureau"]["borrower_id"].n_unique(), n),
        ),
        (
            "Bayes-optimal AUC (true PD, matured)",
            f"{roc_auc_score(matured['default_12m'], matured['true_pd']):.3f}",
        ),
        ("renters", _share((apps["housing_status"] == "rent").sum(), n)),
    ]
    for name in COVERED:
        rows.append((f"borrowers with {name}", _share(frames[name]["borrower_id"].n_unique(), n)))

    bills = pl.concat([frames[name] for name in BILLS])
    late = bills.filter(pl.col("days_late") > 0)["days_late"]
    rows += [
        ("bills missed (no payment)", _share(bills["paid_date"].null_count(), bills.height)),
        ("bills paid late", _share(late.len(), bills.height)),
        (
            "bills paid in part",
            _share((bills["amount_paid"] < bills["amount_due"]).sum(), bills.height),
        ),
        ("days late: median of late bills", f"{late.median():g}"),
        ("days late: 99th percentile of all bills", f"{bills['days_late'].quantile(0.99):g}"),
        ("days late: maximum", f"{bills['days_late'].max()}"),
    ]

    bank = frames["bank_transactions"]
    banked = bank["borrower_id"].n_unique()
    before = (
        bank.join(apps.select("borrower_id", "application_date"), on="borrower_id")
        .filter(pl.col("booked_date") < pl.col("application_date"))
        .group_by("borrower_id")
        .agg(
            returned=(pl.col("category") == "returned_payment").sum(),
            fees=(pl.col("category") == "overdraft_fee").sum(),
        )
    )
    z = truth.select("borrower_id", "creditworthiness")
    rows += [
        ("transactions per borrower", f"{bank.height / n:.1f}"),
        ("transactions per banked borrower", f"{bank.height / banked:.1f}"),
        ("lowest balance", f"{bank['balance'].min():,.2f}"),
    ]
    for label, condition in (
        ("z < -1.5", pl.col("creditworthiness") < -1.5),
        ("z > 0.5", pl.col("creditworthiness") > 0.5),
    ):
        group = z.filter(condition).join(bank.select("borrower_id").unique(), on="borrower_id")
        counts = group.join(before, on="borrower_id", how="left").fill_null(0)
        rows.append(
            (
                f"before the application, banked borrowers with {label}: returned payments / "
                "overdraft fees per borrower",
                f"{counts['returned'].mean():.1f} / {counts['fees'].mean():.1f}",
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--borrowers", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--end-date", default="2026-09-30", help="last date of the history")
    args = parser.parse_args(argv)
    frames = generate_frames(
        args.borrowers, seed=args.seed, end_date=date.fromisoformat(args.end_date)
    )
    print(f"| {args.borrowers:,} borrowers, seed {args.seed}, end {args.end_date} | |")
    print("|---|---|")
    for name, value in figures(frames):
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
