"""Make data/boston_house_prices.csv, data/train.csv and data/test.csv, byte for byte.

Source: the shared copy of scikit-learn 1.1.3's boston_house_prices.csv, whose first line is
scikit-learn's metadata row (row and feature counts) and whose header is quoted. We drop the
metadata row, unquote the header and keep every data line exactly as written, so no float is
ever re-formatted.

The split is the classic tutorial's: sklearn.utils.shuffle(X, y, random_state=13), the first
int(0.9 * 506) = 455 shuffled rows train, the remaining 51 test.

Usage (from the repository root):
    python3 data/make_split.py [path/to/shared/datasets/boston_house_prices.csv]
"""

import sys
from pathlib import Path

import numpy as np
from sklearn.utils import shuffle

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parent.parent / "shared" / "datasets" / "boston_house_prices.csv"


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    lines = source.read_text().splitlines()
    meta, header, rows = lines[0], lines[1], lines[2:]
    n_rows, n_features = (int(v) for v in meta.split(",")[:2])
    assert len(rows) == n_rows == 506 and n_features == 13, "unexpected source file"
    header = header.replace('"', "")

    # Shuffle row indices exactly as shuffle(X, y) shuffles rows: the permutation depends
    # only on the row count and the seed, not on the values.
    order = shuffle(np.arange(n_rows), random_state=13)
    cut = int(0.9 * n_rows)

    def write(name: str, selected: list[str]) -> None:
        (HERE / name).write_text("\n".join([header, *selected]) + "\n")

    write("boston_house_prices.csv", rows)
    write("train.csv", [rows[i] for i in order[:cut]])
    write("test.csv", [rows[i] for i in order[cut:]])


if __name__ == "__main__":
    main()
