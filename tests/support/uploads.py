"""Shared pieces of the upload tests: a contracts folder with the Plaid source, files to push,
and the landing zone's contents as a caller could never see them.

`plaid_contracts` copies the repository's contracts into a folder of the test and puts the
Plaid example in place of `bank_transactions`, as a lender onboarding Plaid would.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.support.paths import REPO_ROOT
from tests.support.plaid import PLAID_CONTRACT, plaid_transaction
from tests.support.production import VENV_BIN, Service, free_port, process_env, running

UTILITY_HEADER = (
    "bill_id,borrower_id,provider,due_date,paid_date,amount_due,amount_paid,days_late\n"
)


def utility_csv(rows: int, bad: int = 0, prefix: str = "u", borrower: str = "B") -> bytes:
    """`rows` valid utility bills, then `bad` without a borrower (quarantined)."""
    good = "".join(
        f"{prefix}{i},{borrower}{i % 7},acme,2024-0{1 + i % 9}-01,,50,,\n" for i in range(rows)
    )
    broken = "".join(f"{prefix}x{i},,acme,2024-01-01,,5,,\n" for i in range(bad))
    return (UTILITY_HEADER + good + broken).encode()


def plaid_records(
    rows: int, bad: int = 0, prefix: str = "tx", borrower: str = "B"
) -> list[dict[str, Any]]:
    """Plaid transaction objects for three borrowers, then `bad` with an unreadable amount."""
    records = [
        plaid_transaction(
            {
                "transaction_id": f"{prefix}{i}",
                "borrower_id": f"{borrower}{i % 3}",
                "booked_date": f"2024-0{1 + i % 9}-1{i % 10}",
                "amount": 2500.0 if i % 10 == 0 else -12.5 - i,
                "category": "payroll" if i % 10 == 0 else "groceries",
                "counterparty": "Corner Shop",
            }
        )
        for i in range(rows)
    ]
    for i in range(bad):
        broken = plaid_transaction(
            {
                "transaction_id": f"{prefix}bad{i}",
                "borrower_id": f"{borrower}1",
                "booked_date": "2024-02-02",
                "amount": 1.0,
                "category": "shopping",
                "counterparty": None,
            }
        )
        broken["amount"] = "twelve"
        records.append(broken)
    return records


def plaid_contracts(folder: Path) -> Path:
    """The repository's contracts with the Plaid example as `bank_transactions`."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in (REPO_ROOT / "contracts").glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    shutil.copy(PLAID_CONTRACT, folder / "bank_transactions.yaml")
    return folder


def files_under(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()}


@contextlib.contextmanager
def served_api(env: dict[str, str], log_dir: Path) -> Iterator[tuple[str, Service]]:
    """`credit-platform serve` (one worker, debug log) on a free loopback port with `env`;
    (its URL, the service) once /healthz answers, stopped afterwards."""
    port = free_port()
    command = [str(VENV_BIN / "credit-platform"), "serve", "--workers", "1", "--port", str(port)]
    with running("api", [*command, "--log-level", "debug"], log_dir, process_env(env)) as service:
        url = f"http://127.0.0.1:{port}"
        service.wait_until(lambda: _healthy(url), timeout=90, what="GET /healthz")
        yield url, service


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
