"""The Dagster code location: every asset, check, sensor and schedule under `defs/`."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from credit_assets.defs.common.production import executor_from_env
from credit_assets.defs.common.resources import PlatformResource


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(
            resources={"platform": PlatformResource()},
            executor=executor_from_env(),  # CREDIT_EXECUTOR: multiprocess (default) or celery
        ),
    )
