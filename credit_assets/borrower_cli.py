"""`credit-platform borrower ...`: a borrower's rights from the command line (docs/PRIVACY.md).

    borrower export  --borrower ID [--html PATH]     everything held about the borrower (JSON)
    borrower explain --decision ID [--html PATH]     a decision's explanation (JSON)
    borrower consent grant|revoke --borrower ID --source NAME
    borrower erase   --borrower ID --reason TEXT     erasure from every store, audited
    borrower purge-revoked                           erase revoked consents' records when due
    borrower requests --borrower ID                  the audit of the borrower's requests

Exit codes: 0 done, 1 an erasure left a store it could not redact (named), 2 a request that
cannot be honoured as asked (unknown borrower or decision, no such consent, no reason).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from credit_assets.core.platform.settings import get_settings
from credit_assets.core.reports.text import printable


def shown(text: object) -> str:
    """Text that echoes what a lender or operator wrote, for the terminal: its escape codes
    and other control characters shown, not run (`printable`), line by line."""
    return "\n".join(printable(line) for line in str(text).split("\n"))


def operator(given: str | None) -> str:
    """Who runs a command: `--by`, else the login name."""
    import getpass

    if given:
        return given.strip()[:100]
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (some containers)
        return "unknown"


def add_borrower_parser(sub: Any) -> None:
    """The `borrower` command and its actions."""
    parser = sub.add_parser("borrower", help="a borrower's rights: export, explain, consent, erase")
    actions = parser.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="everything held about a borrower, as JSON")
    export.add_argument("--borrower", required=True)
    export.add_argument("--html", type=Path, help="also write a readable page here")
    explain = actions.add_parser("explain", help="a decision's explanation, as JSON")
    explain.add_argument("--decision", required=True)
    explain.add_argument("--html", type=Path, help="also write a readable page here")
    consent = actions.add_parser("consent", help="grant or revoke a consent to a source")
    consent.add_argument("change", choices=["grant", "revoke"])
    consent.add_argument("--borrower", required=True)
    consent.add_argument("--source", required=True, help="a source with `consent: required`")
    erase = actions.add_parser("erase", help="erase a borrower from every store")
    erase.add_argument("--borrower", required=True)
    erase.add_argument("--reason", required=True, help="why (recorded in the audit)")
    actions.add_parser("purge-revoked", help="erase revoked consents' records when due")
    requests = actions.add_parser("requests", help="the audit of a borrower's requests")
    requests.add_argument("--borrower", required=True)
    for action in (export, explain, consent, erase, requests):
        action.add_argument("--by", help="who asks (default: the login name)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from credit_assets.core.privacy.access import UnknownBorrowerError, UnknownDecisionError
    from credit_assets.core.privacy.context import PrivacyContext
    from credit_assets.core.privacy.records import ConsentError

    ctx = PrivacyContext(get_settings())
    handlers = {
        "export": _export,
        "explain": _explain,
        "consent": _consent,
        "erase": _erase,
        "purge-revoked": _purge,
        "requests": _requests,
    }
    try:
        return handlers[args.action](ctx, args)
    except UnknownBorrowerError:
        print(
            shown(f"borrower {args.action}: nothing is held about this borrower"), file=sys.stderr
        )
        return 2
    except UnknownDecisionError:
        print(shown(f"borrower explain: no decision {args.decision!r}"), file=sys.stderr)
        return 2
    except (ConsentError, ValueError) as exc:
        print(shown(f"borrower {args.action}: {exc}"), file=sys.stderr)
        return 2


def _write_page(path: Path | None, page: str) -> None:
    if path is not None:
        path.write_text(page, encoding="utf-8")
        print(shown(f"wrote {path}"), file=sys.stderr)


def _export(ctx: Any, args: argparse.Namespace) -> int:
    from credit_assets.core.privacy.access import borrower_export, export_html

    document = borrower_export(ctx, args.borrower, by=operator(args.by))
    print(json.dumps(document, indent=2, default=str))
    _write_page(args.html, export_html(document))
    return 0


def _explain(ctx: Any, args: argparse.Namespace) -> int:
    from credit_assets.core.privacy.access import decision_explanation, explanation_html

    explanation = decision_explanation(
        ctx, args.decision, by=operator(args.by), cutoff=ctx.settings.approval_cutoff_score
    )
    print(json.dumps(explanation, indent=2, default=str))
    _write_page(args.html, explanation_html(explanation))
    return 0


def _consent(ctx: Any, args: argparse.Namespace) -> int:
    from credit_assets.core.privacy.consent import grant, revoke

    if args.change == "grant":
        consent = grant(ctx, args.borrower, args.source, operator(args.by))
        print(json.dumps(consent.to_dict(), indent=2))
        return 0
    consent, recomputed = revoke(ctx, args.borrower, args.source, operator(args.by))
    print(json.dumps({**consent.to_dict(), "online_row_recomputed": recomputed}, indent=2))
    return 0


def _erase(ctx: Any, args: argparse.Namespace) -> int:
    from credit_assets.core.privacy.erasure import erase_borrower

    outcome = erase_borrower(
        ctx,
        args.borrower,
        by=operator(args.by),
        reason=args.reason,
        progress=lambda step: print(shown(f"erasing: {step}"), file=sys.stderr),
    )
    print(json.dumps(outcome.to_dict(), indent=2, default=str))
    failed = [f for store in outcome.stores.values() for f in store.get("failed", [])]
    for failure in failed:
        print(shown(f"borrower erase: could not redact {failure}"), file=sys.stderr)
    return 1 if failed else 0


def _purge(ctx: Any, args: argparse.Namespace) -> int:
    from credit_assets.core.privacy.consent import purge_revoked

    done = purge_revoked(ctx, by="cli")
    print(json.dumps(done, indent=2))
    return 0


def _requests(ctx: Any, args: argparse.Namespace) -> int:
    from credit_assets.core.privacy.records import requests_for

    print(json.dumps(requests_for(ctx.engine, ctx.pseudonym(args.borrower)), indent=2))
    return 0
