"""The polars reference timed by benches/run.py: a lazy `scan_csv`, one expression
(sum of column * weight, plus the intercept) and a streaming `sink_csv`, writing one
prediction a line under the header `prediction` (the CSV shape our binary writes).

    python3 benches/reference/score_polars.py --weights W.json --data IN.csv --output OUT.csv

W.json holds `features`, `coefficients` and `intercept` (our model's weights, see run.py).
The feature columns are declared Float64: polars infers types from the first 100 rows, and a
column such as ZN that is whole numbers there and 12.5 later would otherwise stop the scan.
"""

import argparse
import json
from pathlib import Path

import polars as pl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    weights = json.loads(Path(args.weights).read_text(encoding="utf-8"))
    features = weights["features"]
    terms = [pl.col(name) * w for name, w in zip(features, weights["coefficients"], strict=True)]
    prediction = (pl.sum_horizontal(terms) + weights["intercept"]).alias("prediction")
    # A Parquet file (benches/parquet.py) carries its own types.
    if args.data.endswith(".parquet"):
        scan = pl.scan_parquet(args.data)
    else:
        scan = pl.scan_csv(args.data, schema_overrides={name: pl.Float64 for name in features})
    scan.select(prediction).sink_csv(args.output)


if __name__ == "__main__":
    main()
