"""Fit the seed's GradientBoostingRegressor again and joblib-dump it, for benches/trees.py.

The same fit as tests/fixtures/make_tree_models.py makes for tests/fixtures/trees/seed_gbr.onnx
(and so for model/gbr.bin): GradientBoostingRegressor(n_estimators=500, max_depth=4,
min_samples_split=2, learning_rate=0.01, loss="squared_error", random_state=0) on
data/train.csv's 13 features as float32 (target MEDV), read with pandas' default parser (which rounds
correctly in pandas 3; its float_precision="round_trip" is deprecated).
The fit is deterministic (random_state=0, no subsampling), and this script checks it: its
predictions for data/test.csv must equal, bit for bit, scikit-learn's in
tests/fixtures/trees/seed_gbr.json, or it exits 1. It fits on a float32 array, as the fixture
script does, then records the feature names, so score_sklearn.py can select the columns by name.

    python3 benches/reference/make_sklearn_gbr.py --output M.joblib
"""

import argparse
import json
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingRegressor

ROOT = Path(__file__).resolve().parents[2]


def read_csv(path):
    return pd.read_csv(path, dtype=np.float64)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    train = read_csv(ROOT / "data" / "train.csv")
    features = [c for c in train.columns if c != "MEDV"]
    x, y = train[features].to_numpy(), train["MEDV"].to_numpy()
    model = GradientBoostingRegressor(
        n_estimators=500,
        max_depth=4,
        min_samples_split=2,
        learning_rate=0.01,
        loss="squared_error",
        random_state=0,
    ).fit(x.astype(np.float32), y)

    answers = json.loads((ROOT / "tests" / "fixtures" / "trees" / "seed_gbr.json").read_text())
    test = read_csv(ROOT / "data" / "test.csv")[answers["features"]].to_numpy().astype(np.float32)
    got = [float(v) for v in model.predict(test)]
    if answers["features"] != features or got != answers["test"]["library"]:
        print(
            "make_sklearn_gbr.py: the refitted model's predictions for data/test.csv differ from "
            "tests/fixtures/trees/seed_gbr.json's; is scikit-learn the version in "
            "tests/fixtures/requirements.txt?",
            file=sys.stderr,
        )
        return 1
    model.feature_names_in_ = np.array(features, dtype=object)
    joblib.dump(model, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
