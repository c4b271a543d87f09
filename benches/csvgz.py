#!/usr/bin/env python3
"""Compressed-CSV benchmark: 1e7 rows as .csv.gz and .csv.zst, scored by us reading the file,
by us reading `zcat`'s (or `zstdcat`'s) output on standard input, by DuckDB and by polars.

    benches/.venv-bench/bin/python benches/csvgz.py              # 1e7 rows, 3 rounds
    benches/.venv-bench/bin/python benches/csvgz.py --rows 1e5 --rounds 1

Steps: build release (unless --no-build); generate the data with examples/gen_data.rs (seed 1,
the file of benches/run.py) and compress it once with `gzip -6` and `zstd -3` (the tools'
defaults; kept in the scratch folder and reused, as the data depends only on the row count); read both files once
so the page cache is warm; then run rounds that alternate every tool of both formats, rotating
which goes first, each process under `/usr/bin/time -v`: wall clock from here, CPU seconds
(user + system, of every process of the run: for a pipe, zcat's as well) and peak RSS (for a
pipe, the larger of its two processes) from time's report. After the first round the outputs are
checked: ours reading the file and ours reading the pipe write the same bytes, DuckDB and polars
agree with ours within 1e-9 (benches/run.py's cross-check), and after the rounds ours writes the
same bytes with --threads 1, 2 and 3. The goal (issue 17): ours on `.csv.gz` no slower than
`zcat file | batch_inference --data -`, by the median wall time. It prints a markdown table and
writes it to --results. Exit status 1 when a tool fails or the outputs disagree (with --strict,
also when the goal fails). DuckDB and polars come from a virtualenv (see benches/README.md);
paths are relative to the repository root, which it runs in. `--tools ours,pipe` times only
those; `--base OLD_BINARY` adds an older build reading the files, byte-identical to ours.
"""

import argparse
import filecmp
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  benches/run.py: the linear benchmark's helpers

MODEL = Path("model/model.bin")
# Per format: the file's extension, the command that compresses it and the one that streams it.
FORMATS = {
    "gz": ("csv.gz", ["gzip", "-6", "-c"], "zcat"),
    "zst": ("csv.zst", ["zstd", "-3", "-c", "-q"], "zstdcat"),
}
TOOLS = ("ours", "pipe", "duckdb", "polars")


def main() -> int:
    args = parse_args()
    os.chdir(bench.ROOT)
    try:
        return run(args)
    except bench.BenchError as err:
        print(f"benches/csvgz.py: {err}", file=sys.stderr)
        return 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1e7", help="rows (default 1e7)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--threads", type=int, help="--threads for our scorer (default: its own)")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"commands to time (default {','.join(TOOLS)})")
    parser.add_argument("--base", help="an older batch_inference binary, timed reading the file as well")
    parser.add_argument("--scratch", default="target/bench-data", help="folder for data and outputs")
    parser.add_argument("--results", default="target/bench-data/RESULTS-csvgz.md", help="markdown file to write")
    parser.add_argument("--no-build", action="store_true", help="use the binaries already in target/release")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the goal fails")
    args = parser.parse_args()
    args.rows = bench.parse_count(args.rows)
    args.commands = [t.strip() for t in args.tools.split(",")] + (["base"] if args.base else [])
    unknown = set(args.commands) - set(TOOLS) - {"base"}
    if unknown or "ours" not in args.commands:
        parser.error(f"--tools: ours and any of {', '.join(TOOLS[1:])}; found {args.tools}")
    # What bench.build and bench.write_weights read.
    args.tools, args.model = ["ours"], MODEL
    return args


def run(args: argparse.Namespace) -> int:
    bench.ensure_tools([])
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    bench.build(args)
    bench.write_weights(args, scratch / "weights.json")
    load_before = os.getloadavg()
    plain = scratch / f"rows-{bench.label(args.rows)}.csv"
    bench.generate(args.rows, plain)
    files = {fmt: compress(plain, fmt) for fmt in FORMATS}
    runs, checks = measure(args, scratch, files)
    checks += [threads_identical(args, scratch, files[fmt]) for fmt in FORMATS]
    text, goal_ok = render(args, plain, files, runs, checks, load_before)
    print(text)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(text)
    print(f"wrote {args.results}")
    return 1 if args.strict and not goal_ok else 0


def compress(plain: Path, fmt: str) -> Path:
    """The compressed copy of `plain`, made unless it is there (the data depends only on the row
    count, and a copy appears by a rename only once complete); read once so the page cache
    holds it."""
    ext, cmd, _ = FORMATS[fmt]
    path = plain.with_name(f"{plain.stem}.{ext}")
    if not path.exists():
        print(f"$ {' '.join(cmd)} {plain} > {path}", flush=True)
        partial = path.with_name(path.name + ".tmp")
        with open(plain, "rb") as src, open(partial, "wb") as dst:
            if subprocess.run(cmd, stdin=src, stdout=dst, check=False).returncode != 0:
                raise bench.BenchError(f"`{' '.join(cmd)}` failed on {plain}")
        partial.rename(path)
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass
    return path


def ours(args, data, out: Path, threads: int | None = None, binary: Path = bench.OURS_BIN) -> list:
    cmd = [binary, "--model", MODEL, "--data", data, "--output", out, "--quiet"]
    threads = threads or args.threads
    return cmd + (["--threads", str(threads)] if threads else [])


def command(args, tool: str, fmt: str, data: Path, scratch: Path, out: Path) -> list:
    if tool == "ours":
        return ours(args, data, out)
    if tool == "base":
        return ours(args, data, out, binary=Path(args.base))
    if tool == "pipe":
        cat = FORMATS[fmt][2]
        return ["sh", "-c", f"{cat} {bench.shell_text([data])} | {bench.shell_text(ours(args, '-', out))}"]
    script = bench.REFERENCE / f"score_{tool}.py"
    return [sys.executable, script, "--weights", scratch / "weights.json", "--data", data, "--output", out]


def name(tool: str, fmt: str) -> str:
    return {
        "ours": f"batch_inference --data x.{FORMATS[fmt][0]}",
        "base": f"the --base binary --data x.{FORMATS[fmt][0]}",
        "pipe": f"{FORMATS[fmt][2]} x.{FORMATS[fmt][0]} | batch_inference --data -",
        "duckdb": "DuckDB read_csv + COPY",
        "polars": "polars scan_csv + sink_csv",
    }[tool]


def measure(args, scratch: Path, files: dict):
    order = [(fmt, tool) for fmt in FORMATS for tool in args.commands]
    runs = {key: [] for key in order}
    outputs = {key: scratch / f"out-csvgz-{key[0]}-{key[1]}.csv" for key in order}
    checks = []
    for round_index in range(args.rounds):
        shift = round_index % len(order)
        for fmt, tool in order[shift:] + order[:shift]:
            out = outputs[(fmt, tool)]
            out.unlink(missing_ok=True)
            runs[(fmt, tool)].append(bench.timed(command(args, tool, fmt, files[fmt], scratch, out), scratch / "time.txt"))
            last = runs[(fmt, tool)][-1]
            print(
                f"round {round_index + 1}/{args.rounds}: {fmt:3} {tool:6} {last.wall:8.3f} s wall "
                f"{last.cpu:8.3f} s CPU {last.rss_kib / 1024:8.1f} MiB",
                flush=True,
            )
        if round_index == 0:
            for fmt in FORMATS:
                direct = outputs[(fmt, "ours")]
                for other in ("pipe", "base"):
                    if other not in args.commands:
                        continue
                    if not filecmp.cmp(direct, outputs[(fmt, other)], shallow=False):
                        raise bench.BenchError(f"{direct} and {outputs[(fmt, other)]} differ")
                    checks.append(f"{fmt}: ours and `{name(other, fmt)}` write the same bytes")
                references = [t for t in ("duckdb", "polars") if t in args.commands]
                for line in bench.cross_check({t: outputs[(fmt, t)] for t in ["ours", *references]}, args.rows):
                    checks.append(f"{fmt}: {line}")
    return runs, checks


def threads_identical(args, scratch: Path, data: Path) -> str:
    """Ours on the compressed file must write the same bytes with --threads 1, 2 and 3."""
    outs = []
    for threads in (1, 2, 3):
        out = scratch / f"out-csvgz-threads-{threads}.csv"
        bench.sh(ours(args, data, out, threads))
        outs.append(out)
    for out in outs[1:]:
        if not filecmp.cmp(outs[0], out, shallow=False):
            raise bench.BenchError(f"{outs[0]} and {out} differ: the output depends on --threads")
    return f"{data.name}: ours writes the same bytes with --threads 1, 2 and 3 ({outs[0].stat().st_size:,} bytes)"


def render(args, plain: Path, files: dict, runs: dict, checks: list, load_before) -> tuple[str, bool]:
    _, features = bench.cpu_kind()
    out = [
        "# Compressed CSV benchmark",
        "",
        f"Made by `{bench.shell_text(['python3', 'benches/csvgz.py', *sys.argv[1:]])}`; see benches/README.md.",
        "",
        f"Machine: {bench.machine()}. Load average before the run: "
        f"{load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}.",
        f"CPU features: {features}.",
        f"Versions: {bench.versions(['polars', 'duckdb'])}.",
        f"Data: {bench.label(args.rows)} rows, {plain.stat().st_size / 1e6:.0f} MB of CSV; "
        + ", ".join(f"{files[f].name} {files[f].stat().st_size / 1e6:.0f} MB" for f in FORMATS)
        + ". MB/s is uncompressed MB over the median wall time.",
        "",
        "| format | tool | wall s (median) | min..max s | CPU s (median) | MB/s | peak RSS MiB | time / ours |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    medians = {key: statistics.median(r.wall for r in key_runs) for key, key_runs in runs.items()}
    for (fmt, tool), key_runs in runs.items():
        walls = [r.wall for r in key_runs]
        # A pipe's | would end the markdown cell, even inside backquotes.
        cell = name(tool, fmt).replace("|", "\\|")
        out.append(
            f"| .{FORMATS[fmt][0]} | `{cell}` | {medians[(fmt, tool)]:.3f} | "
            f"{min(walls):.3f}..{max(walls):.3f} | {statistics.median(r.cpu for r in key_runs):.3f} | "
            f"{plain.stat().st_size / 1e6 / medians[(fmt, tool)]:.0f} | "
            f"{max(r.rss_kib for r in key_runs) / 1024:.1f} | {medians[(fmt, tool)] / medians[(fmt, 'ours')]:.2f}x |"
        )
    out += [
        "",
        f"Rounds: {args.rounds}; all {len(runs)} commands alternate within each round, the first rotating. "
        "A pipe's CPU seconds are both processes'; its peak RSS is the larger process's.",
        "",
        "Cross-check:",
        "",
    ] + [f"- {line}" for line in checks]
    ok = True
    out += ["", "Goal (issue 17):", ""]
    for fmt in FORMATS if "pipe" in args.commands else ():
        ratio = medians[(fmt, "pipe")] / medians[(fmt, "ours")]
        met = ratio >= 1.0
        ok = ok and (met or fmt != "gz")
        goal = "goal" if fmt == "gz" else "no goal, shown for comparison"
        out.append(
            f"- {bench.verdict(met)} .{FORMATS[fmt][0]}: `{FORMATS[fmt][2]} | batch_inference --data -` takes "
            f"{ratio:.2f}x the time of `--data x.{FORMATS[fmt][0]}` ({goal}: >= 1.00x)"
        )
    return "\n".join(out) + "\n", ok


if __name__ == "__main__":
    sys.exit(main())
