"""Exact SHAP for a CatBoost model from per-tree leaf tables, built once per model.

CatBoost trees are oblivious: within a tree, a row's path-dependent TreeSHAP
contribution is fixed by the leaf it lands in. So each tree's contributions are
computed once, for every leaf, exactly as CatBoost's `ShapValues` computes them
(see `_oblivious_treeshap`), and explaining a row is a lookup: its leaf in each
tree (CatBoost's `calc_leaf_indexes`, which also evaluates the CTRs) selects one
row of each tree's table and the rows are summed.

`CatBoost.get_feature_importance(type="ShapValues")` rebuilds those tables on
every call (~13 ms for one row of a 500-tree model); here a row costs a gather
and a scatter-add. Values are in the model's raw output, log-odds of
class 1 (default) for a classifier, relative to `expected_value`.

Each tree's table is stored compactly: only the (at most a handful of) features
the tree splits on get a column, and `slot_features` says which feature each
column is.
"""

from __future__ import annotations

import copy
import hashlib
import io
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

from credit_assets.core.explain._catboost_structure import ObliviousForest, read_oblivious_forest
from credit_assets.core.explain._oblivious_treeshap import shap_by_leaf

_FORMAT_VERSION = 1
# Gathered table values per chunk: 2 MB of float64 keeps a chunk's temporaries in cache and
# below malloc's mmap threshold. At 8 MB a 128-row batch cost 31-38 us a row against 6 us at
# 64 rows (page faults on fresh mappings); at 2 MB it is 6.2 us a row from 64 rows up.
_CHUNK_VALUES = 1 << 18
_SMALL_FRAME_ROWS = 64  # up to this many rows a DataFrame goes to Pool as an object array


def model_fingerprint(model: Any) -> str:
    """Identifies the trees a set of leaf tables was built from (cheap: no export)."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(model.feature_names_).encode())
    for array in (model.get_tree_leaf_counts(), model.get_leaf_values(), model.get_leaf_weights()):
        digest.update(np.ascontiguousarray(array).tobytes())
    scale, bias = model.get_scale_and_bias()
    digest.update(np.asarray([scale, *np.ravel(np.asarray(bias, dtype=np.float64))]).tobytes())
    return digest.hexdigest()


def needs_background(model: Any) -> bool:
    """Whether CatBoost's SHAP covers for this model include the explained data's leaf weights.

    CatBoost adds the dataset's per-leaf weights to the model's leaf weights when a
    leaf no training row reached still has a value (monotone constraints do this),
    so that such a leaf is on some path. The leaf tables then need a fixed
    background population in place of "the dataset being explained".
    """
    weights = np.asarray(model.get_leaf_weights(), dtype=np.float64)
    values = np.asarray(model.get_leaf_values(), dtype=np.float64)
    return bool(np.any((weights == 0.0) & (np.abs(values) >= 1e-9)))


def _background_leaf_weights(
    model: Any, background: Any, forest: ObliviousForest
) -> tuple[np.ndarray, int]:
    """Per-leaf sum of the background rows' weights (CatBoost's CollectLeavesStatistics)."""
    from catboost import Pool

    if not isinstance(background, Pool):
        if hasattr(background, "columns"):
            background = background[list(forest.feature_names)]
        background = Pool(background, cat_features=list(model.get_cat_feature_indices()))
    leaves = model.calc_leaf_indexes(background).astype(np.int64) + forest.leaf_offsets[:-1]
    row_weights = np.asarray(background.get_weight(), dtype=np.float64)
    weights = np.bincount(
        leaves.ravel(),
        weights=np.repeat(row_weights, leaves.shape[1]),
        minlength=int(forest.leaf_offsets[-1]),
    )
    return weights, len(row_weights)


def _tree_tables(
    forest: ObliviousForest, covers: np.ndarray
) -> tuple[list[np.ndarray], list[list[int]], np.ndarray]:
    """Per tree: (leaf, feature column) SHAP table, the flat feature of each column, mean."""
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    slot_keys: list[list[tuple[int, ...]]] = []
    for tree, classes in enumerate(forest.tree_classes):
        keys: list[tuple[int, ...]] = []
        pattern = []
        for key in classes:
            if key not in keys:
                keys.append(key)
            pattern.append(keys.index(key))
        slot_keys.append(keys)
        groups[tuple(pattern)].append(tree)

    tables: list[np.ndarray] = [np.empty(0)] * forest.n_trees
    columns: list[list[int]] = [[] for _ in range(forest.n_trees)]
    means = np.zeros(forest.n_trees)
    offsets = forest.leaf_offsets
    for tree_pattern, trees in groups.items():
        leaves = np.stack([np.arange(offsets[t], offsets[t + 1]) for t in trees])
        phi, mean = shap_by_leaf(tree_pattern, forest.leaf_values[leaves], covers[leaves])
        means[trees] = mean
        for position, tree in enumerate(trees):
            features: list[int] = []
            for key in slot_keys[tree]:
                features += [f for f in key if f not in features]
            table = np.zeros((phi.shape[1], len(features)))
            for slot, key in enumerate(slot_keys[tree]):
                # A CTR on a combination of categorical features shares its value equally.
                for feature in key:
                    table[:, features.index(feature)] += phi[position, :, slot] / len(key)
            tables[tree] = table
            columns[tree] = features
    return tables, columns, means


class LeafShapExplainer:
    """Exact CatBoost SHAP values and raw predictions from precomputed leaf tables."""

    def __init__(
        self,
        *,
        feature_names: tuple[str, ...],
        values: np.ndarray,
        slot_features: np.ndarray,
        leaf_values: np.ndarray,
        leaf_offsets: np.ndarray,
        scale: float,
        bias: float,
        expected_value: float,
        fingerprint: str,
        cat_feature_indices: tuple[int, ...] = (),
        background_rows: int = 0,
        model: Any = None,
    ) -> None:
        self.feature_names = feature_names
        self.expected_value = expected_value
        self.fingerprint = fingerprint
        self.cat_feature_indices = cat_feature_indices
        # Rows whose leaf weights were added to the covers (0: the model's own weights only).
        self.background_rows = background_rows
        self._values = values  # (total leaves, slots)
        self._slot_features = slot_features  # (trees, slots); n_features marks an empty slot
        self._leaf_values = leaf_values
        self._leaf_offsets = leaf_offsets
        self._scale = scale
        self._bias = bias
        self._model = model
        # Where each gathered table value lands in a row's SHAP vector; the extra
        # column takes the empty slots and is dropped.
        self._slot_columns = slot_features.ravel()

    @property
    def n_trees(self) -> int:
        return int(self._slot_features.shape[0])

    @classmethod
    def from_model(cls, model: Any, background: Any = None) -> LeafShapExplainer:
        """Build the leaf tables of a fitted CatBoost model (symmetric trees, one output).

        Covers are the model's leaf weights. For a model where `needs_background`
        holds, CatBoost's own SHAP adds the leaf weights of whatever dataset it
        explains; here `background` (the training population, a Pool or frame)
        takes that place once, so the baseline is fixed and documented. The
        values then equal CatBoost's ShapValues computed on `background`.
        """
        forest = read_oblivious_forest(model)
        covers = forest.leaf_weights
        background_rows = 0
        if needs_background(model):
            if background is None:
                raise ValueError(
                    "this model has leaves with a value but no training weight (monotone "
                    "constraints do this); CatBoost's SHAP then depends on a dataset: pass "
                    "background= (the training population)"
                )
            background_weights, background_rows = _background_leaf_weights(
                model, background, forest
            )
            covers = covers + background_weights
        tables, columns, means = _tree_tables(forest, covers)
        n_features = len(forest.feature_names)
        n_slots = max((len(c) for c in columns), default=0) or 1
        values = np.zeros((int(forest.leaf_offsets[-1]), n_slots))
        slot_features = np.full((forest.n_trees, n_slots), n_features, dtype=np.int64)
        for tree, (table, features) in enumerate(zip(tables, columns, strict=True)):
            start, end = forest.leaf_offsets[tree], forest.leaf_offsets[tree + 1]
            values[start:end, : len(features)] = table
            slot_features[tree, : len(features)] = features
        # CatBoost refuses SHAP for a model with a non-unit scale; SHAP is linear in the
        # output, so scaling the tables keeps values + expected value == raw prediction.
        if forest.scale != 1.0:
            values *= forest.scale
        return cls(
            feature_names=forest.feature_names,
            values=values,
            slot_features=slot_features,
            leaf_values=forest.leaf_values,
            leaf_offsets=forest.leaf_offsets,
            scale=forest.scale,
            bias=forest.bias,
            expected_value=float(means.sum() * forest.scale + forest.bias),
            fingerprint=model_fingerprint(model),
            cat_feature_indices=tuple(int(i) for i in model.get_cat_feature_indices()),
            background_rows=background_rows,
            model=model,
        )

    def with_model(self, model: Any) -> LeafShapExplainer:
        """The same tables bound to `model`, which must be the model they were built from."""
        if model_fingerprint(model) != self.fingerprint:
            raise ValueError("these SHAP tables were built from a different model")
        twin = copy.copy(self)
        twin._model = model
        twin.cat_feature_indices = tuple(int(i) for i in model.get_cat_feature_indices())
        return twin

    def pool(self, data: Any, thread_count: int = 1) -> Any:
        """A CatBoost `Pool` of the model's features (one thread: the request path).

        Accepts a Pool, a pandas or polars DataFrame (columns picked by name) or an
        array in model feature order.
        """
        from catboost import Pool

        if isinstance(data, Pool):
            return data
        names = list(self.feature_names)
        if isinstance(data, pd.DataFrame):
            if list(data.columns) != names:
                data = data[names]
            if len(data) <= _SMALL_FRAME_ROWS:
                # Pool walks a DataFrame column by column (~1 ms for one row); an
                # object array of the same values is ~0.1 ms.
                data = data.to_numpy(dtype=object)
        elif hasattr(data, "columns") and hasattr(data, "select"):  # polars
            data = data.select(names)
        return Pool(data, cat_features=list(self.cat_feature_indices), thread_count=thread_count)

    def leaf_indexes(self, data: Any, thread_count: int = 1) -> np.ndarray:
        """(rows, trees) leaf index of every row in every tree."""
        if self._model is None:
            raise ValueError("no model bound: use from_model(), or from_bytes(..., model=...)")
        pool = self.pool(data, thread_count=thread_count)
        return self._model.calc_leaf_indexes(pool, thread_count=thread_count)

    def explain(self, data: Any, thread_count: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """SHAP values (rows, features) and raw predictions (rows,) of a Pool or frame."""
        return self.explain_leaves(self.leaf_indexes(data, thread_count=thread_count))

    def explain_leaves(self, leaf_indexes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """SHAP values and raw predictions from precomputed leaf indexes (rows, trees)."""
        leaves = np.asarray(leaf_indexes, dtype=np.int64)
        if leaves.ndim != 2 or leaves.shape[1] != self.n_trees:
            raise ValueError(
                f"expected leaf indexes of shape (rows, {self.n_trees}), got {leaves.shape}"
            )
        leaves = leaves + self._leaf_offsets[:-1]
        raw = np.take(self._leaf_values, leaves).sum(axis=1) * self._scale + self._bias
        n_rows, width = leaves.shape[0], len(self.feature_names) + 1
        shap = np.empty((n_rows, len(self.feature_names)))
        chunk = max(1, _CHUNK_VALUES // self._slot_columns.size)
        for start in range(0, n_rows, chunk):
            rows = leaves[start : start + chunk]
            # np.take: ~4x faster than fancy indexing for rows of a few values.
            gathered = np.take(self._values, rows, axis=0).reshape(rows.shape[0], -1)
            target = (np.arange(rows.shape[0]) * width)[:, None] + self._slot_columns[None, :]
            # bincount adds in tree order per row: a row sums the same alone or in a batch.
            sums = np.bincount(
                target.ravel(), weights=gathered.ravel(), minlength=rows.shape[0] * width
            )
            shap[start : start + chunk] = sums.reshape(rows.shape[0], width)[:, :-1]
        return shap, raw

    def to_bytes(self) -> bytes:
        """The tables as an `.npz` (no pickle), to store next to the model artifact."""
        buffer = io.BytesIO()
        np.savez(
            buffer,
            format_version=np.asarray(_FORMAT_VERSION),
            feature_names=np.asarray(self.feature_names, dtype=str),
            values=self._values,
            slot_features=self._slot_features,
            leaf_values=self._leaf_values,
            leaf_offsets=self._leaf_offsets,
            scale_bias_expected=np.asarray([self._scale, self._bias, self.expected_value]),
            fingerprint=np.asarray(self.fingerprint),
            cat_feature_indices=np.asarray(self.cat_feature_indices, dtype=np.int64),
            background_rows=np.asarray(self.background_rows),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, model: Any = None) -> LeafShapExplainer:
        """Load tables written by `to_bytes`; bind `model` (checked) to explain raw data."""
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            version = int(archive["format_version"])
            if version != _FORMAT_VERSION:
                raise ValueError(
                    f"leaf SHAP tables of format {version}, expected {_FORMAT_VERSION}"
                )
            scale, bias, expected = (float(x) for x in archive["scale_bias_expected"])
            explainer = cls(
                feature_names=tuple(str(n) for n in archive["feature_names"]),
                values=archive["values"],
                slot_features=archive["slot_features"],
                leaf_values=archive["leaf_values"],
                leaf_offsets=archive["leaf_offsets"],
                scale=scale,
                bias=bias,
                expected_value=expected,
                fingerprint=str(archive["fingerprint"]),
                cat_feature_indices=tuple(int(i) for i in archive["cat_feature_indices"]),
                background_rows=int(archive["background_rows"]),
            )
        return explainer if model is None else explainer.with_model(model)
