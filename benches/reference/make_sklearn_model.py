"""Build the pandas+scikit-learn reference model once, before the timed runs (benches/run.py).

Fits scikit-learn's LinearRegression on data/train.csv (so it is a real fitted estimator with
feature_names_in_), then sets coef_ and intercept_ to our model's weights, so the reference
scores with exactly the numbers our binary uses, and joblib-dumps it:

    python3 benches/reference/make_sklearn_model.py --weights W.json --output M.joblib

W.json holds `features`, `coefficients` and `intercept`, as printed by
`batch_inference inspect --json` or as in tests/fixtures/sklearn_ols_coefficients.json.
"""

import argparse
import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="JSON with features, coefficients, intercept")
    parser.add_argument("--train", default="data/train.csv", help="CSV to fit on first")
    parser.add_argument("--output", required=True, help="where to joblib-dump the model")
    args = parser.parse_args()

    weights = json.loads(Path(args.weights).read_text(encoding="utf-8"))
    features = list(weights["features"])
    train = pd.read_csv(args.train)
    model = LinearRegression().fit(train[features], train["MEDV"])
    model.coef_ = np.asarray(weights["coefficients"], dtype=np.float64)
    model.intercept_ = float(weights["intercept"])
    if model.coef_.shape != (len(features),):
        raise SystemExit(f"{args.weights}: {len(features)} features but {model.coef_.size} coefficients")
    joblib.dump(model, args.output)


if __name__ == "__main__":
    main()
