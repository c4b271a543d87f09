#!/usr/bin/env python3
"""Whole-process benchmark of a tree ensemble: the seed's GradientBoostingRegressor (500 trees of
depth 4, model/gbr.bin) against pandas + scikit-learn and pandas + onnxruntime; and, with
--linear-base, linear scoring (model/model.bin) against an older build of our binary.

    python3 benches/trees.py                                  # 1e6 rows, 3 rounds
    python3 benches/trees.py --linear-base OLD/batch_inference  # also the linear A/B at 1e7 rows

with benches/.venv-bench first on PATH, as benches/run.py (benches/README.md).

Steps: what benches/run.py does, with its helpers: install /usr/bin/time and the Python
packages when missing, build release, generate the data (seed 1) and warm the page cache; then
fit the scikit-learn model again (benches/reference/make_sklearn_gbr.py: the fit of
tests/fixtures/make_tree_models.py, checked against its committed predictions), and run rounds
that alternate the three tools, rotating which goes first, each process under /usr/bin/time -v
(wall clock from here; CPU seconds and peak RSS from time). After the first round the outputs
are checked: every prediction of scikit-learn's and onnxruntime's within 2e-6 of ours, relative
(the bound an import of a float export keeps to); and ours must be byte-identical with
--threads 1 and --threads 2. It prints a markdown table and the goals as PASS/FAIL lines and
writes them to --results. Exit status 1 when a tool fails or the outputs disagree, else 0.
"""

import argparse
import filecmp
import importlib.util
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  benches/run.py: the linear benchmark's helpers

MODEL = Path("model/gbr.bin")
ONNX = Path("tests/fixtures/trees/seed_gbr.onnx")
FEATURES = Path("tests/fixtures/trees/seed_gbr.json")
LINEAR_MODEL = Path("model/model.bin")
TOOLS = ("ours", "onnxruntime", "sklearn")
TOOL_NAMES = {
    "ours": "batch_inference (ours)",
    "onnxruntime": "pandas + onnxruntime",
    "sklearn": "pandas + scikit-learn",
}
# An import of a float export predicts within this of the exporting library, relative (issue 16).
REL_TOL = 2e-6
# Issue 16's goals, end to end at 1e6 rows: time / ours, and memory beyond the model's size.
GOALS = {"onnxruntime": 4.0, "sklearn": 8.0}
GOAL_RSS_MIB = 32.0


def main() -> int:
    args = parse_args()
    os.chdir(bench.ROOT)
    try:
        return run(args)
    except bench.BenchError as err:
        print(f"benches/trees.py: {err}", file=sys.stderr)
        return 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1e6", help="rows of the tree benchmark (default 1e6)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--linear-base", help="an older batch_inference binary to time linear scoring against")
    parser.add_argument("--linear-rows", default="1e7", help="rows of the linear A/B (default 1e7)")
    parser.add_argument("--scratch", default="target/bench-data", help="folder for data and outputs")
    parser.add_argument("--results", default="target/bench-data/RESULTS-trees.md", help="markdown file to write")
    parser.add_argument("--no-build", action="store_true", help="use the binaries already in target/release")
    args = parser.parse_args()
    args.rows, args.linear_rows = bench.parse_count(args.rows), bench.parse_count(args.linear_rows)
    # What bench.build reads.
    args.tools = ["ours"]
    return args


def run(args: argparse.Namespace) -> int:
    bench.ensure_tools(["sklearn"])
    if importlib.util.find_spec("onnxruntime") is None:
        bench.sh([sys.executable, "-m", "pip", "install", "-q", "onnxruntime==1.32.0"])
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    bench.build(args)
    bench.sh([sys.executable, bench.REFERENCE / "make_sklearn_gbr.py", "--output", scratch / "gbr.joblib"])
    load_before = os.getloadavg()[0]

    data = scratch / f"rows-{bench.label(args.rows)}.csv"
    bench.generate(args.rows, data)
    runs, checks = measure(args, scratch, data)
    checks.append(threads_identical(scratch, data))
    linear = measure_linear(args, scratch) if args.linear_base else None

    text = render(args, data, runs, checks, linear, load_before)
    print(text)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(text)
    print(f"wrote {args.results}")
    return 0


def command(tool: str, scratch: Path, data: Path, out: Path) -> list:
    if tool == "ours":
        return [bench.OURS_BIN, "--model", MODEL, "--data", data, "--output", out, "--quiet"]
    if tool == "onnxruntime":
        script = ["--model", ONNX, "--features", FEATURES]
        return ["python3", bench.REFERENCE / "score_onnxruntime.py", *script, "--data", data, "--output", out]
    script = ["--model", scratch / "gbr.joblib"]
    return ["python3", bench.REFERENCE / "score_sklearn.py", *script, "--data", data, "--output", out]


def measure(args, scratch: Path, data: Path):
    tools = list(TOOLS)
    runs = {tool: [] for tool in tools}
    outputs = {tool: scratch / f"out-gbr-{tool}.csv" for tool in tools}
    checks = []
    for round_index in range(args.rounds):
        shift = round_index % len(tools)
        for tool in tools[shift:] + tools[:shift]:
            outputs[tool].unlink(missing_ok=True)
            runs[tool].append(bench.timed(command(tool, scratch, data, outputs[tool]), scratch / "time.txt"))
            last = runs[tool][-1]
            print(
                f"round {round_index + 1}/{args.rounds}: {tool:11} {last.wall:8.3f} s wall "
                f"{last.cpu:8.3f} s CPU {last.rss_kib / 1024:8.1f} MiB",
                flush=True,
            )
        if round_index == 0:
            checks = bench.cross_check(outputs, args.rows, REL_TOL)
    return runs, checks


def threads_identical(scratch: Path, data: Path) -> str:
    """Ours with --threads 1 and --threads 2 must write the same bytes."""
    outs = []
    for threads in (1, 2):
        out = scratch / f"out-gbr-ours-threads-{threads}.csv"
        cmd = command("ours", scratch, data, out) + ["--threads", str(threads)]
        bench.sh(cmd)
        outs.append(out)
    if not filecmp.cmp(outs[0], outs[1], shallow=False):
        raise bench.BenchError(f"{outs[0]} and {outs[1]} differ: the output depends on --threads")
    return f"ours writes the same bytes with --threads 1 and --threads 2 ({outs[0].stat().st_size:,} bytes)"


def measure_linear(args, scratch: Path) -> dict:
    """Linear scoring, this build against --linear-base, alternating; outputs byte-identical."""
    data = scratch / f"rows-{bench.label(args.linear_rows)}.csv"
    bench.generate(args.linear_rows, data)
    binaries = {"now": bench.OURS_BIN, "base": Path(args.linear_base)}
    runs = {name: [] for name in binaries}
    outputs = {name: scratch / f"out-linear-{name}.csv" for name in binaries}
    names = list(binaries)
    for round_index in range(args.rounds):
        for name in names[round_index % 2 :] + names[: round_index % 2]:
            cmd = [binaries[name], "--model", LINEAR_MODEL, "--data", data, "--output", outputs[name], "--quiet"]
            runs[name].append(bench.timed(cmd, scratch / "time.txt"))
            last = runs[name][-1]
            print(f"linear round {round_index + 1}/{args.rounds}: {name:5} {last.wall:8.3f} s wall {last.cpu:8.3f} s CPU")
    if not filecmp.cmp(outputs["now"], outputs["base"], shallow=False):
        raise bench.BenchError(f"{outputs['now']} and {outputs['base']} differ")
    return {"data": data, "binaries": binaries, "runs": runs}


def render(args, data: Path, runs: dict, checks: list, linear: dict | None, load_before: float) -> str:
    size = data.stat().st_size
    model_mib = MODEL.stat().st_size / 2**20
    _, features = bench.cpu_kind()
    out = [
        "# Tree ensemble benchmark",
        "",
        f"Made by `{bench.shell_text(['python3', 'benches/trees.py', *sys.argv[1:]])}`; see benches/README.md.",
        "",
        f"Machine: {bench.machine()}. Load average before the run: {load_before:.2f}.",
        f"CPU features: {features}.",
        f"Versions: {bench.versions(['sklearn'])}, onnxruntime {importlib.import_module('onnxruntime').__version__}.",
        f"Model: {MODEL} ({MODEL.stat().st_size / 1024:.0f} KiB), imported from {ONNX}: 500 trees of depth 4.",
        "",
        "| tool | rows | file MB | wall s (median) | min..max s | CPU s (median) | MB/s | peak RSS MiB | time / ours |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    ours = statistics.median(r.wall for r in runs["ours"])
    ratios = {}
    for tool, tool_runs in runs.items():
        walls = [r.wall for r in tool_runs]
        wall = statistics.median(walls)
        ratios[tool] = wall / ours
        out.append(
            f"| {TOOL_NAMES[tool]} | {bench.label(args.rows)} | {size / 1e6:.0f} | {wall:.3f} | "
            f"{min(walls):.3f}..{max(walls):.3f} | {statistics.median(r.cpu for r in tool_runs):.3f} | "
            f"{size / 1e6 / wall:.0f} | {max(r.rss_kib for r in tool_runs) / 1024:.1f} | {wall / ours:.2f}x |"
        )
    out += ["", f"Rounds: {args.rounds}; tools alternate within each round, the first rotating.", ""]
    out += ["Cross-check:", ""] + [f"- {line}" for line in checks] + [""]
    out += ["Goals (issue 16, end to end):", ""]
    for tool, goal in GOALS.items():
        out.append(
            f"- {bench.verdict(ratios[tool] >= goal)} speed-up {ratios[tool]:.2f}x over {TOOL_NAMES[tool]} "
            f"(goal >= {goal:g}x)"
        )
    rss = max(r.rss_kib for r in runs["ours"]) / 1024
    out.append(
        f"- {bench.verdict(rss <= GOAL_RSS_MIB + model_mib)} peak RSS {rss:.1f} MiB "
        f"(goal <= {GOAL_RSS_MIB:.0f} MiB + the model's {model_mib:.2f} MiB)"
    )
    if linear:
        lsize = linear["data"].stat().st_size
        out += [
            "",
            f"Linear scoring ({LINEAR_MODEL}, {bench.label(args.linear_rows)} rows, {lsize / 1e6:.0f} MB), "
            f"this build against `{linear['binaries']['base']}`, alternating; outputs byte-identical:",
            "",
            "| binary | wall s (median) | min..max s | CPU s (median) | MB/s | peak RSS MiB | time / now |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        now = statistics.median(r.wall for r in linear["runs"]["now"])
        for name, name_runs in linear["runs"].items():
            walls = [r.wall for r in name_runs]
            wall = statistics.median(walls)
            out.append(
                f"| {name} | {wall:.3f} | {min(walls):.3f}..{max(walls):.3f} | "
                f"{statistics.median(r.cpu for r in name_runs):.3f} | {lsize / 1e6 / wall:.0f} | "
                f"{max(r.rss_kib for r in name_runs) / 1024:.1f} | {wall / now:.2f}x |"
            )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
