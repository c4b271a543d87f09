"""The DuckDB reference timed by benches/run.py: `read_csv` of the file, one SQL expression
(sum of column * weight, plus the intercept) and `COPY (...) TO` a CSV, writing one prediction
a line under the header `prediction` (the CSV shape our binary writes).

    python3 benches/reference/score_duckdb.py --weights W.json --data IN.csv --output OUT.csv

W.json holds `features`, `coefficients` and `intercept` (our model's weights, see run.py).
The feature columns are declared DOUBLE, as score_polars.py declares them Float64: DuckDB's
sniffer guesses types from a sample of rows, and a column such as ZN that is whole numbers
there and 12.5 later is typed BIGINT, and DuckDB 2.0 then rounds the 12.5 to 13 without a
word, so the predictions would be wrong rather than the run stopped. The weights, the
intercept and both paths are bound parameters: the floats go in exactly as the JSON has them
(a SQL literal such as -0.1008 would be typed DECIMAL first), and no path needs quoting.
DuckDB writes a DOUBLE as the shortest text that reads back as the same value, so the output
needs no formatting of our own. It runs with DuckDB's default threads (one per core) and
keeps the input order (preserve_insertion_order, on by default).
"""

import argparse
import json
from pathlib import Path

import duckdb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    weights = json.loads(Path(args.weights).read_text(encoding="utf-8"))
    features = weights["features"]
    coefficients = [float(w) for w in weights["coefficients"]]
    if len(coefficients) != len(features):
        raise SystemExit(f"{args.weights}: {len(features)} features but {len(coefficients)} coefficients")
    terms = " + ".join(f"{identifier(name)} * ?" for name in features)
    types = ", ".join(f"{identifier(name)}: 'DOUBLE'" for name in features)
    # A Parquet file (benches/parquet.py) carries its own types.
    source = (
        "read_parquet(?)"
        if args.data.endswith(".parquet")
        else f"read_csv(?, header = true, types = {{{types}}})"
    )
    query = f"COPY (SELECT {terms} + ? AS prediction FROM {source}) TO ? (FORMAT csv, HEADER)"
    duckdb.connect().execute(query, [*coefficients, float(weights["intercept"]), args.data, args.output])


def identifier(name: str) -> str:
    """A column name as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


if __name__ == "__main__":
    main()
