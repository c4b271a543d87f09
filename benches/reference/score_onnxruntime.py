"""pandas + onnxruntime, timed by benches/trees.py: load an ONNX model with one input X of
shape [N, features] (tests/fixtures/trees/seed_gbr.onnx), read the whole CSV with pandas, take
the model's features in order as float32 (the export's input type), one `session.run` on
onnxruntime's CPU provider with its default threads, write one prediction a line under the
header `prediction`, as repr() of each float32 output widened to float64, in the chunks
score_sklearn.py writes.

    python3 benches/reference/score_onnxruntime.py --model M.onnx --features F.json \
        --data IN.csv --output OUT.csv

F.json holds {"features": [...]} (tests/fixtures/trees/seed_gbr.json does).
"""

import argparse
import json

import numpy as np
import onnxruntime
import pandas as pd

CHUNK = 100_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--features", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    with open(args.features, encoding="utf-8") as f:
        features = json.load(f)["features"]
    session = onnxruntime.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    frame = pd.read_csv(args.data)
    x = frame[features].to_numpy(dtype=np.float32)
    (predictions,) = session.run(None, {session.get_inputs()[0].name: x})[:1]
    predictions = np.asarray(predictions, dtype=np.float64).ravel()
    with open(args.output, "w", encoding="ascii") as out:
        out.write("prediction\n")
        chunks = (predictions[start : start + CHUNK].tolist() for start in range(0, len(predictions), CHUNK))
        out.writelines("\n".join(map(repr, chunk)) + "\n" for chunk in chunks)


if __name__ == "__main__":
    main()
