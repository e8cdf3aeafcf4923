"""What the SHAP tables need from a trained CatBoost model, read once.

CatBoost's Python API gives leaf values, leaf weights and leaf indexes, but not
which original feature each split of a tree is on (its tree printer needs the
training pool when categorical features are present). The model's JSON export
has it: every split carries its binary-feature index, and the features section
lists the float borders, one-hot values and CTRs in the same order CatBoost
numbers binary features in, which is what CatBoost's SHAP code groups splits by.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ClassKey = tuple[int, ...]


@dataclass(frozen=True)
class ObliviousForest:
    """The parts of a symmetric-tree model that SHAP and raw predictions depend on."""

    feature_names: tuple[str, ...]
    # Per tree, per split (CatBoost's order): the flat features of the split's class.
    tree_classes: tuple[tuple[ClassKey, ...], ...]
    leaf_values: np.ndarray  # all trees, concatenated
    leaf_weights: np.ndarray
    leaf_offsets: np.ndarray  # first leaf of each tree, plus the total at the end
    scale: float
    bias: float

    @property
    def n_trees(self) -> int:
        return len(self.tree_classes)


def _export_json(model: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="leaf_shap_") as tmp:
        path = Path(tmp) / "model.json"
        model.save_model(str(path), format="json")
        return json.loads(path.read_text())


def _binary_features(features_info: dict[str, Any]) -> list[tuple[str, ClassKey]]:
    """(split type, class key) of every binary feature, indexed like a split's `split_index`."""
    float_features = sorted(
        features_info.get("float_features", []), key=lambda f: f["feature_index"]
    )
    cat_features = sorted(
        features_info.get("categorical_features", []), key=lambda f: f["feature_index"]
    )
    cat_flat = {f["feature_index"]: f["flat_feature_index"] for f in cat_features}

    binary: list[tuple[str, ClassKey]] = []
    for feature in float_features:
        key = (feature["flat_feature_index"],)
        binary += [("FloatFeature", key)] * len(feature.get("borders") or [])
    for feature in cat_features:
        key = (feature["flat_feature_index"],)
        binary += [("OneHotFeature", key)] * len(feature.get("values") or [])
    for ctr in features_info.get("ctrs", []):
        # Only the categorical parts of a CTR's projection name features (as in CatBoost).
        key = tuple(
            cat_flat[element["cat_feature_index"]]
            for element in ctr["elements"]
            if element["combination_element"] == "cat_feature_value"
        )
        binary += [("OnlineCtr", key)] * len(ctr.get("borders") or [])
    return binary


def _split_class(
    split: dict[str, Any], binary: list[tuple[str, ClassKey]], flat_index: dict[str, dict[int, int]]
) -> ClassKey:
    """The class of a split, checked against what the split itself names."""
    kind, key = binary[split["split_index"]]
    split_type = split["split_type"]
    if split_type == "FloatFeature":
        named = (flat_index["float"][split["float_feature_index"]],)
    elif split_type == "OneHotFeature":
        named = (flat_index["cat"][split["cat_feature_index"]],)
    elif split_type == "OnlineCtr":
        named = key  # a CTR split names only its binary feature
    else:
        raise ValueError(f"split type {split_type!r} is not supported by leaf-table SHAP")
    if kind != split_type or key != named:
        raise ValueError(
            f"binary feature {split['split_index']} is {kind} {key}, the split names "
            f"{split_type} {named}: the model's feature layout is not the one expected"
        )
    return key


def read_oblivious_forest(model: Any) -> ObliviousForest:
    """Read a fitted single-output CatBoost model with symmetric trees."""
    if not model.is_fitted():
        raise ValueError("the CatBoost model is not fitted")
    exported = _export_json(model)
    if "oblivious_trees" not in exported:
        raise ValueError(
            "leaf-table SHAP needs symmetric (oblivious) trees: grow_policy='SymmetricTree'"
        )
    features_info = exported["features_info"]
    for unsupported in ("text_features", "embedding_features", "estimated_features"):
        if features_info.get(unsupported):
            raise ValueError(f"models with {unsupported} are not supported by leaf-table SHAP")

    binary = _binary_features(features_info)
    flat_index = {
        kind: {f["feature_index"]: f["flat_feature_index"] for f in features_info.get(section, [])}
        for kind, section in (("float", "float_features"), ("cat", "categorical_features"))
    }
    tree_classes = [
        tuple(_split_class(split, binary, flat_index) for split in tree.get("splits") or [])
        for tree in exported["oblivious_trees"]
    ]

    leaf_counts = np.asarray(model.get_tree_leaf_counts(), dtype=np.int64)
    leaf_values = np.asarray(model.get_leaf_values(), dtype=np.float64)
    if leaf_values.size != leaf_counts.sum():
        raise ValueError(
            "leaf-table SHAP supports single-output models (binary or regression) only"
        )
    leaf_weights = np.asarray(model.get_leaf_weights(), dtype=np.float64)
    if leaf_weights.size != leaf_values.size:
        raise ValueError("the model carries no leaf weights; they are the covers TreeSHAP needs")
    if any(
        count != 2 ** len(classes) for count, classes in zip(leaf_counts, tree_classes, strict=True)
    ):
        raise ValueError("leaf counts do not match the tree depths")

    scale, bias = model.get_scale_and_bias()
    bias_value = float(np.ravel(np.asarray(bias, dtype=np.float64))[0]) if np.size(bias) else 0.0
    return ObliviousForest(
        feature_names=tuple(model.feature_names_),
        tree_classes=tuple(tree_classes),
        leaf_values=leaf_values,
        leaf_weights=leaf_weights,
        leaf_offsets=np.concatenate([[0], np.cumsum(leaf_counts)]),
        scale=float(scale),
        bias=bias_value,
    )
