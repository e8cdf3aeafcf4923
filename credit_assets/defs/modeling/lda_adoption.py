"""A less discriminatory alternative registered as a challenger.

The LDA search (`lda_search`) records every candidate's configuration. When it discovers a
servable alternative, `challenger_model` run with `lda_of` (and optionally `lda_candidate`)
refits that configuration exactly on the same training set, and the alternative then goes
through what every challenger goes through: an immutable artifact, every report and every
gate, and `champion_model`'s decision. The registry's lineage names the search it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dagster as dg
import polars as pl

from credit_assets.core.compliance.lda_candidates import (
    CandidateConfig,
    candidate_specs,
    refit,
)
from credit_assets.core.compliance.lda_discovery import SearchResult
from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling.scorecard import TrainedScorecard
from credit_assets.core.modeling.selection import Selection
from credit_assets.core.modeling.train import TrainedModel
from credit_assets.core.platform.settings import get_settings
from credit_assets.defs.common.lineage import LINEAGE_LDA_CANDIDATE, LINEAGE_LDA_OF
from credit_assets.defs.common.loaders import score_scale, with_proxies
from credit_assets.defs.common.reports import read_report
from credit_assets.defs.common.resources import PlatformResource


class AdoptionError(ValueError):
    """The alternative asked for cannot be registered; the message says why and what to do."""


@dataclass(frozen=True)
class Adopted:
    """The refitted alternative, the inputs it uses, and how it is recorded."""

    trained: TrainedModel | TrainedScorecard
    specs: list[FeatureSpec]
    selection: Selection
    how: str
    lineage: dict[str, Any]


def chosen_candidate(
    report: dict[str, Any] | None, lda_of: str, candidate: str, training_sha: str | None
) -> tuple[str, CandidateConfig, dict[str, Any]]:
    """The candidate to adopt from `lda_of`'s LDA report (`candidate`, else the search's
    servable discovery): its name, configuration and evaluated row."""
    if report is None:
        raise AdoptionError(
            f"no LDA report for model version {lda_of}: materialize lda_search for it first"
        )
    if training_sha is not None and report.get("training_set_sha256") not in (None, training_sha):
        raise AdoptionError(
            f"the LDA search of {lda_of} ran on training set "
            f"{str(report.get('training_set_sha256'))[:12]}, not the current one "
            f"({training_sha[:12]}): its candidates were judged on other rows; run the "
            "search again on the current challenger"
        )
    result = SearchResult.from_dict(report)
    name = candidate or report.get("adoptable") or ""
    if not name:
        raise AdoptionError(
            f"the LDA search of {lda_of} found no servable alternative to adopt "
            f"({result.statement}); name one with --candidate"
        )
    names = [r["name"] for r in result.candidates if r.get("config")]
    if name not in names:
        raise AdoptionError(
            f"no candidate {name!r} in the LDA search of {lda_of}; candidates: {', '.join(names)}"
        )
    config = result.config(name)
    row = result.candidate(name)
    if not config.servable:
        raise AdoptionError(
            f"candidate {name!r} cannot be served by the platform "
            f"({row.get('not_servable_because') or 'not servable'}): it can be studied, not adopted"
        )
    if row.get("error"):
        raise AdoptionError(f"candidate {name!r} could not be fitted in the search: {row['error']}")
    return name, config, row


def adopt_alternative(
    platform: PlatformResource,
    frame: pl.DataFrame,
    specs: list[FeatureSpec],
    training_sha: str,
    lda_of: str,
    candidate: str = "",
) -> Adopted:
    """Refit the chosen candidate of `lda_of`'s search on the training set, exactly."""
    report = read_report(platform, "lda", lda_of)
    name, config, row = chosen_candidate(report, lda_of, candidate, training_sha)
    proxies = with_proxies(platform, frame)
    training = proxies.frame if proxies is not None else frame
    trained = refit(config, training, specs, score_scale(platform.settings))
    assert isinstance(trained, TrainedModel | TrainedScorecard)  # servable families only
    reason = (
        f"the less discriminatory alternative '{name}' ({config.description}) that the LDA "
        f"search of {lda_of} found: AUC {row.get('auc')}, worst AIR {row.get('worst_air')} "
        "on the same test rows"
    )
    selection = Selection(
        family=config.family,
        best=config.family,
        rule="adopted from a less-discriminatory-alternative search",
        reason=reason,
        auc={config.family: row["auc"]} if row.get("auc") is not None else {},
        policy={"lda_of": lda_of, "candidate": name, "config": config.to_dict()},
    )
    return Adopted(
        trained=trained,
        specs=candidate_specs(config, specs),
        selection=selection,
        how=f"refit from the LDA search's recorded configuration '{name}' (seed {config.seed})",
        lineage={LINEAGE_LDA_OF: lda_of, LINEAGE_LDA_CANDIDATE: name},
    )


ADOPTION_SELECTION = dg.AssetSelection.assets("challenger_model").downstream() & (
    dg.AssetSelection.groups("modeling") | dg.AssetSelection.groups("compliance")
)
"""What registering an alternative runs: the challenger, every report and gate on it,
`champion_model`'s decision and the model card."""

adopt_lda_job = dg.define_asset_job(
    name="adopt_lda_alternative",
    selection=ADOPTION_SELECTION,
    description="Register the less discriminatory alternative an LDA search discovered as a "
    "challenger (op config challenger_model.lda_of), with every report and gate on it.",
)


def adoption_run_config(lda_of: str, candidate: str = "") -> dict[str, Any]:
    return {"ops": {"challenger_model": {"config": {"lda_of": lda_of, "lda_candidate": candidate}}}}


@dg.asset_sensor(
    asset_key=dg.AssetKey("lda_search"),
    job=adopt_lda_job,
    name="lda_alternative_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="An LDA search that discovers a servable, less discriminatory alternative "
    "requests the run that registers it as a challenger (off: CREDIT_LDA_ADOPT=false).",
)
def lda_alternative_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    materialization = asset_event.asset_materialization
    metadata = {
        k: v.value for k, v in (materialization.metadata if materialization else {}).items()
    }
    return adoption_request(metadata, adopt=get_settings().lda_adopt)


def adoption_request(metadata: dict[str, Any], *, adopt: bool) -> dg.RunRequest | dg.SkipReason:
    """The sensor's decision on one `lda_search` materialization's metadata."""
    if not adopt:
        return dg.SkipReason("CREDIT_LDA_ADOPT is off: `credit-platform models adopt-lda`")
    candidate, version = metadata.get("adoptable"), metadata.get("model_version")
    if not candidate or candidate == "none" or not version:
        return dg.SkipReason("the latest LDA search found no servable alternative to register")
    return dg.RunRequest(
        run_key=f"adopt-lda-{version}-{candidate}",
        run_config=adoption_run_config(str(version), str(candidate)),
        tags={"credit/lda_of": str(version), "credit/trigger": "lda_search"},
    )
