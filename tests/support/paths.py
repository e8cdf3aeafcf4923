"""Where the suite finds the repository and the real lender files beside it."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# Real public datasets live outside the repository (../shared/datasets, see its README).
DATASETS = REPO_ROOT.parent / "shared" / "datasets"
GERMAN_CREDIT_CSV = DATASETS / "german_credit.csv"
LENDING_CLUB_CSV = DATASETS / "lending_club.csv"
