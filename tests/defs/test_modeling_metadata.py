"""Metrics in the UI's metadata are missing where undefined, never 0.0."""

import math

from credit_assets.defs.modeling.assets import defined


def test_an_undefined_metric_is_missing_not_zero():
    assert defined(None) is None
    assert defined(math.nan) is None
    assert defined(0.0) == 0.0
    assert defined(0.7312) == 0.7312
