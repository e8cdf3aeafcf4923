"""Principal reasons for a decision, from SHAP values and the feature catalogue.

A reason is a reason code of the catalogue. Its contribution is the sum of the
SHAP values (log-odds of default, relative to the model's documented expected
value) of the model features that carry that code. Only codes whose sum raises
risk (is positive) are reasons; the largest come first and equal contributions
are ordered by code, so the same scores always give the same reasons.

`top_reasons` is the per-row specification; `top_reasons_batch` gives the same
result for many rows with array operations. Both sum a code's features in model
feature order starting from zero, so their contributions agree to the bit and
ties break the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from credit_assets.core.features.specs import FeatureCatalogue


class Reason(NamedTuple):
    """One principal reason: code and consumer text from the catalogue, log-odds added."""

    code: str
    text: str
    contribution: float
    features: tuple[str, ...]


@dataclass(frozen=True)
class ReasonCodeMap:
    """Which reason code each model feature reports under, built once per model."""

    feature_names: tuple[str, ...]
    codes: tuple[str, ...]  # sorted: column order of the group sums, and the tie-break
    texts: tuple[str, ...]
    code_features: tuple[tuple[str, ...], ...]  # per code, its features in model order
    feature_code: tuple[int, ...]  # per feature, the index of its code

    @classmethod
    def build(
        cls, feature_names: list[str] | tuple[str, ...], catalogue: FeatureCatalogue
    ) -> ReasonCodeMap:
        names = tuple(feature_names)
        missing = catalogue.missing(list(names))
        if missing:
            raise ValueError(f"model features not in the feature catalogue: {missing}")
        unapproved = catalogue.without_reason(list(names))
        if unapproved:
            raise ValueError(
                f"model features without an approved reason code and text: {unapproved}"
            )
        text_of: dict[str, str] = {}
        for name in names:
            spec = catalogue[name]
            code, text = str(spec.reason_code), str(spec.reason_text).strip()
            if text_of.setdefault(code, text) != text:
                raise ValueError(f"reason code {code!r} has two texts in the catalogue")
        codes = tuple(sorted(text_of))
        position = {code: i for i, code in enumerate(codes)}
        feature_code = tuple(position[str(catalogue[n].reason_code)] for n in names)
        code_features = tuple(
            tuple(n for n, c in zip(names, feature_code, strict=True) if c == i)
            for i in range(len(codes))
        )
        return cls(names, codes, tuple(text_of[c] for c in codes), code_features, feature_code)

    @property
    def indicator(self) -> np.ndarray:
        """(features, codes) 0/1 matrix: `shap @ indicator` sums SHAP by reason code."""
        matrix = np.zeros((len(self.feature_names), len(self.codes)))
        matrix[np.arange(len(self.feature_names)), self.feature_code] = 1.0
        return matrix

    def __post_init__(self) -> None:
        # (codes, widest group) feature columns; padding points at an all-zero column.
        # Built once: `code_sums` runs for every scoring batch.
        width = max((len(f) for f in self.code_features), default=0)
        columns = np.full((len(self.codes), width), len(self.feature_names), dtype=np.int64)
        position = {name: i for i, name in enumerate(self.feature_names)}
        for code, features in enumerate(self.code_features):
            columns[code, : len(features)] = [position[f] for f in features]
        object.__setattr__(self, "_columns", columns)

    def _code_columns(self) -> np.ndarray:
        return self._columns  # type: ignore[attr-defined,no-any-return]

    def reason(self, code_index: int, contribution: float) -> Reason:
        return Reason(
            self.codes[code_index],
            self.texts[code_index],
            float(contribution),
            self.code_features[code_index],
        )

    def top(self, shap_row: np.ndarray, k: int = 4) -> list[Reason]:
        """The per-row rule, written out plainly."""
        sums = [0.0] * len(self.codes)
        for value, code in zip(
            np.asarray(shap_row, dtype=np.float64).tolist(), self.feature_code, strict=True
        ):
            sums[code] += value
        ranked = sorted(
            (i for i, total in enumerate(sums) if total > 0.0),
            key=lambda i: (-sums[i], self.codes[i]),
        )
        return [self.reason(i, sums[i]) for i in ranked[:k]]

    def code_sums(self, shap: np.ndarray) -> np.ndarray:
        """(rows, codes) SHAP summed by reason code, in model feature order."""
        shap = np.asarray(shap, dtype=np.float64)
        padded = np.concatenate([shap, np.zeros((shap.shape[0], 1))], axis=1)
        columns = self._code_columns()
        sums = np.zeros((shap.shape[0], len(self.codes)))
        for step in range(columns.shape[1]):
            sums += padded[:, columns[:, step]]
        return sums

    def top_batch(self, shap: np.ndarray, k: int = 4) -> list[list[Reason]]:
        """`top` for every row of a (rows, features) SHAP matrix."""
        sums = self.code_sums(np.atleast_2d(shap))
        # Codes are columns in ascending order, so a stable sort breaks ties by code.
        order = np.argsort(-sums, axis=1, kind="stable")[:, :k]
        chosen = np.take_along_axis(sums, order, axis=1)
        # Positive sums come first in each row: a row's reasons are a prefix of `order`.
        n_positive = (chosen > 0.0).sum(axis=1).tolist()
        codes, texts, features = self.codes, self.texts, self.code_features
        return [
            [
                Reason(codes[i], texts[i], s, features[i])
                for i, s in zip(row_order[:n], row_sums[:n], strict=True)
            ]
            for row_order, row_sums, n in zip(
                order.tolist(), chosen.tolist(), n_positive, strict=True
            )
        ]


@lru_cache(maxsize=32)
def _reason_map(feature_names: tuple[str, ...], catalogue: FeatureCatalogue) -> ReasonCodeMap:
    return ReasonCodeMap.build(feature_names, catalogue)


def top_reasons(
    shap_row: np.ndarray, feature_names: list[str], catalogue: FeatureCatalogue, k: int = 4
) -> list[Reason]:
    """Up to `k` risk-increasing reason codes of one row, largest contribution first."""
    return _reason_map(tuple(feature_names), catalogue).top(shap_row, k)


def top_reasons_batch(
    shap: np.ndarray, feature_names: list[str], catalogue: FeatureCatalogue, k: int = 4
) -> list[list[Reason]]:
    """`top_reasons` for every row of a (rows, features) SHAP matrix."""
    return _reason_map(tuple(feature_names), catalogue).top_batch(shap, k)
