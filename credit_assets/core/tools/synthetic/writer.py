"""Stream synthetic borrowers into a landing zone, one chunk of borrowers at a time."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score

from credit_assets.core.tools.synthetic.dirt import (
    BAD_FILE_NAMES,
    DAMAGE,
    damage_typed,
    plan_dirt,
    write_bad_files,
    write_text_with_dirt,
)
from credit_assets.core.tools.synthetic.frames import DEFAULT_END_DATE, generate_frames
from credit_assets.core.tools.synthetic.population import PlantedDisparity

SOURCE_FORMATS: dict[str, str] = {
    "applications": "csv",
    "outcomes": "csv",
    "utility_payments": "csv",
    "telecom_payments": "jsonl",
    "rent_payments": "csv",
    "bank_transactions": "parquet",
    "bureau": "csv",
    "demographics": "csv",
}
GROUND_TRUTH_NAME = "true_pd"
# Snappy writes about twice as fast as zstd here, for files about half again as large.
PARQUET_COMPRESSION: Literal["snappy"] = "snappy"


@dataclass
class GenerationSummary:
    """What a `generate` run wrote, and the figures of the population it drew."""

    n_borrowers: int
    rows: dict[str, int]  # rows written per source, duplicates included
    dirty_rows: dict[str, int]  # of which dirty (duplicates and damaged rows)
    files: list[Path]  # landing-zone part files, then the ground-truth files
    bad_files: list[Path]
    default_rate: float  # share of matured applications that defaulted within 12 months
    matured_applications: int
    thin_file_share: float  # share of borrowers without any bureau record
    bayes_auc: float  # AUC of the true PD against the realised default, matured applications
    seconds: float = 0.0

    def as_dict(self) -> dict:
        """JSON-friendly (paths as strings), for asset metadata and the CLI."""
        out = asdict(self)
        out["files"] = [str(p) for p in self.files]
        out["bad_files"] = [str(p) for p in self.bad_files]
        return out


def part_path(landing_dir: Path, source: str, part: int) -> Path:
    return landing_dir / source / f"{source}-part-{part:05d}.{SOURCE_FORMATS[source]}"


def generate(
    n_borrowers: int,
    landing_dir: Path,
    ground_truth_dir: Path,
    *,
    seed: int = 42,
    end_date: date = DEFAULT_END_DATE,
    dirty_rate: float = 0.0,
    bad_files: bool = False,
    chunk_borrowers: int = 100_000,
    progress: Callable[[int], None] | None = None,
    planted_disparity: PlantedDisparity | None = None,
) -> GenerationSummary:
    """Write `n_borrowers` synthetic borrowers as landing-zone files, chunk by chunk.

    Chunk k holds borrowers [k * chunk_borrowers, (k + 1) * chunk_borrowers) and
    goes to `<landing_dir>/<source>/<source>-part-<k>.<ext>`; only one chunk is
    in memory at a time. The ground truth goes to `ground_truth_dir`, which must
    lie outside the landing zone. `planted_disparity` lowers one group's creditworthiness
    (see `PlantedDisparity`), for testing that fairness evidence finds it. A run replaces the files of an earlier run
    (its stale parts and bad files included) and leaves any other file alone.
    Files appear atomically (written under a temporary name, then renamed).
    """
    _check_sizes(n_borrowers, dirty_rate, chunk_borrowers)
    landing_dir, ground_truth_dir = Path(landing_dir), Path(ground_truth_dir)
    if ground_truth_dir.resolve().is_relative_to(landing_dir.resolve()):
        raise ValueError(
            "ground_truth_dir must not be inside landing_dir: models must never see it"
        )
    run = _Run(landing_dir, ground_truth_dir, seed, dirty_rate, bad_files)

    started = time.perf_counter()
    n_parts = -(-n_borrowers // chunk_borrowers)
    _remove_stale_files(landing_dir, ground_truth_dir, n_parts, bad_files)
    tally = _Tally()
    for part in range(n_parts):
        first = part * chunk_borrowers
        size = min(chunk_borrowers, n_borrowers - first)
        frames = generate_frames(
            size,
            seed=seed,
            end_date=end_date,
            first_borrower=first,
            planted_disparity=planted_disparity,
        )
        _write_part(run, part, size, frames, tally)
        del frames
        if progress is not None:
            progress(size)
    return tally.summary(n_borrowers, started)


def _check_sizes(n_borrowers: int, dirty_rate: float, chunk_borrowers: int) -> None:
    """A ValueError for a count or rate out of range."""
    if n_borrowers < 1:
        raise ValueError("n_borrowers must be at least 1")
    if not 0.0 <= dirty_rate < 0.5:
        raise ValueError("dirty_rate must be in [0, 0.5)")
    if chunk_borrowers < 1:
        raise ValueError("chunk_borrowers must be at least 1")


@dataclass(frozen=True)
class _Run:
    """Where a `generate` run writes, and what every part of it needs."""

    landing_dir: Path
    ground_truth_dir: Path
    seed: int
    dirty_rate: float
    bad_files: bool


@dataclass
class _Tally:
    """What the parts written so far add up to."""

    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SOURCE_FORMATS, 0))
    dirty: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SOURCE_FORMATS, 0))
    files: list[Path] = field(default_factory=list)
    truth_files: list[Path] = field(default_factory=list)
    bad_files: list[Path] = field(default_factory=list)
    pd_matured: list[np.ndarray] = field(default_factory=list)
    default_matured: list[np.ndarray] = field(default_factory=list)
    no_bureau: int = 0

    def add_population(
        self, frames: dict[str, pl.DataFrame], truth: pl.DataFrame, size: int
    ) -> None:
        """Count one chunk's matured outcomes (with their true PD) and its thin-file borrowers."""
        matured = (
            frames["outcomes"]
            .select("application_id", "default_12m")
            .join(truth.select("application_id", "true_pd"), on="application_id")
        )
        self.pd_matured.append(matured["true_pd"].to_numpy())
        self.default_matured.append(matured["default_12m"].to_numpy())
        self.no_bureau += size - frames["bureau"]["borrower_id"].n_unique()

    def summary(self, n_borrowers: int, started: float) -> GenerationSummary:
        """The run's summary, with the Bayes AUC over every matured application."""
        pd_all, y_all = np.concatenate(self.pd_matured), np.concatenate(self.default_matured)
        both_classes = 0 < y_all.sum() < y_all.size
        return GenerationSummary(
            n_borrowers=n_borrowers,
            rows=self.rows,
            dirty_rows=self.dirty,
            files=self.files + self.truth_files,
            bad_files=self.bad_files,
            default_rate=float(y_all.mean()) if y_all.size else float("nan"),
            matured_applications=int(y_all.size),
            thin_file_share=self.no_bureau / n_borrowers,
            bayes_auc=float(roc_auc_score(y_all, pd_all)) if both_classes else float("nan"),
            seconds=time.perf_counter() - started,
        )


def _write_part(
    run: _Run, part: int, size: int, frames: dict[str, pl.DataFrame], tally: _Tally
) -> None:
    """Write one chunk's frames as part `part` of every source, its ground truth apart."""
    truth = frames.pop("ground_truth")
    tally.add_population(frames, truth, size)
    for index, (source, frame) in enumerate(frames.items()):
        rng = np.random.default_rng(np.random.SeedSequence([run.seed % 2**63, part, index]))
        path = part_path(run.landing_dir, source, part)
        n_rows, n_dirty = _write_source(frame, source, path, run.dirty_rate, rng)
        tally.rows[source] += n_rows
        tally.dirty[source] += n_dirty
        tally.files.append(path)
    truth_path = run.ground_truth_dir / f"{GROUND_TRUTH_NAME}-part-{part:05d}.parquet"
    _atomic(truth_path, truth.write_parquet)
    tally.truth_files.append(truth_path)
    if run.bad_files and part == 0:
        tally.bad_files = write_bad_files(frames, run.landing_dir)


def _write_source(
    frame: pl.DataFrame, source: str, path: Path, dirty_rate: float, rng: np.random.Generator
) -> tuple[int, int]:
    """Write one part file; returns (rows written, dirty rows among them)."""
    fmt = SOURCE_FORMATS[source]
    if fmt == "parquet":
        plan = plan_dirt(source, frame.height, dirty_rate, rng, duplicates=False)
        damaged = damage_typed(frame, source, plan) if plan.n_dirty else frame
        _atomic(path, lambda tmp: damaged.write_parquet(tmp, compression=PARQUET_COMPRESSION))
        return frame.height, plan.n_dirty
    if dirty_rate == 0.0 or source not in DAMAGE:
        writer = frame.write_csv if fmt == "csv" else frame.write_ndjson
        _atomic(path, lambda tmp: writer(tmp))
        return frame.height, 0
    plan = plan_dirt(source, frame.height, dirty_rate, rng, duplicates=True)
    _atomic(path, lambda tmp: write_text_with_dirt(frame, source, fmt, plan, tmp))
    return frame.height + plan.duplicated.size, plan.n_dirty


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Write under a hidden temporary name, then rename: a watching sensor never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _remove_stale_files(
    landing_dir: Path, ground_truth_dir: Path, n_parts: int, bad_files: bool
) -> None:
    """Delete this generator's own files that the new run will not overwrite."""
    parts = [
        *(
            p
            for s, ext in SOURCE_FORMATS.items()
            for p in (landing_dir / s).glob(f"{s}-part-*.{ext}")
        ),
        *ground_truth_dir.glob(f"{GROUND_TRUTH_NAME}-part-*.parquet"),
    ]
    stale = [p for p in parts if (number := _part_number(p)) is not None and number >= n_parts]
    if not bad_files:
        stale += [landing_dir / source / name for source, name in BAD_FILE_NAMES.items()]
    for path in stale:
        path.unlink(missing_ok=True)


def _part_number(path: Path) -> int | None:
    digits = path.name.rsplit("-part-", 1)[-1].split(".", 1)[0]
    return int(digits) if digits.isdigit() else None
