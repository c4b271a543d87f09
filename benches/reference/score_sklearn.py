"""The classic Python batch-scoring job, timed by benches/run.py as the pandas+scikit-learn
reference: load a joblib model, read the whole CSV with pandas, `model.predict`, write one
prediction a line under the header `prediction` (the CSV shape our binary writes).

The writer joins repr() of each float, the shortest text that reads back as the same float64,
in chunks of 100,000: the same bytes as `DataFrame.to_csv`, which took twice as long here
(22 s against 10 s for 1e7 rows with pandas 3.1), so the reference is not slowed by its writer.

    python3 benches/reference/score_sklearn.py --model M.joblib --data IN.csv --output OUT.csv

M.joblib comes from make_sklearn_model.py, so it carries our model's weights.
"""

import argparse

import joblib
import pandas as pd

CHUNK = 100_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    model = joblib.load(args.model)
    frame = pd.read_csv(args.data)
    predictions = model.predict(frame[list(model.feature_names_in_)])
    with open(args.output, "w", encoding="ascii") as out:
        out.write("prediction\n")
        chunks = (predictions[start : start + CHUNK].tolist() for start in range(0, len(predictions), CHUNK))
        out.writelines("\n".join(map(repr, chunk)) + "\n" for chunk in chunks)


if __name__ == "__main__":
    main()
