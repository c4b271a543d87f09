#!/usr/bin/env python3
"""Parquet benchmark: one Parquet file scored by us, DuckDB and polars lazy, in one run.

    benches/.venv-bench/bin/python benches/parquet.py       # 1e7 rows, row groups of 1e6, 3 rounds
    benches/.venv-bench/bin/python benches/parquet.py --rows 1e6 --rounds 1

The file: data/test.csv's 13 features and MEDV, rows drawn at random (numpy, seed 1) from its
51 rows with each value scaled by a random factor in [0.9, 1.1], so the columns compress like
real data rather than like a repeated block; zstd, row groups of 1e6 rows, written by pyarrow.
Each tool reads it and writes `prediction` as CSV (ours: `--data F.parquet --output out.csv`;
DuckDB: `read_parquet` + one SQL expression + `COPY ... TO`; polars: `scan_parquet` +
`sink_csv`, benches/reference/); every output is checked against ours within 1e-9. Wall time,
CPU seconds (user + system) and peak RSS come from `/usr/bin/time -v`; rounds alternate the
tools with the first one rotating, and the table shows medians (peak RSS: the largest) and the
load average before and after. `--base OLD_BINARY` adds an older build of ours to the rounds
(its output must be byte-identical), for a before/after. Needs a release build
(`cargo build --release`), pyarrow, duckdb and polars: the venv benches/.venv-bench of benches/README.md.
Paths are relative to the repository root, which it runs in.
"""

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
OURS = ROOT / "target/release/batch_inference"
REFERENCE = ROOT / "benches/reference"


def make_file(path: Path, rows: int) -> None:
    with open(ROOT / "data/test.csv", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        base = np.array([[float(v) for v in r] for r in reader if r])
    rng = np.random.default_rng(1)
    writer = None
    group = 1_000_000
    for start in range(0, rows, group):
        n = min(group, rows - start)
        picked = base[rng.integers(0, len(base), n)] * rng.uniform(0.9, 1.1, (n, base.shape[1]))
        table = pa.table({name: picked[:, i] for i, name in enumerate(header)})
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table, row_group_size=group)
    writer.close()


def timed(cmd: list[str]) -> tuple[float, float, int]:
    """Runs `cmd` under /usr/bin/time -v: (wall seconds, CPU seconds, peak RSS in KiB)."""
    out = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{cmd[0]} failed:\n{out.stderr}")
    wall = rss = None
    cpu = 0.0
    for line in out.stderr.splitlines():
        line = line.strip()
        if line.startswith(("User time (seconds)", "System time (seconds)")):
            cpu += float(line.rsplit(" ", 1)[1])
        if line.startswith("Elapsed (wall clock) time"):
            parts = line.rsplit(" ", 1)[1].split(":")
            wall = sum(float(p) * 60**i for i, p in enumerate(reversed(parts)))
        if line.startswith("Maximum resident set size"):
            rss = int(line.rsplit(" ", 1)[1])
    return wall, cpu, rss


def predictions(path: Path) -> np.ndarray:
    return np.loadtxt(path, skiprows=1, delimiter=",", ndmin=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1e7")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--threads", default=None, help="--threads for ours (default: ours decides)")
    parser.add_argument("--ours", default=str(OURS), help="our binary (default: the release build)")
    parser.add_argument("--base", default=None, help="an older build of ours to compare with")
    args = parser.parse_args()
    rows = int(float(args.rows))
    scratch = Path(args.dir or tempfile.mkdtemp(prefix="parquet-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    data = scratch / f"rows-{rows}.parquet"
    if not data.exists():
        make_file(data, rows)
    data.read_bytes()  # warm the page cache
    ours_bin = Path(args.ours)
    threads = ["--threads", args.threads] if args.threads else []
    summary = json.loads(
        subprocess.run([ours_bin, "inspect", "--json"], capture_output=True, check=True, text=True).stdout
    )
    weights = scratch / "weights.json"
    weights.write_text(json.dumps({k: summary[k] for k in ("features", "coefficients", "intercept")}))
    tools = {
        "batch_inference (ours)": lambda out: [str(ours_bin), "-q", *threads, "--data", str(data), "--output", str(out)],
        "DuckDB": lambda out: [sys.executable, str(REFERENCE / "score_duckdb.py"), "--weights", str(weights), "--data", str(data), "--output", str(out)],
        "polars lazy": lambda out: [sys.executable, str(REFERENCE / "score_polars.py"), "--weights", str(weights), "--data", str(data), "--output", str(out)],
    }
    if args.base:
        tools["ours, before (--base)"] = lambda out: [args.base, "-q", *threads, "--data", str(data), "--output", str(out)]
    runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in tools}
    names = list(tools)
    load_before = os.getloadavg()
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            out = scratch / f"out-{names.index(name)}.csv"
            runs[name].append(timed(tools[name](out)))
    load_after = os.getloadavg()
    if args.base and (scratch / "out-0.csv").read_bytes() != (scratch / f"out-{len(names) - 1}.csv").read_bytes():
        sys.exit("the --base build's output differs from ours")
    ours = predictions(scratch / "out-0.csv")
    for i, name in enumerate(names[1:3], 1):
        theirs = predictions(scratch / f"out-{i}.csv")
        ok = len(theirs) == len(ours) and np.allclose(theirs, ours, rtol=1e-9, atol=1e-9)
        if not ok:
            sys.exit(f"{name}'s predictions differ from ours")
    size = data.stat().st_size / 1e6
    print(f"{rows} rows, {size:.0f} MB of Parquet (zstd, row groups of 1e6), {os.cpu_count()} CPUs, "
          f"median of {args.rounds} rounds; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print("| tool | seconds | CPU seconds | peak RSS MiB | time / ours |")
    print("| --- | ---: | ---: | ---: | ---: |")
    ours_wall = statistics.median(w for w, _, _ in runs[names[0]])
    for name in names:
        wall = statistics.median(w for w, _, _ in runs[name])
        cpu = statistics.median(c for _, c, _ in runs[name])
        rss = max(m for _, _, m in runs[name])
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {rss / 1024:.0f} | {wall / ours_wall:.2f}x |")


if __name__ == "__main__":
    main()
