"""Path-dependent TreeSHAP for oblivious trees, evaluated for every leaf at once.

This follows CatBoost's own `ShapValues` computation (`catboost/libs/fstr/
shap_values.cpp` and `shap_prepared_trees.cpp`, "Regular" calculation type) step
for step, so the per-leaf values agree with CatBoost's to rounding:

* covers are the model's leaf weights (sum of training weights per leaf);
* the root of an oblivious tree is its *last* split; a node's children are
  `2 * node + bit`, so the nodes at the bottom are CatBoost's leaf indexes;
* splits are grouped into "combination classes": a float feature, a one-hot
  feature and every CTR on the same categorical feature(s) are one class, and a
  class seen again lower on the path is merged (unwound and re-extended);
* a child whose subtree weight is (fuzzily) zero is not visited;
* a class built from several categorical features (a CTR on a combination)
  shares its value equally between them (done by the caller).

CatBoost runs the recursion once per (tree, leaf). In an oblivious tree the
recursion's shape depends only on the tree's *split pattern* (which depths repeat
which class), so here it runs level by level, once per pattern, with numpy lanes
over (node at that level, tree sharing the pattern, leaf the row falls in): only
the covers depend on the tree and the node, and only the "one fractions" on the
row's leaf. A subtree CatBoost would not visit is computed and masked out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_FUZZY_EPS = 1.0e-13
_MAX_LANES = 1 << 14  # (node, tree, leaf) lanes per batch of trees: small enough to stay in cache


def _is_fuzzy_zero(x: np.ndarray) -> np.ndarray:
    """CatBoost's `FuzzyEquals(1 + x, 1 + 0.0)`."""
    one_plus = 1.0 + x
    return np.abs(one_plus - 1.0) <= _FUZZY_EPS * np.minimum(np.abs(one_plus), 1.0)


@dataclass
class _Path:
    """A TreeSHAP feature path; the numeric fields are arrays over lanes."""

    slots: list[int]
    zero: list[np.ndarray]
    one: list[np.ndarray]
    weight: list[np.ndarray]

    def map(self, fn) -> _Path:  # type: ignore[no-untyped-def]
        return _Path(
            list(self.slots),
            [fn(a) for a in self.zero],
            [fn(a) for a in self.one],
            [fn(a) for a in self.weight],
        )


def _extend(path: _Path, zero: np.ndarray, one: np.ndarray, slot: int) -> _Path:
    """CatBoost's ExtendFeaturePath (constant factors folded: the same to rounding)."""
    n = len(path.slots)
    weight = [*path.weight, np.ones_like(one) if n == 0 else np.zeros_like(one)]
    for i in range(n - 1, -1, -1):
        weight[i + 1] = weight[i + 1] + one * weight[i] * ((i + 1) / (n + 1))
        weight[i] = weight[i] * (zero * ((n - i) / (n + 1)))
    return _Path([*path.slots, slot], [*path.zero, zero], [*path.one, one], weight)


def _unwound_weights(path: _Path, one: np.ndarray, zero: np.ndarray) -> list[np.ndarray]:
    """Weights of CatBoost's UnwindFeaturePath for the element with these fractions.

    `one` and `zero` may carry a leading axis to unwind several elements at once.
    One fractions are exactly 0 or 1, so both branches of CatBoost's code are
    computed and chosen per lane, and the division by a one fraction of 1 is dropped.
    """
    n = len(path.slots)
    one_is_set = one != 0.0
    weight = list(path.weight[: n - 1])
    weight_diff = path.weight[n - 1]
    for i in range(n - 2, -1, -1):
        old = weight[i]
        if_one = weight_diff * (n / (i + 1))
        weight_diff = old - if_one * (zero * ((n - i - 1) / n))
        if_zero = old * (n / (zero * (n - i - 1)))
        weight[i] = np.where(one_is_set, if_one, if_zero)
    return weight


def _unwind(path: _Path, erase: int) -> _Path:
    weight = _unwound_weights(path, path.one[erase], path.zero[erase])
    keep = [j for j in range(len(path.slots)) if j != erase]
    return _Path(
        [path.slots[j] for j in keep],
        [path.zero[j] for j in keep],
        [path.one[j] for j in keep],
        weight,
    )


def _subtree_weights(leaf_weights: np.ndarray, depth: int) -> list[np.ndarray]:
    """`weights[d]` is (2**d, trees): the cover of every node at depth d."""
    weights = [leaf_weights.T]
    for _ in range(depth):
        child = weights[0]
        weights.insert(0, child[0::2] + child[1::2])
    return weights


def _children(array: np.ndarray) -> np.ndarray:
    """Repeat every node's lanes for its two children, child `2 * node + bit`."""
    return np.repeat(array, 2, axis=0)


def _shap_by_leaf_batch(
    pattern: tuple[int, ...], leaf_values: np.ndarray, leaf_weights: np.ndarray
) -> np.ndarray:
    depth = len(pattern)
    n_trees, n_leaves = leaf_values.shape
    phi = np.zeros((n_trees, n_leaves, max(pattern) + 1))
    weights = _subtree_weights(leaf_weights, depth)
    lanes = (1, n_trees, n_leaves)  # (node, tree, row leaf)
    row_leaf = np.arange(n_leaves)[None, None, :]

    # Zero fractions do not depend on the row's leaf: they keep a trailing axis of 1.
    path = _extend(_Path([], [], [], []), np.ones((1, n_trees, 1)), np.ones(lanes), -1)
    active = np.ones((1, n_trees, 1), dtype=bool)
    for level in range(depth):
        split = depth - level - 1
        slot = pattern[split]
        new_zero, new_one = np.ones((lanes[0], n_trees, 1)), np.ones(lanes)
        if slot in path.slots:
            same = path.slots.index(slot)
            new_zero, new_one = path.zero[same], path.one[same]
            path = _unwind(path, same)

        n_children = 2 ** (level + 1)
        child_weight = weights[level + 1][:, :, None]
        parent_weight = _children(weights[level])[:, :, None]
        child_bit = (np.arange(n_children) & 1)[:, None, None]
        goes_here = ((row_leaf >> split) & 1) == child_bit
        active = _children(active) & ~_is_fuzzy_zero(child_weight)
        # Lanes CatBoost would not visit get a harmless fraction; their result is masked.
        child_zero = np.where(active, _children(new_zero) * child_weight / parent_weight, 1.0)
        child_one = np.where(goes_here, _children(new_one), 0.0)
        path = _extend(path.map(_children), child_zero, child_one, slot)
        lanes = (n_children, n_trees, n_leaves)

    # Every element of every root-to-leaf path, unwound at once along a leading axis.
    ones = np.stack(path.one[1:])
    zeros = np.stack(path.zero[1:])
    weight_sum = np.zeros_like(ones)
    for weight in _unwound_weights(path, ones, zeros):
        weight_sum = weight_sum + weight
    leaf_value = np.where(active, leaf_values.T[:, :, None], 0.0)
    contribution = weight_sum * (ones * leaf_value - zeros * leaf_value)
    per_element = contribution.sum(axis=1)  # over the leaves the paths end in
    for element, slot in enumerate(path.slots[1:]):
        phi[:, :, slot] += per_element[element]
    return phi


def shap_by_leaf(
    pattern: tuple[int, ...],
    leaf_values: np.ndarray,
    leaf_weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-leaf SHAP of the trees sharing one split pattern, and their mean values.

    `pattern[r]` is the class slot of split r, in CatBoost's split order (slots
    numbered 0..k-1 by first appearance). `leaf_values` and `leaf_weights` are
    (trees, 2**depth). Returns `phi` (trees, leaf, slot): the SHAP value of a row
    in that leaf for the class in that slot, and each tree's cover-weighted mean
    leaf value (its share of the expected value).
    """
    depth = len(pattern)
    n_trees, n_leaves = leaf_values.shape
    mean = (leaf_values * leaf_weights).sum(axis=1) / leaf_weights.sum(axis=1)
    if depth == 0:
        return np.zeros((n_trees, n_leaves, 0)), mean
    batch = max(1, _MAX_LANES // (n_leaves * n_leaves))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        phi = np.concatenate(
            [
                _shap_by_leaf_batch(
                    pattern, leaf_values[i : i + batch], leaf_weights[i : i + batch]
                )
                for i in range(0, n_trees, batch)
            ]
        )
    return phi, mean
