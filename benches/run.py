#!/usr/bin/env python3
"""Whole-process benchmark: our scorer against pandas+scikit-learn, polars and DuckDB.

    python3 benches/run.py            # full run: 1e6 and 1e7 rows, writes benches/RESULTS.md
    python3 benches/run.py --quick    # smoke run: 1e5 rows, 1 round (for CI)

with benches/.venv-bench first on PATH (PATH="$PWD/benches/.venv-bench/bin:$PATH"): the venv of
benches/README.md, whose pins are benches/requirements.txt.

Steps: install /usr/bin/time and the Python packages when missing; build release (the binary
and examples/gen_data.rs); take our model's weights from `batch_inference inspect --json` (the
test fixture's weights if that fails); joblib-dump the scikit-learn model;
generate each data file (seed 1) into the scratch folder and read it once so the page cache is
warm; then run rounds that alternate the tools, rotating which goes first, timing each process
(wall clock) under `/usr/bin/time -v` (peak RSS). After its first run each tool's output is
checked: header `prediction`, one line per input row, every value within 1e-9 of ours
(relative, or absolute below 1). Last, start-up: whole-process wall time on a 10-row file.

It prints a markdown table and the goals as PASS/FAIL lines, and writes the same text to
--results. The header names the CPU and whether it has the AVX-512 features (VBMI2 among them)
our vector line reader needs, or not, when the scalar reader runs; the goals are the set for
that kind of CPU (GOALS), since the two readers parse at about 2x apart. Exit status: 0 when
every tool ran and the outputs agree; 1 otherwise, or with --strict also when a goal FAILs.
Paths are relative to the repository root, which it runs in.
"""

import argparse
import datetime
import importlib
import importlib.util
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
OURS_BIN = Path("target/release/batch_inference")
GEN_BIN = Path("target/release/examples/gen_data")
FIXTURE_WEIGHTS = Path("tests/fixtures/sklearn_ols_coefficients.json")
REFERENCE = Path("benches/reference")
TOOLS = ("ours", "polars", "sklearn", "duckdb")
TOOL_NAMES = {
    "ours": "batch_inference (ours)",
    "polars": "polars lazy streaming",
    "sklearn": "pandas + scikit-learn",
    "duckdb": "DuckDB",
}
# Versions measured in benches/RESULTS.md, installed only when the module is missing: DuckDB's
# and polars' from benches/requirements.txt (the venv's pins), the others the fixtures' own.
PIP_PINS = {
    "sklearn": "scikit-learn==1.5.2",
    "pandas": "pandas",
    "joblib": "joblib",
} | {
    line.split("==")[0]: line
    for line in (Path(__file__).resolve().parent / "requirements.txt").read_text().splitlines()
    if line and not line.startswith("#")
}
REL_TOL = 1e-9
# The /proc/cpuinfo names of the features src/read/vector.rs `available()` checks: with all of
# them our AVX-512 line reader runs, without them the AVX2 one (AVX2_FLAGS) or else the scalar one.
AVX512_FLAGS = ("avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512vbmi", "avx512_vbmi2", "popcnt", "bmi1")
# The /proc/cpuinfo names of the features src/read/cpu.rs checks for the AVX2 line reader.
AVX2_FLAGS = ("avx2", "bmi1", "bmi2", "popcnt")
# Issue 4's speed-ups at the largest size, set and met on an AVX-512 (VBMI2) Xeon.
GOAL_SKLEARN, GOAL_POLARS = 10.0, 2.5
# Issue "Speed round 2"'s, for AVX2 machines: speed-ups, and our MB/s at 1e7 rows (1 GB/s).
GOAL_SKLEARN_AVX2, GOAL_POLARS_AVX2, GOAL_DUCKDB, GOAL_MB_S_AVX2 = 20.0, 6.0, 8.0, 1000.0


class Goals(NamedTuple):
    """The goal set for one kind of CPU; None where its issue set no goal."""

    issue: str
    speedups: dict  # tool -> least time / ours at the largest size
    mb_s: float | None  # our least MB/s at 1e7 rows


GOALS = {
    "avx512": Goals("issue 4", {"sklearn": GOAL_SKLEARN, "polars": GOAL_POLARS, "duckdb": None}, None),
    "avx2": Goals(
        "Speed round 2",
        {"sklearn": GOAL_SKLEARN_AVX2, "polars": GOAL_POLARS_AVX2, "duckdb": GOAL_DUCKDB},
        GOAL_MB_S_AVX2,
    ),
}
# Issue 4's memory and start-up goals, on every kind of CPU.
GOAL_RSS_MIB, GOAL_RSS_SPREAD_MIB, GOAL_STARTUP_MS = 32.0, 2.0, 5.0


class BenchError(Exception):
    """A failure that stops the run: a build, a tool run, or outputs that disagree."""


def main() -> int:
    args = parse_args()
    os.chdir(ROOT)
    try:
        return run(args)
    except BenchError as err:
        print(f"benches/run.py: {err}", file=sys.stderr)
        return 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", help="comma-separated row counts, e.g. 1e6,1e7 (default 1e6,1e7; quick: 1e5)")
    parser.add_argument("--rounds", type=int, help="rounds per size (default 5 up to 1e6 rows, 3 above; quick: 1)")
    parser.add_argument("--startup-runs", type=int, help="runs per tool on the 10-row file (default 30; quick: 5)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1e5 rows, 1 round, 5 start-up runs")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}")
    parser.add_argument("--threads", type=int, help="pass --threads N to our scorer")
    parser.add_argument(
        "--cpu",
        choices=("scalar", "avx2", "avx512"),
        help="force our line reader (BATCH_INFERENCE_CPU) to measure a slower kind of CPU on a faster one",
    )
    parser.add_argument("--model", default="model/model.bin", help="our model file")
    parser.add_argument("--scratch", default="target/bench-data", help="folder for data and outputs")
    parser.add_argument("--results", help="markdown file to write (default benches/RESULTS.md; quick: in --scratch)")
    parser.add_argument("--no-build", action="store_true", help="use the binaries already in target/release")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal FAILs, too")
    args = parser.parse_args()

    args.sizes = [parse_count(s) for s in (args.sizes or ("1e5" if args.quick else "1e6,1e7")).split(",")]
    args.startup_runs = args.startup_runs or (5 if args.quick else 30)
    if args.quick and args.rounds is None:
        args.rounds = 1
    args.tools = [t.strip() for t in args.tools.split(",")]
    unknown = set(args.tools) - set(TOOLS)
    if unknown:
        parser.error(f"--tools: unknown {', '.join(sorted(unknown))}; choose from {', '.join(TOOLS)}")
    default_results = Path(args.scratch) / "RESULTS-quick.md" if args.quick else Path("benches/RESULTS.md")
    args.results = Path(args.results) if args.results else default_results
    return args


def parse_count(text: str) -> int:
    """Reads 1000000 or 1e6."""
    try:
        value = float(text) if "e" in text.lower() else int(text)
    except ValueError:
        raise SystemExit(f"benches/run.py: --sizes: expected a row count such as 1e6, found {text!r}")
    if value != int(value) or value < 1:
        raise SystemExit(f"benches/run.py: --sizes: expected a positive whole row count, found {text!r}")
    return int(value)


def label(rows: int) -> str:
    """1000000 -> 1e6; other counts as they are."""
    exponent = len(str(rows)) - 1
    return f"1e{exponent}" if rows == 10**exponent else str(rows)


def run(args: argparse.Namespace) -> int:
    if args.cpu:
        # Only our scorer reads it; the references ignore it.
        os.environ["BATCH_INFERENCE_CPU"] = args.cpu
    ensure_tools(args.tools)
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    build(args)
    weights_source = write_weights(args, scratch / "weights.json")
    if "sklearn" in args.tools:
        sh(
            [
                sys.executable,
                REFERENCE / "make_sklearn_model.py",
                "--weights",
                scratch / "weights.json",
                "--output",
                scratch / "model.joblib",
            ]
        )

    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        print(
            f"warning: load average {load_before:.2f} before the run; other work on the machine "
            "skews the timings (alternating rounds keep the ratios fairer)",
            file=sys.stderr,
        )
    results = []  # (rows, bytes, {tool: [Run]})
    agreements = []
    for rows in args.sizes:
        data = scratch / f"rows-{label(rows)}.csv"
        generate(rows, data)
        rounds = args.rounds or (5 if rows <= 1_000_000 else 3)
        runs, checks = measure_size(args, scratch, data, rows, rounds)
        results.append((rows, data.stat().st_size, runs, rounds))
        agreements.extend(checks)
    startup = measure_startup(args, scratch)

    report = render(args, results, startup, agreements, weights_source, load_before)
    print(report.text)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(report.text)
    print(f"wrote {args.results}")
    return 1 if args.strict and report.failed_goals else 0


# ----------------------------------------------------------------------------- set-up


def ensure_tools(tools: list[str]) -> None:
    """Installs what the run needs and is missing: Debian's `time`, and the Python packages."""
    if not Path("/usr/bin/time").exists():
        print("installing /usr/bin/time (Debian package time)")
        sh(["apt-get", "update", "-qq"])
        sh(["apt-get", "install", "-y", "-qq", "time"])
    needed = {"polars": ["polars"], "sklearn": ["sklearn", "pandas", "joblib"], "duckdb": ["duckdb"]}
    modules = ["numpy"] + [m for t in tools for m in needed.get(t, [])]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        print(f"installing {', '.join(missing)} with pip")
        sh([sys.executable, "-m", "pip", "install", "-q", *(PIP_PINS.get(m, m) for m in missing)])
        importlib.invalidate_caches()


def build(args: argparse.Namespace) -> None:
    if args.no_build:
        return
    cmd = ["cargo", "build", "--release", "--example", "gen_data"]
    if "ours" in args.tools:
        cmd += ["--bin", "batch_inference"]
    print("$ " + " ".join(cmd), flush=True)
    if subprocess.run(cmd, check=False).returncode != 0:
        raise BenchError(f"`{' '.join(cmd)}` failed; fix the build, or rerun with --no-build")


def write_weights(args: argparse.Namespace, path: Path) -> str:
    """Writes our model's weights for the references; returns where they came from."""
    weights, source = None, None
    if "ours" in args.tools:
        cmd = [OURS_BIN, "inspect", "--model", args.model, "--json"]
        done = subprocess.run([str(c) for c in cmd], check=False, capture_output=True, text=True)
        if done.returncode == 0:
            weights, source = json.loads(done.stdout), f"`{shell_text(cmd)}`"
        else:
            print(
                f"note: `{shell_text(cmd)}` failed ({done.stderr.strip()[:200]}); "
                f"using the weights in {FIXTURE_WEIGHTS}",
                file=sys.stderr,
            )
    if weights is None:
        weights, source = json.loads(FIXTURE_WEIGHTS.read_text()), str(FIXTURE_WEIGHTS)
    keys = ("features", "coefficients", "intercept")
    missing = [k for k in keys if k not in weights]
    if missing:
        raise BenchError(f"weights from {source} lack {', '.join(missing)}")
    path.write_text(json.dumps({k: weights[k] for k in keys}, indent=2) + "\n")
    return source


def generate(rows: int, data: Path) -> None:
    """Writes the data file (the same bytes every time) and reads it once to warm the cache."""
    sh([GEN_BIN, "--rows", str(rows), "--seed", "1", "--output", data])
    with open(data, "rb") as f:
        while f.read(1 << 24):
            pass


# ----------------------------------------------------------------------------- measuring


class Run:
    """One timed process: wall seconds, peak resident set size, and CPU seconds (user + system)."""

    def __init__(self, wall: float, rss_kib: int, cpu: float | None = None):
        self.wall, self.rss_kib, self.cpu = wall, rss_kib, cpu


def command(tool: str, args: argparse.Namespace, scratch: Path, data: Path, out: Path) -> list:
    if tool == "ours":
        cmd = [OURS_BIN, "--model", args.model, "--data", data, "--output", out, "--quiet"]
        return cmd + (["--threads", str(args.threads)] if args.threads else [])
    if tool in ("polars", "duckdb"):
        return [
            "python3",
            REFERENCE / f"score_{tool}.py",
            "--weights",
            scratch / "weights.json",
            "--data",
            data,
            "--output",
            out,
        ]
    return [
        "python3",
        REFERENCE / "score_sklearn.py",
        "--model",
        scratch / "model.joblib",
        "--data",
        data,
        "--output",
        out,
    ]


def measure_size(args, scratch: Path, data: Path, rows: int, rounds: int):
    runs = {tool: [] for tool in args.tools}
    outputs = {tool: scratch / f"out-{tool}-{label(rows)}.csv" for tool in args.tools}
    checks = []
    for round_index in range(rounds):
        shift = round_index % len(args.tools)
        for tool in args.tools[shift:] + args.tools[:shift]:
            outputs[tool].unlink(missing_ok=True)
            cmd = command(tool, args, scratch, data, outputs[tool])
            runs[tool].append(timed(cmd, scratch / "time.txt"))
            print(
                f"{label(rows):>5} rows, round {round_index + 1}/{rounds}: {tool:8} "
                f"{runs[tool][-1].wall:8.3f} s {runs[tool][-1].rss_kib / 1024:8.1f} MiB",
                flush=True,
            )
        if round_index == 0:
            checks = cross_check(outputs, rows)
    return runs, checks


def timed(cmd: list, time_file: Path) -> Run:
    """Runs `cmd` under /usr/bin/time -v; wall clock from here, peak RSS from time's report."""
    full = ["/usr/bin/time", "-v", "-o", str(time_file)] + [str(c) for c in cmd]
    start = time.perf_counter()
    done = subprocess.run(full, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise BenchError(f"`{shell_text(cmd)}` exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    report = dict(line.strip().rsplit(": ", 1) for line in time_file.read_text().splitlines() if ": " in line)
    if "Maximum resident set size (kbytes)" in report:
        cpu = sum(float(report.get(f"{kind} time (seconds)", 0)) for kind in ("User", "System"))
        return Run(wall, int(report["Maximum resident set size (kbytes)"]), cpu)
    raise BenchError(f"{time_file}: no 'Maximum resident set size' line from /usr/bin/time -v")


def cross_check(outputs: dict, rows: int, tolerance: float = REL_TOL) -> list[str]:
    """Checks every output's shape and that each agrees with ours (or the first tool's), within
    `tolerance` relative (absolute below 1)."""
    import numpy as np

    values = {tool: read_predictions(path, rows) for tool, path in outputs.items()}
    base = "ours" if "ours" in values else next(iter(values))
    lines = []
    for tool, got in values.items():
        if tool == base:
            continue
        want = values[base]
        scale = np.maximum(1.0, np.maximum(np.abs(want), np.abs(got)))
        rel = np.abs(got - want) / scale
        worst = int(np.argmax(rel))
        if not rel[worst] <= tolerance:  # also catches NaN
            raise BenchError(
                f"{outputs[tool]} disagrees with {outputs[base]} at prediction {worst + 1}: "
                f"{got[worst]!r} vs {want[worst]!r} (relative difference {rel[worst]:.3g})"
            )
        lines.append(
            f"{label(rows)} rows: {tool} agrees with {base} on all {rows} predictions, "
            f"largest relative difference {rel[worst]:.2g}"
        )
    return lines


def read_predictions(path: Path, rows: int):
    import numpy as np

    with open(path, "rb") as f:
        header = f.readline().rstrip(b"\r\n")
    if header != b"prediction":
        raise BenchError(f"{path}: header is {header[:80]!r}, expected b'prediction'")
    try:
        import polars as pl

        values = pl.read_csv(path, schema={"prediction": pl.Float64})["prediction"].to_numpy()
    except ImportError:
        import pandas as pd

        values = pd.read_csv(path, dtype={"prediction": "float64"})["prediction"].to_numpy()
    if len(values) != rows:
        raise BenchError(f"{path}: {len(values)} predictions for {rows} input rows")
    return np.asarray(values, dtype=np.float64)


def measure_startup(args, scratch: Path) -> dict:
    """Median wall milliseconds of whole runs on a 10-row file, tools alternating; also the
    cost of starting any process from here (`true`), the floor under every number."""
    data, rows = scratch / "rows-10.csv", 10
    sh([GEN_BIN, "--rows", str(rows), "--seed", "1", "--output", data])
    cmds = {tool: command(tool, args, scratch, data, scratch / f"out-{tool}-10.csv") for tool in args.tools}
    cmds["spawn floor (`true`)"] = ["true"]
    times = {name: [] for name in cmds}
    for _ in range(args.startup_runs):
        for name, cmd in cmds.items():
            start = time.perf_counter()
            done = subprocess.run([str(c) for c in cmd], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            times[name].append((time.perf_counter() - start) * 1000)
            if done.returncode != 0:
                raise BenchError(f"`{shell_text(cmd)}` exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    cross_check({tool: scratch / f"out-{tool}-10.csv" for tool in args.tools}, rows)
    return {name: statistics.median(ms) for name, ms in times.items()}


# ----------------------------------------------------------------------------- report


class Report:
    def __init__(self, text: str, failed_goals: int):
        self.text, self.failed_goals = text, failed_goals


def render(args, results, startup, agreements, weights_source, load_before) -> Report:
    kind, features = cpu_kind(args.cpu)
    out = [
        "# Benchmark results",
        "",
        (
            f"Made by `{reproduce_command()}` on {datetime.date.today().isoformat()}; "
            "see benches/README.md for what is measured."
        ),
        "",
        f"Machine: {machine()}. Load average before the run: {load_before:.2f}"
        + (
            " (other work was running: timings are slower and noisier than on an idle machine)."
            if load_before > 0.5
            else "."
        ),
        f"CPU features: {features}.",
        f"Versions: {versions(args.tools)}.",
        f"Weights: {weights_source}." + (f" Our scorer ran with `--threads {args.threads}`." if args.threads else ""),
        "",
        "| tool | rows | file MB | wall s (median) | min..max s | MB/s | rows/s | peak RSS MiB | time / ours |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    medians = {}
    for rows, size, runs, rounds in results:
        ours = statistics.median(r.wall for r in runs["ours"]) if "ours" in runs else None
        for tool, tool_runs in runs.items():
            wall = statistics.median(r.wall for r in tool_runs)
            rss = max(r.rss_kib for r in tool_runs) / 1024
            medians[(tool, rows)] = (wall, rss)
            walls = [r.wall for r in tool_runs]
            ratio = f"{wall / ours:.2f}x" if ours else "-"
            out.append(
                f"| {TOOL_NAMES[tool]} | {label(rows)} | {size / 1e6:.0f} | {wall:.3f} | "
                f"{min(walls):.3f}..{max(walls):.3f} | {size / 1e6 / wall:.0f} | {rows / wall:,.0f} | "
                f"{rss:.1f} | {ratio} |"
            )
    rounds_text = ", ".join(f"{rounds} at {label(rows)}" for rows, _, _, rounds in results)
    rounds_line = (
        f"Rounds: {rounds_text}; tools alternate within each round. Peak RSS is the largest "
        "of the rounds (`/usr/bin/time -v`, Maximum resident set size)."
    )
    out += ["", rounds_line, ""]
    out += ["| start-up, 10-row file | median ms |", "| --- | ---: |"]
    out += [f"| {TOOL_NAMES.get(name, name)} | {ms:.1f} |" for name, ms in startup.items()]
    out += ["", f"Start-up: whole process, median of {args.startup_runs} runs, tools alternating.", ""]
    out += ["Cross-check:", ""] + [f"- {line}" for line in agreements] + [""]

    goals = goal_lines(args, results, medians, startup, GOALS[kind])
    heading = f"Goals ({GOALS[kind].issue}, the set for {'AVX-512' if kind == 'avx512' else 'AVX2'} machines)"
    out += [heading + (", on a quick run, not the goals' 1e7 rows" if args.quick else "") + ":", ""]
    out += [f"- {line}" for line in goals] + [""]
    return Report("\n".join(out), sum(line.startswith("FAIL") for line in goals))


def goal_lines(args, results, medians, startup, goals: Goals) -> list[str]:
    if "ours" not in args.tools:
        return ["(goals need our scorer in --tools)"]
    largest, size = max((rows, size) for rows, size, *_ in results)
    ours = medians[("ours", largest)][0]
    lines = []
    for tool, goal in goals.speedups.items():
        if tool in args.tools:
            ratio = medians[(tool, largest)][0] / ours
            if goal is None:
                status, wanted = "----", f"no goal in {goals.issue}"
            else:
                status, wanted = verdict(ratio >= goal), f"goal >= {goal:g}x"
            lines.append(f"{status} speed-up {ratio:.2f}x over {TOOL_NAMES[tool]} at {label(largest)} rows ({wanted})")
    if goals.mb_s:
        mb_s = size / 1e6 / ours
        lines.append(
            f"{verdict(mb_s >= goals.mb_s)} throughput {mb_s:.0f} MB/s at {label(largest)} rows "
            f"(goal >= {goals.mb_s:.0f} MB/s at 1e7 rows)"
        )
    peaks = {rows: medians[("ours", rows)][1] for rows, *_ in results}
    spread = max(peaks.values()) - min(peaks.values())
    ok = max(peaks.values()) <= GOAL_RSS_MIB and spread <= GOAL_RSS_SPREAD_MIB
    shown = ", ".join(f"{mib:.1f} MiB at {label(rows)}" for rows, mib in peaks.items())
    lines.append(
        f"{verdict(ok)} peak RSS {shown} (goal <= {GOAL_RSS_MIB:.0f} MiB at every size, "
        f"sizes within {GOAL_RSS_SPREAD_MIB:.0f} MiB of each other)"
    )
    ms = startup["ours"]
    lines.append(
        f"{verdict(ms <= GOAL_STARTUP_MS)} start-up {ms:.1f} ms on a 10-row file "
        f"(goal <= {GOAL_STARTUP_MS:.0f} ms, spawn floor included)"
    )
    return lines


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def cpu_kind(forced: str | None = None) -> tuple[str, str]:
    """Which goal set applies ("avx512" or "avx2"), and the features that say so, from the
    first processor's flags in /proc/cpuinfo, or from the reader --cpu forced."""
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
    has_avx512 = all(flag in flags for flag in AVX512_FLAGS)
    has_avx2 = all(flag in flags for flag in AVX2_FLAGS)
    have = "AVX-512 with VBMI2" if has_avx512 else "AVX2 and BMI2" if has_avx2 else "neither AVX-512 nor AVX2"
    if forced == "avx512":
        return "avx512", f"{have}; AVX-512 line reader forced with BATCH_INFERENCE_CPU=avx512"
    if forced == "avx2":
        return "avx2", (
            f"{have}; AVX2 line reader forced with BATCH_INFERENCE_CPU=avx2, standing in for an AVX2 "
            "machine without AVX-512 (the rest of the process may still use what the CPU has)"
        )
    if forced == "scalar":
        return "avx2", (
            f"{have}; scalar reader forced with BATCH_INFERENCE_CPU=scalar, standing in for a CPU "
            "with neither (the AVX2 goals apply)"
        )
    if has_avx512:
        return "avx512", "AVX-512 with VBMI2 (our AVX-512 line reader runs)"
    if has_avx2:
        return "avx2", "AVX2 and BMI2, not the AVX-512 set with VBMI2 (our AVX2 line reader runs)"
    return "avx2", "neither AVX-512 with VBMI2 nor AVX2 (our scalar reader runs; the AVX2 goals apply)"


def reproduce_command() -> str:
    return shell_text(["python3", "benches/run.py", *sys.argv[1:]])


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    mem_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    os_name = next(
        (
            line.split("=", 1)[1].strip('"')
            for line in Path("/etc/os-release").read_text().splitlines()
            if line.startswith("PRETTY_NAME=")
        ),
        platform.system(),
    )
    return f"{os.cpu_count()} x {cpu}, {mem_kib / 2**20:.0f} GiB, {os_name}, Linux {platform.release()}"


def versions(tools: list[str]) -> str:
    rustc = subprocess.run(["rustc", "--version"], check=False, capture_output=True, text=True).stdout.split()
    found = [f"rustc {rustc[1] if len(rustc) > 1 else '?'}", f"Python {platform.python_version()}"]
    modules = (
        ["numpy"]
        + (["polars"] if "polars" in tools else [])
        + (["pandas", "sklearn", "joblib"] if "sklearn" in tools else [])
        + (["duckdb"] if "duckdb" in tools else [])
    )
    for name in modules:
        module = importlib.import_module(name)
        found.append(f"{'scikit-learn' if name == 'sklearn' else name} {module.__version__}")
    return ", ".join(found)


def shell_text(cmd: list) -> str:
    return " ".join(shlex.quote(str(c)) for c in cmd)


def sh(cmd: list) -> None:
    if subprocess.run([str(c) for c in cmd], check=False).returncode != 0:
        raise BenchError(f"`{shell_text(cmd)}` failed")


if __name__ == "__main__":
    sys.exit(main())
