"""The serving model: resolved from the registry, verified, swapped atomically.

`ModelHolder.current` is a plain reference to an immutable `ScoringModel`. A
request reads it once and scores with that object to the end, so a swap never
changes the model under a request in flight. A poller thread checks the
registry every `poll_seconds` and loads a newly promoted champion; a champion
whose artifact fails verification is refused, the current model keeps serving
and the refusal is reported by /readyz.

Every reload also resolves the running experiment, if any (`experiment`): its challenger,
verified the same way, decides the borrowers assigned to its arm. A challenger that fails
verification is refused on its own: its arm falls back to the champion (every borrower
gets `champion`) and the fallback is recorded on the experiment. A stopped experiment
leaves the API at the next poll.

Built with `shadow_enabled` (CREDIT_API_SHADOW), every reload also resolves the
challenger to score in shadow (`shadow`, from `registry.shadow_candidate`), verified
the same way; a shadow model that fails verification is refused on its own and never
touches the champion.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from credit_assets.core.platform.db import migrated_engine
from credit_assets.core.platform.experiments import (
    Experiment,
    record_fallback,
    running_experiment,
)
from credit_assets.core.platform.registry import (
    RegistryRecord,
    current_champion,
    get_model,
    shadow_candidate,
)
from credit_assets.core.platform.settings import Settings
from credit_assets.core.scoring import ScoringModel
from scoring_api.errors import NoModelError

log = logging.getLogger("scoring_api.model")

Loader = Callable[[Settings, RegistryRecord], ScoringModel]


@dataclass(frozen=True)
class ActiveExperiment:
    """The running experiment as the API serves it: `model` decides the challenger arm;
    None while its artifact is refused (the arm falls back to the champion)."""

    experiment: Experiment
    model: ScoringModel | None
    fallback_reason: str | None = None


@dataclass(frozen=True)
class Refusal:
    version: str
    manifest_sha256: str
    reason: str
    at: datetime


class ModelHolder:
    def __init__(
        self,
        settings: Settings,
        poll_seconds: float,
        loader: Loader = ScoringModel.load,
        on_swap: Callable[[ScoringModel], None] | None = None,
        on_refuse: Callable[[Refusal], None] | None = None,
        shadow_enabled: bool = False,
    ) -> None:
        self.settings = settings
        self.poll_seconds = poll_seconds
        self.loader = loader
        self.on_swap = on_swap
        self.on_refuse = on_refuse
        self.current: ScoringModel | None = None
        self.champion_version: str | None = None
        self.refusal: Refusal | None = None
        self.registry_error: str | None = None
        self.champion_record: RegistryRecord | None = None
        self.shadow_enabled = shadow_enabled
        self.shadow: ScoringModel | None = None  # read once per submission, like `current`
        self.shadow_version: str | None = None  # the challenger in shadow (loaded or refused)
        self.shadow_refusal: Refusal | None = None
        self.experiment: ActiveExperiment | None = None  # read once per request, like `current`
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def require(self) -> ScoringModel:
        """The model to score with (read once per request), or NoModelError."""
        model = self.current
        if model is None:
            raise NoModelError(self.unavailable_reason())
        return model

    def unavailable_reason(self) -> str:
        if self.registry_error:
            return f"no model loaded: the model registry is unreachable ({self.registry_error})"
        if self.refusal is not None:
            return f"no model loaded: champion {self.refusal.version} was refused ({self.refusal.reason})"
        return (
            "no model loaded: the registry has no champion model yet (materialize champion_model)"
        )

    def engine(self) -> Engine:
        return migrated_engine(self.settings.resolved_database_url)

    def reload(self, force: bool = False) -> ScoringModel | None:
        """Serve the registry's champion if it is not served already; return the model serving now.

        A champion refused before is not retried until its registry record changes
        (or `force`). Errors never escape: they are kept for /readyz. The shadow model
        is resolved after the champion, when shadow scoring is enabled.
        """
        with self._reload_lock:
            model = self._reload_champion(force)
            if self.registry_error is None:
                self._reload_experiment()
            if self.shadow_enabled and self.registry_error is None:
                self._reload_shadow()
            return model

    def _reload_experiment(self) -> None:
        try:
            running = running_experiment(self.engine())
        except Exception as exc:  # keep the experiment we have
            log.warning("experiment lookup failed: %s", type(exc).__name__)
            return
        active = self.experiment
        if running is None:
            if active is not None:
                log.info(
                    "experiment %s stopped: the champion decides", active.experiment.experiment_id
                )
            self.experiment = None
            return
        if active is not None and active.experiment.experiment_id == running.experiment_id:
            self.experiment = ActiveExperiment(running, active.model, active.fallback_reason)
            return
        try:
            record = get_model(self.engine(), running.challenger_version)
            shadow = self.shadow  # the same verified artifact already loaded for shadow scoring
            if shadow is not None and (shadow.version, shadow.manifest_sha256) == (
                record.version,
                record.manifest_sha256,
            ):
                model = shadow
            else:
                model = self.loader(self.settings, record)
        except Exception as exc:
            reason = (
                f"challenger {running.challenger_version} refused ({type(exc).__name__}: {exc})"
            )
            log.error(
                "experiment %s: %s; its arm falls back to the champion",
                running.experiment_id,
                reason,
            )
            try:
                record_fallback(self.engine(), running.experiment_id, reason)
            except Exception as db_exc:  # recorded at the next poll
                log.warning("could not record the fallback: %s", type(db_exc).__name__)
            self.experiment = ActiveExperiment(running, None, reason)
            return
        self.experiment = ActiveExperiment(running, model)
        log.info(
            "experiment %s: challenger %s decides %.0f%% of borrowers",
            running.experiment_id,
            model.version,
            running.share * 100,
        )

    def shadow_state(self) -> str:
        """`disabled`, `none` (no challenger to shadow), `active` or `refused`."""
        if not self.shadow_enabled:
            return "disabled"
        if self.shadow is not None:
            return "active"
        return "refused" if self.shadow_refusal is not None else "none"

    def _reload_champion(self, force: bool) -> ScoringModel | None:
        try:
            record = current_champion(self.engine())
            self.registry_error = None
        except Exception as exc:  # database down: keep serving what we have
            self.registry_error = type(exc).__name__
            log.warning("model registry unreachable: %s", type(exc).__name__)
            return self.current
        self.champion_version = record.version if record else None
        self.champion_record = record
        if record is None:
            return self.current
        serving = self.current
        if (
            serving is not None
            and serving.version == record.version
            and serving.manifest_sha256 == record.manifest_sha256
        ):
            return serving
        refused = self.refusal
        if (
            not force
            and refused is not None
            and (refused.version, refused.manifest_sha256)
            == (record.version, record.manifest_sha256)
        ):
            return serving
        try:
            model = self.loader(self.settings, record)
        except Exception as exc:
            self.refusal = Refusal(
                record.version,
                record.manifest_sha256,
                f"{type(exc).__name__}: {exc}",
                datetime.now(UTC),
            )
            log.error(
                "refused champion %s (%s); still serving %s",
                record.version,
                self.refusal.reason,
                serving.version if serving else "nothing",
            )
            if self.on_refuse is not None:
                self.on_refuse(self.refusal)
            return serving
        self.current = model  # the swap: one reference assignment
        self.refusal = None
        log.info("serving model %s", model.version)
        if self.on_swap is not None:
            self.on_swap(model)
        return model

    def _reload_shadow(self) -> None:
        try:
            record = shadow_candidate(self.engine(), self.champion_record)
        except Exception as exc:  # keep the shadow model we have
            log.warning("shadow model lookup failed: %s", type(exc).__name__)
            return
        if record is None:
            if self.shadow_version is not None:
                log.info("no challenger to score in shadow any more")
            self.shadow = None
            self.shadow_version = None
            self.shadow_refusal = None
            return
        key = (record.version, record.manifest_sha256)
        shadow, refused = self.shadow, self.shadow_refusal
        if shadow is not None and (shadow.version, shadow.manifest_sha256) == key:
            return
        if refused is not None and (refused.version, refused.manifest_sha256) == key:
            return
        self.shadow_version = record.version
        try:
            model = self.loader(self.settings, record)
        except Exception as exc:
            self.shadow = None
            self.shadow_refusal = Refusal(
                record.version,
                record.manifest_sha256,
                f"{type(exc).__name__}: {exc}",
                datetime.now(UTC),
            )
            log.error(
                "refused shadow model %s (%s); shadow scoring is off",
                record.version,
                self.shadow_refusal.reason,
            )
            return
        self.shadow = model
        self.shadow_refusal = None
        log.info("scoring challenger %s in shadow", model.version)

    def start(self) -> None:
        if self.poll_seconds > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._poll, name="model-poller", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.reload()
            except Exception:  # the poller must outlive any surprise
                log.exception("model poll failed")
