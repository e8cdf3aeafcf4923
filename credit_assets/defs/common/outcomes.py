"""Named outcomes: the data, not the code, ended a run, and one plain sentence says why.

An asset that cannot go on because of what landed (no labelled rows) raises
`named_outcome(...)`: a `dg.Failure` whose description is the sentence and whose metadata
names the outcome. The UI shows the sentence on the failed step, the steps that need its
output are skipped, no retry is attempted (the same files give the same answer), and
`credit-platform materialize` prints the sentence, not a traceback, and exits 4.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

OUTCOME_KEY = "outcome"
NO_LABELLED_ROWS = "no_labelled_rows"


def named_outcome(
    outcome: str, description: str, metadata: Mapping[str, Any] | None = None
) -> dg.Failure:
    """The failure to raise: `description` for people, `outcome` for scripts."""
    return dg.Failure(
        description=description,
        metadata={OUTCOME_KEY: outcome, **(metadata or {})},
        allow_retries=False,
    )


def named_outcomes(result: dg.ExecuteInProcessResult) -> list[str]:
    """The sentences of the named outcomes that failed steps of a run."""
    found = []
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        failure = getattr(event.event_specific_data, "user_failure_data", None)
        if failure is not None and OUTCOME_KEY in (failure.metadata or {}):
            found.append(str(failure.description))
    return found
