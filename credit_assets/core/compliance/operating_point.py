"""The operating point fairness is judged at: the lender's approval policy, not a fixed score.

A fixed cut-off means different things on different files: on a file with a 20 % bad rate
whose scores sit low, a score of 600 may approve 11 % of applicants, and adverse impact
ratios measured there describe a policy no lender runs. The fairness gate therefore judges
at the lender's operating point, chosen in this order:

1. `CREDIT_FAIRNESS_APPROVAL_RATE` (say the lender's historical or planned approval rate):
   the cut-off that approves that share of the evaluated applicants;
2. `CREDIT_APPROVAL_CUTOFF_SCORE` when it is set explicitly: the lender's own cut-off;
3. otherwise the documented default: approve the share of applicants who repaid in the
   development rows (1 - bad rate), the rate at which a lender approves everyone its history
   says is good. The training files hold outcomes of booked loans only, so the historical
   approval rate itself is not in them: a lender states it with (1).

The report also keeps the adverse impact ratio across approval rates (30 % to 95 %) and the
approval rate at the API's cut-off, so a reviewer sees the whole range and the live policy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from credit_assets.core.compliance.fairness import cutoff_for_approval_rate

CONFIGURED_RATE = "configured approval rate (CREDIT_FAIRNESS_APPROVAL_RATE)"
CONFIGURED_CUTOFF = "configured cut-off (CREDIT_APPROVAL_CUTOFF_SCORE)"
DEFAULT_RATE = "default: the good rate of the development rows (1 - bad rate)"


@dataclass(frozen=True)
class OperatingPoint:
    basis: str
    cutoff: float
    approval_rate: float
    """Share of the evaluated applicants approved at `cutoff`."""
    target_rate: float | None
    """The approval rate asked for (None when a cut-off was configured)."""
    api_cutoff: float
    api_approval_rate: float
    """What the API's own cut-off approves on the same applicants, for comparison."""

    @property
    def detail(self) -> str:
        where = f"cut-off {self.cutoff:g}, approving {self.approval_rate:.1%}"
        asked = f" (asked {self.target_rate:.1%})" if self.target_rate is not None else ""
        api = (
            f"; the API's cut-off {self.api_cutoff:g} approves {self.api_approval_rate:.1%}"
            if self.api_cutoff != self.cutoff
            else ""
        )
        return f"judged at {where}{asked} by the {self.basis}{api}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "detail": self.detail}


def operating_point(
    scores: np.ndarray,
    *,
    api_cutoff: float,
    cutoff_configured: bool,
    approval_rate: float | None,
    good_rate: float,
) -> OperatingPoint:
    """Where to judge approval parity on `scores` (see the module docstring for the order)."""
    scores = np.asarray(scores, dtype=np.float64)

    def approved_at(cutoff: float) -> float:
        return float((scores >= cutoff).mean()) if scores.size else float("nan")

    if approval_rate is not None:
        basis, target = CONFIGURED_RATE, float(approval_rate)
    elif cutoff_configured:
        basis, target = CONFIGURED_CUTOFF, None
    else:
        basis, target = DEFAULT_RATE, float(good_rate)
    cutoff = (
        cutoff_for_approval_rate(scores, target)
        if target is not None and scores.size
        else float(api_cutoff)
    )
    return OperatingPoint(
        basis=basis,
        cutoff=cutoff,
        approval_rate=approved_at(cutoff),
        target_rate=target,
        api_cutoff=float(api_cutoff),
        api_approval_rate=approved_at(api_cutoff),
    )
