"""A feature catalogue for the promotion tests: one feature with an approved reason, one
without."""

from credit_assets.core.features.specs import FeatureCatalogue, FeatureSpec

CATALOGUE = FeatureCatalogue(
    (
        FeatureSpec(
            "utility_on_time_ratio_12m",
            "on-time share",
            "utility_payments",
            "float",
            "decreasing",
            "U01",
            "Late payments on utility bills",
        ),
        FeatureSpec("mystery_score", "undocumented", "lender", "float"),
    )
)
