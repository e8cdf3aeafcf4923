"""Reasons from leaf-table SHAP vs CatBoost's own ShapValues: throughput, latency, parity.

Trains a CatBoost model like the platform's (symmetric trees, CTRs of complexity 1,
monotone constraints, numeric + categorical features with missing values), then
times, on the same rows and one thread each:

* leaf path: `calc_leaf_indexes` + leaf-table SHAP + top-4 reasons (batched);
* CatBoost path: `get_feature_importance(type="ShapValues")` + the same top-4;

and the single-row latency of both from a prebuilt one-row Pool, plus the leaf
path from a one-row DataFrame. Prints one JSON document.

    .venv/bin/python bench/bench_reasons.py                       # 500 trees, depth 6, 60 features
    .venv/bin/python bench/bench_reasons.py --trees 50 --train-rows 3000 --rows 500   # smoke run

With monotone constraints CatBoost adds the explained dataset's leaf weights to
its covers, so parity is checked with tables whose background is the benchmark
rows; the timed explainer uses the training population, as the platform does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier, Pool

from credit_assets.core.explain import LeafShapExplainer, ReasonCodeMap, needs_background
from credit_assets.core.features.specs import FeatureCatalogue, FeatureSpec

N_CATEGORICAL = 6
FEATURES_PER_CODE = 3


def synthetic_applicants(n: int, n_features: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_numeric = n_features - N_CATEGORICAL
    numeric = rng.normal(size=(n, n_numeric))
    numeric[rng.random((n, n_numeric)) < 0.15] = np.nan  # thin files
    frame = pd.DataFrame(numeric, columns=[f"num_{i:02d}" for i in range(n_numeric)])
    logit = np.nan_to_num(numeric[:, :12]) @ rng.normal(0, 0.4, 12) - 1.0
    for j in range(N_CATEGORICAL):
        levels = 3 if j < 2 else 25  # two one-hot, the rest CTR
        values = rng.integers(0, levels, n)
        frame[f"cat_{j}"] = np.char.add(f"c{j}_", values.astype(str))
        logit += rng.normal(0, 0.5, levels)[values]
    return frame, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)


def catalogue_for(frame: pd.DataFrame) -> FeatureCatalogue:
    specs = []
    for i, name in enumerate(frame.columns):
        code = f"R{i // FEATURES_PER_CODE:02d}"
        specs.append(
            FeatureSpec(
                name=name,
                description=name,
                source="bench",
                dtype="category" if name.startswith("cat_") else "float",
                monotone="increasing" if name in ("num_00", "num_01", "num_02") else "none",
                reason_code=code,
                reason_text=f"Reason {code}",
            )
        )
    return FeatureCatalogue(tuple(specs))


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trees", type=int, default=500)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--features", type=int, default=60)
    parser.add_argument("--train-rows", type=int, default=10_000)
    parser.add_argument(
        "--rows", type=int, default=2_000, help="rows scored in the batch comparison"
    )
    parser.add_argument("--single-repeats", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-monotone",
        action="store_true",
        help="train without monotone constraints (trains ~3x faster)",
    )
    args = parser.parse_args()

    train, label = synthetic_applicants(args.train_rows, args.features, args.seed)
    rows, _ = synthetic_applicants(args.rows, args.features, args.seed + 1)
    catalogue = catalogue_for(train)
    categorical = [c for c in train.columns if c.startswith("cat_")]
    names = list(train.columns)

    start = time.perf_counter()
    model = CatBoostClassifier(
        iterations=args.trees,
        depth=args.depth,
        max_ctr_complexity=1,
        one_hot_max_size=3,
        cat_features=categorical,
        monotone_constraints=None
        if args.no_monotone
        else {s.name: s.catboost_monotone_sign for s in catalogue.features if s.monotone != "none"},
        thread_count=2,
        random_seed=args.seed,
        allow_writing_files=False,
        verbose=False,
    ).fit(train, label)
    train_seconds = time.perf_counter() - start

    start = time.perf_counter()
    explainer = LeafShapExplainer.from_model(model, background=train)
    build_seconds = time.perf_counter() - start
    reason_map = ReasonCodeMap.build(names, catalogue)
    pool = Pool(rows, cat_features=categorical, thread_count=1)

    def leaf_path() -> list:
        shap, _ = explainer.explain(pool, thread_count=1)
        return reason_map.top_batch(shap, k=4)

    def catboost_path() -> list:
        shap = model.get_feature_importance(pool, type="ShapValues", thread_count=1)[:, :-1]
        return reason_map.top_batch(shap, k=4)

    leaf_seconds = median_seconds(leaf_path, 3)
    catboost_seconds = median_seconds(catboost_path, 1)

    # Parity: CatBoost's covers here include these rows' leaf weights, so use the same background.
    parity_explainer = LeafShapExplainer.from_model(model, background=pool)
    ours, raw = parity_explainer.explain(pool)
    reference = model.get_feature_importance(pool, type="ShapValues", thread_count=1)
    identical = [
        [r.code for r in a] == [r.code for r in b]
        for a, b in zip(
            reason_map.top_batch(ours), reason_map.top_batch(reference[:, :-1]), strict=True
        )
    ]

    one_row = rows.iloc[[0]]
    one_pool = Pool(one_row, cat_features=categorical, thread_count=1)

    def leaf_single_pool() -> list:
        return reason_map.top(explainer.explain(one_pool)[0][0])

    def leaf_single_frame() -> list:
        return reason_map.top(explainer.explain(one_row)[0][0])

    def catboost_single_pool() -> list:
        shap = model.get_feature_importance(one_pool, type="ShapValues", thread_count=1)
        return reason_map.top(shap[0, :-1])

    def predict_single_pool() -> object:
        return model.predict(one_pool, prediction_type="RawFormulaVal", thread_count=1)

    repeats = args.single_repeats
    result = {
        "model": {
            "trees": model.tree_count_,
            "depth": args.depth,
            "features": len(names),
            "categorical": len(categorical),
            "train_rows": args.train_rows,
            "monotone_constraints": not args.no_monotone,
            "needs_background": needs_background(model),
            "train_seconds": round(train_seconds, 2),
            "leaf_table_build_seconds": round(build_seconds, 3),
            "leaf_table_bytes": len(explainer.to_bytes()),
        },
        "batch": {
            "rows": args.rows,
            "leaf_rows_per_second": round(args.rows / leaf_seconds, 1),
            "catboost_rows_per_second": round(args.rows / catboost_seconds, 1),
            "speedup": round(catboost_seconds / leaf_seconds, 1),
        },
        "single_row_ms": {
            "leaf_from_pool": round(1e3 * median_seconds(leaf_single_pool, repeats), 3),
            "leaf_from_dataframe": round(1e3 * median_seconds(leaf_single_frame, repeats), 3),
            "catboost_from_pool": round(
                1e3 * median_seconds(catboost_single_pool, max(5, repeats // 5)), 3
            ),
            "predict_only_from_pool": round(1e3 * median_seconds(predict_single_pool, repeats), 3),
        },
        "parity": {
            "max_abs_shap_difference": float(np.abs(ours - reference[:, :-1]).max()),
            "max_abs_expected_value_difference": abs(
                parity_explainer.expected_value - float(reference[0, -1])
            ),
            "max_abs_raw_difference": float(
                np.abs(raw - model.predict(pool, prediction_type="RawFormulaVal")).max()
            ),
            "identical_top4_codes_share": float(np.mean(identical)),
        },
        "threads": 1,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
