"""Writes the fuzz targets' seed inputs from data/test.csv, model/model.bin, a tree model
(tests/fixtures/trees/decision_tree_float.bin, which `import` makes from the decision tree
export beside it; a test checks that) and the committed ONNX fixtures (tests/fixtures/onnx/,
its columns/ folder, and an MLflow directory's).

Run from anywhere: `python3 fuzz/make_seeds.py`. The seeds are committed; .ci/run checks that
this script makes them again byte for byte. Each CSV seed is the head of data/test.csv in one
of the shapes the reader must take (or refuse), so the fuzzer starts from real-looking rows.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"


def csv_seeds(text: str) -> dict[str, bytes]:
    lines = text.splitlines()[:21]
    header, rows = lines[0], lines[1:]

    def join(ls, eol="\n"):
        return (eol.join(ls) + eol).encode()

    def quoted(line):
        return ",".join(f'"{f}"' for f in line.split(","))

    def exponents(line):
        return ",".join(f"{float(f):e}" for f in line.split(","))

    reordered = ["note," + ",".join(reversed(header.split(",")))] + [
        f'"row {i}\nsecond line",' + ",".join(reversed(r.split(",")))
        for i, r in enumerate(rows)
    ]
    bad = rows[:]
    bad[3] = bad[3].replace(",0,", ",abc,", 1)
    return {
        "plain.csv": join(lines),
        "crlf.csv": join(lines, "\r\n"),
        "quoted_bom.csv": b"\xef\xbb\xbf" + join([quoted(l) for l in lines]),
        "exponents.csv": join([header] + [exponents(r) for r in rows]),
        "reordered_multiline_id.csv": join(reordered),
        "bad_cell.csv": join([header] + bad),
        "short_row.csv": join([header] + rows[:2] + ["1,2,3"] + rows[2:4]),
        "no_final_newline.csv": join(lines)[:-1],
        "header_only.csv": join([header]),
        "empty.csv": b"",
    }


def main() -> None:
    text = (ROOT / "data" / "test.csv").read_text()
    model = (ROOT / "model" / "model.bin").read_bytes()
    fixtures = ROOT / "tests" / "fixtures"
    onnx_files = {f.name: f for f in (fixtures / "onnx").glob("*.onnx")}
    onnx_files |= {f"columns_{f.name}": f for f in (fixtures / "onnx" / "columns").glob("*.onnx")}
    # The MLflow directories hold the same export: one seed of it.
    onnx_files["mlflow_model.onnx"] = fixtures / "mlflow" / "columns" / "model.onnx"
    tree = (fixtures / "trees" / "decision_tree_float.bin").read_bytes()
    seeds = {
        "csv_reader": csv_seeds(text),
        # The whole file, and its payload alone (the target also tries input as a payload).
        "model_decoder": {
            "model.bin": model,
            "payload.bin": model[52:],
            "tree.bin": tree,
            "tree_payload.bin": tree[52:],
        },
        # Every committed ONNX export.
        "onnx_import": {name: f.read_bytes() for name, f in sorted(onnx_files.items())},
    }
    for target, files in seeds.items():
        folder = SEEDS / target
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for name, data in files.items():
            (folder / name).write_bytes(data)


if __name__ == "__main__":
    main()
